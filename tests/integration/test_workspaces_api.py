"""Workspaces through the real API, with a real session agent running `git ls-remote`
against a real git remote (`git http-backend` behind Basic auth).

Every response body of these tests is recorded and scanned: the git PAT and secret
variable values must never come back, to anyone. Log records are scanned too.
"""

from __future__ import annotations

import base64
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from temporalio.testing import WorkflowEnvironment

from orchestrator.audit.models import AuditEntry
from orchestrator.db import Database
from orchestrator.secrets.models import SecretRef
from orchestrator.security.crypto import SecretBox
from orchestrator.workspaces.models import Workspace, WorkspaceVariable
from orchestrator.workspaces.sealed import git_pat_aad, variable_aad
from tests.fakes.git_http import make_repo, serve_git
from tests.helpers import TEST_MASTER, wait_for
from tests.integration.stack import Stack, running_stack, sign_in, unique_host

pytestmark = pytest.mark.identity
PAT = "ghp_KnownTestPat0123456789abcdefABCDEF"
SECRET_VALUE = "sk-very-secret-value-42"
BOX = SecretBox(TEST_MASTER)


@dataclass
class Env:
    stack: Stack
    url: str  # the repository's URL
    seen_auth: list[str]  # Authorization headers the git remote received
    bodies: list[str] = field(default_factory=list)

    async def record(self, response: httpx.Response) -> None:
        await response.aread()
        self.bodies.append(response.text)

    def client(self, token: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.stack.url, timeout=90,
            headers={"Authorization": f"Bearer {token}"},
            event_hooks={"response": [self.record]},
        )  # fmt: skip

    def assert_never_returned(self, *secrets: str) -> None:
        assert self.bodies, "no response was recorded"
        for secret in secrets:
            leaks = [b[:200] for b in self.bodies if secret in b]
            assert not leaks, f"a response contained a secret: {leaks}"


@contextlib.asynccontextmanager
async def platform(
    db: Database, temporal: WorkflowEnvironment, tmp: Path, *, agent: bool = True
) -> AsyncIterator[Env]:
    root = tmp / "remotes"
    make_repo(root, "proj.git", ["main", "dev"])
    with serve_git(root, PAT) as (git_base, seen):
        async with running_stack(db, temporal.client, tmp) as stack:
            env = Env(stack, f"{git_base}/proj.git", seen)
            stack.http.timeout = httpx.Timeout(90)
            stack.http.event_hooks["response"].append(env.record)
            if agent:
                host = unique_host()
                await stack.start_agent(host, "session")
                await wait_for(
                    lambda: _online(stack, host), what="the session agent to come online"
                )
            yield env


async def _online(stack: Stack, host: str) -> bool:
    worker = await stack.worker(host, "session")
    return bool(worker and worker["online"])


def assert_logs_clean(caplog: pytest.LogCaptureFixture, *secrets: str) -> None:
    for rec in caplog.records:
        text = rec.getMessage() + (str(rec.exc_info[1]) if rec.exc_info else "")
        for secret in secrets:
            assert secret not in text, f"a log line contained a secret: {text[:300]}"


def problem_field(resp: httpx.Response) -> str:
    assert resp.status_code == 422, resp.text
    assert resp.headers["content-type"] == "application/problem+json"
    return str(resp.json()["errors"][0]["field"])


async def _count(db: Database, model: Any) -> int:
    async with db.session() as s:
        return int(await s.scalar(select(func.count()).select_from(model)) or 0)


async def test_workspace_lifecycle(
    db: Database,
    temporal_env: WorkflowEnvironment,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    async with platform(db, temporal_env, tmp_path) as env:
        http = env.stack.http
        created = await http.post(
            "/api/workspaces",
            json={
                "name": "Alpha", "git_url": env.url, "default_branch": "dev", "git_pat": PAT,
                "tickets": {"source": "github", "owner": "acme", "repo": "alpha",
                            "label_filters": ["bug", " agent "], "sync_enabled": True},
                "prompt_chat": "Be brief.",
            },
        )  # fmt: skip
        assert created.status_code == 201, created.text
        ws = created.json()
        wid = ws["id"]
        assert ws["has_git_pat"] is True and "git_pat" not in ws
        assert ws["tickets"] == {
            "source": "github", "owner": "acme", "repo": "alpha",
            "label_filters": ["bug", "agent"], "sync_enabled": True, "write_back": False,
            "sync_interval_minutes": 15, "auto_start": [],
        }  # fmt: skip
        # The agent reached the remote with the PAT as a Basic header.
        basic = base64.b64encode(f"x-access-token:{PAT}".encode()).decode()
        assert f"Basic {basic}" in env.seen_auth
        # Stored encrypted and bound to its row; the creator became a member.
        async with db.session() as s:
            row = await s.get(Workspace, wid)
            assert row is not None and row.git_pat is not None and PAT not in row.git_pat
            assert BOX.decrypt(row.git_pat, git_pat_aad(row)) == PAT
        me = (await http.get("/api/me")).json()
        members = (await http.get(f"/api/workspaces/{wid}/members")).json()
        assert [m["user_id"] for m in members] == [me["id"]]
        assert [w["id"] for w in (await http.get("/api/workspaces")).json()] == [wid]
        assert (await http.get(f"/api/workspaces/{wid}")).json()["prompt_chat"] == "Be brief."
        assert await _count(db, SecretRef) == 0  # the one-time reference is gone

        # Settings that do not touch git save without a check.
        checks = len(env.seen_auth)
        r = await http.patch(
            f"/api/workspaces/{wid}",
            json={"name": "Alpha 2", "prompt_develop": "Write tests.",
                  "tickets": {"source": "tfs", "organization_url": "https://dev.azure.com/acme",
                              "project": "Alpha", "tags": ["agent"]}},
        )  # fmt: skip
        assert r.status_code == 200, r.text
        assert len(env.seen_auth) == checks
        body = r.json()
        assert body["name"] == "Alpha 2" and body["prompt_develop"] == "Write tests."
        assert body["prompt_chat"] == "Be brief." and body["has_git_pat"] is True
        assert body["tickets"] == {
            "source": "tfs", "organization_url": "https://dev.azure.com/acme", "project": "Alpha",
            "repository": None, "area_path": "", "tags": ["agent"], "sync_enabled": False,
            "sync_interval_minutes": 15, "write_back": False, "auto_start": [],
            "status_map": {"implementation": "Active", "completed": "Resolved"},
            "default_fields": {},
        }  # fmt: skip
        # A changed branch is checked (with the stored PAT) and saved.
        r = await http.patch(f"/api/workspaces/{wid}", json={"default_branch": "main"})
        assert r.status_code == 200, r.text
        assert len(env.seen_auth) > checks and r.json()["default_branch"] == "main"

        await _variables(env, wid)
        await _tasks(http, wid)
        await _members(env, wid)

        # Audit: who did what, never a value.
        async with db.session() as s:
            entries = list(await s.scalars(select(AuditEntry).order_by(AuditEntry.id)))
        actions = [e.action for e in entries]
        for action in ("workspace.created", "workspace.git_pat_set", "workspace.updated",
                       "workspace.variable_set", "workspace.member_added",
                       "workspace.member_removed", "secret_ref.redeemed"):  # fmt: skip
            assert action in actions, actions
        secret_set = [e for e in entries if e.details.get("variable") == "TOKEN"]
        assert secret_set and secret_set[0].details["secret"] is True
        for e in entries:
            assert PAT not in str(e.details) and SECRET_VALUE not in str(e.details)

        r = await http.delete(f"/api/workspaces/{wid}")
        assert r.status_code == 204
        assert (await http.get(f"/api/workspaces/{wid}")).status_code == 404
        assert await _count(db, WorkspaceVariable) == 0
    env.assert_never_returned(PAT, SECRET_VALUE, basic)
    assert_logs_clean(caplog, PAT, SECRET_VALUE, basic)


async def _variables(env: Env, wid: str) -> None:
    http = env.stack.http
    base = f"/api/workspaces/{wid}/variables"
    r = await http.post(base, json={"name": "PLAIN", "value": "hello"})
    assert r.status_code == 201 and r.json()["value"] == "hello"
    r = await http.post(base, json={"name": "TOKEN", "value": SECRET_VALUE, "secret": True})
    assert r.status_code == 201 and r.json() == {**r.json(), "value": None, "secret": True}
    assert (await http.post(base, json={"name": "PLAIN", "value": "x"})).status_code == 409
    assert problem_field(await http.post(base, json={"name": "1BAD", "value": "x"})) == "name"
    assert problem_field(await http.post(base, json={"name": "A-B", "value": "x"})) == "name"
    assert (await http.put(f"{base}/NOPE", json={"value": "x"})).status_code == 404
    r = await http.put(f"{base}/PLAIN", json={"value": "hello again"})
    assert r.status_code == 200 and r.json()["value"] == "hello again"
    listed = {v["name"]: v for v in (await http.get(base)).json()}
    assert listed["PLAIN"]["value"] == "hello again" and listed["PLAIN"]["secret"] is False
    assert listed["TOKEN"]["value"] is None and listed["TOKEN"]["secret"] is True
    async with env.stack.state.db.session() as s:
        token = (
            await s.scalars(select(WorkspaceVariable).where(WorkspaceVariable.name == "TOKEN"))
        ).one()
        assert SECRET_VALUE not in token.value
        assert BOX.decrypt(token.value, variable_aad(token)) == SECRET_VALUE

    # Import .env with comments, export, quotes, escapes and a multi-line value.
    dotenv = (
        "# settings\nexport A=1\nB=\"two words # not a comment\"\nC='single $HOME'\n"
        'D="line1\\nline2"\nE=\n  # indented comment\nF=x # trailing comment\n'
    )
    r = await http.post(f"{base}/import", json={"format": "env", "content": dotenv})
    assert r.status_code == 200, r.text
    assert sorted(r.json()["created"]) == ["A", "B", "C", "D", "E", "F"]
    want = {
        "A": "1", "B": "two words # not a comment", "C": "single $HOME", "D": "line1\nline2",
        "E": "", "F": "x", "PLAIN": "hello again", "TOKEN": None,
    }  # fmt: skip
    assert {v["name"]: v["value"] for v in (await http.get(base)).json()} == want
    bad = await http.post(f"{base}/import", json={"format": "env", "content": "A=1\nnot valid"})
    assert problem_field(bad) == "content" and "line 2" in bad.json()["detail"]
    bad = await http.post(f"{base}/import", json={"format": "json", "content": '{"1X": "y"}'})
    assert problem_field(bad) == "content"

    # Export both ways without secret values; importing either back changes nothing.
    env_text = (await http.get(f"{base}/export", params={"format": "env"})).text
    assert "# TOKEN=<secret: not exported>" in env_text and SECRET_VALUE not in env_text
    json_export = await http.get(f"{base}/export", params={"format": "json"})
    assert json_export.headers["content-type"].startswith("application/json")
    assert {"name": "TOKEN", "value": None, "secret": True} in json_export.json()
    for name in ("A", "B", "C", "D", "E", "F", "PLAIN"):
        assert (await http.delete(f"{base}/{name}")).status_code == 204
    r = await http.post(f"{base}/import", json={"format": "env", "content": env_text})
    assert r.status_code == 200 and "TOKEN" not in r.json()["created"] + r.json()["updated"]
    assert {v["name"]: v["value"] for v in (await http.get(base)).json()} == want
    r = await http.post(
        f"{base}/import", json={"format": "json", "content": json_export.text, "secret": True}
    )
    assert r.status_code == 200 and r.json()["skipped"] == ["TOKEN"]
    assert sorted(r.json()["updated"]) == ["A", "B", "C", "D", "E", "F", "PLAIN"]
    async with env.stack.state.db.session() as s:
        token = (
            await s.scalars(select(WorkspaceVariable).where(WorkspaceVariable.name == "TOKEN"))
        ).one()
        assert BOX.decrypt(token.value, variable_aad(token)) == SECRET_VALUE  # untouched
    listed = {v["name"]: v for v in (await http.get(base)).json()}
    assert listed["A"] == {**listed["A"], "value": "1", "secret": False}  # the entry said so
    # `secret` applies to entries that do not say; an import never reveals a stored secret.
    r = await http.post(
        f"{base}/import",
        json={"format": "json", "content": '{"NEW_KEY": "abcdef-new"}', "secret": True},
    )
    assert r.json()["created"] == ["NEW_KEY"]
    r = await http.post(f"{base}/import", json={"format": "env", "content": "TOKEN=replaced1"})
    assert r.json()["updated"] == ["TOKEN"]
    listed = {v["name"]: v for v in (await http.get(base)).json()}
    assert listed["NEW_KEY"]["value"] is None and listed["TOKEN"]["value"] is None
    assert listed["TOKEN"]["secret"] is True
    assert (await http.delete(f"{base}/NOPE")).status_code == 404


async def _tasks(http: httpx.AsyncClient, wid: str) -> None:
    base = f"/api/workspaces/{wid}/tasks"
    r = await http.post(
        base, json={"name": "Build", "working_directory": "src/app", "script_type": "bash",
                    "script": "make build"},
    )  # fmt: skip
    assert r.status_code == 201, r.text
    task = r.json()
    assert (await http.post(base, json={"name": "Build"})).status_code == 409
    assert problem_field(await http.post(base, json={"name": "X", "script_type": "ruby"})) == (
        "script_type"
    )
    assert (
        problem_field(await http.post(base, json={"name": "X", "working_directory": "../out"}))
        == "working_directory"
    )
    r = await http.put(f"{base}/{task['id']}", json={"name": "Build all", "script_type": "python",
                                                     "script": "print(1)"})  # fmt: skip
    assert r.status_code == 200 and r.json()["script_type"] == "python"
    assert r.json()["working_directory"] == ""
    assert [t["name"] for t in (await http.get(base)).json()] == ["Build all"]
    assert (await http.get(f"{base}/{task['id']}")).json()["script"] == "print(1)"
    assert (await http.delete(f"{base}/{task['id']}")).status_code == 204
    assert (await http.get(f"{base}/{task['id']}")).status_code == 404


async def _members(env: Env, wid: str) -> None:
    http = env.stack.http
    bob_token = await sign_in(env.stack.state, "bob")  # a developer: view, not edit
    async with env.client(bob_token) as bob:
        bob_id = (await bob.get("/api/me")).json()["id"]
        assert (await bob.get(f"/api/workspaces/{wid}")).status_code == 404
        assert (await bob.get("/api/workspaces")).json() == []
        assert (await http.put(f"/api/workspaces/{wid}/members/{bob_id}")).status_code == 204
        assert (await http.put(f"/api/workspaces/{wid}/members/{bob_id}")).status_code == 204
        assert (await http.put(f"/api/workspaces/{wid}/members/nobody")).status_code == 404
        r = await bob.get(f"/api/workspaces/{wid}")
        assert r.status_code == 200 and r.json()["has_git_pat"] is True
        listed = {v["name"]: v["value"] for v in (await bob.get(f"{r.url}/variables")).json()}
        assert listed["TOKEN"] is None
        # A member without the permission: 403, not 404.
        assert (await bob.patch(f"/api/workspaces/{wid}", json={"name": "x"})).status_code == 403
        r = await bob.put(f"/api/workspaces/{wid}/members/{bob_id}")
        assert r.status_code == 403
        assert (await bob.delete(f"/api/workspaces/{wid}")).status_code == 403
        assert (await http.delete(f"/api/workspaces/{wid}/members/{bob_id}")).status_code == 204
        assert (await http.delete(f"/api/workspaces/{wid}/members/{bob_id}")).status_code == 404
        assert (await bob.get(f"/api/workspaces/{wid}/variables")).status_code == 404


async def test_git_check_refuses_and_saves_nothing(
    db: Database,
    temporal_env: WorkflowEnvironment,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    wrong = "ghp_WrongTestPat9876543210zyxwvuZYXWVU"
    async with platform(db, temporal_env, tmp_path) as env:
        http = env.stack.http
        body = {"name": "Beta", "git_url": env.url, "git_pat": wrong}
        r = await http.post("/api/workspaces", json=body)
        assert problem_field(r) == "git_url"
        assert "git ls-remote failed" in r.json()["detail"]
        assert "could not read Username" in r.json()["detail"]  # git's own words
        r = await http.post("/api/workspaces", json={**body, "git_pat": PAT,
                                                      "default_branch": "release"})  # fmt: skip
        assert problem_field(r) == "default_branch"
        assert "release does not exist" in r.json()["detail"]
        missing = env.url.replace("proj.git", "missing.git")
        r = await http.post("/api/workspaces", json={**body, "git_pat": PAT, "git_url": missing})
        assert problem_field(r) == "git_url"
        r = await http.post("/api/workspaces", json={**body, "git_pat": None})
        assert problem_field(r) == "git_url"  # a private repository without a token
        assert await _count(db, Workspace) == 0
        assert (await http.get("/api/workspaces")).json() == []

        r = await http.post("/api/workspaces", json={**body, "git_pat": PAT})
        assert r.status_code == 201, r.text
        wid = r.json()["id"]
        # Edits that fail the check change nothing.
        refused = [
            ({"git_pat": wrong}, "git_url"),
            ({"git_pat": None}, "git_url"),
            ({"default_branch": "release", "name": "Renamed"}, "default_branch"),
        ]
        for change, fld in refused:
            r = await http.patch(f"/api/workspaces/{wid}", json=change)
            assert problem_field(r) == fld, change
        r = await http.get(f"/api/workspaces/{wid}")
        assert r.json()["name"] == "Beta" and r.json()["default_branch"] == "main"
        assert r.json()["has_git_pat"] is True
        async with db.session() as s:
            row = await s.get(Workspace, wid)
            assert row is not None and row.git_pat is not None
            assert BOX.decrypt(row.git_pat, git_pat_aad(row)) == PAT
        assert await _count(db, SecretRef) == 0
        assert (
            await http.post("/api/workspaces", json={**body, "git_pat": PAT})
        ).status_code == 409
        # The agent stops but is still listed online (no heartbeat missed yet): the check
        # waits schedule_to_start_seconds for it, then answers 503 and saves nothing.
        [(host, _)] = list(env.stack.agents)
        await env.stack.stop_agent(host, "session")
        assert await _online(env.stack, host)
        r = await http.post("/api/workspaces", json={**body, "name": "Gamma", "git_pat": PAT})
        assert r.status_code == 503, r.text
        assert f"{host}: offline" in r.json()["detail"]
        assert await _count(db, Workspace) == 1 and await _count(db, SecretRef) == 0
    env.assert_never_returned(PAT, wrong)
    assert_logs_clean(caplog, PAT, wrong)

"""Session hooks end to end: hooks configured through the API, `run_session_hooks` driven by a
workflow on a real Temporal server, scripts run by a real session agent in the session's
worktree with the workspace variables, and runs recorded with the circuit breaker."""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
from sqlalchemy import select
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.control.hooks import HookControlActivities
from orchestrator.audit.models import AuditEntry
from orchestrator.db import Database
from orchestrator.hooks.runs import HOOK_SEQ_BASE
from orchestrator.security.crypto import SecretBox
from orchestrator.sessions.models import Session
from orchestrator.workspaces.models import Workspace
from tests.helpers import TEST_MASTER, wait_for
from tests.integration.hooks_workflow import HooksRequest, SessionHooksWorkflow
from tests.integration.stack import Stack, running_stack, sign_in, unique_host

pytestmark = pytest.mark.sessions

TEST_QUEUE = "test-session-hooks"
SECRET = "hook-secret-7d1e9a3c5b"
PLAIN = "plain-value-4242"


@dataclass
class Bench:
    stack: Stack
    client: Client
    host: str
    wid: str
    sid: str
    worktree: Path
    published: list[dict[str, Any]]

    @property
    def http(self) -> httpx.AsyncClient:
        return self.stack.http

    async def hook(self, **body: Any) -> dict[str, Any]:
        body.setdefault("event", "turn_completed")
        r = await self.http.post(f"/api/workspaces/{self.wid}/hooks", json=body)
        assert r.status_code == 201, r.text
        created: dict[str, Any] = r.json()
        return created

    async def get_hook(self, hook_id: str) -> dict[str, Any]:
        r = await self.http.get(f"/api/workspaces/{self.wid}/hooks/{hook_id}")
        assert r.status_code == 200, r.text
        found: dict[str, Any] = r.json()
        return found

    async def run(self, event: str) -> None:
        await self.client.execute_workflow(
            SessionHooksWorkflow.run, HooksRequest(self.sid, self.host, event),
            id=f"test-hooks-{uuid.uuid4().hex[:8]}", task_queue=TEST_QUEUE,
        )  # fmt: skip

    async def runs(self) -> list[dict[str, Any]]:
        r = await self.http.get(f"/api/sessions/{self.sid}/hook-runs")
        assert r.status_code == 200, r.text
        items: list[dict[str, Any]] = r.json()["items"]
        return items

    async def transcript(self) -> list[dict[str, Any]]:
        r = await self.http.get(f"/api/sessions/{self.sid}/events")
        assert r.status_code == 200, r.text
        return [e for e in r.json()["events"] if e["kind"] == "system"]


@contextlib.asynccontextmanager
async def bench(
    db: Database, temporal: WorkflowEnvironment, tmp: Path, branch: str = "feature/login"
) -> AsyncIterator[Bench]:
    """A stack with a session agent, a workspace with variables, a session bound to the agent
    and its worktree where WorktreeActivities keeps it; the hooks workflow on a test queue."""
    client = temporal.client
    async with running_stack(db, client, tmp) as stack:
        published: list[dict[str, Any]] = []
        control = HookControlActivities(db, SecretBox(TEST_MASTER), publish=published.append)
        async with Worker(
            client, task_queue=TEST_QUEUE, workflows=[SessionHooksWorkflow],
            activities=[control.plan, control.record],
        ):  # fmt: skip
            host = unique_host()
            await stack.start_agent(host, "session")
            await wait_for(lambda: stack.worker(host, "session"), what="the agent registers")
            me = (await stack.http.get("/api/me")).json()["id"]
            async with db.session() as s:
                ws = Workspace(name=f"hooks-{uuid.uuid4().hex[:8]}", git_url="https://x.invalid/r")
                s.add(ws)
                await s.flush()
                row = Session(
                    workspace_id=ws.id, host_id=host, title="hooks", base_branch="main",
                    branch=branch, created_by=me,
                )  # fmt: skip
                s.add(row)
                await s.flush()
                wid, sid = ws.id, row.id
            for name, value, secret in (("PLAIN_VAR", PLAIN, False), ("API_TOKEN", SECRET, True)):
                r = await stack.http.post(
                    f"/api/workspaces/{wid}/variables",
                    json={"name": name, "value": value, "secret": secret},
                )
                assert r.status_code == 201, r.text
            worktree = (tmp / host / "session" / "workspaces" / wid / "worktrees" / sid).resolve()
            (worktree / "sub").mkdir(parents=True)
            (worktree / "marker.txt").write_text("in the worktree\n")
            yield Bench(stack, client, host, wid, sid, worktree, published)


async def test_hooks_run_in_the_worktree_with_the_workspace_variables(
    db: Database,
    temporal_env: WorkflowEnvironment,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    async with bench(db, temporal_env, tmp_path) as b:
        await b.hook(
            name="a-inline", branch_glob="feature/*", script_type="bash",
            script='echo "cwd=$(pwd)"\necho "plain=$PLAIN_VAR"\necho "token=$API_TOKEN"\n'
            'echo "ctx=$POLYGENT_SESSION_ID $POLYGENT_HOOK_EVENT $POLYGENT_BRANCH"\n'
            "cat marker.txt\nprintf '%s' \"$API_TOKEN\" > seen-token.txt\n",
        )  # fmt: skip
        task = await b.http.post(
            f"/api/workspaces/{b.wid}/tasks",
            json={"name": "Python task", "working_directory": "sub", "script_type": "python",
                  "script": "import os\nprint('task cwd', os.getcwd())\n"
                            "print('task plain', os.environ['PLAIN_VAR'])\n"},
        )  # fmt: skip
        assert task.status_code == 201, task.text
        await b.hook(name="b-task", task_id=task.json()["id"])
        await b.hook(name="b-shebang", script='#!/bin/sh -e\necho "shebang $PLAIN_VAR"\n')
        await b.hook(name="c-release-only", script="echo no", branch_glob="release/*")
        await b.hook(name="d-other-event", script="echo no", event="session_done")
        await b.hook(name="e-disabled", script="echo no", enabled=False)

        await b.run("turn_completed")

        runs = {r["name"]: r for r in await b.runs()}
        assert set(runs) == {"a-inline", "b-shebang", "b-task"}
        assert runs["b-shebang"]["ok"] and f"shebang {PLAIN}" in runs["b-shebang"]["output"]
        inline, task_run = runs["a-inline"], runs["b-task"]
        assert inline["ok"] and inline["exit_code"] == 0 and inline["attempt"] == 1
        assert inline["event"] == "turn_completed" and not inline["timed_out"]
        assert f"cwd={b.worktree}\n" in inline["output"]
        assert f"plain={PLAIN}\n" in inline["output"]
        assert "token=***\n" in inline["output"] and SECRET not in inline["output"]
        assert f"ctx={b.sid} turn_completed feature/login\n" in inline["output"]
        assert "in the worktree" in inline["output"]
        # The script itself saw the real value (only the stored output is redacted).
        assert (b.worktree / "seen-token.txt").read_text() == SECRET
        assert task_run["ok"], task_run["output"]
        assert f"task cwd {b.worktree / 'sub'}\n" in task_run["output"]
        assert f"task plain {PLAIN}\n" in task_run["output"]

        # Each run is a system event of the transcript, numbered apart from the workflow's.
        events = await b.transcript()
        assert [e["data"]["hook"] for e in events] == ["a-inline", "b-shebang", "b-task"]
        for e in events:
            assert e["attempt"] == 0 and e["seq"] > HOOK_SEQ_BASE
            assert e["data"]["subtype"] == "hook" and e["data"]["ok"] is True
            assert e["data"]["event"] == "turn_completed"
        r = await b.http.get(f"/api/sessions/{b.sid}/events")
        assert SECRET not in r.text

        # Another branch: only hooks without a filter (or a matching one) run.
        async with db.session() as s:
            row = await s.get(Session, b.sid)
            assert row is not None
            row.branch = "release/1.0"
        await b.run("turn_completed")
        names = [r["name"] for r in await b.runs()]
        assert sorted(names) == [
            "a-inline", "b-shebang", "b-shebang", "b-task", "b-task", "c-release-only",
        ]  # fmt: skip
    for rec in caplog.records:
        assert SECRET not in rec.getMessage()


async def test_a_timeout_kills_the_script_and_retries_run_until_success(
    db: Database, temporal_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    marker = f"97.{uuid.uuid4().int % 10**6}"
    async with bench(db, temporal_env, tmp_path) as b:
        slow = await b.hook(
            name="slow", event="session_started", timeout_seconds=1,
            script=f"echo started\nsleep {marker} &\nsleep {marker}\necho never\n",
        )  # fmt: skip
        await b.hook(
            name="flaky", event="session_started", retries=2,
            script="n=$(cat count 2>/dev/null || echo 0)\nn=$((n+1))\necho $n > count\n"
            'echo "attempt $n"\n[ "$n" -ge 3 ]\n',
        )  # fmt: skip

        task = await b.http.post(
            f"/api/workspaces/{b.wid}/tasks", json={"name": "Gone", "script": "true"}
        )
        await b.hook(name="orphan", event="session_started", task_id=task.json()["id"])
        r = await b.http.delete(f"/api/workspaces/{b.wid}/tasks/{task.json()['id']}")
        assert r.status_code == 204

        await b.run("session_started")

        runs = {r["name"]: r for r in await b.runs()}
        assert not runs["orphan"]["ok"] and "task was deleted" in runs["orphan"]["output"]
        assert runs["slow"]["timed_out"] and not runs["slow"]["ok"]
        assert runs["slow"]["exit_code"] is None
        assert "started" in runs["slow"]["output"] and "never" not in runs["slow"]["output"]
        assert "[killed after 1 s]" in runs["slow"]["output"]
        leftovers = [
            p.pid for p in psutil.process_iter(["cmdline"]) if marker in (p.info["cmdline"] or [])
        ]
        assert leftovers == []
        assert (await b.get_hook(slow["id"]))["consecutive_failures"] == 1

        flaky = runs["flaky"]
        assert flaky["ok"] and flaky["attempt"] == 3 and "attempt 3" in flaky["output"]
        assert (b.worktree / "count").read_text().strip() == "3"
        events = await b.transcript()
        assert [(e["data"]["hook"], e["data"]["ok"]) for e in events] == [
            ("flaky", True), ("orphan", False), ("slow", False),
        ]  # fmt: skip
        assert "after 3 attempts" in events[0]["data"]["text"]
        assert "timed out" in events[2]["data"]["text"]


async def test_the_breaker_turns_a_hook_off_after_three_failures(
    db: Database, temporal_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    async with bench(db, temporal_env, tmp_path) as b:
        hook = await b.hook(
            name="broken", event="session_done", script='echo "boom $API_TOKEN" >&2\nexit 3\n'
        )
        for failures in (1, 2):
            await b.run("session_done")
            found = await b.get_hook(hook["id"])
            assert found["enabled"] and found["consecutive_failures"] == failures
        assert b.published == []
        await b.run("session_done")

        found = await b.get_hook(hook["id"])
        assert not found["enabled"] and found["consecutive_failures"] == 3
        assert "3 consecutive failures" in found["disabled_reason"]
        assert "exit code 3" in found["disabled_reason"]
        runs = await b.runs()
        assert len(runs) == 3 and all(r["exit_code"] == 3 for r in runs)
        assert all("boom ***" in r["output"] and SECRET not in r["output"] for r in runs)
        async with b.stack.state.db.session() as s:
            audit = list(
                await s.scalars(select(AuditEntry).where(AuditEntry.action == "hook.disabled"))
            )
        assert [(a.actor_type, a.target_type, a.target_id) for a in audit] == [
            ("system", "hook", hook["id"])
        ]
        assert audit[0].details["failures"] == 3 and audit[0].details["session_id"] == b.sid
        assert [e["type"] for e in b.published] == ["hook.disabled"]
        assert b.published[0]["hook_id"] == hook["id"]
        assert b.published[0]["session_id"] == b.sid
        events = await b.transcript()
        assert [e["data"]["subtype"] for e in events] == ["hook", "hook", "hook", "hook_disabled"]
        assert "turned off after 3 consecutive failures" in events[-1]["data"]["text"]

        # Off: it no longer runs.
        await b.run("session_done")
        assert len(await b.runs()) == 3
        # Back on: the count starts again.
        r = await b.http.patch(
            f"/api/workspaces/{b.wid}/hooks/{hook['id']}", json={"enabled": True}
        )
        assert r.status_code == 200, r.text
        assert r.json()["consecutive_failures"] == 0 and r.json()["disabled_reason"] is None
        await b.run("session_done")
        assert len(await b.runs()) == 4
        assert (await b.get_hook(hook["id"]))["consecutive_failures"] == 1


def problem_field(resp: httpx.Response) -> str:
    assert resp.status_code == 422, resp.text
    assert resp.headers["content-type"] == "application/problem+json"
    return str(resp.json()["errors"][0]["field"])


async def test_hooks_api_validates_input_and_checks_permissions(
    db: Database, temporal_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    async with running_stack(db, temporal_env.client, tmp_path) as stack:
        http = stack.http
        me = (await http.get("/api/me")).json()["id"]
        async with db.session() as s:
            ws = Workspace(name="hooks-api", git_url="https://x.invalid/r")
            s.add(ws)
            await s.flush()
            row = Session(workspace_id=ws.id, title="s", created_by=me)
            s.add(row)
            await s.flush()
            wid, sid = ws.id, row.id
        base = f"/api/workspaces/{wid}/hooks"
        task = (await http.post(f"/api/workspaces/{wid}/tasks", json={"name": "T"})).json()

        r = await http.post(
            base, json={"name": "Lint", "event": "turn_completed", "script": "make lint",
                        "script_type": "bash", "timeout_seconds": 60, "retries": 2,
                        "branch_glob": "feature/*"},
        )  # fmt: skip
        assert r.status_code == 201, r.text
        hook = r.json()
        assert hook["enabled"] and hook["consecutive_failures"] == 0
        assert hook["task_id"] is None and hook["disabled_reason"] is None
        assert [h["id"] for h in (await http.get(base)).json()] == [hook["id"]]
        assert (await http.get(f"{base}/{hook['id']}")).json()["name"] == "Lint"

        # Bad input names its field; a duplicate name conflicts.
        good = {"name": "X", "event": "session_done", "script": "true"}
        for bad, field in (
            ({**good, "event": "whenever"}, "event"),
            ({k: v for k, v in good.items() if k != "event"}, "event"),
            ({**good, "name": " "}, "name"),
            ({**good, "script": ""}, "script"),
            ({**good, "task_id": task["id"]}, "script"),
            ({"name": "X", "event": "session_done", "task_id": "nope"}, "task_id"),
            ({"name": "X", "event": "session_done", "task_id": "../x"}, "task_id"),
            ({**good, "script_type": "ruby"}, "script_type"),
            ({**good, "timeout_seconds": 0}, "timeout_seconds"),
            ({**good, "retries": 11}, "retries"),
            ({**good, "branch_glob": "a\nb"}, "branch_glob"),
            ({**good, "extra": 1}, "extra"),
        ):  # fmt: skip
            assert problem_field(await http.post(base, json=bad)) == field, bad
        assert (await http.post(base, json={**good, "name": "Lint"})).status_code == 409

        # PATCH changes what is sent; a task replaces the inline script.
        r = await http.patch(f"{base}/{hook['id']}", json={"task_id": task["id"], "retries": 0})
        assert r.status_code == 200, r.text
        assert r.json()["task_id"] == task["id"] and r.json()["script"] == ""
        assert r.json()["branch_glob"] == "feature/*"
        assert problem_field(await http.patch(f"{base}/{hook['id']}", json={"task_id": None})) == (
            "script"
        )
        assert problem_field(await http.patch(f"{base}/{hook['id']}", json={"retries": -1})) == (
            "retries"
        )
        assert (await http.patch(f"{base}/nope", json={"retries": 1})).status_code == 404
        # Deleting the task leaves the hook with nothing to run (its runs then fail).
        assert (await http.delete(f"/api/workspaces/{wid}/tasks/{task['id']}")).status_code == 204
        assert (await http.get(f"{base}/{hook['id']}")).json()["task_id"] is None

        # Permissions: a member without workspaces.edit reads but cannot change; a stranger
        # sees nothing; session runs follow the session's visibility.
        member = await sign_in(stack.state, "member")
        stranger = await sign_in(stack.state, "stranger")
        member_id = (await http.get("/api/me", headers=_bearer(member))).json()["id"]
        assert (await http.put(f"/api/workspaces/{wid}/members/{member_id}")).status_code == 204
        as_member, as_stranger = _bearer(member), _bearer(stranger)
        assert (await http.get(base, headers=as_member)).status_code == 200
        assert (await http.post(base, json=good, headers=as_member)).status_code == 403
        assert (
            await http.patch(f"{base}/{hook['id']}", json={"retries": 1}, headers=as_member)
        ).status_code == 403
        assert (await http.delete(f"{base}/{hook['id']}", headers=as_member)).status_code == 403
        assert (await http.get(base, headers=as_stranger)).status_code == 404
        assert (await http.post(base, json=good, headers=as_stranger)).status_code == 404
        runs = f"/api/sessions/{sid}/hook-runs"
        assert (await http.get(runs)).json() == {"items": []}
        assert (await http.get(runs, headers=as_member)).status_code == 403
        assert (await http.get(runs, headers=as_stranger)).status_code == 404
        assert (await http.get("/api/sessions/nope/hook-runs")).status_code == 404
        assert problem_field(await http.get(f"{runs}?limit=0")) == "limit"
        assert problem_field(await http.get("/api/sessions/a.b/hook-runs")) == "session_id"

        assert (await http.delete(f"{base}/{hook['id']}")).status_code == 204
        assert (await http.get(f"{base}/{hook['id']}")).status_code == 404
        async with db.session() as s:
            actions = set(await s.scalars(select(AuditEntry.action)))
        assert {"workspace.hook_created", "workspace.hook_updated", "workspace.hook_deleted"} <= (
            actions
        )


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}

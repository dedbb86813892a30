"""Workspace access and input rules through the real API, without a session agent:
422 naming the field, 503 with no host online, 404 for non-members vs 403 for members
without the permission, personal PATs, and the internal secret-reference endpoint."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select
from temporalio.testing import WorkflowEnvironment

from orchestrator.auth.service import Principal
from orchestrator.db import Database
from orchestrator.hosts.service import HostService
from orchestrator.secrets.models import SecretRef
from orchestrator.secrets.service import SecretRefService
from orchestrator.security.crypto import SecretBox
from orchestrator.workspaces.models import PersonalPat, Workspace
from orchestrator.workspaces.schemas import WorkspaceCreate
from orchestrator.workspaces.sealed import personal_pat_aad
from orchestrator.workspaces.service import WorkspaceService
from tests.helpers import TEST_MASTER
from tests.integration.stack import Stack, running_stack, sign_in, unique_host

pytestmark = pytest.mark.identity
BOX = SecretBox(TEST_MASTER)
ADO_PAT = "ado" + "q" * 49
GOOD = {"name": "W", "git_url": "https://example.test/org/repo.git"}


async def seed(stack: Stack, name: str, owner_id: str) -> str:
    """A workspace saved straight through the service (the git check is the API's job)."""
    owner = Principal(owner_id, "owner", None, frozenset({"admin"}), "test")
    async with stack.state.db.session() as s:
        ws = await WorkspaceService(s, BOX, owner).create(
            WorkspaceCreate(name=name, git_url="https://example.test/x.git")
        )
        return ws.id


def field_of(resp: httpx.Response) -> str:
    assert resp.status_code == 422, resp.text
    return str(resp.json()["errors"][0]["field"])


async def test_bad_input_is_a_422_naming_the_field(
    db: Database, temporal_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    async with running_stack(db, temporal_env.client, tmp_path) as stack:
        post = stack.http.post
        cases = [
            ({"git_url": "file:///etc/passwd"}, "git_url"),
            ({"git_url": "ext::sh -c touch% /tmp/pwned"}, "git_url"),
            ({"git_url": "https://user:secret@github.com/o/r.git"}, "git_url"),
            ({"git_url": "/srv/git/repo.git"}, "git_url"),
            ({"default_branch": "-rf"}, "default_branch"),
            ({"default_branch": "a..b"}, "default_branch"),
            ({"default_branch": "feature/x.lock"}, "default_branch"),
            ({"default_branch": "with space"}, "default_branch"),
            ({"default_branch": "HEAD"}, "default_branch"),
            ({"git_pat": "x" * 501}, "git_pat"),
            ({"git_pat": "has space"}, "git_pat"),
            ({"name": "   "}, "name"),
            ({"tickets": {"source": "jira"}}, "tickets"),
            ({"tickets": {"source": "github", "owner": "acme"}}, "tickets.github.repo"),
            ({"tickets": {"source": "tfs", "organization_url": "ftp://x", "project": "P"}},
             "tickets.tfs.organization_url"),
            ({"tickets": {"source": "none", "owner": "x"}}, "tickets.none.owner"),
            ({"prompt_chat": "x" * 20_001}, "prompt_chat"),
            ({"name": "bad\x00name"}, "name"),
        ]  # fmt: skip
        for change, fld in cases:
            assert field_of(await post("/api/workspaces", json={**GOOD, **change})) == fld, change
        r = await post("/api/workspaces", json={**GOOD, "default_branch": "a..b"})
        assert "default_branch" in r.json()["detail"]
        # No session host is online: the check cannot run, nothing is saved.
        r = await post("/api/workspaces", json=GOOD)
        assert r.status_code == 503, r.text
        assert "No session host is online" in r.json()["detail"]
        async with db.session() as s:
            assert await s.scalar(select(func.count()).select_from(Workspace)) == 0

        me = (await stack.http.get("/api/me")).json()["id"]
        wid = await seed(stack, "Seeded", me)
        r = await stack.http.patch(f"/api/workspaces/{wid}", json={"git_url": "https://o/x.git"})
        assert r.status_code == 503  # a changed URL is checked too
        r = await stack.http.patch(f"/api/workspaces/{wid}", json={"prompt_chat": "hi"})
        assert r.status_code == 200  # nothing git-related changed: no check needed
        base = f"/api/workspaces/{wid}/variables"
        assert field_of(await post(base, json={"name": "9LIVES", "value": ""})) == "name"
        assert field_of(await post(base, json={"name": "A", "value": "x" * 65_537})) == "value"
        assert field_of(await stack.http.put(f"{base}/BAD-NAME", json={"value": "1"})) == "name"
        r = await stack.http.get(f"{base}/export", params={"format": "xml"})
        assert field_of(r) == "format"
        r = await post(
            f"/api/workspaces/{wid}/tasks", json={"name": "t", "working_directory": "/abs"}
        )
        assert field_of(r) == "working_directory"


async def test_membership_hides_and_permissions_forbid(
    db: Database, temporal_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    async with running_stack(db, temporal_env.client, tmp_path) as stack:
        admin_id = (await stack.http.get("/api/me")).json()["id"]
        wid = await seed(stack, "Private", admin_id)
        tokens = {
            "dev": await sign_in(stack.state, "dev"),  # developer: workspaces.view only
            "viewer": await sign_in(stack.state, "viewer", roles=["viewer"]),
        }
        headers = {k: {"Authorization": f"Bearer {t}"} for k, t in tokens.items()}
        async with httpx.AsyncClient(base_url=stack.url, timeout=30) as c:
            ids = {k: (await c.get("/api/me", headers=h)).json()["id"] for k, h in headers.items()}
            paths = [
                ("GET", f"/api/workspaces/{wid}"), ("PATCH", f"/api/workspaces/{wid}"),
                ("DELETE", f"/api/workspaces/{wid}"), ("GET", f"/api/workspaces/{wid}/members"),
                ("GET", f"/api/workspaces/{wid}/variables"),
                ("POST", f"/api/workspaces/{wid}/variables"),
                ("GET", f"/api/workspaces/{wid}/variables/export"),
                ("GET", f"/api/workspaces/{wid}/tasks"),
                ("PUT", f"/api/workspaces/{wid}/members/{ids['dev']}"),
            ]  # fmt: skip
            body = {"name": "N", "value": "v"}
            # Not a member: the workspace does not exist for them, whatever the permission.
            for method, path in paths:
                r = await c.request(method, path, headers=headers["dev"], json=body)
                assert r.status_code == 404, (method, path, r.text)
            assert (await c.get("/api/workspaces", headers=headers["dev"])).json() == []
            missing = "0" * 32
            r = await c.get(f"/api/workspaces/{missing}", headers=headers["dev"])
            assert r.status_code == 404 and r.json()["detail"] == "No such workspace."
            # Members: reading works, every change needs its permission (403).
            for uid in ids.values():
                r = await stack.http.put(f"/api/workspaces/{wid}/members/{uid}")
                assert r.status_code == 204
            for who in ("dev", "viewer"):
                for method, path in paths:
                    r = await c.request(method, path, headers=headers[who], json=body)
                    want = 200 if method == "GET" else 403
                    assert r.status_code == want, (who, method, path, r.text)
            # Without workspaces.create, no creating (403 before anything else).
            r = await c.post("/api/workspaces", headers=headers["dev"], json=GOOD)
            assert r.status_code == 403
            # The web pages follow the same rules.
            r = await c.get(f"/workspaces/{wid}", headers=headers["dev"])
            assert r.status_code == 200 and "Private" in r.text and "Save variable" not in r.text
            await stack.http.delete(f"/api/workspaces/{wid}/members/{ids['dev']}")
            r = await c.get(f"/workspaces/{wid}", headers=headers["dev"])
            assert r.status_code == 404 and "Private" not in r.text
            assert (await c.get("/api/workspaces")).status_code == 401


async def test_personal_pats_are_write_only_and_per_member(
    db: Database, temporal_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    async with running_stack(db, temporal_env.client, tmp_path) as stack:
        admin_id = (await stack.http.get("/api/me")).json()["id"]
        wid = await seed(stack, "Ado", admin_id)
        other = await seed(stack, "Other", admin_id)
        token = await sign_in(stack.state, "carol")
        async with httpx.AsyncClient(
            base_url=stack.url, timeout=30, headers={"Authorization": f"Bearer {token}"}
        ) as carol:
            carol_id = (await carol.get("/api/me")).json()["id"]
            await stack.http.put(f"/api/workspaces/{wid}/members/{carol_id}")
            bodies = []
            r = await carol.put(f"/api/me/pats/{wid}", json={"value": ADO_PAT})
            assert r.status_code == 204
            r = await carol.put(f"/api/me/pats/{other}", json={"value": ADO_PAT})
            assert r.status_code == 404  # not a member of Other
            r = await carol.put(f"/api/me/pats/{wid}", json={"value": "a" * 501})
            assert field_of(r) == "value"
            listed = await carol.get("/api/me/pats")
            bodies.append(listed.text)
            assert [(p["workspace_id"], p["workspace_name"]) for p in listed.json()] == [
                (wid, "Ado")
            ]
            # Visible to nobody else: the admin's own list is empty, and no route reads it.
            admin_list = await stack.http.get("/api/me/pats")
            bodies.append(admin_list.text)
            assert admin_list.json() == []
            async with db.session() as s:
                row = (await s.scalars(select(PersonalPat))).one()
                assert ADO_PAT not in row.value
                assert BOX.decrypt(row.value, personal_pat_aad(row)) == ADO_PAT
            r = await carol.put(f"/api/me/pats/{wid}", json={"value": ADO_PAT + "2"})
            assert r.status_code == 204
            assert (await carol.delete(f"/api/me/pats/{wid}")).status_code == 204
            assert (await carol.delete(f"/api/me/pats/{wid}")).status_code == 404
            assert (await carol.get("/api/me/pats")).json() == []
            assert all(ADO_PAT not in b for b in bodies)


async def test_secret_refs_are_redeemed_once_by_online_session_hosts(
    db: Database, temporal_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    async with running_stack(db, temporal_env.client, tmp_path) as stack:

        async def mint(value: str, ttl: timedelta = timedelta(minutes=5)) -> str:
            async with db.session() as s:
                return await SecretRefService(s, BOX).mint("test", value, ttl=ttl)

        session_key, deploy_key, unregistered = (
            await stack.mint("session"),
            await stack.mint("deploy"),
            await stack.mint("session"),
        )
        host = unique_host()
        async with httpx.AsyncClient(base_url=stack.url, timeout=30) as c:
            for key, kind in ((session_key, "session"), (deploy_key, "deploy")):
                r = await c.post(
                    "/internal/hosts/register", json={"name": host, "kind": kind},
                    headers={"Authorization": f"Bearer {key}"},
                )  # fmt: skip
                assert r.status_code == 200, r.text
            ref = await mint("the-secret-value")

            async def get(key: str | None, ref_id: str = ref) -> httpx.Response:
                h = {"Authorization": f"Bearer {key}"} if key else {}
                return await c.get(f"/internal/secrets/{ref_id}", headers=h)

            assert (await get(None)).status_code == 401
            assert (await get("pgk_00000000_nope")).status_code == 401
            assert (await get(deploy_key)).status_code == 403
            assert (await get(unregistered)).status_code == 403
            # The user's access token is not a host key.
            user_token = stack.http.headers["Authorization"].split()[1]
            assert (await get(user_token)).status_code == 401
            r = await get(session_key)
            assert r.status_code == 200 and r.json() == {"value": "the-secret-value"}
            assert r.headers["cache-control"] == "no-store"
            assert (await get(session_key)).status_code == 404  # once only
            expired = await mint("old-secret-value", ttl=timedelta(seconds=-1))
            assert (await get(session_key, expired)).status_code == 404
            assert (await get(session_key, "x" * 32)).status_code == 404
            # An offline host may not redeem.
            async with db.session() as s:
                await HostService(s, stack.state.pepper).mark_offline(host, "session")
            assert (await get(session_key, await mint("another-secret"))).status_code == 403
        async with db.session() as s:
            left = await s.scalar(select(func.count()).select_from(SecretRef))
        assert left == 1  # only the one the offline host could not take; expired rows purged

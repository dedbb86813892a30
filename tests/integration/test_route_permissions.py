"""Every route, called by every kind of caller: 401, 403, 404 and success exactly as designed.

`EXPECTED` (route_table.py) declares what each route requires. The first test checks the
table covers every route of the app (so a new route without an entry, or with another
permission than declared, fails here); the second calls each route as: nobody signed in, the
built-in roles, a user with no roles, an outsider holding every permission but `admin` and
no workspace membership, and an admin who is not a member either. Workspace-scoped routes (a
`workspace_id` path parameter) are called on a fresh workspace whose members are the role
users, so membership (404 for non-members) and permission (403) are both exercised.
"""

from __future__ import annotations

import random
import re
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from api.state import AppState
from orchestrator.auth.models import RefreshFamily, Role
from orchestrator.auth.repository import AuthRepository
from orchestrator.base import utcnow
from orchestrator.config import ServerSettings
from orchestrator.db import Database
from orchestrator.security.permissions import ADMIN, DEFAULT_ROLES, PERMISSIONS
from orchestrator.users.repository import RoleRepository, UserRepository
from orchestrator.workspaces.models import Workspace, WorkspaceMember
from tests.helpers import TEST_MASTER
from tests.integration.route_table import EXPECTED, Rule, app_routes, discovered
from tests.integration.stack import sign_in

pytestmark = pytest.mark.identity

# Who calls: their permissions (None = anonymous) and whether they are workspace members.
OUTSIDER = sorted(set(PERMISSIONS) - {ADMIN})
CALLERS: dict[str, tuple[list[str] | None, bool]] = {
    "anonymous": (None, False),
    "admin": ([ADMIN], False),  # admins see every workspace without being members
    "viewer": (DEFAULT_ROLES["viewer"][1], True),
    "developer": (DEFAULT_ROLES["developer"][1], True),
    "qa": (DEFAULT_ROLES["qa"][1], True),
    "no_roles": ([], True),
    "outsider": (OUTSIDER, False),
}


def is_workspace_route(path: str) -> bool:
    return "{workspace_id}" in path or path.startswith("/api/workspaces/{")


def test_the_table_covers_every_route_with_its_real_requirement(tmp_path: Path) -> None:
    state = AppState(
        settings=ServerSettings(data_dir=tmp_path),
        db=Database(f"sqlite:///{tmp_path}/unused.db"),
        master=TEST_MASTER,
    )
    app = create_app(state)
    routes = app_routes(app)
    schema_ops = {
        (m.upper(), p)
        for p, ops in app.openapi()["paths"].items()
        for m in ops
        if m != "parameters"
    }
    assert schema_ops <= set(routes), "the OpenAPI schema lists a route the app does not serve"
    missing = sorted(set(routes) - set(EXPECTED))
    assert not missing, (
        f"routes without an entry in EXPECTED (declare what they require): {missing}"
    )
    stale = sorted(set(EXPECTED) - set(routes))
    assert not stale, f"EXPECTED names routes that no longer exist: {stale}"
    wrong = []
    for key, ctx in routes.items():
        want, got = EXPECTED[key], discovered(ctx)
        if want.kind == "page" and got.kind == "page":
            continue
        if want != got:
            wrong.append(f"{key}: declared {want}, its dependencies require {got}")
    assert not wrong, "\n".join(wrong)
    named = {p for rule in EXPECTED.values() for p in rule.permissions}
    assert named <= set(PERMISSIONS), f"unknown permission names: {named - set(PERMISSIONS)}"


# -- calling every route as every caller --------------------------------------------------------


async def _callers(state: AppState) -> dict[str, str]:
    """A user per caller kind holding exactly the listed permissions; returns their ids."""
    await sign_in(state, "route-admin", first=True)
    ids: dict[str, str] = {}
    async with state.db.session() as s:
        roles = RoleRepository(s)
        outsider = await roles.add(Role(name="everything-but-admin"))
        await roles.set_permissions(outsider.id, OUTSIDER)
    for who in CALLERS:
        if who == "anonymous":
            continue
        name = "route-admin" if who == "admin" else f"route-{who}"
        if who != "admin":
            await sign_in(state, name)
        async with state.db.session() as s:
            user = await AuthRepository(s).user_by_identity("local", name)
            assert user is not None
            role = {"admin": "admin", "no_roles": None, "outsider": outsider.id}.get(who, who)
            await UserRepository(s).set_roles(user.id, [role] if role else [])
            ids[who] = user.id
    return ids


async def _tokens(state: AppState, ids: dict[str, str]) -> dict[str, str]:
    """Fresh sign-ins for everyone (a route may have signed its caller out everywhere)."""
    now = utcnow()
    out = {}
    async with state.db.session() as s:
        repo = AuthRepository(s)
        for who, uid in ids.items():
            family = RefreshFamily(
                user_id=uid, user_agent="route table", absolute_expires_at=now + timedelta(days=1)
            )
            await repo.add_family(family)
            out[who] = state.access.issue(uid, family.id, now)[0]
    return out


async def _workspace(state: AppState, ids: dict[str, str]) -> str:
    async with state.db.session() as s:
        ws = Workspace(name=f"rt-{uuid.uuid4().hex[:8]}", git_url="https://git.invalid/r.git")
        s.add(ws)
        await s.flush()
        for who, (_, member) in CALLERS.items():
            if member:
                s.add(WorkspaceMember(workspace_id=ws.id, user_id=ids[who]))
        return ws.id


# Valid bodies where a route checks membership only after validating its body.
BODIES: dict[tuple[str, str], Any] = {
    ("PUT", "/api/me/pats/{workspace_id}"): {"value": "route-table-pat"},
}


def _query_params(dependant: Any) -> list[Any]:
    return [*dependant.query_params, *(q for d in dependant.dependencies for q in _query_params(d))]


def _inputs(ctx: Any, method: str, workspace_id: str | None) -> tuple[str, dict[str, str], Any]:
    """The URL with dummy ids (the real workspace id), required query values, a body."""
    path = ctx.path
    for name in re.findall(r"{(\w+)}", path):
        value = workspace_id if name == "workspace_id" else "zzmissing0"
        path = path.replace("{" + name + "}", str(value))
    query = {
        f.alias: "1" if f.field_info.annotation is int else "zzmissing0"
        for f in _query_params(ctx.dependant)
        if f.field_info.is_required()
    }
    body = BODIES.get((method, ctx.path))
    if body is None and ctx.dependant.body_params:
        ann = ctx.dependant.body_params[0].field_info.annotation
        body = [] if getattr(ann, "__origin__", None) is list else {}
    return path, query, body


def _expect(rule: Rule, who: str, workspace: bool, status: int) -> str | None:
    """None when `status` is as designed, else what was expected."""
    granted, member = CALLERS[who]
    if rule.kind == "public":
        return None if status < 500 else "not a server error"
    if granted is None:
        if rule.kind == "page":
            return None if status == 303 else "303 to /signin"
        return None if status == 401 else "401"
    if rule.kind == "host":
        return None if status == 401 else "401 (a user token is not a host key)"
    allowed = ADMIN in granted or all(p in granted for p in rule.permissions)
    if workspace and ADMIN not in granted and not member:
        return None if status == 404 else "404 (not a member: the workspace is invisible)"
    if not allowed:
        return None if status == 403 else "403"
    if rule.kind == "page":
        return None if status == 200 else "200"
    return None if status not in (401, 403) and status < 500 else "neither 401/403 nor 5xx"


async def test_every_route_answers_each_caller_as_designed(
    db: Database, temporal_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    state = AppState(
        settings=ServerSettings(data_dir=tmp_path), db=db, master=TEST_MASTER,
        temporal=temporal_env.client,
    )  # fmt: skip
    app = create_app(state)
    ids = await _callers(state)
    # An address of its own: the sign-in rate limit is per client IP and per process.
    client_ip = f"198.51.100.{random.randint(1, 254)}"
    transport = httpx.ASGITransport(app=app, client=(client_ip, 4321))
    failures: list[str] = []
    calls = 0
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        routes = app_routes(app)
        for (method, path), ctx in sorted(routes.items(), key=lambda kv: kv[0][1]):
            rule = EXPECTED.get((method, path))
            if rule is None:
                continue  # reported by the coverage test
            workspace = is_workspace_route(path)
            tokens = await _tokens(state, ids)
            public_statuses = set()
            callers = ["anonymous", "admin"] if rule.kind == "public" else list(CALLERS)
            for who in callers:
                # A fresh workspace per call: an earlier caller may have deleted or emptied it.
                ws_id = await _workspace(state, ids) if workspace else None
                url, query, body = _inputs(ctx, method, ws_id)
                headers = {}
                if who != "anonymous":
                    token = tokens[who]
                    headers = (
                        {"Cookie": f"polygent_at={token}"}
                        if rule.kind == "page"
                        else {"Authorization": f"Bearer {token}"}
                    )
                r = await c.request(method, url, params=query, json=body, headers=headers)
                calls += 1
                public_statuses.add(r.status_code)
                want = _expect(rule, who, workspace, r.status_code)
                if (
                    rule.kind == "page"
                    and who != "anonymous"
                    and ("{session_id}" in path or "{ticket_id}" in path)
                ):
                    want = None if r.status_code == 404 else "404 (no such session or ticket)"
                if want:
                    failures.append(
                        f"{method} {path} as {who}: {r.status_code} (expected {want}) "
                        + r.text[:160]
                    )
                if rule.kind == "page" and who == "anonymous" and r.status_code == 303:
                    assert r.headers["location"].startswith("/signin?next=")
            if rule.kind == "public" and len(public_statuses) > 1:
                failures.append(f"{method} {path}: a public route answered {public_statuses}")
    assert not failures, f"{len(failures)} of {calls} calls not as designed:\n" + "\n".join(
        failures
    )
    public = sum(1 for key, rule in EXPECTED.items() if rule.kind == "public" and key in routes)
    assert calls == public * 2 + (len(routes) - public) * len(CALLERS)

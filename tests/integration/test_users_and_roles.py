"""Users, roles and the audit log through the API: live matrix edits, guards, devices, audit."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from api.app import create_app
from api.auth import CSRF_HEADER, CSRF_VALUE, refresh_cookie_name
from api.state import AppState
from orchestrator.auth.service import AuthService, Identity, Tokens
from orchestrator.config import ServerSettings
from orchestrator.db import Database
from orchestrator.security.permissions import DEFAULT_ROLES
from orchestrator.users.repository import UserRepository
from tests.helpers import TEST_MASTER
from tests.integration.stack import sign_in

pytestmark = pytest.mark.identity


@dataclass
class Api:
    state: AppState
    http: httpx.AsyncClient
    ip: str
    admin_id: str

    async def user(self, name: str, roles: list[str]) -> tuple[str, Tokens]:
        """Sign `name` in (a new device) holding exactly `roles`; their id and tokens."""
        async with self.state.db.session() as s:
            svc = AuthService(s, self.state.settings, self.state.access)
            tokens = await svc.sign_in(
                Identity("local", name, None, False, name.title()), user_agent=f"{name}-ua", ip=None
            )
            await UserRepository(s).set_roles(tokens.user.id, roles)
        return tokens.user.id, tokens

    async def call(self, method: str, path: str, token: str | None = None, **kw: Any) -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return await self.http.request(method, path, headers=headers, **kw)


@pytest_asyncio.fixture
async def api(db: Database, tmp_path: Path) -> AsyncIterator[Api]:
    state = AppState(settings=ServerSettings(data_dir=tmp_path), db=db, master=TEST_MASTER)
    ip = f"203.0.113.{random.randint(1, 254)}"
    transport = httpx.ASGITransport(app=create_app(state), client=(ip, 5555))
    token = await sign_in(state, "root admin", first=True)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://t", headers={"Authorization": f"Bearer {token}"}
    ) as http:
        me = (await http.get("/api/me")).json()
        yield Api(state, http, ip, me["id"])


async def test_matrix_edits_apply_on_the_next_request(api: Api) -> None:
    vera_id, vera = await api.user("vera", ["viewer"])
    t = vera.access_token
    assert (await api.call("GET", "/api/users", t)).status_code == 403
    assert (await api.call("GET", "/users", t)).status_code == 403
    viewer = DEFAULT_ROLES["viewer"][1]
    r = await api.http.put(
        "/api/roles/viewer/permissions", json={"permissions": [*viewer, "users.view"]}
    )
    assert r.status_code == 200 and "users.view" in r.json()["permissions"]
    # Same access token, no restart: the next request sees the new matrix.
    assert (await api.call("GET", "/api/users", t)).status_code == 200
    assert "users.view" in (await api.call("GET", "/api/me", t)).json()["permissions"]
    page = await api.call("GET", "/users", t)
    assert page.status_code == 200 and "vera" in page.text.lower()
    assert "data-edit-roles" not in page.text  # users.view alone: no edit actions shown
    assert 'href="/audit"' not in page.text  # nor the audit link it cannot open
    await api.http.put("/api/roles/viewer/permissions", json={"permissions": viewer})
    assert (await api.call("GET", "/api/users", t)).status_code == 403
    # Taking the role away works the same way.
    assert (await api.call("GET", "/api/hosts", t)).status_code == 200
    r = await api.http.put(f"/api/users/{vera_id}/roles", json={"roles": []})
    assert r.status_code == 200 and r.json()["roles"] == []
    assert (await api.call("GET", "/api/hosts", t)).status_code == 403


async def test_the_last_admin_stays_and_only_admins_grant_admin(api: Api) -> None:
    me = api.admin_id
    r = await api.http.put(f"/api/users/{me}/roles", json={"roles": ["viewer"]})
    assert r.status_code == 409 and "no active administrator" in r.json()["detail"]
    assert (await api.http.get("/api/me")).json()["is_admin"]
    r = await api.http.post(f"/api/users/{me}/disable")
    assert r.status_code == 409 and r.json()["detail"] == "You cannot disable your own account."
    r = await api.http.put("/api/roles/admin/permissions", json={"permissions": ["users.view"]})
    assert r.status_code == 409 and "keeps the admin permission" in r.json()["detail"]
    # A second admin through a custom role; then the first may step down.
    root = (
        await api.http.post("/api/roles", json={"name": "root", "permissions": ["admin"]})
    ).json()
    bob_id, bob = await api.user("bob", [root["id"]])
    assert (
        await api.http.put(f"/api/users/{me}/roles", json={"roles": ["developer"]})
    ).status_code == 200
    assert (await api.http.get("/api/users")).status_code == 403  # the change applies at once
    b = bob.access_token
    for method, path, body in (
        ("DELETE", f"/api/roles/{root['id']}", None),
        ("PUT", f"/api/roles/{root['id']}/permissions", {"permissions": ["users.view"]}),
        ("PUT", f"/api/users/{bob_id}/roles", {"roles": ["qa"]}),
    ):
        r = await api.call(method, path, b, json=body)
        assert r.status_code == 409, (path, r.text)
    # users.manage is not a way to become (or unmake) an admin.
    mgr = (
        await api.call(
            "POST",
            "/api/roles",
            b,
            json={"name": "managers", "permissions": ["users.manage", "users.view"]},
        )
    ).json()
    carol_id, carol = await api.user("carol", [mgr["id"]])
    c = carol.access_token
    for method, path, body in (
        ("PUT", f"/api/users/{carol_id}/roles", {"roles": [mgr["id"], root["id"]]}),
        ("PUT", f"/api/users/{bob_id}/roles", {"roles": []}),
        ("POST", f"/api/users/{bob_id}/disable", None),
        ("POST", "/api/roles", {"name": "sneaky", "permissions": ["admin"]}),
        ("PUT", f"/api/roles/{mgr['id']}/permissions", {"permissions": ["admin"]}),
    ):
        r = await api.call(method, path, c, json=body)
        assert r.status_code == 403 and "Only administrators" in r.json()["detail"], (path, r.text)
    dave_id, _ = await api.user("dave", [])
    r = await api.call("PUT", f"/api/users/{dave_id}/roles", c, json={"roles": ["qa"]})
    assert r.status_code == 200 and [x["name"] for x in r.json()["roles"]] == ["qa"]


async def test_role_crud_and_validation(api: Api) -> None:
    r = await api.http.post(
        "/api/roles",
        json={"name": "ops", "description": "Operators", "permissions": ["hosts.manage"]},
    )
    assert r.status_code == 201
    ops = r.json()
    assert (await api.http.post("/api/roles", json={"name": "ops"})).status_code == 409
    r = await api.http.put(
        f"/api/roles/{ops['id']}/permissions", json={"permissions": ["hosts.view", "hosts.fly"]}
    )
    assert r.status_code == 422 and "hosts.fly" in r.json()["detail"]
    r = await api.http.patch(f"/api/roles/{ops['id']}", json={"name": "operators"})
    assert r.status_code == 200 and r.json()["name"] == "operators"
    assert (await api.http.patch("/api/roles/qa", json={"name": "testers"})).status_code == 409
    r = await api.http.patch("/api/roles/qa", json={"description": "Testers"})
    assert r.status_code == 200 and r.json()["description"] == "Testers"
    uid, tokens = await api.user("erin", [ops["id"]])
    assert (await api.call("POST", "/api/hosts/nope/probe", tokens.access_token)).status_code == 404
    r = await api.http.put(f"/api/users/{uid}/roles", json={"roles": ["no-such-role"]})
    assert r.status_code == 422 and "no-such-role" in r.json()["detail"]
    assert (await api.http.delete("/api/roles/developer")).status_code == 409
    assert (await api.http.delete(f"/api/roles/{ops['id']}")).status_code == 204
    assert (await api.call("POST", "/api/hosts/nope/probe", tokens.access_token)).status_code == 403
    assert (await api.http.get(f"/api/users/{uid}")).json()["roles"] == []
    names = [p["name"] for p in (await api.http.get("/api/permissions")).json()]
    assert "users.manage" in names and "roundtables.manage_personas" in names


async def test_admin_sees_and_revokes_anyone_s_devices(api: Api) -> None:
    fay_id, laptop = await api.user("fay", ["developer"])
    _, phone = await api.user("fay", ["developer"])
    devices = (await api.http.get(f"/api/users/{fay_id}/devices")).json()
    assert {d["id"] for d in devices} == {laptop.family_id, phone.family_id}
    assert all(d["user_name"] == "Fay" and not d["current"] for d in devices)
    everyone = (await api.http.get("/api/devices")).json()
    assert {laptop.family_id, phone.family_id} <= {d["id"] for d in everyone}
    assert any(d["current"] and d["user_id"] == api.admin_id for d in everyone)
    other_id, _ = await api.user("gus", [])
    assert (
        await api.http.delete(f"/api/users/{other_id}/devices/{laptop.family_id}")
    ).status_code == 404
    assert (
        await api.http.delete(f"/api/users/{fay_id}/devices/{laptop.family_id}")
    ).status_code == 204
    assert (await api.call("GET", "/api/me", laptop.access_token)).status_code == 401
    assert (await api.call("GET", "/api/me", phone.access_token)).status_code == 200
    cookie = refresh_cookie_name(api.state)
    r = await api.http.post(
        "/auth/refresh",
        headers={CSRF_HEADER: CSRF_VALUE, "Cookie": f"{cookie}={laptop.refresh_token}"},
    )
    assert r.status_code == 401 and "ended" in r.json()["detail"]
    # Disabling ends every sign-in and refuses new ones; enabling lets them back in.
    assert (await api.http.post(f"/api/users/{fay_id}/disable")).json()["disabled"] is True
    assert (await api.call("GET", "/api/me", phone.access_token)).status_code == 401
    assert (await api.http.get(f"/api/users/{fay_id}/devices")).json() == []
    async with api.state.db.session() as s:
        refreshed = await AuthService(s, api.state.settings, api.state.access).refresh(
            phone.refresh_token, user_agent="x", ip=None
        )
    assert refreshed.outcome == "denied"
    assert (await api.http.post(f"/api/users/{fay_id}/enable")).json()["disabled"] is False
    _, again = await api.user("fay", ["developer"])
    assert (await api.call("GET", "/api/me", again.access_token)).status_code == 200


async def test_changes_are_audited_with_actor_time_and_ip(api: Api) -> None:
    hal_id, hal = await api.user("hal", ["viewer"])
    await api.http.put(f"/api/users/{hal_id}/roles", json={"roles": ["viewer", "qa"]})
    await api.http.put(
        "/api/roles/qa/permissions", json={"permissions": ["tickets.view", "audit.view"]}
    )
    await api.http.post(f"/api/users/{hal_id}/disable")
    await api.http.post(f"/api/users/{hal_id}/enable")
    page = (await api.http.get("/api/audit", params={"action": "users.roles_changed"})).json()
    [entry] = page["entries"]
    assert entry["actor_id"] == api.admin_id and entry["actor_name"] == "root admin"
    assert entry["ip"] == api.ip and entry["target_id"] == hal_id and entry["at"]
    assert entry["details"] == {"before": ["viewer"], "after": ["qa", "viewer"]}
    perms = (
        await api.http.get("/api/audit", params={"action": "roles.permissions_changed"})
    ).json()
    details = perms["entries"][0]["details"]
    assert details["role"] == "qa" and details["added"] == ["audit.view"]
    assert "tickets.manage" in details["removed"] and perms["entries"][0]["ip"] == api.ip
    # Paging: newest first, before_id continues where the last page stopped.
    mine = {"actor_id": api.admin_id, "limit": 2}
    first = (await api.http.get("/api/audit", params=mine)).json()
    actions = [e["action"] for e in first["entries"]]
    assert actions == ["users.enabled", "users.disabled"] and first["next_before_id"]
    second = (
        await api.http.get("/api/audit", params={**mine, "before_id": first["next_before_id"]})
    ).json()
    assert [e["action"] for e in second["entries"]] == [
        "roles.permissions_changed",
        "users.roles_changed",
    ]
    assert (await api.http.get("/api/audit", params={"since": "2999-01-01T00:00:00"})).json()[
        "entries"
    ] == []
    assert (await api.http.get("/api/audit", params={"limit": 201})).status_code == 422
    # qa now has audit.view: hal (viewer + qa) may read it; a viewer alone may not.
    assert (
        await api.call("GET", "/api/audit", hal.access_token)
    ).status_code == 401  # disabled ended it
    _, hal2 = await api.user("hal", ["viewer", "qa"])
    assert (await api.call("GET", "/api/audit", hal2.access_token)).status_code == 200
    _, ivy = await api.user("ivy", ["viewer"])
    assert (await api.call("GET", "/api/audit", ivy.access_token)).status_code == 403
    html = (await api.http.get("/audit", params={"action": "users.roles_changed"})).text
    assert "users.roles_changed" in html and api.ip in html and "root admin" in html

"""Sign-in over HTTP: cookies and their flags, refresh with CSRF checks, rate limits, sign-out."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.app import create_app
from api.state import AppState
from orchestrator.auth.service import AuthService
from orchestrator.config import ServerSettings
from orchestrator.db import Database
from tests.helpers import TEST_MASTER

pytestmark = pytest.mark.identity
CSRF = {"X-Requested-With": "polygent"}


@pytest.fixture(autouse=True)
def fresh_rate_limits() -> Iterator[None]:
    """The limiters are per process; each test starts with a clean count."""
    from api.routes.auth import refresh_limit, sign_in_limit

    for limiter in (sign_in_limit, refresh_limit):
        limiter._hits.clear()
    yield


def client(db: Database, tmp_path: Path, **settings: Any) -> tuple[httpx.AsyncClient, AppState]:
    state = AppState(
        settings=ServerSettings(data_dir=tmp_path, **settings), db=db, master=TEST_MASTER
    )
    app = create_app(state)
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1:8000"
    ), state


async def setup_token(state: AppState) -> str:
    async with state.db.session() as s:
        token = await AuthService(s, state.settings, state.access).issue_setup_token()
    assert token
    return token


async def test_local_sign_in_sets_strict_http_only_cookies(db: Database, tmp_path: Path) -> None:
    c, state = client(db, tmp_path)
    async with c:
        assert (await c.get("/auth/config")).json() == {
            "provider": "none",
            "button_label": "SSO",
            "local_sign_in": True,
            "needs_setup": True,
        }
        r = await c.post(
            "/auth/local", json={"name": "Ada", "setup_token": await setup_token(state)}
        )
        assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
        cookies = r.headers.get_list("set-cookie")
        rt = next(x for x in cookies if x.startswith("polygent_rt="))
        at = next(x for x in cookies if x.startswith("polygent_at="))
        for cookie in (rt, at):
            assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
            assert "Secure" not in cookie  # plain http on loopback: browsers would drop Secure ones
        me = await c.get("/api/me", headers={"Authorization": f"Bearer {r.json()['access_token']}"})
        assert me.json()["is_admin"] is True and me.json()["name"] == "Ada"
        assert (await c.get("/auth/config")).json()["needs_setup"] is False


async def test_cookies_are_secure_host_prefixed_behind_https(db: Database, tmp_path: Path) -> None:
    c, state = client(db, tmp_path, public_url="https://polygent.example.com")
    async with c:
        r = await c.post(
            "/auth/local", json={"name": "Ada", "setup_token": await setup_token(state)}
        )
        rt = next(x for x in r.headers.get_list("set-cookie") if "polygent_rt=" in x)
        assert rt.startswith("__Host-polygent_rt=") and "Secure" in rt


async def test_local_sign_in_refused_off_loopback_or_with_a_provider(
    db: Database, tmp_path: Path
) -> None:
    for settings in ({"api_host": "0.0.0.0"},
                     {"auth_provider": "oidc", "auth_issuer": "https://idp", "auth_client_id": "x",
                      "auth_client_secret": "y"}):  # fmt: skip
        c, _ = client(db, tmp_path, **settings)
        async with c:
            r = await c.post("/auth/local", json={"name": "Ada"})
            assert (
                r.status_code == 403
                and "only when the API listens on loopback" in r.json()["detail"]
            )


async def test_refresh_needs_csrf_defences(db: Database, tmp_path: Path) -> None:
    c, state = client(db, tmp_path)
    async with c:
        await c.post("/auth/local", json={"name": "Ada", "setup_token": await setup_token(state)})
        r = await c.post("/auth/refresh")
        assert r.status_code == 403 and "x-requested-with" in r.json()["detail"]
        r = await c.post("/auth/refresh", headers={**CSRF, "Sec-Fetch-Site": "cross-site"})
        assert r.status_code == 403
        r = await c.post("/auth/refresh", headers={**CSRF, "Origin": "https://evil.example"})
        assert r.status_code == 403 and "origin" in r.json()["detail"]
        r = await c.post("/auth/refresh", headers={**CSRF, "Origin": "http://127.0.0.1:8000"})
        assert r.status_code == 200 and r.json()["access_token"]


async def test_two_tabs_refreshing_at_once_keep_the_sign_in(db: Database, tmp_path: Path) -> None:
    c, state = client(db, tmp_path)
    async with c:
        await c.post("/auth/local", json={"name": "Ada", "setup_token": await setup_token(state)})
        old = {**CSRF, "Cookie": f"polygent_rt={c.cookies['polygent_rt']}"}
        c.cookies.clear()  # every tab sends the same, old refresh token
        results = await asyncio.gather(*(c.post("/auth/refresh", headers=old) for _ in range(8)))
        codes = sorted(r.status_code for r in results)
        assert codes.count(200) == 1 and set(codes) <= {200, 409}, codes
        assert all(r.headers.get("retry-after") == "1" for r in results if r.status_code == 409)
        # The winner's new cookie keeps working: no family revocation happened.
        winner = next(r for r in results if r.status_code == 200)
        c.cookies.clear()
        fresh = {**CSRF, "Cookie": f"polygent_rt={winner.cookies['polygent_rt']}"}
        r = await c.post("/auth/refresh", headers=fresh)
        assert r.status_code == 200


async def test_sign_in_is_rate_limited(db: Database, tmp_path: Path) -> None:
    c, _ = client(db, tmp_path)
    async with c:
        codes = [(await c.post("/auth/local", json={"name": "Eve"})).status_code for _ in range(11)]
        assert codes[:10] == [403] * 10  # refused: no admin and no setup token
        last = await c.post("/auth/local", json={"name": "Eve"})
        assert last.status_code == 429 and int(last.headers["retry-after"]) >= 1


async def test_sign_out_this_device_and_everywhere(db: Database, tmp_path: Path) -> None:
    laptop, state = client(db, tmp_path)
    phone = httpx.AsyncClient(transport=laptop._transport, base_url="http://127.0.0.1:8000",
                              headers={"User-Agent": "phone"})  # fmt: skip
    async with laptop, phone:
        first = await laptop.post(
            "/auth/local", json={"name": "Ada", "setup_token": await setup_token(state)}
        )
        laptop.headers["Authorization"] = f"Bearer {first.json()['access_token']}"
        second = await phone.post("/auth/local", json={"name": "Ada"})
        phone.headers["Authorization"] = f"Bearer {second.json()['access_token']}"
        devices = (await laptop.get("/api/me/devices")).json()
        assert len(devices) == 2 and sum(d["current"] for d in devices) == 1
        phone_device = next(d for d in devices if d["user_agent"] == "phone")
        assert (await laptop.delete(f"/api/me/devices/{phone_device['id']}")).status_code == 204
        assert (await phone.get("/api/me")).status_code == 401  # revoked at once
        assert (await phone.post("/auth/refresh", headers=CSRF)).status_code == 401
        r = await laptop.post("/auth/logout", headers=CSRF)
        assert r.status_code == 204 and "polygent_rt=" in r.headers["set-cookie"]
        assert (await laptop.get("/api/me")).status_code == 401
        # Everywhere: two fresh sign-ins, one call ends both.
        again = [await c.post("/auth/local", json={"name": "Ada"}) for c in (laptop, phone)]
        laptop.headers["Authorization"] = f"Bearer {again[0].json()['access_token']}"
        phone.headers["Authorization"] = f"Bearer {again[1].json()['access_token']}"
        assert (await laptop.post("/api/me/sign-out-everywhere")).status_code == 204
        assert (await phone.get("/api/me")).status_code == 401
        assert (await laptop.get("/api/me")).status_code == 401


async def test_page_token_comes_from_the_cookie_without_rotation(
    db: Database, tmp_path: Path
) -> None:
    c, state = client(db, tmp_path)
    async with c:
        signed = await c.post(
            "/auth/local", json={"name": "Ada", "setup_token": await setup_token(state)}
        )
        refresh_before = c.cookies["polygent_rt"]
        assert (await c.get("/auth/token")).status_code == 403  # the CSRF header is required
        r = await c.get("/auth/token", headers=CSRF)
        assert r.status_code == 200 and r.json()["access_token"] == signed.json()["access_token"]
        assert c.cookies["polygent_rt"] == refresh_before  # nothing rotated
        c.cookies.delete("polygent_at")
        assert (await c.get("/auth/token", headers=CSRF)).status_code == 401

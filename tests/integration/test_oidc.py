"""Sign-in through a real local OpenID provider (oidc-provider-mock): the whole redirect dance.

The mock runs in a thread on its own port; our API is served by uvicorn. A "browser" is an
httpx client with its own cookie jar that asks for HTML, as a browser navigating would.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from authlib.oidc.core import CodeIDToken
from joserfc.errors import InvalidClaimError
from oidc_provider_mock import run_server_in_thread
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from api.routes.oidc import login_limit
from api.state import AppState
from orchestrator.audit.repository import AuditRepository
from orchestrator.auth.oidc import (
    claims_options,
    identity_from_claims,
    metadata_url,
    microsoft_issuer_ok,
    scopes,
)
from orchestrator.auth.service import AuthService
from orchestrator.config import ServerSettings
from orchestrator.db import Database
from tests.helpers import TEST_MASTER
from tests.integration.stack import Stack, running_stack, sign_in

pytestmark = pytest.mark.identity
HTML = {"Accept": "text/html,application/xhtml+xml"}
NEEDS_SETUP = "This instance has no administrator yet"
MS = "https://login.microsoftonline.com"
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"


@pytest.fixture(scope="module")
def idp() -> Iterator[str]:
    with run_server_in_thread(require_nonce=True) as server:
        yield f"http://localhost:{server.server_port}"


@pytest.fixture(autouse=True)
def fresh_rate_limit() -> None:
    login_limit._hits.clear()


@asynccontextmanager
async def oidc_stack(
    db: Database, env: WorkflowEnvironment, tmp: Path, idp: str, **settings: Any
) -> AsyncIterator[Stack]:
    async with running_stack(
        db, env.client, tmp, admin=False, auth_provider="oidc", auth_issuer=idp,
        auth_client_id="polygent-test", auth_client_secret="s3cret-for-tests",
        auth_scopes="groups", **settings,
    ) as stack:  # fmt: skip
        yield stack


def browser(stack: Stack) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=stack.url, headers=HTML, timeout=30)


async def set_claims(idp: str, sub: str, **claims: Any) -> None:
    async with httpx.AsyncClient() as c:
        (await c.put(f"{idp}/users/{sub}", json=claims)).raise_for_status()


async def start(b: httpx.AsyncClient, **params: str) -> str:
    r = await b.get("/auth/login", params=params)
    assert r.status_code == 302, r.text
    return r.headers["location"]


async def authorize(b: httpx.AsyncClient, authorize_url: str, sub: str) -> str:
    """Choose `sub` on the provider's form; returns our callback URL with code and state."""
    r = await b.post(authorize_url, data={"sub": sub})
    assert r.status_code == 302, r.text
    return r.headers["location"]


async def dance(b: httpx.AsyncClient, sub: str, **params: str) -> httpx.Response:
    return await b.get(await authorize(b, await start(b, **params), sub))


def error_of(r: httpx.Response) -> str | None:
    assert r.status_code == 303, r.text
    return parse_qs(urlsplit(r.headers["location"]).query).get("error", [None])[0]


def session_cookies(r: httpx.Response) -> list[str]:
    return [c for c in r.headers.get_list("set-cookie") if c.startswith(("polygent_", "__Host-"))]


async def setup_token(stack: Stack) -> str:
    async with stack.state.db.session() as s:
        token = await AuthService(s, stack.state.settings, stack.state.access).issue_setup_token()
    assert token
    return token


async def test_first_admin_signs_in_with_the_setup_token(
    db: Database, temporal_env: WorkflowEnvironment, tmp_path: Path, idp: str
) -> None:
    async with oidc_stack(db, temporal_env, tmp_path, idp) as stack, browser(stack) as b:
        await set_claims(idp, "ada", email="ada@example.com", email_verified=True, name="Ada")

        # Without the setup token nobody may claim the instance; the page says why.
        r = await dance(b, "ada")
        assert error_of(r) == "needs_setup" and not session_cookies(r)
        page = await b.get(r.headers["location"])
        assert NEEDS_SETUP in page.text
        api = await b.get(await authorize(b, await start(b), "ada"), headers={"Accept": "*/*"})
        assert api.status_code == 403 and NEEDS_SETUP in api.json()["detail"]

        token = await setup_token(stack)
        login = await b.get("/auth/login", params={"next": "/hosts?tab=1", "setup_token": token})
        q = parse_qs(urlsplit(login.headers["location"]).query)
        assert login.headers["location"].startswith(f"{idp}/oauth2/authorize")
        assert q["code_challenge_method"] == ["S256"] and len(q["code_challenge"][0]) == 43
        assert len(q["state"][0]) >= 20 and len(q["nonce"][0]) >= 20
        assert q["scope"] == ["openid email profile groups"]
        assert q["redirect_uri"] == [f"{stack.url}/auth/callback/oidc"]
        assert token not in login.headers["location"]  # the setup token stays with us
        tx = next(c for c in login.headers.get_list("set-cookie") if c.startswith("oidc_tx="))
        assert all(f in tx.lower() for f in ("path=/auth", "max-age=600", "httponly", "lax"))

        r = await b.get(await authorize(b, login.headers["location"], "ada"))
        assert r.status_code == 303 and r.headers["location"] == "/hosts?tab=1"
        rt = next(c for c in session_cookies(r) if c.startswith("polygent_rt="))
        assert "HttpOnly" in rt and "SameSite=strict" in rt and "Path=/" in rt
        me = (await b.get("/api/me")).json()  # the HttpOnly access cookie works on GET
        assert me["is_admin"] is True and me["email"] == "ada@example.com" and me["name"] == "Ada"

        # Only a relative path is honoured as `next`.
        for evil in ("https://evil.example/", "//evil.example/x", "/\\evil.example"):
            assert (await dance(b, "ada", next=evil)).headers["location"] == "/"


async def test_users_are_keyed_by_issuer_and_subject_and_new_users_can_be_refused(
    db: Database, temporal_env: WorkflowEnvironment, tmp_path: Path, idp: str
) -> None:
    async with oidc_stack(db, temporal_env, tmp_path, idp) as stack:
        await sign_in(stack.state, "root", first=True)  # an admin exists already
        for sub in ("kim", "kim-twin", "lee"):
            await set_claims(idp, sub, email="kim@example.com", email_verified=True)

        ids = {}
        for sub in ("kim", "kim-twin", "kim"):
            async with browser(stack) as b:
                assert error_of(await dance(b, sub)) is None
                me = (await b.get("/api/me")).json()
                assert me["is_admin"] is False and me["email"] == "kim@example.com"
                assert ids.setdefault(sub, me["id"]) == me["id"]
        assert ids["kim"] != ids["kim-twin"]  # same email, different subject: two people

        stack.state.settings = stack.state.settings.model_copy(
            update={"auth_allow_new_users": False}
        )
        async with browser(stack) as b:
            r = await dance(b, "lee")
            assert error_of(r) == "no_new_users" and not session_cookies(r)
            assert "New users are not allowed" in (await b.get(r.headers["location"])).text
            assert error_of(await dance(b, "kim")) is None  # existing users still get in
            assert (await b.get("/api/me")).json()["id"] == ids["kim"]
        async with stack.state.db.session() as s:
            refused = [e for e in await AuditRepository(s).recent() if e.action.endswith("refused")]
        assert [e.details["reason"] for e in refused] == ["no_new_users"]


async def test_a_verified_allow_listed_email_may_become_the_first_admin(
    db: Database, temporal_env: WorkflowEnvironment, tmp_path: Path, idp: str
) -> None:
    async with (
        oidc_stack(db, temporal_env, tmp_path, idp, admin_emails="Eve@Example.com") as stack,
        browser(stack) as b,
    ):
        await set_claims(idp, "eve-unverified", email="eve@example.com", email_verified=False)
        await set_claims(idp, "eve", email="eve@example.com", email_verified="true")
        assert error_of(await dance(b, "eve-unverified")) == "needs_setup"
        assert error_of(await dance(b, "eve")) is None
        assert (await b.get("/api/me")).json()["is_admin"] is True


async def test_forged_foreign_and_replayed_callbacks_are_refused(
    db: Database, temporal_env: WorkflowEnvironment, tmp_path: Path, idp: str
) -> None:
    async with oidc_stack(db, temporal_env, tmp_path, idp) as stack:
        await sign_in(stack.state, "root", first=True)
        async with browser(stack) as b, browser(stack) as other:
            callback = await authorize(b, await start(b), "mallory")
            forged = callback.replace("state=", "state=x")
            r = await b.get(forged)
            assert error_of(r) == "expired" and not session_cookies(r)
            # Login CSRF: a callback delivered to a browser that did not start the sign-in.
            assert error_of(await other.get(callback)) == "expired"

            tx = dict(b.cookies)  # the transaction cookie before the callback consumes it
            assert error_of(await b.get(callback)) is None
            assert error_of(await b.get(callback)) == "expired"  # replay: state is gone
            other.cookies.update(tx)  # replay with the old cookie: the code is spent
            r = await other.get(callback)
            assert error_of(r) == "invalid" and not session_cookies(r)
            api = await other.get(callback, headers={"Accept": "application/json"})
            assert api.status_code == 400
            assert api.headers["content-type"] == "application/problem+json"

            # The person pressed "Deny" at the provider.
            denied = await b.post(await start(b), data={"action": "deny"})
            assert error_of(await b.get(denied.headers["location"])) == "denied"


async def test_login_is_404_without_a_provider_and_rate_limited_with_one(
    db: Database, tmp_path: Path
) -> None:
    def app(**settings: Any) -> httpx.AsyncClient:
        state = AppState(ServerSettings(data_dir=tmp_path, **settings), db, TEST_MASTER)
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=create_app(state)), base_url="http://127.0.0.1:8000"
        )

    async with app() as c:
        assert (await c.get("/auth/login")).status_code == 404
        assert (await c.get("/auth/callback/oidc", params={"state": "x"})).status_code == 404
    dead = {"auth_provider": "oidc", "auth_issuer": "http://127.0.0.1:9", "auth_client_id": "x",
            "auth_client_secret": "y"}  # fmt: skip
    async with app(**dead) as c:
        assert (await c.get("/auth/callback/google")).status_code == 404
        r = await c.get("/auth/login", headers=HTML)
        assert r.status_code == 303 and r.headers["location"] == "/signin?error=unreachable"
        assert (await c.get("/auth/login")).status_code == 503
        login_limit._hits.clear()
        codes = [(await c.get("/auth/login")).status_code for _ in range(21)]
        assert set(codes[:20]) == {503} and codes[20] == 429


# -- units: provider settings and the Microsoft issuer rule ---------------------------------


def settings(**kw: Any) -> ServerSettings:
    return ServerSettings(auth_client_id="cid", auth_client_secret="sec", **kw)


def id_token(**claims: Any) -> dict[str, Any]:
    now = int(time.time())
    return {"sub": "s", "aud": "cid", "iat": now, "exp": now + 300, "nonce": "n", **claims}


def validates(s: ServerSettings, claims: dict[str, Any]) -> bool:
    token = CodeIDToken(claims, {"alg": "RS256"}, claims_options(s), {"nonce": "n"})
    try:
        token.validate()
    except InvalidClaimError:
        return False
    return True


def test_microsoft_issuer_follows_the_tid_template() -> None:
    ok = {"iss": f"{MS}/{TENANT}/v2.0", "tid": TENANT}
    assert microsoft_issuer_ok(ok, "common") and microsoft_issuer_ok(ok, "organizations")
    assert microsoft_issuer_ok(ok, TENANT) and microsoft_issuer_ok(ok, TENANT.upper())
    assert not microsoft_issuer_ok(ok, "11111111-2222-3333-4444-555555555555")  # other tenant
    assert not microsoft_issuer_ok({**ok, "iss": f"{MS}/{{tenantid}}/v2.0"}, "common")
    assert not microsoft_issuer_ok({**ok, "iss": f"https://evil.example/{TENANT}/v2.0"}, "common")
    assert not microsoft_issuer_ok({"iss": ok["iss"]}, "common")  # no tid
    assert not microsoft_issuer_ok({**ok, "tid": "other"}, "common")  # iss and tid disagree

    # Wired into authlib's id_token validation, where the discovery template would fail.
    common = settings(auth_provider="microsoft")
    assert metadata_url(common) == f"{MS}/common/v2.0/.well-known/openid-configuration"
    assert validates(common, id_token(**ok))
    assert not validates(common, id_token(iss=f"{MS}/{TENANT}/v2.0", tid="x"))
    one = settings(auth_provider="microsoft", auth_tenant_id="11111111-2222-3333-4444-555555555555")
    assert not validates(one, id_token(**ok))


def test_issuers_scopes_and_identities_per_provider() -> None:
    google = settings(auth_provider="google")
    assert validates(google, id_token(iss="accounts.google.com"))
    assert not validates(google, id_token(iss="https://evil.example"))
    generic = settings(
        auth_provider="oidc", auth_issuer="https://idp.example/realm/", auth_scopes="a, b openid"
    )
    assert metadata_url(generic) == "https://idp.example/realm/.well-known/openid-configuration"
    assert scopes(generic) == "openid email profile a b"
    assert validates(generic, id_token(iss="https://idp.example/realm"))
    assert not validates(generic, id_token(iss="https://idp.example/other"))

    g = identity_from_claims({"iss": "accounts.google.com", "sub": "1", "email": "a@b.c",
                              "email_verified": True}, "google")  # fmt: skip
    assert (g.issuer, g.subject, g.email_verified, g.name) == (
        "https://accounts.google.com",
        "1",
        True,
        "a@b.c",
    )
    m = identity_from_claims({"iss": f"{MS}/{TENANT}/v2.0", "sub": "2", "email": "x@y.z",
                              "preferred_username": "x@y.z", "name": "X"}, "microsoft")  # fmt: skip
    assert m.email == "x@y.z" and m.email_verified is False and m.name == "X"
    o = identity_from_claims({"iss": "https://i", "sub": "3", "email_verified": "true"}, "oidc")
    assert o.email is None and o.email_verified is False  # verified, but no email to verify

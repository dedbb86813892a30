"""Sign-in through the configured identity provider: the redirect out and the callback.

The transaction (state, nonce, PKCE verifier, where to go next, the setup token) lives in the
signed `oidc_tx` cookie that `install_session` adds. Failures send browsers back to
`/signin?error=<code>` and the page words the code, so no text chosen by whoever crafted the
link is ever shown on our origin; other clients get problem+json with the same sentence.

Codes: expired (400: unknown, forged or replayed state), denied (400: the provider said no),
invalid (400: the provider's answer failed verification), needs_setup, no_new_users,
disabled, refused (403: our sign-in rules said no), unreachable (503).
"""

from __future__ import annotations

import logging
from typing import Annotated, Any
from urllib.parse import urlencode

from authlib.integrations.base_client import MismatchingStateError, OAuthError
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import RedirectResponse, Response
from joserfc.errors import JoseError

from api.deps import DbSession, State, client_ip
from api.problems import errors
from api.ratelimit import RateLimiter
from api.routes.auth import auth_service, set_session_cookies
from api.state import AppState
from orchestrator.audit.repository import AuditRepository
from orchestrator.auth.oidc import (
    HTTP_ERRORS,
    OAuthClient,
    UnusableIdentity,
    build_client,
    claims_options,
    identity_from_claims,
    metadata_url,
    scopes,
)
from orchestrator.auth.service import SignInRefused
from orchestrator.config import ServerSettings
from orchestrator.security.keys import b64e

log = logging.getLogger(__name__)
DISCOVERY_ERRORS: tuple[type[Exception], ...] = (*HTTP_ERRORS, ValueError)
router = APIRouter(tags=["auth"])
login_limit = RateLimiter(limit=20, window_seconds=60)
TX_COOKIE = "oidc_tx"
TX_SECONDS = 600

FAILURES: dict[str, tuple[int, str]] = {
    "expired": (400, "This sign-in expired or was already used; start again."),
    "denied": (400, "The identity provider did not sign you in."),
    "invalid": (400, "The identity provider's answer could not be verified; start again."),
    "refused": (403, "Sign-in is not allowed."),
    "unreachable": (503, "The identity provider cannot be reached; try again later."),
}


def install_session(app: FastAPI, state: AppState) -> None:
    """The signed, short-lived transaction cookie authlib needs; only with a provider.

    SameSite=Lax because the provider's redirect back is a cross-site navigation.
    """
    if state.settings.auth_provider == "none":
        return
    from starlette.middleware.sessions import SessionMiddleware

    key = state.master.derive("oidc-session")
    app.add_middleware(
        SessionMiddleware, secret_key=b64e(key.keys[key.primary]), session_cookie=TX_COOKIE,
        max_age=TX_SECONDS, path="/auth", same_site="lax",
        https_only=state.settings.secure_cookies,
    )  # fmt: skip


def _provider_client(request: Request, settings: ServerSettings) -> OAuthClient:
    """The app's authlib client (built once: it caches the provider's discovery and keys)."""
    if settings.auth_provider == "none":
        raise HTTPException(404, "No identity provider is configured.")
    key = (settings.auth_client_id, metadata_url(settings), scopes(settings))
    cached: tuple[Any, OAuthClient] | None = getattr(request.app.state, "oidc_client", None)
    if cached is None or cached[0] != key:
        cached = (key, build_client(settings))
        request.app.state.oidc_client = cached
    return cached[1]


def _safe_next(value: str | None) -> str:
    """Only a path on this site: never `//host`, `/\\host` or an absolute URL."""
    if not value or not value.startswith("/") or value.startswith(("//", "/\\")):
        return "/"
    if any(c in value for c in "\\\r\n\t") or any(ord(c) < 32 for c in value):
        return "/"
    return value


def _fail(request: Request, code: str, detail: str | None = None, next_: str = "/") -> Response:
    """303 to the sign-in page for browsers; problem+json for everyone else."""
    status, sentence = FAILURES.get(code, FAILURES["refused"])
    if "text/html" in request.headers.get("accept", ""):
        query = {"error": code, **({"next": next_} if next_ != "/" else {})}
        return RedirectResponse(f"/signin?{urlencode(query)}", status_code=303)
    raise HTTPException(status, detail or sentence)


@router.get(
    "/auth/login",
    status_code=302,
    response_class=RedirectResponse,
    responses={302: {"description": "To the identity provider."}, **errors(404, 422, 429, 503)},
    dependencies=[Depends(login_limit)],
)
async def login(
    request: Request,
    state: State,
    next_: Annotated[str, Query(alias="next", max_length=2000)] = "/",
    setup_token: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    """Start signing in: a fresh state, nonce and PKCE verifier, then off to the provider."""
    settings = state.settings
    client = _provider_client(request, settings)
    redirect_uri = f"{settings.effective_public_url}/auth/callback/{settings.auth_provider}"
    next_ = _safe_next(next_)
    try:
        rv = await client.create_authorization_url(redirect_uri)
    except DISCOVERY_ERRORS:
        log.warning("The identity provider's discovery document could not be fetched.")
        return _fail(request, "unreachable", next_=next_)
    url = rv.pop("url")
    await client.save_authorize_data(
        request, redirect_uri=redirect_uri, next=next_, setup_token=setup_token or None, **rv
    )
    return RedirectResponse(url, status_code=302)


@router.get(
    "/auth/callback/{provider}",
    status_code=303,
    response_class=RedirectResponse,
    responses={303: {"description": "Signed in: to `next`."}, **errors(400, 403, 404, 503)},
)
async def callback(provider: str, request: Request, state: State, session: DbSession) -> Response:
    """The provider sends the browser back here; authlib checks state, PKCE, nonce, id_token."""
    settings = state.settings
    if provider != settings.auth_provider:
        raise HTTPException(404, "No such identity provider.")
    client = _provider_client(request, settings)
    pending = await client.framework.get_state_data(
        request.session, request.query_params.get("state", "")
    )
    next_ = _safe_next(pending.get("next")) if pending else "/"
    try:
        token = await client.authorize_access_token(
            request, claims_options=claims_options(settings)
        )
        ident = identity_from_claims(token.get("userinfo") or {}, provider)
    except MismatchingStateError:
        return _fail(request, "expired")
    except OAuthError as exc:
        code = "denied" if request.query_params.get("error") else "invalid"
        log.warning("Sign-in failed at the identity provider: %s.", exc.error)
        return _fail(request, code, next_=next_)
    except (JoseError, UnusableIdentity) as exc:
        log.warning("The identity provider's id_token was refused: %s.", exc)
        return _fail(request, "invalid", next_=next_)
    except HTTP_ERRORS:
        return _fail(request, "unreachable", next_=next_)
    ip = client_ip(request)
    try:
        tokens = await auth_service(session, state).sign_in(
            ident, user_agent=request.headers.get("user-agent", ""), ip=ip,
            setup_token=pending.get("setup_token") if pending else None,
        )  # fmt: skip
    except SignInRefused as exc:
        await session.rollback()
        code = exc.code
        await AuditRepository(session).add(
            "auth.sign_in_refused", actor_type="user", ip=ip,
            details={"issuer": ident.issuer, "subject": ident.subject, "reason": code},
        )  # fmt: skip
        await session.commit()
        return _fail(request, code, str(exc), next_=next_)
    await session.commit()
    response = RedirectResponse(next_, status_code=303)
    set_session_cookies(response, state, tokens)
    return response

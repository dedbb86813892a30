"""Who is calling: our access token as `Authorization: Bearer`, or (safe methods only, for
server-rendered pages and the WebSocket) the HttpOnly access cookie; and permission checks.

Cookies never authorise a state-changing request, so pages need no CSRF tokens; the two
cookie-authenticated POSTs (/auth/refresh, /auth/logout) check a custom header, Fetch
Metadata and Origin instead.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, HTTPException, Request
from starlette.requests import HTTPConnection

from api.deps import State
from api.state import AppState
from orchestrator.auth.service import AuthService, Principal
from orchestrator.auth.tokens import InvalidToken
from orchestrator.base import utcnow

ACCESS_COOKIE = "polygent_at"
CSRF_HEADER = "x-requested-with"
CSRF_VALUE = "polygent"
SAFE_METHODS = ("GET", "HEAD")


def refresh_cookie_name(state: AppState) -> str:
    """`__Host-` (Secure, Path=/, no Domain) wherever the cookie can be Secure."""
    return "__Host-polygent_rt" if state.settings.secure_cookies else "polygent_rt"


def _token(conn: HTTPConnection) -> str | None:
    scheme, _, value = conn.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    method = conn.scope.get("method", "GET")  # WebSocket handshakes are GETs
    if method in SAFE_METHODS:
        return conn.cookies.get(ACCESS_COOKIE)
    return None


async def principal_of(conn: HTTPConnection, state: AppState) -> Principal | None:
    token = _token(conn)
    if not token:
        return None
    try:
        claims = state.access.verify(token, utcnow())
    except InvalidToken:
        return None
    async with state.db.session() as session:
        return await AuthService(session, state.settings, state.access).principal(claims)


async def optional_principal(request: Request, state: State) -> Principal | None:
    return await principal_of(request, state)


async def current_principal(request: Request, state: State) -> Principal:
    principal = await principal_of(request, state)
    if principal is None:
        raise HTTPException(
            401, "Sign in first (or your access token expired: refresh it).",
            headers={"WWW-Authenticate": "Bearer"},
        )  # fmt: skip
    return principal


CurrentUser = Annotated[Principal, Depends(current_principal)]


def require(*permissions: str) -> Callable[..., Awaitable[Principal]]:
    """A dependency that answers 403 unless the caller holds every permission (admin: all)."""

    async def check(principal: CurrentUser) -> Principal:
        for permission in permissions:
            if not principal.can(permission):
                raise HTTPException(403, f"You need the {permission} permission for this.")
        return principal

    check.permissions = permissions  # type: ignore[attr-defined]
    return check


def check_csrf(request: Request, state: State) -> None:
    """For cookie-authenticated POSTs: a header cross-site forms cannot send, Fetch Metadata,
    and the Origin, when the browser sends one, must be ours."""
    if request.headers.get(CSRF_HEADER, "").lower() != CSRF_VALUE:
        raise HTTPException(403, f"Missing the {CSRF_HEADER}: {CSRF_VALUE} header.")
    if request.headers.get("sec-fetch-site") == "cross-site":
        raise HTTPException(403, "Cross-site requests are refused.")
    origin = request.headers.get("origin")
    if origin:
        ours = {_origin(state.settings.effective_public_url), _origin(str(request.base_url))}
        if _origin(origin) not in ours:
            raise HTTPException(403, "This origin may not use the session cookie.")


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()

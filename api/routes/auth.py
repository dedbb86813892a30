"""Signing in and out, token refresh, the current user and their devices."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Request, Response

from api.auth import (
    ACCESS_COOKIE,
    CurrentUser,
    check_csrf,
    principal_of,
    refresh_cookie_name,
)
from api.deps import DbSession, State, client_ip
from api.problems import errors
from api.ratelimit import RateLimiter
from orchestrator.auth.repository import AuthRepository
from orchestrator.auth.schemas import AuthConfig, DeviceOut, LocalSignIn, MeOut, TokenOut
from orchestrator.auth.service import (
    LOCAL_ISSUER,
    AuthService,
    Identity,
    SignInRefused,
    Tokens,
    sha256,
)
from orchestrator.base import utcnow

router = APIRouter(tags=["auth"])
sign_in_limit = RateLimiter(limit=10, window_seconds=60)
refresh_limit = RateLimiter(limit=60, window_seconds=60)
LOOPBACK = {"127.0.0.1", "::1", "localhost"}


def set_session_cookies(response: Response, state: State, tokens: Tokens) -> None:
    secure = state.settings.secure_cookies
    now = utcnow()
    response.set_cookie(
        refresh_cookie_name(state), tokens.refresh_token, httponly=True, secure=secure,
        samesite="strict", path="/",
        max_age=int((tokens.refresh_expires_at - now).total_seconds()),
    )  # fmt: skip
    response.set_cookie(
        ACCESS_COOKIE, tokens.access_token, httponly=True, secure=secure, samesite="strict",
        path="/", max_age=int((tokens.access_expires_at - now).total_seconds()),
    )  # fmt: skip
    response.headers["Cache-Control"] = "no-store"


def clear_session_cookies(response: Response, state: State) -> None:
    secure = state.settings.secure_cookies
    for name in (refresh_cookie_name(state), ACCESS_COOKIE):
        response.delete_cookie(name, path="/", secure=secure, httponly=True, samesite="strict")


def token_out(tokens: Tokens) -> TokenOut:
    return TokenOut(
        access_token=tokens.access_token,
        expires_at=tokens.access_expires_at,
        user_id=tokens.user.id,
    )


def auth_service(session: DbSession, state: State) -> AuthService:
    return AuthService(session, state.settings, state.access)


@router.get("/auth/config", response_model=AuthConfig)
async def auth_config(state: State, session: DbSession) -> AuthConfig:
    """What the sign-in page offers: the identity provider, or local sign-in on loopback."""
    s = state.settings
    return AuthConfig(
        provider=s.auth_provider,
        button_label={"google": "Google", "microsoft": "Microsoft"}.get(
            s.auth_provider, s.auth_button_label
        ),
        local_sign_in=s.local_sign_in,
        needs_setup=not await AuthRepository(session).admin_exists(),
    )


@router.post(
    "/auth/local",
    response_model=TokenOut,
    responses=errors(403, 429),
    dependencies=[Depends(sign_in_limit)],
)
async def local_sign_in(
    body: LocalSignIn, request: Request, response: Response, state: State, session: DbSession
) -> TokenOut:
    """Local sign-in for the embedded default: only on loopback with no identity provider."""
    if not state.settings.local_sign_in or client_ip(request) not in LOOPBACK:
        raise HTTPException(
            403, "Local sign-in works only when the API listens on loopback and no identity "
            "provider is configured.",
        )  # fmt: skip
    ident = Identity(LOCAL_ISSUER, body.name.strip().lower(), None, False, body.name.strip())
    try:
        tokens = await auth_service(session, state).sign_in(
            ident, user_agent=request.headers.get("user-agent", ""), ip=client_ip(request),
            setup_token=body.setup_token,
        )  # fmt: skip
    except SignInRefused as exc:
        raise HTTPException(403, str(exc)) from None
    await session.commit()
    set_session_cookies(response, state, tokens)
    return token_out(tokens)


@router.post(
    "/auth/refresh",
    response_model=TokenOut,
    responses=errors(401, 403, 409, 429),
    dependencies=[Depends(check_csrf), Depends(refresh_limit)],
)
async def refresh(
    request: Request, response: Response, state: State, session: DbSession
) -> TokenOut:
    """Rotate the refresh cookie and return a new access token (409: another tab just did)."""
    plain = request.cookies.get(refresh_cookie_name(state), "")
    result = await auth_service(session, state).refresh(
        plain, user_agent=request.headers.get("user-agent", ""), ip=client_ip(request)
    )
    await session.commit()
    if result.outcome == "retry":
        raise HTTPException(409, result.reason, headers={"Retry-After": "1"})
    if result.outcome == "denied" or result.tokens is None:
        raise HTTPException(401, result.reason, headers={"Set-Cookie": _expired_cookies(state)})
    set_session_cookies(response, state, result.tokens)
    return token_out(result.tokens)


def _expired_cookies(state: State) -> str:
    secure = "; Secure" if state.settings.secure_cookies else ""
    return f"{refresh_cookie_name(state)}=; Max-Age=0; Path=/; HttpOnly; SameSite=strict{secure}"


@router.get(
    "/auth/token",
    response_model=TokenOut,
    responses=errors(401, 403),
    dependencies=[Depends(check_csrf)],
)
async def current_token(request: Request, response: Response, state: State) -> TokenOut:
    """The page's current access token, read from its HttpOnly cookie: pages get a token for
    their API calls without rotating the refresh token on every load."""
    principal = await principal_of(request, state)
    token = request.cookies.get(ACCESS_COOKIE)
    if principal is None or not token:
        raise HTTPException(401, "No valid access cookie; refresh the sign-in.")
    response.headers["Cache-Control"] = "no-store"
    claims = state.access.verify(token, utcnow())
    return TokenOut(access_token=token, expires_at=claims.expires_at, user_id=principal.user_id)


@router.post(
    "/auth/logout", status_code=204, responses=errors(403), dependencies=[Depends(check_csrf)]
)
async def logout(request: Request, response: Response, state: State, session: DbSession) -> None:
    """Sign this device out: its refresh family is revoked and the cookies cleared."""
    plain = request.cookies.get(refresh_cookie_name(state), "")
    svc = auth_service(session, state)
    if plain:
        token = await svc.repo.token_by_hash(sha256(plain))
        if token is not None:
            family = await svc.repo.get_family(token.family_id)
            if family is not None:
                await svc.sign_out(family.id, actor_id=family.user_id, ip=client_ip(request))
    await session.commit()
    clear_session_cookies(response, state)


@router.get("/api/me", response_model=MeOut, responses=errors(401))
async def me(principal: CurrentUser) -> MeOut:
    return MeOut(
        id=principal.user_id, name=principal.name, email=principal.email,
        is_admin=principal.is_admin, permissions=sorted(principal.permissions),
    )  # fmt: skip


@router.get("/api/me/devices", response_model=list[DeviceOut], responses=errors(401))
async def my_devices(principal: CurrentUser, state: State, session: DbSession) -> list[DeviceOut]:
    """This person's active sign-ins, the current one marked."""
    families = await auth_service(session, state).devices(principal.user_id)
    return [
        DeviceOut(id=f.id, user_agent=f.user_agent, ip=f.ip, created_at=f.created_at,
                  last_used_at=f.last_used_at, current=f.id == principal.family_id)
        for f in families
    ]  # fmt: skip


@router.delete("/api/me/devices/{device_id}", status_code=204, responses=errors(401, 404))
async def revoke_my_device(
    device_id: str, principal: CurrentUser, state: State, session: DbSession, request: Request
) -> None:
    svc = auth_service(session, state)
    family = await svc.repo.get_family(device_id)
    if family is None or family.user_id != principal.user_id or family.revoked_at is not None:
        raise HTTPException(404, "No such active device.")
    await svc.sign_out(device_id, actor_id=principal.user_id, ip=client_ip(request))


@router.post("/api/me/sign-out-everywhere", status_code=204, responses=errors(401))
async def sign_out_everywhere(
    principal: CurrentUser, state: State, session: DbSession, request: Request, response: Response
) -> None:
    await auth_service(session, state).sign_out_everywhere(
        principal.user_id, actor_id=principal.user_id, ip=client_ip(request)
    )
    clear_session_cookies(response, state)

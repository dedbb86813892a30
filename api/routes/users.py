"""Users for administrators: roles, disabling, and anyone's active sign-ins (devices)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Request

from api.auth import require
from api.deps import DbSession, State, client_ip
from api.problems import errors
from api.routes.auth import auth_service
from orchestrator.auth.service import Principal
from orchestrator.users.schemas import (
    ID_PATTERN,
    AdminDeviceOut,
    RoleBrief,
    UserOut,
    UserRolesIn,
)
from orchestrator.users.service import Actor, IdentityError, UserService, UserView

router = APIRouter(prefix="/api", tags=["users"])
IdPath = Annotated[str, Path(pattern=ID_PATTERN)]
Viewer = Annotated[Principal, Depends(require("users.view"))]
Manager = Annotated[Principal, Depends(require("users.manage"))]


def actor(principal: Principal, request: Request) -> Actor:
    return Actor(principal.user_id, client_ip(request), principal.is_admin)


def refused(exc: IdentityError) -> HTTPException:
    return HTTPException(exc.status, str(exc))


def user_out(view: UserView) -> UserOut:
    u = view.user
    return UserOut(
        id=u.id, name=u.display_name, email=u.email, issuer=u.issuer, disabled=u.disabled,
        is_admin=view.is_admin, roles=[RoleBrief(id=r.id, name=r.name) for r in view.roles],
        created_at=u.created_at, last_sign_in_at=u.last_sign_in_at,
    )  # fmt: skip


@router.get("/users", response_model=list[UserOut], responses=errors(401, 403))
async def list_users(_: Viewer, session: DbSession) -> list[UserOut]:
    """Everyone who has signed in, with their roles."""
    return [user_out(v) for v in await UserService(session).list_all()]


@router.get("/users/{user_id}", response_model=UserOut, responses=errors(401, 403, 404, 422))
async def get_user(user_id: IdPath, _: Viewer, session: DbSession) -> UserOut:
    try:
        return user_out(await UserService(session).get(user_id))
    except IdentityError as exc:
        raise refused(exc) from None


@router.put(
    "/users/{user_id}/roles", response_model=UserOut, responses=errors(401, 403, 404, 409, 422)
)
async def set_user_roles(
    user_id: IdPath, body: UserRolesIn, principal: Manager, session: DbSession, request: Request
) -> UserOut:
    """Replace the user's roles; effective on their next request (409: the last admin)."""
    try:
        view = await UserService(session).set_roles(actor(principal, request), user_id, body.roles)
    except IdentityError as exc:
        raise refused(exc) from None
    await session.commit()
    return user_out(view)


async def _set_disabled(
    user_id: str, disabled: bool, principal: Principal, session: DbSession, request: Request
) -> UserOut:
    try:
        view = await UserService(session).set_disabled(actor(principal, request), user_id, disabled)
    except IdentityError as exc:
        raise refused(exc) from None
    await session.commit()
    return user_out(view)


@router.post(
    "/users/{user_id}/disable", response_model=UserOut, responses=errors(401, 403, 404, 409, 422)
)
async def disable_user(
    user_id: IdPath, principal: Manager, session: DbSession, request: Request
) -> UserOut:
    """Refuse the person's sign-ins and end every one they have (not yourself, not the last
    admin)."""
    return await _set_disabled(user_id, True, principal, session, request)


@router.post(
    "/users/{user_id}/enable", response_model=UserOut, responses=errors(401, 403, 404, 422)
)
async def enable_user(
    user_id: IdPath, principal: Manager, session: DbSession, request: Request
) -> UserOut:
    return await _set_disabled(user_id, False, principal, session, request)


@router.get(
    "/users/{user_id}/devices",
    response_model=list[AdminDeviceOut],
    responses=errors(401, 403, 404, 422),
)
async def user_devices(
    user_id: IdPath, principal: Manager, state: State, session: DbSession
) -> list[AdminDeviceOut]:
    """The person's active sign-ins."""
    try:
        view = await UserService(session).get(user_id)
    except IdentityError as exc:
        raise refused(exc) from None
    families = await auth_service(session, state).devices(user_id)
    return [
        AdminDeviceOut(id=f.id, user_agent=f.user_agent, ip=f.ip, created_at=f.created_at,
                       last_used_at=f.last_used_at, current=f.id == principal.family_id,
                       user_id=user_id, user_name=view.user.display_name)
        for f in families
    ]  # fmt: skip


@router.delete(
    "/users/{user_id}/devices/{device_id}", status_code=204, responses=errors(401, 403, 404, 422)
)
async def revoke_user_device(
    user_id: IdPath,
    device_id: IdPath,
    principal: Manager,
    state: State,
    session: DbSession,
    request: Request,
) -> None:
    """End one of the person's sign-ins: its refresh fails, its access token stops at once."""
    svc = auth_service(session, state)
    family = await svc.repo.get_family(device_id)
    if family is None or family.user_id != user_id or family.revoked_at is not None:
        raise HTTPException(404, "No such active device.")
    await svc.sign_out(device_id, actor_id=principal.user_id, ip=client_ip(request))
    await session.commit()


@router.get("/devices", response_model=list[AdminDeviceOut], responses=errors(401, 403))
async def all_devices(principal: Manager, session: DbSession) -> list[AdminDeviceOut]:
    """Every active sign-in of every user (the admin's active-sessions view)."""
    return [
        AdminDeviceOut(id=f.id, user_agent=f.user_agent, ip=f.ip, created_at=f.created_at,
                       last_used_at=f.last_used_at, current=f.id == principal.family_id,
                       user_id=u.id, user_name=u.display_name)
        for f, u in await UserService(session).all_devices()
    ]  # fmt: skip

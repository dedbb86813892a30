"""The permission catalogue and the role matrix (roles → permissions), edited live."""

from __future__ import annotations

from fastapi import APIRouter, Request

from api.deps import DbSession
from api.problems import errors
from api.routes.users import IdPath, Manager, Viewer, actor, refused
from orchestrator.auth.roles import RoleService, RoleView, catalogue
from orchestrator.users.schemas import (
    PermissionOut,
    RoleIn,
    RoleOut,
    RolePatch,
    RolePermissionsIn,
)
from orchestrator.users.service import IdentityError

router = APIRouter(prefix="/api", tags=["roles"])


def role_out(view: RoleView) -> RoleOut:
    r = view.role
    return RoleOut(
        id=r.id, name=r.name, description=r.description, builtin=r.builtin,
        permissions=view.permissions, users=view.users,
    )  # fmt: skip


@router.get("/permissions", response_model=list[PermissionOut], responses=errors(401, 403))
async def list_permissions(_: Viewer) -> list[PermissionOut]:
    """Every permission name with what it allows and its area (the matrix's rows)."""
    return [
        PermissionOut(name=p.name, description=p.description, area=p.area,
                      area_title=p.area_title)
        for p in catalogue()
    ]  # fmt: skip


@router.get("/roles", response_model=list[RoleOut], responses=errors(401, 403))
async def list_roles(_: Viewer, session: DbSession) -> list[RoleOut]:
    """Every role with its permissions and how many people hold it (the matrix's columns)."""
    return [role_out(v) for v in await RoleService(session).list_all()]


@router.post(
    "/roles", response_model=RoleOut, status_code=201, responses=errors(401, 403, 409, 422)
)
async def create_role(
    body: RoleIn, principal: Manager, session: DbSession, request: Request
) -> RoleOut:
    try:
        view = await RoleService(session).create(
            actor(principal, request), body.name, body.description, body.permissions
        )
    except IdentityError as exc:
        raise refused(exc) from None
    await session.commit()
    return role_out(view)


@router.patch("/roles/{role_id}", response_model=RoleOut, responses=errors(401, 403, 404, 409, 422))
async def update_role(
    role_id: IdPath, body: RolePatch, principal: Manager, session: DbSession, request: Request
) -> RoleOut:
    """Rename or describe a role (built-in roles keep their names)."""
    try:
        view = await RoleService(session).update(
            actor(principal, request), role_id, body.name, body.description
        )
    except IdentityError as exc:
        raise refused(exc) from None
    await session.commit()
    return role_out(view)


@router.put(
    "/roles/{role_id}/permissions",
    response_model=RoleOut,
    responses=errors(401, 403, 404, 409, 422),
)
async def set_role_permissions(
    role_id: IdPath,
    body: RolePermissionsIn,
    principal: Manager,
    session: DbSession,
    request: Request,
) -> RoleOut:
    """Replace the role's permissions; holders get them on their next request."""
    try:
        view = await RoleService(session).set_permissions(
            actor(principal, request), role_id, body.permissions
        )
    except IdentityError as exc:
        raise refused(exc) from None
    await session.commit()
    return role_out(view)


@router.delete("/roles/{role_id}", status_code=204, responses=errors(401, 403, 404, 409, 422))
async def delete_role(
    role_id: IdPath, principal: Manager, session: DbSession, request: Request
) -> None:
    """Delete a role you created; its holders lose its permissions (built-ins stay)."""
    try:
        await RoleService(session).delete(actor(principal, request), role_id)
    except IdentityError as exc:
        raise refused(exc) from None
    await session.commit()

"""The role matrix: roles and the permissions each grants, edited live (no restart).

Permissions are read from the database on every request, so an edit takes effect on the
callers' next request. Built-in roles (seeded by migration 0002, ids equal to their names)
keep their names because sign-in looks them up by name; the `admin` role keeps `admin`.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from orchestrator.audit.repository import AuditRepository
from orchestrator.auth.models import Role
from orchestrator.security.permissions import ADMIN, PERMISSIONS, unknown
from orchestrator.users.repository import RoleRepository
from orchestrator.users.service import Actor, AdminGuard, IdentityError

ADMIN_ROLE = "admin"
AREA_TITLES = {
    "admin": "Administration",
    "mcps": "MCP servers",
    "roundtables": "Round tables",
    "subagents": "Subagents",
}


@dataclass(frozen=True)
class PermissionInfo:
    name: str
    description: str
    area: str
    area_title: str


def catalogue() -> list[PermissionInfo]:
    """Every permission with its area, in the catalogue's order (areas stay together)."""
    out = []
    for name, description in PERMISSIONS.items():
        area = name.split(".", 1)[0]
        out.append(PermissionInfo(name, description, area, AREA_TITLES.get(area, area.title())))
    return out


@dataclass(frozen=True)
class RoleView:
    role: Role
    permissions: list[str]
    users: int


class RoleService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.repo = RoleRepository(session)
        self.audit = AuditRepository(session)

    async def list_all(self) -> list[RoleView]:
        perms = await self.repo.permissions_by_role()
        counts = await self.repo.user_counts()
        return [
            RoleView(r, _ordered(perms.get(r.id, set())), counts.get(r.id, 0))
            for r in await self.repo.list_roles()
        ]

    async def get(self, role_id: str) -> RoleView:
        role = await self.repo.get(role_id)
        if role is None:
            raise IdentityError("No such role.", 404)
        counts = await self.repo.user_counts()
        return RoleView(
            role, _ordered(await self.repo.permissions_of(role_id)), counts.get(role_id, 0)
        )

    async def _name_free(self, name: str, role_id: str | None = None) -> None:
        other = await self.repo.by_name(name)
        if other is not None and other.id != role_id:
            raise IdentityError(f"A role named {name} already exists.", 409)

    async def create(
        self, actor: Actor, name: str, description: str, permissions: list[str]
    ) -> RoleView:
        name = name.strip()
        _check_known(permissions)
        actor.may_touch_admin(ADMIN in permissions)
        await self._name_free(name)
        role = await self.repo.add(Role(name=name, description=description.strip()))
        await self.repo.set_permissions(role.id, permissions)
        details: dict[str, object] = {"name": name, "permissions": _ordered(permissions)}
        await self._audit(actor, "roles.created", role, details)
        return await self.get(role.id)

    async def update(
        self, actor: Actor, role_id: str, name: str | None, description: str | None
    ) -> RoleView:
        view = await self.get(role_id)
        role = view.role
        before = {"name": role.name, "description": role.description}
        if name is not None and name.strip() != role.name:
            if role.builtin:
                raise IdentityError("Built-in roles keep their names.", 409)
            await self._name_free(name.strip(), role_id)
            role.name = name.strip()
        if description is not None:
            role.description = description.strip()
        await self.session.flush()
        after = {"name": role.name, "description": role.description}
        if after != before:
            await self._audit(actor, "roles.updated", role, {"before": before, "after": after})
        return await self.get(role_id)

    async def set_permissions(self, actor: Actor, role_id: str, permissions: list[str]) -> RoleView:
        view = await self.get(role_id)
        _check_known(permissions)
        wanted = set(permissions)
        if view.role.id == ADMIN_ROLE and ADMIN not in wanted:
            raise IdentityError("The admin role always keeps the admin permission.", 409)
        before = set(view.permissions)
        if wanted == before:
            return view
        actor.may_touch_admin(ADMIN in wanted | before)
        async with AdminGuard(self.session):
            await self.repo.set_permissions(role_id, wanted)
        await self._audit(actor, "roles.permissions_changed", view.role, {
            "role": view.role.name, "added": _ordered(wanted - before),
            "removed": _ordered(before - wanted),
        })  # fmt: skip
        return await self.get(role_id)

    async def delete(self, actor: Actor, role_id: str) -> None:
        view = await self.get(role_id)
        if view.role.builtin:
            raise IdentityError("Built-in roles cannot be deleted.", 409)
        actor.may_touch_admin(ADMIN in view.permissions)
        async with AdminGuard(self.session):
            await self.repo.delete(view.role)
        await self._audit(actor, "roles.deleted", view.role, {
            "name": view.role.name, "permissions": view.permissions, "users": view.users,
        })  # fmt: skip

    async def _audit(
        self, actor: Actor, action: str, role: Role, details: dict[str, object]
    ) -> None:
        await self.audit.add(
            action, actor_type="user", actor_id=actor.user_id, ip=actor.ip,
            target_type="role", target_id=role.id, details=details,
        )  # fmt: skip


def _check_known(permissions: list[str]) -> None:
    bad = unknown(permissions)
    if bad:
        raise IdentityError(f"Unknown permission {bad[0]}.", 422)


def _ordered(names: set[str] | list[str]) -> list[str]:
    """In the catalogue's order, so the matrix and the audit log read the same way."""
    order = {name: i for i, name in enumerate(PERMISSIONS)}
    return sorted(set(names), key=lambda n: (order.get(n, len(order)), n))

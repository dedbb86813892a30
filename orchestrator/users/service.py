"""Managing people: their roles, disabling them, and everyone's active sign-ins.

Every change is audited with its actor and IP. Changes that could remove the last active
administrator take the first-admin lock (so two admins cannot demote each other at once) and
are refused when no active admin would be left.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from orchestrator.audit.repository import AuditRepository
from orchestrator.auth.models import RefreshFamily, Role
from orchestrator.auth.repository import AuthRepository
from orchestrator.base import utcnow
from orchestrator.security.permissions import ADMIN
from orchestrator.users.models import User
from orchestrator.users.repository import RoleRepository, UserRepository

LAST_ADMIN = "This would leave no active administrator; give someone else an admin role first."


ONLY_ADMINS = "Only administrators can grant, take away or change the admin permission."


class IdentityError(Exception):
    """A refused change to users or roles; `status` is the HTTP answer (404, 409, 422)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class UserView:
    user: User
    roles: list[Role]
    is_admin: bool


@dataclass(frozen=True)
class Actor:
    """Who makes a change: for the audit log, and because only admins may grant `admin`."""

    user_id: str
    ip: str | None
    is_admin: bool = False

    def may_touch_admin(self, touches_admin: bool) -> None:
        """Holding users.manage must not be a path to becoming an administrator."""
        if touches_admin and not self.is_admin:
            raise IdentityError(ONLY_ADMINS, 403)


class AdminGuard:
    """Refuses a change that leaves no active administrator (checked after the change)."""

    def __init__(self, session: AsyncSession) -> None:
        self.auth = AuthRepository(session)
        self._had_admin = False

    async def __aenter__(self) -> AdminGuard:
        await self.auth.lock_first_admin()
        self._had_admin = await self.auth.admin_exists()
        return self

    async def __aexit__(self, exc_type: object, *_: object) -> None:
        if exc_type is None and self._had_admin and not await self.auth.admin_exists():
            raise IdentityError(LAST_ADMIN, 409)


class UserService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.users = UserRepository(session)
        self.roles = RoleRepository(session)
        self.audit = AuditRepository(session)

    async def list_all(self) -> list[UserView]:
        users = await self.users.list_users()
        roles = await self.users.roles_by_user()
        perms = await self.roles.permissions_by_role()
        return [self._view(u, roles.get(u.id, []), perms) for u in users]

    async def get(self, user_id: str) -> UserView:
        user = await self.users.get(user_id)
        if user is None:
            raise IdentityError("No such user.", 404)
        roles = (await self.users.roles_by_user([user_id])).get(user_id, [])
        return self._view(user, roles, await self.roles.permissions_by_role())

    @staticmethod
    def _view(user: User, roles: list[Role], perms: dict[str, set[str]]) -> UserView:
        return UserView(user, roles, any(ADMIN in perms.get(r.id, set()) for r in roles))

    async def set_roles(self, actor: Actor, user_id: str, role_ids: list[str]) -> UserView:
        before = await self.get(user_id)
        wanted = await self.roles.get_many(role_ids)
        missing = sorted(set(role_ids) - {r.id for r in wanted})
        if missing:
            raise IdentityError(f"No role with id {missing[0]}.", 422)
        perms = await self.roles.permissions_by_role()
        actor.may_touch_admin(before.is_admin or any(ADMIN in perms.get(r.id, ()) for r in wanted))
        async with AdminGuard(self.session):
            await self.users.set_roles(user_id, [r.id for r in wanted])
        after = await self.get(user_id)
        await self.audit.add(
            "users.roles_changed", actor_type="user", actor_id=actor.user_id, ip=actor.ip,
            target_type="user", target_id=user_id,
            details={"before": sorted(r.name for r in before.roles),
                     "after": sorted(r.name for r in after.roles)},
        )  # fmt: skip
        return after

    async def set_disabled(self, actor: Actor, user_id: str, disabled: bool) -> UserView:
        """Disabling signs the person out everywhere; their access tokens stop at once."""
        view = await self.get(user_id)
        if disabled and user_id == actor.user_id:
            raise IdentityError("You cannot disable your own account.", 409)
        actor.may_touch_admin(view.is_admin)
        if view.user.disabled == disabled:
            return view
        async with AdminGuard(self.session):
            view.user.disabled = disabled
            await self.session.flush()
        details: dict[str, object] = {}
        if disabled:
            details["devices"] = await AuthRepository(self.session).revoke_families(
                user_id, utcnow(), "user_disabled"
            )
        await self.audit.add(
            "users.disabled" if disabled else "users.enabled", actor_type="user",
            actor_id=actor.user_id, ip=actor.ip, target_type="user", target_id=user_id,
            details=details,
        )  # fmt: skip
        return await self.get(user_id)

    async def all_devices(self) -> list[tuple[RefreshFamily, User]]:
        return await self.users.active_families(utcnow())

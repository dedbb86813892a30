"""All SQL for listing and changing users, their roles and the role matrix."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from orchestrator.auth.models import RefreshFamily, Role, RolePermission, UserRole
from orchestrator.users.models import User


class UserRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def list_users(self) -> list[User]:
        rows = await self.session.scalars(select(User).order_by(User.display_name, User.id))
        return list(rows)

    async def get(self, user_id: str) -> User | None:
        return await self.session.get(User, user_id)

    async def names_of(self, user_ids: Iterable[str]) -> dict[str, str]:
        ids = set(user_ids)
        if not ids:
            return {}
        rows = await self.session.execute(
            select(User.id, User.display_name).where(User.id.in_(ids))
        )
        return {uid: name for uid, name in rows}

    async def roles_by_user(self, user_ids: Iterable[str] | None = None) -> dict[str, list[Role]]:
        """Each user's roles, by name; every user when `user_ids` is None."""
        query = select(UserRole.user_id, Role).join(Role, Role.id == UserRole.role_id)
        if user_ids is not None:
            query = query.where(UserRole.user_id.in_(set(user_ids)))
        out: dict[str, list[Role]] = defaultdict(list)
        for user_id, role in await self.session.execute(query.order_by(Role.name)):
            out[user_id].append(role)
        return out

    async def set_roles(self, user_id: str, role_ids: Iterable[str]) -> None:
        await self.session.execute(delete(UserRole).where(UserRole.user_id == user_id))
        self.session.add_all(UserRole(user_id=user_id, role_id=r) for r in set(role_ids))
        await self.session.flush()

    async def active_families(self, now: datetime) -> list[tuple[RefreshFamily, User]]:
        """Every active sign-in of every user, most recently used first."""
        rows = await self.session.execute(
            select(RefreshFamily, User)
            .join(User, User.id == RefreshFamily.user_id)
            .where(RefreshFamily.revoked_at.is_(None), RefreshFamily.absolute_expires_at > now)
            .order_by(RefreshFamily.last_used_at.desc())
        )
        return list(rows)


class RoleRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def list_roles(self) -> list[Role]:
        rows = await self.session.scalars(
            select(Role).order_by(Role.builtin.desc(), Role.created_at, Role.name)
        )
        return list(rows)

    async def get(self, role_id: str) -> Role | None:
        return await self.session.get(Role, role_id)

    async def by_name(self, name: str) -> Role | None:
        return await self.session.scalar(select(Role).where(Role.name == name))

    async def get_many(self, role_ids: Iterable[str]) -> list[Role]:
        ids = set(role_ids)
        if not ids:
            return []
        return list(await self.session.scalars(select(Role).where(Role.id.in_(ids))))

    async def permissions_by_role(self) -> dict[str, set[str]]:
        out: dict[str, set[str]] = defaultdict(set)
        rows = await self.session.execute(select(RolePermission.role_id, RolePermission.permission))
        for role_id, permission in rows:
            out[role_id].add(permission)
        return out

    async def permissions_of(self, role_id: str) -> set[str]:
        rows = await self.session.scalars(
            select(RolePermission.permission).where(RolePermission.role_id == role_id)
        )
        return set(rows)

    async def set_permissions(self, role_id: str, permissions: Iterable[str]) -> None:
        await self.session.execute(delete(RolePermission).where(RolePermission.role_id == role_id))
        self.session.add_all(
            RolePermission(role_id=role_id, permission=p) for p in sorted(set(permissions))
        )
        await self.session.flush()

    async def user_counts(self) -> dict[str, int]:
        rows = await self.session.execute(
            select(UserRole.role_id, func.count()).group_by(UserRole.role_id)
        )
        return {role_id: n for role_id, n in rows}

    async def add(self, role: Role) -> Role:
        self.session.add(role)
        await self.session.flush()
        return role

    async def delete(self, role: Role) -> None:
        await self.session.execute(delete(UserRole).where(UserRole.role_id == role.id))
        await self.session.execute(delete(RolePermission).where(RolePermission.role_id == role.id))
        await self.session.delete(role)
        await self.session.flush()

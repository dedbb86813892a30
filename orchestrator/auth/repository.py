"""All SQL for users' identities, roles, refresh-token families and instance settings."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from orchestrator.auth.models import (
    InstanceSetting,
    RefreshFamily,
    RefreshToken,
    Role,
    RolePermission,
    UserRole,
)
from orchestrator.security.permissions import ADMIN
from orchestrator.users.models import User

FIRST_ADMIN_LOCK = "first_admin_lock"


class AuthRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def lock_first_admin(self) -> None:
        """Serialise sign-ins that may create the first admin (row lock / SQLite write lock)."""
        await self.session.execute(
            update(InstanceSetting)
            .where(InstanceSetting.key == FIRST_ADMIN_LOCK)
            .values(value=InstanceSetting.value)
        )

    async def get_setting(self, key: str) -> str | None:
        row = await self.session.get(InstanceSetting, key)
        return row.value if row else None

    async def set_setting(self, key: str, value: str) -> None:
        row = await self.session.get(InstanceSetting, key)
        if row is None:
            self.session.add(InstanceSetting(key=key, value=value))
        else:
            row.value = value
        await self.session.flush()

    async def admin_exists(self) -> bool:
        """Someone holds a role that grants `admin` (the role matrix is the only truth)."""
        n = await self.session.scalar(
            select(func.count())
            .select_from(UserRole)
            .join(RolePermission, RolePermission.role_id == UserRole.role_id)
            .join(User, User.id == UserRole.user_id)
            .where(RolePermission.permission == ADMIN, User.disabled.is_(False))
        )
        return bool(n)

    async def user_by_identity(self, issuer: str, subject: str) -> User | None:
        return await self.session.scalar(
            select(User).where(User.issuer == issuer, User.subject == subject)
        )

    async def get_user(self, user_id: str) -> User | None:
        return await self.session.get(User, user_id)

    async def add_user(self, user: User) -> User:
        self.session.add(user)
        await self.session.flush()
        return user

    async def role_by_name(self, name: str) -> Role | None:
        return await self.session.scalar(select(Role).where(Role.name == name))

    async def assign_role(self, user_id: str, role_id: str) -> None:
        exists = await self.session.scalar(
            select(UserRole.id).where(UserRole.user_id == user_id, UserRole.role_id == role_id)
        )
        if exists is None:
            self.session.add(UserRole(user_id=user_id, role_id=role_id))
            await self.session.flush()

    async def permissions_of(self, user_id: str) -> set[str]:
        rows = await self.session.scalars(
            select(RolePermission.permission)
            .join(UserRole, UserRole.role_id == RolePermission.role_id)
            .where(UserRole.user_id == user_id)
        )
        return set(rows)

    async def add_family(self, family: RefreshFamily) -> RefreshFamily:
        self.session.add(family)
        await self.session.flush()
        return family

    async def get_family(self, family_id: str) -> RefreshFamily | None:
        return await self.session.get(RefreshFamily, family_id)

    async def families_of(self, user_id: str, now: datetime) -> list[RefreshFamily]:
        rows = await self.session.scalars(
            select(RefreshFamily)
            .where(
                RefreshFamily.user_id == user_id,
                RefreshFamily.revoked_at.is_(None),
                RefreshFamily.absolute_expires_at > now,
            )
            .order_by(RefreshFamily.last_used_at.desc())
        )
        return list(rows)

    async def add_token(self, token: RefreshToken) -> RefreshToken:
        self.session.add(token)
        await self.session.flush()
        return token

    async def token_by_hash(self, token_hash: str) -> RefreshToken | None:
        return await self.session.scalar(
            select(RefreshToken).where(RefreshToken.token_hash == token_hash)
        )

    async def mark_used(self, token_id: str, now: datetime) -> bool:
        """Compare-and-swap: True only for the one caller that rotates this token."""
        res = await self.session.execute(
            update(RefreshToken)
            .where(RefreshToken.id == token_id, RefreshToken.used_at.is_(None))
            .values(used_at=now)
            .returning(RefreshToken.id)
        )
        return res.first() is not None

    async def revoke_families(self, user_id: str, now: datetime, reason: str) -> int:
        res = await self.session.execute(
            update(RefreshFamily)
            .where(RefreshFamily.user_id == user_id, RefreshFamily.revoked_at.is_(None))
            .values(revoked_at=now, revoke_reason=reason)
            .returning(RefreshFamily.id)
        )
        return len(res.all())

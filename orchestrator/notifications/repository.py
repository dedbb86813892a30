"""Notification rows, and who holds a permission (the people a notice is meant for)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from orchestrator.auth.models import RolePermission, UserRole
from orchestrator.notifications.models import Notification
from orchestrator.security.permissions import ADMIN
from orchestrator.users.models import User
from orchestrator.workspaces.models import WorkspaceMember


class NotificationRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add_many(self, rows: Iterable[Notification]) -> list[Notification]:
        items = list(rows)
        self.session.add_all(items)
        await self.session.flush()
        return items

    async def get(self, user_id: str, notification_id: str) -> Notification | None:
        return await self.session.scalar(
            select(Notification).where(
                Notification.id == notification_id, Notification.user_id == user_id
            )
        )

    async def for_user(
        self, user_id: str, *, unread: bool, include_dismissed: bool, limit: int, offset: int
    ) -> tuple[list[Notification], int]:
        """Starred first, then newest first."""
        where = [Notification.user_id == user_id]
        if unread:
            where.append(Notification.read_at.is_(None))
        if not include_dismissed:
            where.append(Notification.dismissed_at.is_(None))
        total = await self.session.scalar(
            select(func.count()).select_from(Notification).where(*where)
        )
        rows = await self.session.scalars(
            select(Notification).where(*where)
            .order_by(Notification.starred.desc(), Notification.created_at.desc(), Notification.id)
            .limit(limit).offset(offset)
        )  # fmt: skip
        return list(rows), int(total or 0)

    async def unread_count(self, user_id: str) -> int:
        return int(
            await self.session.scalar(
                select(func.count())
                .select_from(Notification)
                .where(
                    Notification.user_id == user_id,
                    Notification.read_at.is_(None),
                    Notification.dismissed_at.is_(None),
                )
            )
            or 0
        )

    async def mark_all_read(self, user_id: str, now: datetime) -> int:
        result = await self.session.execute(
            update(Notification)
            .where(Notification.user_id == user_id, Notification.read_at.is_(None))
            .values(read_at=now)
        )
        return int(getattr(result, "rowcount", 0) or 0)

    async def holders(self, permission: str, workspace_id: str | None = None) -> list[str]:
        """Enabled people whose roles grant `permission` (or admin); with a workspace, only
        its members (admins see every workspace, so they count too)."""
        granted = (
            select(UserRole.user_id)
            .join(RolePermission, RolePermission.role_id == UserRole.role_id)
            .where(RolePermission.permission.in_([permission, ADMIN]))
        )
        query = select(User.id).where(User.disabled.is_(False), User.id.in_(granted))
        if workspace_id is not None:
            admins = (
                select(UserRole.user_id)
                .join(RolePermission, RolePermission.role_id == UserRole.role_id)
                .where(RolePermission.permission == ADMIN)
            )
            members = select(WorkspaceMember.user_id).where(
                WorkspaceMember.workspace_id == workspace_id
            )
            query = query.where(User.id.in_(members) | User.id.in_(admins))
        return list(await self.session.scalars(query.order_by(User.id)))

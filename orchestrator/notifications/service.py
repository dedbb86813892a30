"""Sending notifications to the people responsible, and a person's own inbox actions.

Notifications are targeted, never broadcast: callers name the recipients (usually through
`holders`, the people whose roles grant the permission the matter needs)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.ext.asyncio import AsyncSession

from orchestrator.base import utcnow
from orchestrator.notifications.models import Notification
from orchestrator.notifications.repository import NotificationRepository
from orchestrator.workspaces.errors import NotFound


class NotificationService:
    def __init__(self, session: AsyncSession) -> None:
        self.repo = NotificationRepository(session)

    async def notify(
        self, user_ids: Iterable[str], kind: str, title: str, body: str = "",
        link: str | None = None, link_label: str | None = None,
    ) -> list[Notification]:  # fmt: skip
        """One row per distinct recipient; no recipients, no rows."""
        return await self.repo.add_many(
            Notification(
                user_id=uid,
                kind=kind,
                title=title[:300],
                body=body,
                link=link,
                link_label=link_label,
            )
            for uid in dict.fromkeys(user_ids)
        )

    async def to_holders(
        self, permission: str, workspace_id: str | None, kind: str, title: str, body: str = "",
        link: str | None = None, link_label: str | None = None,
    ) -> list[Notification]:  # fmt: skip
        """Notify everyone holding `permission` (in the workspace, when one is given)."""
        people = await self.repo.holders(permission, workspace_id)
        return await self.notify(people, kind, title, body, link, link_label)

    async def page(
        self, user_id: str, *, unread: bool = False, include_dismissed: bool = False,
        limit: int = 50, offset: int = 0,
    ) -> tuple[list[Notification], int, int]:  # fmt: skip
        rows, total = await self.repo.for_user(
            user_id, unread=unread, include_dismissed=include_dismissed, limit=limit,
            offset=offset,
        )  # fmt: skip
        return rows, total, await self.repo.unread_count(user_id)

    async def _own(self, user_id: str, notification_id: str) -> Notification:
        row = await self.repo.get(user_id, notification_id)
        if row is None:
            raise NotFound("No such notification.")
        return row

    async def open(self, user_id: str, notification_id: str) -> Notification:
        """Opening a notification marks it read."""
        row = await self._own(user_id, notification_id)
        row.read_at = row.read_at or utcnow()
        return row

    async def star(self, user_id: str, notification_id: str, starred: bool) -> Notification:
        row = await self._own(user_id, notification_id)
        row.starred = starred
        return row

    async def dismiss(self, user_id: str, notification_id: str) -> Notification:
        """Hidden from the inbox, kept in history (and read: it was seen)."""
        row = await self._own(user_id, notification_id)
        now = utcnow()
        row.dismissed_at = row.dismissed_at or now
        row.read_at = row.read_at or now
        return row

    async def read_all(self, user_id: str) -> int:
        return await self.repo.mark_all_read(user_id, utcnow())

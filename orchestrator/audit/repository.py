"""All SQL for the audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from orchestrator.audit.models import AuditEntry


class AuditRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(
        self,
        action: str,
        *,
        actor_type: str,
        actor_id: str | None = None,
        target_type: str | None = None,
        target_id: str | None = None,
        ip: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> AuditEntry:
        entry = AuditEntry(
            action=action,
            actor_type=actor_type,
            actor_id=actor_id,
            target_type=target_type,
            target_id=target_id,
            ip=ip,
            details=details or {},
        )
        self.session.add(entry)
        await self.session.flush()
        return entry

    async def recent(self, limit: int = 100) -> list[AuditEntry]:
        rows = await self.session.scalars(
            select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
        )
        return list(rows)

    async def search(
        self,
        *,
        action: str | None = None,
        actor_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        before_id: int | None = None,
        limit: int = 50,
    ) -> list[AuditEntry]:
        """Newest first; page on with `before_id` = the last id of the previous page."""
        query = select(AuditEntry)
        if action:
            query = query.where(AuditEntry.action == action)
        if actor_id:
            query = query.where(AuditEntry.actor_id == actor_id)
        if since is not None:
            query = query.where(AuditEntry.at >= since)
        if until is not None:
            query = query.where(AuditEntry.at < until)
        if before_id is not None:
            query = query.where(AuditEntry.id < before_id)
        rows = await self.session.scalars(query.order_by(AuditEntry.id.desc()).limit(limit))
        return list(rows)

    async def actions(self) -> list[str]:
        """Every action that has been recorded (for the dashboard's filter)."""
        rows = await self.session.scalars(
            select(AuditEntry.action).distinct().order_by(AuditEntry.action)
        )
        return list(rows)

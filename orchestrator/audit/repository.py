"""All SQL for the audit log."""

from __future__ import annotations

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

"""All SQL for secret references."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from orchestrator.secrets.models import SecretRef


class SecretRefRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, ref: SecretRef) -> SecretRef:
        self.session.add(ref)
        await self.session.flush()
        return ref

    async def take(self, ref_id: str) -> SecretRef | None:
        """Delete the row and return it: of two concurrent redeemers only one gets it."""
        rows = await self.session.scalars(
            delete(SecretRef).where(SecretRef.id == ref_id).returning(SecretRef)
        )
        return rows.first()

    async def delete(self, ref_id: str) -> None:
        await self.session.execute(delete(SecretRef).where(SecretRef.id == ref_id))

    async def delete_expired(self, now: datetime) -> int:
        res = await self.session.execute(
            delete(SecretRef).where(SecretRef.expires_at <= now).returning(SecretRef.id)
        )
        return len(res.all())

    async def all(self) -> list[SecretRef]:
        return list(await self.session.scalars(select(SecretRef)))

"""Minting and redeeming secret references.

A reference lives at most five minutes and can be redeemed once: the row is deleted by the
read, so a replayed or leaked reference id is worth nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from orchestrator.base import new_id, utcnow
from orchestrator.logs import REDACTOR
from orchestrator.secrets.models import SecretRef
from orchestrator.secrets.repository import SecretRefRepository
from orchestrator.security.crypto import SecretBox, aad

MAX_TTL = timedelta(minutes=5)


class SecretGone(LookupError):
    """No such reference: never minted, already redeemed, or expired."""


@dataclass(frozen=True)
class Redeemed:
    purpose: str
    value: str
    workspace_id: str | None


def ref_aad(ref: SecretRef) -> str:
    """The value is bound to its row, its purpose and its workspace."""
    return aad("secret_refs", "value", f"{ref.id}:{ref.purpose}:{ref.workspace_id or ''}")


class SecretRefService:
    def __init__(self, session: AsyncSession, box: SecretBox) -> None:
        self.repo = SecretRefRepository(session)
        self.box = box

    async def mint(
        self,
        purpose: str,
        value: str,
        *,
        workspace_id: str | None = None,
        ttl: timedelta = MAX_TTL,
    ) -> str:
        """Store `value` for one redemption within `ttl` (capped at five minutes); the id."""
        now = utcnow()
        await self.repo.delete_expired(now)
        REDACTOR.add(value)
        ref = SecretRef(
            id=new_id(), purpose=purpose, value="", workspace_id=workspace_id,
            created_at=now, expires_at=now + min(ttl, MAX_TTL),
        )  # fmt: skip
        ref.value = self.box.encrypt(value, ref_aad(ref))
        await self.repo.add(ref)
        return ref.id

    async def redeem(self, ref_id: str, now: datetime | None = None) -> Redeemed:
        """The plaintext, once: the row is gone afterwards whatever the outcome."""
        ref = await self.repo.take(ref_id)
        if ref is None or ref.expires_at <= (now or utcnow()):
            raise SecretGone(ref_id)
        value = self.box.decrypt(ref.value, ref_aad(ref))
        REDACTOR.add(value)
        return Redeemed(purpose=ref.purpose, value=value, workspace_id=ref.workspace_id)

    async def discard(self, ref_id: str) -> None:
        await self.repo.delete(ref_id)

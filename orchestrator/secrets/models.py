"""Short-lived secret references: how a secret reaches an untrusted host without ever
travelling through Temporal.

A workflow carries only the row id; the host redeems it once through the API with its host
API key, and the row is deleted. `value` is a SecretBox value bound to the row.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from orchestrator.base import Base, IdMixin, utcnow


class SecretRef(IdMixin, Base):
    __tablename__ = "secret_refs"

    purpose: Mapped[str] = mapped_column(String(64))
    value: Mapped[str] = mapped_column(Text)
    workspace_id: Mapped[str | None] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), default=None
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)

"""One agent run in its own worktree; its durable state lives in `session-<id>` on Temporal."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from orchestrator.base import Base, IdMixin, TimestampMixin, utcnow


class Session(IdMixin, TimestampMixin, Base):
    __tablename__ = "sessions"

    workspace_id: Mapped[str] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    title: Mapped[str] = mapped_column(String(300), default="")
    mode: Mapped[str] = mapped_column(String(16), default="chat")
    status: Mapped[str] = mapped_column(String(16), default="waiting", index=True)
    provider: Mapped[str] = mapped_column(String(32), default="claude-code")
    model: Mapped[str | None] = mapped_column(String(200), default=None)
    host_id: Mapped[str | None] = mapped_column(
        ForeignKey("hosts.id", ondelete="SET NULL"), default=None
    )
    base_branch: Mapped[str | None] = mapped_column(String(255), default=None)
    branch: Mapped[str | None] = mapped_column(String(255), default=None)
    created_by: Mapped[str | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    workflow_id: Mapped[str | None] = mapped_column(String(255), default=None)


class SessionEvent(Base):
    """One normalized agent event as stored; `id` is the transcript cursor clients resume from.

    `(session_id, turn, attempt, seq)` is unique so an agent may re-post a batch safely.
    """

    __tablename__ = "session_events"
    __table_args__ = (UniqueConstraint("session_id", "turn", "attempt", "seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_id: Mapped[str] = mapped_column(
        ForeignKey("sessions.id", ondelete="CASCADE"), index=True
    )
    turn: Mapped[int] = mapped_column(Integer)
    attempt: Mapped[int] = mapped_column(Integer)
    seq: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

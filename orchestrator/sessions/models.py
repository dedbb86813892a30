"""One agent run in its own worktree; its durable state lives in `session-<id>` on Temporal."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    PrimaryKeyConstraint,
    String,
    UniqueConstraint,
)
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
    dev_mode: Mapped[str] = mapped_column(String(8), default="manual")  # manual | auto
    auto_turn_limit: Mapped[int] = mapped_column(default=10)
    toggles: Mapped[list[str]] = mapped_column(JSON, default=list)
    turns: Mapped[int] = mapped_column(default=0)
    input_tokens: Mapped[int] = mapped_column(default=0)
    output_tokens: Mapped[int] = mapped_column(default=0)
    cache_read_tokens: Mapped[int] = mapped_column(default=0)
    cache_write_tokens: Mapped[int] = mapped_column(default=0)
    cost_usd: Mapped[float] = mapped_column(Float, default=0.0)
    ended_at: Mapped[datetime | None] = mapped_column(default=None)
    # Disposed sessions keep their transcript and cost rows but vanish from every list.
    disposed_at: Mapped[datetime | None] = mapped_column(default=None)
    # The ticket this session implements (its spend counts against the ticket's budget).
    ticket_id: Mapped[str | None] = mapped_column(
        ForeignKey("tickets.id", ondelete="SET NULL"), default=None, index=True
    )


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


class SessionAttachment(IdMixin, Base):
    """A file a person attached to a message (≤ 10 MB); the host fetches it by id."""

    __tablename__ = "session_attachments"

    session_id: Mapped[str] = mapped_column(
        ForeignKey("sessions.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(200), default="application/octet-stream")
    size: Mapped[int] = mapped_column(default=0)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_by: Mapped[str | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SessionRead(Base):
    """How far a person has read a session's transcript (the unread marker)."""

    __tablename__ = "session_reads"
    __table_args__ = (PrimaryKeyConstraint("user_id", "session_id"),)

    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    session_id: Mapped[str] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"))
    cursor: Mapped[int] = mapped_column(default=0)


class SessionCost(Base):
    """The cost audit: one row per model message (tokens; USD where the provider reports it)
    and one `turn` row per turn with the totals the CLI reported."""

    __tablename__ = "session_costs"
    __table_args__ = (
        UniqueConstraint("session_id", "turn", "message_id"),
        # Budget spend: this month's turn rows, instance-wide or for one workspace.
        Index("ix_session_costs_kind_created", "kind", "created_at"),
        Index("ix_session_costs_workspace_kind_created", "workspace_id", "kind", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_id: Mapped[str] = mapped_column(
        ForeignKey("sessions.id", ondelete="CASCADE"), index=True
    )
    workspace_id: Mapped[str] = mapped_column(String(32), index=True)
    turn: Mapped[int] = mapped_column(Integer)
    message_id: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(8))  # message | turn
    provider: Mapped[str] = mapped_column(String(32))
    model: Mapped[str | None] = mapped_column(String(200), default=None)
    input_tokens: Mapped[int] = mapped_column(default=0)
    output_tokens: Mapped[int] = mapped_column(default=0)
    cache_read_tokens: Mapped[int] = mapped_column(default=0)
    cache_write_tokens: Mapped[int] = mapped_column(default=0)
    cost_usd: Mapped[float | None] = mapped_column(Float, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

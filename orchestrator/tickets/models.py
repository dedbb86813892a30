"""Tickets: work a team hands the platform, carried by `ticket-<id>` on Temporal.

The row mirrors the workflow's stage (the workflow decides, control activities write); every
stage change leaves a TicketTransition saying who moved it and when.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    PrimaryKeyConstraint,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from orchestrator.base import Base, IdMixin, TimestampMixin, utcnow


class Ticket(IdMixin, TimestampMixin, Base):
    __tablename__ = "tickets"
    __table_args__ = (
        UniqueConstraint("workspace_id", "number"),
        # Sync finds its ticket again by the item's id (NULLs never collide: manual tickets).
        UniqueConstraint("workspace_id", "source", "external_id", name="uq_tickets_external"),
        Index("ix_tickets_queue", "stage", "priority", "queued_at"),
    )

    workspace_id: Mapped[str] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    number: Mapped[int] = mapped_column(Integer)
    key: Mapped[str] = mapped_column(String(24))
    title: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="")
    priority: Mapped[str] = mapped_column(String(8), default="normal")  # high | normal | low
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    developer_id: Mapped[str | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    qa_id: Mapped[str | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    provider: Mapped[str] = mapped_column(String(32), default="claude-code")
    model: Mapped[str | None] = mapped_column(String(200), default=None)
    preset: Mapped[str | None] = mapped_column(String(100), default=None)
    # Best of N: [{"provider": ..., "model": ...}] run side by side (empty: one session).
    best_of: Mapped[list[dict[str, str | None]]] = mapped_column(JSON, default=list)
    budget_usd: Mapped[float | None] = mapped_column(Float, default=None)
    force_no_dev: Mapped[bool] = mapped_column(default=False)
    force_no_qa: Mapped[bool] = mapped_column(default=False)
    skip_to_merge: Mapped[bool] = mapped_column(default=False)
    stage: Mapped[str] = mapped_column(String(20), default="pending")
    iteration: Mapped[int] = mapped_column(default=0)
    qa_round: Mapped[int] = mapped_column(default=0)
    # No foreign key: sessions point back at their ticket (sessions.ticket_id).
    session_id: Mapped[str | None] = mapped_column(String(32), default=None)
    host_id: Mapped[str | None] = mapped_column(
        ForeignKey("hosts.id", ondelete="SET NULL"), default=None, index=True
    )
    workflow_id: Mapped[str | None] = mapped_column(String(255), default=None)
    created_by: Mapped[str | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    queued_at: Mapped[datetime | None] = mapped_column(default=None)
    eligible_at: Mapped[datetime | None] = mapped_column(default=None)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    ended_at: Mapped[datetime | None] = mapped_column(default=None)
    failure: Mapped[str | None] = mapped_column(Text, default=None)
    pr_url: Mapped[str | None] = mapped_column(String(500), default=None)
    # The pull request a provider opened (github | tfs) and its number there, for tracking.
    pr_number: Mapped[int | None] = mapped_column(Integer, default=None)
    pr_provider: Mapped[str | None] = mapped_column(String(16), default=None)
    source: Mapped[str] = mapped_column(String(16), default="manual")
    external_id: Mapped[str | None] = mapped_column(String(200), default=None)


class TicketBlocker(Base):
    """`blocker_id` must be Completed before `ticket_id` may start."""

    __tablename__ = "ticket_blockers"
    __table_args__ = (PrimaryKeyConstraint("ticket_id", "blocker_id"),)

    ticket_id: Mapped[str] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    blocker_id: Mapped[str] = mapped_column(
        ForeignKey("tickets.id", ondelete="CASCADE"), index=True
    )


class TicketComment(IdMixin, Base):
    __tablename__ = "ticket_comments"

    ticket_id: Mapped[str] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    author_id: Mapped[str | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    author_name: Mapped[str] = mapped_column(String(200), default="")
    body: Mapped[str] = mapped_column(Text)
    attachment_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class TicketAttachment(IdMixin, Base):
    """A file on the ticket, a comment or a rejection (≤ 10 MB, bytes in the database)."""

    __tablename__ = "ticket_attachments"

    ticket_id: Mapped[str] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(200), default="application/octet-stream")
    size: Mapped[int] = mapped_column(default=0)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_by: Mapped[str | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class TicketTransition(Base):
    """One stage change; `seq` is the workflow's own numbering, so a retried activity writes
    it once."""

    __tablename__ = "ticket_transitions"
    __table_args__ = (UniqueConstraint("ticket_id", "seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ticket_id: Mapped[str] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    from_stage: Mapped[str] = mapped_column(String(20))
    to_stage: Mapped[str] = mapped_column(String(20))
    actor_type: Mapped[str] = mapped_column(String(8), default="system")  # user | system
    # Kept when the person is deleted: the history says who it was.
    actor_id: Mapped[str | None] = mapped_column(String(32), default=None)
    actor_name: Mapped[str] = mapped_column(String(200), default="")
    note: Mapped[str] = mapped_column(Text, default="")
    attachment_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    iteration: Mapped[int] = mapped_column(default=0)
    qa_round: Mapped[int] = mapped_column(default=0)
    at: Mapped[datetime] = mapped_column(default=utcnow)


class TicketConfig(Base):
    """A workspace's Tickets Configuration (1:1), and the sequence its ticket keys draw from."""

    __tablename__ = "ticket_configs"

    workspace_id: Mapped[str] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True
    )
    lifecycle: Mapped[str] = mapped_column(String(12), default="qa_first")  # | merge_first
    skip_qa: Mapped[bool] = mapped_column(default=False)
    merge_mode: Mapped[str] = mapped_column(String(16), default="pull_request")  # | direct
    key_prefix: Mapped[str | None] = mapped_column(String(6), default=None)
    default_ticket_budget_usd: Mapped[float | None] = mapped_column(Float, default=None)
    approval_reminder_hours: Mapped[int] = mapped_column(default=24)
    next_number: Mapped[int] = mapped_column(default=1)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

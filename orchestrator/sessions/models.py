"""One agent run in its own worktree; its durable state lives in `session-<id>` on Temporal."""

from __future__ import annotations

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from orchestrator.base import Base, IdMixin, TimestampMixin


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

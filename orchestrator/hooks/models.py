"""A hook runs a workspace task or an inline script at one session lifecycle event.

A circuit breaker disables a hook after consecutive failures (`consecutive_failures`,
`disabled_reason`); turning it back on resets the count. Each run is kept (`hook_runs`) with
its output, redacted and cut to its last 64 KB, for the session sidebar.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from orchestrator.base import Base, IdMixin, TimestampMixin, utcnow


class Hook(IdMixin, TimestampMixin, Base):
    __tablename__ = "hooks"
    __table_args__ = (UniqueConstraint("workspace_id", "name", name="workspace_hook"),)

    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(120))
    event: Mapped[str] = mapped_column(String(32))
    # A deleted task leaves the hook without anything to run: its runs fail (and trip it).
    task_id: Mapped[str | None] = mapped_column(
        ForeignKey("workspace_tasks.id", ondelete="SET NULL"), default=None, index=True
    )
    script: Mapped[str] = mapped_column(Text, default="")
    script_type: Mapped[str] = mapped_column(String(16), default="auto")
    timeout_seconds: Mapped[int] = mapped_column(Integer, default=300)
    retries: Mapped[int] = mapped_column(Integer, default=0)
    branch_glob: Mapped[str] = mapped_column(String(255), default="")
    enabled: Mapped[bool] = mapped_column(default=True)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    disabled_reason: Mapped[str | None] = mapped_column(String(500), default=None)


class HookRun(Base):
    """One run of a hook for a session; `id` comes from the workflow (a retried record is a
    no-op). `name` is the hook's name at run time, so the history outlives a rename or delete.
    `attempt` is the attempt that finished (retries run before it)."""

    __tablename__ = "hook_runs"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    hook_id: Mapped[str | None] = mapped_column(
        ForeignKey("hooks.id", ondelete="SET NULL"), default=None, index=True
    )
    session_id: Mapped[str] = mapped_column(
        ForeignKey("sessions.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(120))
    event: Mapped[str] = mapped_column(String(32))
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    ok: Mapped[bool] = mapped_column(default=False)
    exit_code: Mapped[int | None] = mapped_column(Integer, default=None)
    timed_out: Mapped[bool] = mapped_column(default=False)
    output: Mapped[str] = mapped_column(Text, default="")
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime] = mapped_column(default=utcnow)

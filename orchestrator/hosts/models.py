"""Hosts (machines), the agent workers on them, their API keys and the last probe results."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from orchestrator.base import Base, IdMixin, TimestampMixin, utcnow


class Host(TimestampMixin, Base):
    """A machine, keyed by the agent's configured name (it becomes the task-queue suffix)."""

    __tablename__ = "hosts"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    ip_address: Mapped[str | None] = mapped_column(String(64), default=None)
    max_concurrent_sessions: Mapped[int] = mapped_column(default=4)
    # Tickets between Implementation and Pull Request placed on this host at once.
    max_concurrent_tickets: Mapped[int] = mapped_column(default=2)
    # Workspace ids this host may serve; empty means every workspace.
    workspace_allowlist: Mapped[list[str]] = mapped_column(JSON, default=list)


class HostWorker(Base):
    """One agent process role (session or deploy) on a host; online while it heartbeats."""

    __tablename__ = "host_workers"
    __table_args__ = (UniqueConstraint("host_id", "kind", name="host_kind"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    host_id: Mapped[str] = mapped_column(ForeignKey("hosts.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))  # session | deploy
    online: Mapped[bool] = mapped_column(default=False)
    version: Mapped[str] = mapped_column(String(64), default="")
    task_queue: Mapped[str] = mapped_column(String(200))
    registered_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_heartbeat_at: Mapped[datetime | None] = mapped_column(default=None)
    api_key_id: Mapped[str | None] = mapped_column(
        ForeignKey("host_api_keys.id", ondelete="SET NULL"), default=None
    )
    info: Mapped[dict[str, Any]] = mapped_column(default=dict)


class HostApiKey(TimestampMixin, Base):
    """A host API key; only a keyed hash of it is stored (`id` is the key's public id)."""

    __tablename__ = "host_api_keys"

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    host_type: Mapped[str] = mapped_column(String(16))  # session | deploy
    key_hash: Mapped[str] = mapped_column(String(64))
    pepper_kid: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
    last_used_at: Mapped[datetime | None] = mapped_column(default=None)
    success_count: Mapped[int] = mapped_column(default=0)
    failure_count: Mapped[int] = mapped_column(default=0)
    created_by: Mapped[str | None] = mapped_column(String(64), default=None)


class HostProbe(IdMixin, Base):
    """The outcome of a HostProbeWorkflow: what each queue of a host reported, or why not."""

    __tablename__ = "host_probes"

    host_id: Mapped[str] = mapped_column(ForeignKey("hosts.id", ondelete="CASCADE"), index=True)
    workflow_id: Mapped[str] = mapped_column(String(255))
    run_id: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))  # ok | partial | offline
    agent_report: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    deploy_report: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    agent_error: Mapped[str | None] = mapped_column(String(500), default=None)
    deploy_error: Mapped[str | None] = mapped_column(String(500), default=None)
    finished_at: Mapped[datetime] = mapped_column(default=utcnow)

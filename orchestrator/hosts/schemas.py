"""API shapes for hosts and agent registration."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from orchestrator.schemas import RequestModel

HostKind = Literal["session", "deploy"]


class RegisterRequest(RequestModel):
    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    kind: HostKind
    version: str = Field(default="", max_length=64)
    info: dict[str, Any] = Field(default_factory=dict)


class RegisterResponse(BaseModel):
    host_id: str
    kind: HostKind
    task_queue: str
    temporal_address: str
    temporal_namespace: str
    payload_keys: str = Field(description="kid:base64 keys for the Temporal payload codec")
    heartbeat_interval_seconds: float


class HeartbeatRequest(RequestModel):
    kind: HostKind
    info: dict[str, Any] | None = None


class HeartbeatResponse(BaseModel):
    ok: bool = True


class WorkerOut(BaseModel):
    kind: str
    online: bool
    version: str
    task_queue: str
    last_heartbeat_at: datetime | None
    info: dict[str, Any]


class ProbeOut(BaseModel):
    status: str
    workflow_id: str
    run_id: str
    finished_at: datetime
    agent_report: dict[str, Any] | None
    deploy_report: dict[str, Any] | None
    agent_error: str | None
    deploy_error: str | None
    temporal_ui_url: str | None = None


class HostOut(BaseModel):
    id: str
    name: str
    ip_address: str | None
    online: bool
    max_concurrent_sessions: int = 4
    max_concurrent_tickets: int = 2
    workspace_allowlist: list[str] = Field(default_factory=list)
    workers: list[WorkerOut]
    last_probe: ProbeOut | None


class ProbeStarted(BaseModel):
    workflow_id: str
    run_id: str
    temporal_ui_url: str | None


class MintedKey(BaseModel):
    id: str
    key: str


class HostSettings(RequestModel):
    """What an administrator sets on a session host (empty allowlist: every workspace)."""

    max_concurrent_sessions: int | None = Field(default=None, ge=1, le=1000)
    max_concurrent_tickets: int | None = Field(default=None, ge=0, le=1000)
    workspace_allowlist: list[Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")]] | None = (
        Field(default=None, max_length=1000)
    )

"""Models that cross Temporal for host probes (pure pydantic, safe inside workflows)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class HostReport(BaseModel):
    """What an agent or deploy worker reports about its machine."""

    kind: str
    hostname: str
    git_version: str | None
    free_disk_bytes: int
    disk_path: str
    clis: dict[str, str | None] = Field(default_factory=dict)
    python_version: str


class ProbeInput(BaseModel):
    host_id: str | None = None
    schedule_to_start_seconds: float = 5.0


class ProbeOutcome(BaseModel):
    """One queue's answer: a report, or the reason there was none (offline, error)."""

    report: HostReport | None = None
    error: str | None = None


class ProbeRecord(BaseModel):
    host_id: str
    workflow_id: str
    run_id: str
    agent: ProbeOutcome
    deploy: ProbeOutcome

    @property
    def status(self) -> str:
        ok = [o.report is not None for o in (self.agent, self.deploy)]
        return "ok" if all(ok) else ("partial" if any(ok) else "offline")


class ProbeResult(BaseModel):
    host_id: str
    status: str
    agent: ProbeOutcome
    deploy: ProbeOutcome

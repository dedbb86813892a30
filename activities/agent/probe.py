"""Session-agent activities for the host probe (run on `polygent.agent.<host>`)."""

from __future__ import annotations

from pathlib import Path

from temporalio import activity

from activities.common.hostinfo import host_report
from orchestrator.contracts.hosts import HostReport


class AgentProbeActivities:
    def __init__(self, storage_path: Path) -> None:
        self.storage_path = storage_path

    @activity.defn(name="agent.probe")
    async def probe(self) -> HostReport:
        return await host_report("session", self.storage_path)

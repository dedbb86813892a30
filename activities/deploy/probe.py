"""Deployment-agent activities for the host probe (run on `polygent.deploy.<host>`)."""

from __future__ import annotations

from pathlib import Path

from temporalio import activity

from activities.common.hostinfo import host_report
from orchestrator.contracts.hosts import HostReport


class DeployProbeActivities:
    def __init__(self, storage_path: Path) -> None:
        self.storage_path = storage_path

    @activity.defn(name="deploy.probe")
    async def probe(self) -> HostReport:
        return await host_report("deploy", self.storage_path)

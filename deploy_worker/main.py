"""`polygent deploy-worker`: a deployment agent serving `polygent.deploy.<host>`.

Configured only by Name, MainServerUrl, ApiKey and StoragePath; everything else comes from
the server with each action.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from activities.deploy.probe import DeployProbeActivities
from orchestrator.config import AgentSettings
from orchestrator.hostagent.runtime import run_host_agent


def deploy_activities(settings: AgentSettings) -> Callable[[], Sequence[Callable[..., object]]]:
    def build() -> Sequence[Callable[..., object]]:
        probe = DeployProbeActivities(settings.storage_path)
        return [probe.probe]

    return build


async def run(settings: AgentSettings, stop: asyncio.Event) -> None:
    await run_host_agent(settings, "deploy", deploy_activities(settings), stop)

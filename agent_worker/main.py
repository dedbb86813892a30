"""`polygent agent-worker`: a session agent serving `polygent.agent.<host>`."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from activities.agent.probe import AgentProbeActivities
from orchestrator.config import AgentSettings
from orchestrator.hostagent.runtime import run_host_agent


def session_activities(settings: AgentSettings) -> Callable[[], Sequence[Callable[..., object]]]:
    def build() -> Sequence[Callable[..., object]]:
        probe = AgentProbeActivities(settings.storage_path)
        return [probe.probe]

    return build


async def run(settings: AgentSettings, stop: asyncio.Event) -> None:
    await run_host_agent(settings, "session", session_activities(settings), stop)

"""`polygent agent-worker`: a session agent serving `polygent.agent.<host>`."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from activities.agent.git_check import GitCheckActivities
from activities.agent.hooks import HookActivities
from activities.agent.probe import AgentProbeActivities
from activities.agent.session_panel import SessionPanelActivities
from activities.agent.session_remote import SessionRemoteActivities
from activities.agent.turn import AgentTurnActivities
from activities.agent.worktrees import WorktreeActivities
from orchestrator.config import AgentSettings
from orchestrator.hostagent.client import HostApiClient
from orchestrator.hostagent.runtime import run_host_agent


def session_activities(settings: AgentSettings) -> Callable[[], Sequence[Callable[..., object]]]:
    def build() -> Sequence[Callable[..., object]]:
        probe = AgentProbeActivities(settings.storage_path)
        api = lambda: HostApiClient(settings.main_server_url, settings.api_key.get_secret_value())  # noqa: E731
        git_check = GitCheckActivities(api)
        wt = WorktreeActivities(settings.storage_path, api)
        panel = SessionPanelActivities(settings.storage_path, api)
        remote = SessionRemoteActivities(settings.storage_path, api)
        return [
            probe.probe, git_check.ls_remote,
            wt.prepare, wt.checkpoint, wt.remove, wt.list_worktrees,
            AgentTurnActivities(settings.storage_path, api).run_turn,
            HookActivities(wt, api).run_hook,
            panel.files_list, panel.file_read, panel.file_write,
            panel.git_status, panel.git_diff, panel.git_stage, panel.git_unstage,
            panel.git_discard, panel.git_commit,
            remote.git_push, remote.git_pull, remote.git_merge,
        ]  # fmt: skip

    return build


async def run(settings: AgentSettings, stop: asyncio.Event) -> None:
    await run_host_agent(settings, "session", session_activities(settings), stop)

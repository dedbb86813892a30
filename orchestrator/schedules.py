"""Temporal Schedules the platform itself needs, created (or brought up to date) at start-up.

Create-or-update keeps restarts idempotent: a second API or worker start changes nothing,
and a new release's spec or input replaces the old one.
"""

from __future__ import annotations

import dataclasses
import logging
from datetime import timedelta

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleHandle,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.service import RPCError

from orchestrator.contracts.worktrees import CleanupInput
from orchestrator.queues import ORCHESTRATOR_QUEUE
from workflows.worktree_cleanup import WorktreeCleanupWorkflow

log = logging.getLogger(__name__)
WORKTREE_CLEANUP = "worktree-cleanup"


def worktree_cleanup_schedule(
    inp: CleanupInput | None = None, every: timedelta = timedelta(hours=1)
) -> Schedule:
    return Schedule(
        action=ScheduleActionStartWorkflow(
            WorktreeCleanupWorkflow.run,
            inp or CleanupInput(),
            id=WORKTREE_CLEANUP,
            task_queue=ORCHESTRATOR_QUEUE,
            execution_timeout=timedelta(minutes=55),
        ),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=every)]),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )


async def ensure_worktree_cleanup(
    client: Client, inp: CleanupInput | None = None, every: timedelta = timedelta(hours=1)
) -> ScheduleHandle:
    """Create the hourly cleanup schedule, or update it in place when it already exists."""
    schedule = worktree_cleanup_schedule(inp, every)
    try:
        return await client.create_schedule(WORKTREE_CLEANUP, schedule)
    except ScheduleAlreadyRunningError:
        pass
    handle = client.get_schedule_handle(WORKTREE_CLEANUP)

    def update(current: ScheduleUpdateInput) -> ScheduleUpdate:
        # keep the pause state an operator may have set in the Temporal UI
        return ScheduleUpdate(
            schedule=dataclasses.replace(schedule, state=current.description.schedule.state)
        )

    await handle.update(update)
    return handle


async def ensure_schedules(client: Client) -> None:
    """Start-up hook: a Temporal hiccup here is logged, not fatal (the next start retries)."""
    try:
        await ensure_worktree_cleanup(client)
    except RPCError as exc:
        log.warning("Could not create the %s schedule: %s.", WORKTREE_CLEANUP, exc.message)

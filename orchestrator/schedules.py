"""Temporal Schedules the platform itself needs, created (or brought up to date) at start-up.

Create-or-update keeps restarts idempotent: a second API or worker start changes nothing,
and a new release's spec or input replaces the old one. Ticket sync has one schedule per
workspace with sync enabled (`ticket-sync-<workspace_id>`), made, changed or removed when
the workspace's ticket settings are saved and reconciled with the database at start-up.
"""

from __future__ import annotations

import dataclasses
import logging
from datetime import timedelta
from typing import TYPE_CHECKING, Any

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
from temporalio.service import RPCError, RPCStatusCode

from orchestrator.contracts.ticket_sync import SyncInput, sync_workflow_id
from orchestrator.contracts.worktrees import CleanupInput
from orchestrator.queues import ORCHESTRATOR_QUEUE
from workflows.worktree_cleanup import WorktreeCleanupWorkflow

if TYPE_CHECKING:
    from orchestrator.db import Database

log = logging.getLogger(__name__)
WORKTREE_CLEANUP = "worktree-cleanup"
TICKET_SYNC_PREFIX = "ticket-sync-"


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
    return await _create_or_update(client, WORKTREE_CLEANUP, worktree_cleanup_schedule(inp, every))


async def _create_or_update(client: Client, schedule_id: str, schedule: Schedule) -> ScheduleHandle:
    try:
        return await client.create_schedule(schedule_id, schedule)
    except ScheduleAlreadyRunningError:
        pass
    handle = client.get_schedule_handle(schedule_id)

    def update(current: ScheduleUpdateInput) -> ScheduleUpdate:
        # keep the pause state an operator may have set in the Temporal UI
        return ScheduleUpdate(
            schedule=dataclasses.replace(schedule, state=current.description.schedule.state)
        )

    await handle.update(update)
    return handle


# -- ticket sync, one schedule per workspace -------------------------------------------------


def ticket_sync_schedule_id(workspace_id: str) -> str:
    return f"{TICKET_SYNC_PREFIX}{workspace_id}"


def ticket_sync_schedule(workspace_id: str, minutes: int) -> Schedule:
    return Schedule(
        action=ScheduleActionStartWorkflow(
            "TicketSyncWorkflow",
            SyncInput(workspace_id=workspace_id),
            id=sync_workflow_id(workspace_id),
            task_queue=ORCHESTRATOR_QUEUE,
            execution_timeout=timedelta(minutes=max(minutes, 30)),
        ),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(minutes=minutes))]),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )


def sync_minutes(source: str, settings: dict[str, Any] | None) -> int | None:
    """The workspace's sync interval, or None when it does not sync on a schedule."""
    s = settings or {}
    if source not in ("github", "tfs") or not s.get("sync_enabled"):
        return None
    return int(s.get("sync_interval_minutes") or 15)


async def remove_ticket_sync(client: Client, workspace_id: str) -> None:
    try:
        await client.get_schedule_handle(ticket_sync_schedule_id(workspace_id)).delete()
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:
            raise


async def apply_ticket_sync(client: Client, workspace_id: str, minutes: int | None) -> None:
    """Make the workspace's schedule match its settings (`minutes` None: no schedule)."""
    if minutes is None:
        await remove_ticket_sync(client, workspace_id)
        return
    schedule_id = ticket_sync_schedule_id(workspace_id)
    await _create_or_update(client, schedule_id, ticket_sync_schedule(workspace_id, minutes))


async def reconcile_ticket_syncs(client: Client, db: Database) -> None:
    """One schedule per workspace that syncs, and none for any other."""
    from orchestrator.workspaces.repository import WorkspaceRepository

    async with db.session() as session:
        wanted = {
            ws.id: m
            for ws in await WorkspaceRepository(session).list_all()
            if (m := sync_minutes(ws.ticket_source, ws.ticket_settings)) is not None
        }
    existing = [
        s.id async for s in await client.list_schedules() if s.id.startswith(TICKET_SYNC_PREFIX)
    ]
    for schedule_id in existing:
        workspace_id = schedule_id.removeprefix(TICKET_SYNC_PREFIX)
        if workspace_id not in wanted:
            await remove_ticket_sync(client, workspace_id)
    for workspace_id, minutes in wanted.items():
        await apply_ticket_sync(client, workspace_id, minutes)


async def ensure_schedules(client: Client, db: Database | None = None) -> None:
    """Start-up hook: a Temporal hiccup here is logged, not fatal (the next start retries)."""
    try:
        await ensure_worktree_cleanup(client)
    except RPCError as exc:
        log.warning("Could not create the %s schedule: %s.", WORKTREE_CLEANUP, exc.message)
    if db is None:
        return
    try:
        await reconcile_ticket_syncs(client, db)
    except RPCError as exc:
        log.warning("Could not reconcile the ticket sync schedules: %s.", exc.message)

"""The orchestrator worker: every workflow plus the control activities, on one queue."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.worker import Worker

from activities.control.hooks import HookControlActivities
from activities.control.hosts import HostControlActivities
from activities.control.sessions import SessionControlActivities
from activities.control.ticket_sync import TicketSyncActivities
from activities.control.tickets import TicketControlActivities
from activities.control.worktrees import WorktreeControlActivities
from orchestrator.config import ServerSettings
from orchestrator.db import Database
from orchestrator.events import EventBus
from orchestrator.queues import ORCHESTRATOR_QUEUE
from orchestrator.security.crypto import SecretBox
from orchestrator.security.keys import PURPOSE_API_KEYS, Keyring
from workflows.registry import ALL_WORKFLOWS


def build_orchestrator_worker(
    client: Client,
    db: Database,
    master: Keyring,
    bus: EventBus | None = None,
    settings: ServerSettings | None = None,
) -> Worker:
    """`settings` shape the sessions tickets start (heartbeat timeout, turns per run); by
    default they come from the environment, like the worker role's own."""
    hosts = HostControlActivities(db, master.derive(PURPOSE_API_KEYS))
    worktrees = WorktreeControlActivities(db)
    sessions = SessionControlActivities(db, SecretBox(master), bus)
    hooks = HookControlActivities(db, SecretBox(master), bus.publish if bus else None)
    settings = settings or ServerSettings()
    tickets = TicketControlActivities(db, SecretBox(master), client, settings, bus)
    sync = TicketSyncActivities(db, SecretBox(master), client, settings)
    return Worker(
        client,
        task_queue=ORCHESTRATOR_QUEUE,
        workflows=ALL_WORKFLOWS,
        activities=[
            *(hosts.pick_probe_host, hosts.record_probe, worktrees.cleanup_plan),
            *(sessions.choose_host, sessions.worktree_input, sessions.emit, sessions.update),
            *(sessions.turn_context, sessions.record_turn, hooks.plan, hooks.record),
            *tickets.all(),
            *sync.all(),
        ],
        identity="orchestrator",
    )

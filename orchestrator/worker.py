"""The orchestrator worker: every workflow plus the control activities, on one queue."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.worker import Worker

from activities.control.hosts import HostControlActivities
from activities.control.worktrees import WorktreeControlActivities
from orchestrator.db import Database
from orchestrator.queues import ORCHESTRATOR_QUEUE
from orchestrator.security.keys import PURPOSE_API_KEYS, Keyring
from workflows.registry import ALL_WORKFLOWS


def build_orchestrator_worker(client: Client, db: Database, master: Keyring) -> Worker:
    hosts = HostControlActivities(db, master.derive(PURPOSE_API_KEYS))
    worktrees = WorktreeControlActivities(db)
    return Worker(
        client,
        task_queue=ORCHESTRATOR_QUEUE,
        workflows=ALL_WORKFLOWS,
        activities=[hosts.pick_probe_host, hosts.record_probe, worktrees.cleanup_plan],
        identity="orchestrator",
    )

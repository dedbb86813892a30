"""Orchestrator-queue activity for worktree cleanup: which hosts to visit, what to keep."""

from __future__ import annotations

from temporalio import activity

from orchestrator.contracts.worktrees import CleanupPlan
from orchestrator.db import Database
from orchestrator.hosts.repository import HostRepository
from orchestrator.sessions.repository import SessionRepository


class WorktreeControlActivities:
    def __init__(self, db: Database) -> None:
        self.db = db

    @activity.defn(name="worktrees.cleanup_plan")
    async def cleanup_plan(self) -> CleanupPlan:
        async with self.db.session() as s:
            workers = await HostRepository(s).list_workers()
            wanted = await SessionRepository(s).ids_wanting_worktrees()
        hosts = sorted({w.host_id for w in workers if w.kind == "session" and w.online})
        return CleanupPlan(hosts=hosts, wanted=sorted(wanted))

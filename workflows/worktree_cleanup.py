"""WorktreeCleanupWorkflow: remove worktrees no session wants any more, host by host.

Started hourly by the `worktree-cleanup` schedule (orchestrator/schedules.py). A worktree is
an orphan when its id is not a session that still wants it (unfinished, or Chat/Bot until
disposed) and it has not changed for `grace_seconds` (its session row may not exist yet).
Removal checkpoints uncommitted work to a private ref first. An offline host is skipped
after `schedule_to_start_seconds` and visited on the next run.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from orchestrator.contracts.worktrees import (
        CleanupInput,
        CleanupPlan,
        CleanupResult,
        HostWorktrees,
        ListWorktreesInput,
        RemoveResult,
        WorktreeKey,
    )
    from orchestrator.queues import agent_queue

T = TypeVar("T")
RETRY = RetryPolicy(maximum_attempts=3, initial_interval=timedelta(seconds=2))


@workflow.defn
class WorktreeCleanupWorkflow:
    @workflow.run
    async def run(self, inp: CleanupInput) -> CleanupResult:
        plan = await workflow.execute_activity(
            "worktrees.cleanup_plan",
            result_type=CleanupPlan,
            start_to_close_timeout=timedelta(seconds=30),
        )
        wanted = set(plan.wanted)
        cutoff = workflow.now() - timedelta(seconds=inp.grace_seconds)
        result = CleanupResult()
        for host in plan.hosts:
            try:
                found = await self._on_host(
                    host, inp, "worktree.list", ListWorktreesInput(), HostWorktrees, 2
                )
            except ActivityError as err:
                result.errors.append(f"{host}: {err.cause or err}")
                continue
            for wt in found.items:
                if wt.worktree_id in wanted or wt.modified_at > cutoff:
                    result.kept += 1
                    continue
                name = f"{host}:{wt.workspace_id}/{wt.worktree_id}"
                key = WorktreeKey(workspace_id=wt.workspace_id, worktree_id=wt.worktree_id)
                try:
                    await self._on_host(host, inp, "worktree.remove", key, RemoveResult, 10)
                except ActivityError as err:
                    result.errors.append(f"{name}: {err.cause or err}")
                    continue
                result.removed.append(name)
        return result

    async def _on_host(
        self, host: str, inp: CleanupInput, name: str, arg: object, out: type[T], minutes: int
    ) -> T:
        answer: T = await workflow.execute_activity(
            name,
            arg,
            result_type=out,
            task_queue=agent_queue(host),
            schedule_to_start_timeout=timedelta(seconds=inp.schedule_to_start_seconds),
            start_to_close_timeout=timedelta(minutes=minutes),
            heartbeat_timeout=timedelta(seconds=60),
            retry_policy=RETRY,
        )
        return answer

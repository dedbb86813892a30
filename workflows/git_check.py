"""GitCheckWorkflow: run `git ls-remote` on a session host before a workspace is saved.

The API never runs git itself (it may not have network access to the remote, and agents
are where git runs). The API passes the online session hosts it knows of; the workflow
tries them in order, moving on when a host does not take the task within
`schedule_to_start_seconds` (it went offline since its last heartbeat).
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, TimeoutError, TimeoutType

with workflow.unsafe.imports_passed_through():
    from orchestrator.contracts.git import GitCheckOutcome, GitCheckRequest, GitCheckResult
    from orchestrator.queues import SA_HOST, agent_queue

ACTIVITY = "git.ls_remote"


@workflow.defn
class GitCheckWorkflow:
    @workflow.run
    async def run(self, req: GitCheckRequest) -> GitCheckOutcome:
        errors: list[str] = []
        for host_id in req.hosts:
            try:
                result = await workflow.execute_activity(
                    ACTIVITY,
                    req.check,
                    result_type=GitCheckResult,
                    task_queue=agent_queue(host_id),
                    schedule_to_start_timeout=timedelta(seconds=req.schedule_to_start_seconds),
                    start_to_close_timeout=timedelta(seconds=req.check.timeout_seconds + 30),
                    # The secret reference is redeemable once: a retry could not use it.
                    retry_policy=RetryPolicy(maximum_attempts=1),
                )
            except ActivityError as err:
                cause = err.cause
                if isinstance(cause, TimeoutError) and cause.type == TimeoutType.SCHEDULE_TO_START:
                    errors.append(f"{host_id}: offline")
                else:  # e.g. an agent too old to know the activity: try the next host
                    errors.append(f"{host_id}: {cause or err}")
                continue
            workflow.upsert_search_attributes([SA_HOST.value_set(host_id)])
            return GitCheckOutcome(host_id=host_id, result=result)
        return GitCheckOutcome(error="no session host ran the check (" + "; ".join(errors) + ")")

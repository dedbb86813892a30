"""HostCallWorkflow: run one named activity on one host's queue and hand back its result.

The API cannot run activities itself; short request/response work on a session host (the
session panel's file and git operations) goes through this workflow. A host that does not
take the task within `schedule_to_start_seconds` is reported offline in seconds instead of
the request hanging. There is exactly one attempt: the input may carry a single-use secret
reference, and the person clicking decides whether to try again.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, TimeoutError, TimeoutType

with workflow.unsafe.imports_passed_through():
    from orchestrator.contracts.session_panel import HostCall, HostCallOutcome
    from orchestrator.queues import SA_HOST, agent_queue


@workflow.defn
class HostCallWorkflow:
    @workflow.run
    async def run(self, call: HostCall) -> HostCallOutcome:
        workflow.upsert_search_attributes([SA_HOST.value_set(call.host_id)])
        heartbeat = call.heartbeat_seconds
        try:
            result = await workflow.execute_activity(
                call.activity,
                call.payload,
                task_queue=agent_queue(call.host_id),
                schedule_to_start_timeout=timedelta(seconds=call.schedule_to_start_seconds),
                start_to_close_timeout=timedelta(seconds=call.start_to_close_seconds),
                heartbeat_timeout=timedelta(seconds=heartbeat) if heartbeat else None,
                retry_policy=RetryPolicy(maximum_attempts=1),
            )
        except ActivityError as err:
            cause = err.cause
            if isinstance(cause, TimeoutError) and cause.type == TimeoutType.SCHEDULE_TO_START:
                return HostCallOutcome(offline=True, error=f"host {call.host_id} is offline")
            if isinstance(cause, ApplicationError):
                return HostCallOutcome(error=cause.message, error_type=cause.type)
            if isinstance(cause, TimeoutError):
                return HostCallOutcome(
                    error=f"host {call.host_id} did not finish in time", error_type="Timeout"
                )
            return HostCallOutcome(error=str(cause or err), error_type=type(cause).__name__)
        return HostCallOutcome(result=result if isinstance(result, dict) else {"value": result})

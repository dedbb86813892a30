"""`run_session_hooks`: the session workflow's hooks for one lifecycle event.

Called from inside a workflow (deterministic). The hooks run one after another on the
session's host; each is retried per its `retries` by Temporal and bounded by its timeout
(enforced on the host, with a margin here as a backstop). Every run is recorded, and a
failing hook, an offline host or an unreachable database never fails the session: hooks
are advisory, so their errors end here as a warning.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, is_cancelled_exception

with workflow.unsafe.imports_passed_through():
    from orchestrator.contracts.hooks import (
        HookEvent,
        HookPlan,
        HookPlanInput,
        HookRunResult,
        HookSpec,
        RecordedHookRun,
        RecordHookRunInput,
        RunHookInput,
    )
    from orchestrator.queues import agent_queue

TIMEOUT_MARGIN = timedelta(seconds=30)
CONTROL = RetryPolicy(maximum_attempts=5, initial_interval=timedelta(seconds=1))


def _retries(hook: HookSpec) -> RetryPolicy:
    return RetryPolicy(
        maximum_attempts=hook.retries + 1,
        initial_interval=timedelta(seconds=1),
        maximum_interval=timedelta(seconds=30),
        non_retryable_error_types=["WorktreeMissing", "AgentRejected"],
    )


async def _run(
    session_id: str, host_id: str, event: HookEvent, plan: HookPlan, hook: HookSpec,
    schedule_to_start: timedelta,
) -> tuple[HookRunResult, bool]:  # fmt: skip
    """The run's result, and whether it counts for the circuit breaker."""
    now = workflow.now()
    if hook.problem:
        return HookRunResult(ok=False, output=hook.problem, started_at=now, finished_at=now), True
    inp = RunHookInput(
        session_id=session_id, workspace_id=plan.workspace_id, branch=plan.branch, event=event,
        hook=hook,
    )  # fmt: skip
    try:
        result: HookRunResult = await workflow.execute_activity(
            "agent.run_hook", inp, result_type=HookRunResult, task_queue=agent_queue(host_id),
            schedule_to_start_timeout=schedule_to_start,
            start_to_close_timeout=timedelta(seconds=hook.timeout_seconds) + TIMEOUT_MARGIN,
            heartbeat_timeout=timedelta(seconds=60), retry_policy=_retries(hook),
        )  # fmt: skip
        return result, True
    except ActivityError as err:
        if is_cancelled_exception(err):
            raise
        cause = err.cause
        if isinstance(cause, ApplicationError) and cause.details:
            return HookRunResult.model_validate(cause.details[0]), True
        why = f"{cause or err}"
        output = f"The hook did not run to the end on host {host_id}: {why}"
        lost = HookRunResult(ok=False, output=output, started_at=now, finished_at=workflow.now())
        return lost, False


async def run_session_hooks(
    session_id: str,
    host_id: str,
    event: HookEvent,
    *,
    schedule_to_start: timedelta = timedelta(seconds=30),
) -> None:
    """Run and record the session's enabled hooks for `event` whose branch filter matches."""
    try:
        plan: HookPlan = await workflow.execute_activity(
            "hooks.plan", HookPlanInput(session_id=session_id, event=event),
            result_type=HookPlan, start_to_close_timeout=timedelta(seconds=30),
            retry_policy=CONTROL,
        )  # fmt: skip
    except ActivityError as err:
        if is_cancelled_exception(err):
            raise
        workflow.logger.warning("The %s hooks of session %s: %s", event, session_id, err.cause)
        return
    for hook in plan.hooks:
        result, counts = await _run(session_id, host_id, event, plan, hook, schedule_to_start)
        record = RecordHookRunInput(
            run_id=str(workflow.uuid4()), hook_id=hook.hook_id, hook_name=hook.name,
            session_id=session_id, event=event, result=result, counts=counts,
        )  # fmt: skip
        try:
            await workflow.execute_activity(
                "hooks.record", record, result_type=RecordedHookRun,
                start_to_close_timeout=timedelta(seconds=30), retry_policy=CONTROL,
            )  # fmt: skip
        except ActivityError as err:
            if is_cancelled_exception(err):
                raise
            workflow.logger.warning("Hook %s ran but was not recorded: %s", hook.name, err.cause)
        if not result.ok:
            workflow.logger.warning("Hook %s (%s) failed on %s.", hook.name, event, host_id)

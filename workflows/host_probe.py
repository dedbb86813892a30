"""HostProbeWorkflow: the first round trip through every queue of a host.

Picks a host (control activity), asks its agent queue and its deploy queue what the machine
has, and records the answer. `schedule_to_start_timeout` makes an offline host fail in
seconds instead of waiting for a worker that is not there; that timeout is never retried.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, TimeoutError, TimeoutType

with workflow.unsafe.imports_passed_through():
    from orchestrator.contracts.hosts import (
        HostReport,
        ProbeInput,
        ProbeOutcome,
        ProbeRecord,
        ProbeResult,
    )
    from orchestrator.queues import SA_HOST, agent_queue, deploy_queue

CONTROL_TIMEOUT = timedelta(seconds=30)


@workflow.defn
class HostProbeWorkflow:
    @workflow.run
    async def run(self, inp: ProbeInput) -> ProbeResult:
        host_id: str = await workflow.execute_activity(
            "hosts.pick_probe_host",
            inp,
            result_type=str,
            start_to_close_timeout=CONTROL_TIMEOUT,
        )
        workflow.upsert_search_attributes([SA_HOST.value_set(host_id)])
        agent = await self._ask("agent.probe", agent_queue(host_id), inp)
        deploy = await self._ask("deploy.probe", deploy_queue(host_id), inp)
        info = workflow.info()
        record = ProbeRecord(
            host_id=host_id,
            workflow_id=info.workflow_id,
            run_id=info.run_id,
            agent=agent,
            deploy=deploy,
        )
        await workflow.execute_activity(
            "hosts.record_probe", record, start_to_close_timeout=CONTROL_TIMEOUT
        )
        return ProbeResult(host_id=host_id, status=record.status, agent=agent, deploy=deploy)

    async def _ask(self, activity: str, queue: str, inp: ProbeInput) -> ProbeOutcome:
        try:
            report = await workflow.execute_activity(
                activity,
                result_type=HostReport,
                task_queue=queue,
                schedule_to_start_timeout=timedelta(seconds=inp.schedule_to_start_seconds),
                start_to_close_timeout=timedelta(seconds=60),
                retry_policy=RetryPolicy(maximum_attempts=3),
            )
            return ProbeOutcome(report=report)
        except ActivityError as err:
            cause = err.cause
            if isinstance(cause, TimeoutError) and cause.type == TimeoutType.SCHEDULE_TO_START:
                return ProbeOutcome(
                    error=f"offline: no worker took the task within "
                    f"{inp.schedule_to_start_seconds:g} s on {queue}"
                )
            return ProbeOutcome(error=f"failed: {cause or err}")

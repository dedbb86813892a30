"""The probe workflow on the time-skipping test server, with stand-in host activities.

(The Java test server does not skip time while an activity task waits unstarted, so the
offline path, a schedule-to-start timeout, is tested on the real dev server instead.)
"""

from __future__ import annotations

import uuid

import pytest
from temporalio import activity
from temporalio.client import WorkflowFailureError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from orchestrator.contracts.hosts import HostReport, ProbeInput
from orchestrator.db import Database
from orchestrator.hosts.schemas import RegisterRequest
from orchestrator.hosts.service import HostService
from orchestrator.queues import ORCHESTRATOR_QUEUE, agent_queue, deploy_queue
from orchestrator.security.keys import PURPOSE_API_KEYS
from orchestrator.worker import build_orchestrator_worker
from tests.helpers import TEST_MASTER
from workflows.host_probe import HostProbeWorkflow

pytestmark = pytest.mark.foundation


def report(kind: str) -> HostReport:
    return HostReport(
        kind=kind,
        hostname="stand-in",
        git_version="git version 9.9",
        free_disk_bytes=1,
        disk_path="/x",
        clis={"codex": "1.0"},
        python_version="3",
    )


@activity.defn(name="agent.probe")
async def agent_probe() -> HostReport:
    return report("session")


@activity.defn(name="deploy.probe")
async def deploy_probe() -> HostReport:
    raise RuntimeError("disk unreadable")


async def test_probe_records_each_queue_outcome(
    db: Database, time_skipping_env: WorkflowEnvironment
) -> None:
    host = f"ts{uuid.uuid4().hex[:6]}"
    async with db.session() as s:
        svc = HostService(s, TEST_MASTER.derive(PURPOSE_API_KEYS))
        key, _ = await svc.mint_key("k", "session")
        await svc.register(key, RegisterRequest(name=host, kind="session"), None)
    client = time_skipping_env.client
    async with (
        build_orchestrator_worker(client, db, TEST_MASTER),
        Worker(client, task_queue=agent_queue(host), activities=[agent_probe]),
        Worker(client, task_queue=deploy_queue(host), activities=[deploy_probe]),
    ):
        result = await client.execute_workflow(
            HostProbeWorkflow.run,
            ProbeInput(host_id=host),
            id=f"probe-{host}",
            task_queue=ORCHESTRATOR_QUEUE,
        )
    assert result.status == "partial"
    assert result.agent.report == report("session")
    # The deploy activity failed three times (its retry limit): the reason is kept, not lost.
    assert result.deploy.error and "disk unreadable" in result.deploy.error
    async with db.session() as s:
        probe = (await HostService(s, TEST_MASTER.derive(PURPOSE_API_KEYS)).repo.latest_probes())[
            host
        ]
    assert probe.status == "partial" and probe.agent_report == report("session").model_dump()


async def test_unknown_host_fails_the_probe_cleanly(
    db: Database, time_skipping_env: WorkflowEnvironment
) -> None:
    client = time_skipping_env.client
    async with build_orchestrator_worker(client, db, TEST_MASTER):
        with pytest.raises(WorkflowFailureError) as info:
            await client.execute_workflow(
                HostProbeWorkflow.run,
                ProbeInput(host_id="nobody"),
                id=f"probe-nobody-{uuid.uuid4().hex[:6]}",
                task_queue=ORCHESTRATOR_QUEUE,
            )
    assert "no host named nobody" in str(info.value.cause.cause)

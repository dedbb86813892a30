"""Every recorded history replays against today's workflows; a breaking change is caught."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.workflow import NondeterminismError

from orchestrator.contracts.hosts import ProbeInput, ProbeResult
from tests.replay import recorded, replay

pytestmark = pytest.mark.foundation


def test_histories_are_recorded() -> None:
    names = {p.stem for p in recorded()}
    assert {"host_probe_ok", "host_probe_deploy_offline"} <= names


@pytest.mark.parametrize("path", recorded(), ids=lambda p: p.stem)
async def test_replay(path: Path) -> None:
    await replay(path)


@workflow.defn(name="HostProbeWorkflow", sandboxed=False)
class ReorderedProbe:
    """The probe with its two host activities swapped: not deterministic against history."""

    @workflow.run
    async def run(self, inp: ProbeInput) -> ProbeResult:
        host = await workflow.execute_activity(
            "hosts.pick_probe_host",
            inp,
            result_type=str,
            start_to_close_timeout=timedelta(seconds=5),
        )
        await workflow.execute_activity(
            "deploy.probe",
            task_queue=f"polygent.deploy.{host}",
            start_to_close_timeout=timedelta(seconds=5),
        )
        raise AssertionError("replay should have failed before this point")


async def test_a_breaking_change_fails_replay() -> None:
    ok = next(p for p in recorded() if p.stem == "host_probe_ok")
    with pytest.raises(NondeterminismError):
        await replay(ok, workflows=[ReorderedProbe])

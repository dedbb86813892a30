"""Every recorded history replays against today's workflows; a breaking change is caught."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.workflow import NondeterminismError

from orchestrator.contracts.hosts import ProbeInput, ProbeResult
from tests.replay import load, recorded, replay
from workflows.registry import ALL_WORKFLOWS

pytestmark = pytest.mark.foundation


def test_every_workflow_has_a_recorded_history() -> None:
    """A new workflow without a history here would change unguarded (tests/record_histories)."""
    started = [load(p).events[0].workflow_execution_started_event_attributes for p in recorded()]
    recorded_types = {attrs.workflow_type.name for attrs in started}
    for wf in ALL_WORKFLOWS:
        name = wf.__temporal_workflow_definition.name  # type: ignore[attr-defined]
        assert name in recorded_types, f"no recorded history for {name}"


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

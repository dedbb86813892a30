"""Replay recorded workflow histories against today's workflow code.

A workflow change that is not deterministic against a recorded history (and is not behind
`workflow.patched`) fails here before it can break running workflows in production.
Record fresh histories with `python -m tests.record_histories`.
"""

from __future__ import annotations

import json
from pathlib import Path

from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from orchestrator.temporal import data_converter
from tests.helpers import TEST_PAYLOAD_KEYS
from workflows.registry import ALL_WORKFLOWS

HISTORIES = Path(__file__).parent / "histories"


def recorded() -> list[Path]:
    return sorted(HISTORIES.glob("*.json"))


def load(path: Path) -> WorkflowHistory:
    data = json.loads(path.read_text())
    return WorkflowHistory.from_json(data["workflow_id"], data["history"])


async def replay(path: Path, workflows: list[type] | None = None) -> None:
    replayer = Replayer(
        workflows=workflows or ALL_WORKFLOWS, data_converter=data_converter(TEST_PAYLOAD_KEYS)
    )
    await replayer.replay_workflow(load(path))

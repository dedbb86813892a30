"""Orchestrator-queue activities for session hooks: what to run, and recording each run.

Runs live in the database; the transcript event is a stored row the WebSocket picks up. The
platform-wide `hook.disabled` bus event is published through `publish` when the worker
shares a process with the API (`polygent up`); the audit row and the transcript event are
the durable notice either way.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from temporalio import activity

from orchestrator.contracts.hooks import (
    HookPlan,
    HookPlanInput,
    RecordedHookRun,
    RecordHookRunInput,
)
from orchestrator.db import Database
from orchestrator.hooks.runs import BREAKER_THRESHOLD, HookRunService
from orchestrator.security.crypto import SecretBox

Publish = Callable[[dict[str, Any]], None]


class HookControlActivities:
    def __init__(
        self,
        db: Database,
        box: SecretBox,
        publish: Publish | None = None,
        threshold: int = BREAKER_THRESHOLD,
    ) -> None:
        self.db = db
        self.box = box
        self.publish = publish
        self.threshold = threshold

    @activity.defn(name="hooks.plan")
    async def plan(self, inp: HookPlanInput) -> HookPlan:
        async with self.db.session() as s:
            return await HookRunService(s, self.box, self.threshold).plan(inp.session_id, inp.event)

    @activity.defn(name="hooks.record")
    async def record(self, inp: RecordHookRunInput) -> RecordedHookRun:
        async with self.db.session() as s:
            done = await HookRunService(s, self.box, self.threshold).record(inp)
        if done.disabled:
            activity.logger.warning(
                "Hook %s was turned off after %d consecutive failures.",
                inp.hook_name, self.threshold,
            )  # fmt: skip
        if self.publish is not None:
            for event in done.bus:
                self.publish(event)
        return RecordedHookRun(stored=done.stored, disabled=done.disabled)

"""A stand-in for SessionWorkflow's hook calls: `run_session_hooks` for one event, sandboxed
like every workflow of ours (so the helper is proven sandbox-safe too)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.hooks import run_session_hooks


@dataclass
class HooksRequest:
    session_id: str
    host_id: str
    event: str


@workflow.defn(name="TestSessionHooks")
class SessionHooksWorkflow:
    @workflow.run
    async def run(self, req: HooksRequest) -> None:
        await run_session_hooks(
            req.session_id, req.host_id, req.event,  # type: ignore[arg-type]
            schedule_to_start=timedelta(seconds=20),
        )  # fmt: skip

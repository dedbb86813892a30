"""Hook runs: what to run for a session event, and what happened (the orchestrator worker).

`record` stores a run once (its id comes from the workflow), redacts the workspace's secret
values from the output once more (the host already did; the host is not trusted), and moves
the circuit breaker: a success resets the failure count, a failure that is the hook's fault
raises it, and reaching the threshold disables the hook with an audit row and a system event
in the transcript. Transcript events are workflow events (attempt 0) numbered from
`HOOK_SEQ_BASE` up under the session's row lock, so they never collide with the session
workflow's own numbering.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from orchestrator.audit.repository import AuditRepository
from orchestrator.base import utcnow
from orchestrator.contracts.hooks import (
    MAX_OUTPUT,
    HookEvent,
    HookPlan,
    HookRunResult,
    HookSpec,
    RecordHookRunInput,
    tail,
)
from orchestrator.hooks.models import Hook, HookRun
from orchestrator.hooks.repository import HookRepository
from orchestrator.logs import REDACTOR, Redactor
from orchestrator.security.crypto import SecretBox, SecretDecryptError
from orchestrator.sessions.models import Session
from orchestrator.sessions.repository import SessionRepository
from orchestrator.workspaces.models import WorkspaceTask
from orchestrator.workspaces.repository import WorkspaceRepository
from orchestrator.workspaces.sealed import variable_aad

BREAKER_THRESHOLD = 3
HOOK_SEQ_BASE = 1 << 30  # workflow events of hooks: seq 2**30 + n within (turn, attempt 0)
TRANSCRIPT_OUTPUT = 4000  # characters of output shown in the transcript (the run keeps more)


def branch_matches(glob: str, branch: str | None) -> bool:
    """Empty matches every session; otherwise the glob must match the whole branch name."""
    if not glob:
        return True
    return branch is not None and fnmatchcase(branch, glob)


def spec_of(hook: Hook, task: WorkspaceTask | None) -> HookSpec:
    base = HookSpec(
        hook_id=hook.id, name=hook.name, timeout_seconds=hook.timeout_seconds,
        retries=hook.retries,
    )  # fmt: skip
    if task is not None:
        return base.model_copy(
            update={"script": task.script, "script_type": task.script_type,
                    "working_directory": task.working_directory}
        )  # fmt: skip
    if hook.task_id is None and not hook.script.strip():
        return base.model_copy(
            update={"problem": "The hook's task was deleted: choose another task or a script."}
        )
    return base.model_copy(update={"script": hook.script, "script_type": hook.script_type})


def describe(name: str, event: str, result: HookRunResult) -> str:
    tries = f" after {result.attempt} attempts" if result.attempt > 1 else ""
    if result.ok:
        return f"Hook {name} ({event}) succeeded{tries}."
    if result.timed_out:
        why = "timed out"
    elif result.exit_code is not None:
        why = f"failed with exit code {result.exit_code}"
    else:
        why = "did not run to the end"
    return f"Hook {name} ({event}) {why}{tries}."


@dataclass
class Recorded:
    stored: bool
    disabled: bool = False
    bus: list[dict[str, Any]] = field(default_factory=list)  # to publish after the commit


class HookRunService:
    def __init__(
        self, session: AsyncSession, box: SecretBox, threshold: int = BREAKER_THRESHOLD
    ) -> None:
        self.repo = HookRepository(session)
        self.sessions = SessionRepository(session)
        self.workspaces = WorkspaceRepository(session)
        self.audit = AuditRepository(session)
        self.box = box
        self.threshold = threshold

    async def plan(self, session_id: str, event: HookEvent) -> HookPlan:
        row = await self.sessions.get(session_id)
        if row is None:
            return HookPlan()
        hooks = [
            spec_of(hook, task)
            for hook, task in await self.repo.enabled_for(row.workspace_id, event)
            if branch_matches(hook.branch_glob, row.branch)
        ]
        return HookPlan(workspace_id=row.workspace_id, branch=row.branch, hooks=hooks)

    async def _redactor(self, workspace_id: str) -> Redactor:
        redactor = Redactor()
        for var in await self.workspaces.variables(workspace_id):
            if var.secret:
                try:
                    redactor.add(self.box.decrypt(var.value, variable_aad(var)))
                except SecretDecryptError:
                    continue
        return redactor

    async def record(self, inp: RecordHookRunInput) -> Recorded:
        if await self.repo.run(inp.run_id) is not None:
            return Recorded(stored=False)  # a retried record
        row = await self.sessions.lock(inp.session_id)
        if row is None:
            return Recorded(stored=False)  # the session was disposed meanwhile
        hook = await self.repo.lock(inp.hook_id)
        result = inp.result
        redactor = await self._redactor(row.workspace_id)
        output = tail(REDACTOR.redact(redactor.redact(result.output)), MAX_OUTPUT)
        await self.repo.add(
            HookRun(
                id=inp.run_id, hook_id=hook.id if hook else None, session_id=row.id,
                name=inp.hook_name, event=inp.event, attempt=result.attempt, ok=result.ok,
                exit_code=result.exit_code, timed_out=result.timed_out, output=output,
                started_at=result.started_at, finished_at=result.finished_at,
            )
        )  # fmt: skip
        text = describe(inp.hook_name, inp.event, result)
        events = [
            {"subtype": "hook", "hook": inp.hook_name, "hook_id": inp.hook_id,
             "event": inp.event, "ok": result.ok, "exit_code": result.exit_code,
             "timed_out": result.timed_out, "attempt": result.attempt,
             "output": tail(output, TRANSCRIPT_OUTPUT), "text": text}
        ]  # fmt: skip
        recorded = Recorded(stored=True)
        if hook is not None:
            if result.ok:
                hook.consecutive_failures = 0
            elif inp.counts:
                hook.consecutive_failures += 1
                if hook.enabled and hook.consecutive_failures >= self.threshold:
                    events.append(await self._trip(hook, row, inp.event, text))
                    recorded.disabled = True
                    recorded.bus.append(
                        {"type": "hook.disabled", "hook_id": hook.id, "name": hook.name,
                         "workspace_id": hook.workspace_id, "session_id": row.id,
                         "reason": hook.disabled_reason}
                    )  # fmt: skip
            await self.repo.flush()
        await self._emit(row, events)
        return recorded

    async def _trip(self, hook: Hook, row: Session, event: str, last: str) -> dict[str, Any]:
        """Disable the hook: audit row and the transcript's system event."""
        hook.enabled = False
        hook.disabled_reason = (
            f"Disabled after {hook.consecutive_failures} consecutive failures; last: {last}"
        )[:500]
        hook.updated_at = utcnow()
        await self.audit.add(
            "hook.disabled", actor_type="system", target_type="hook", target_id=hook.id,
            details={"workspace_id": hook.workspace_id, "name": hook.name, "event": event,
                     "failures": hook.consecutive_failures, "session_id": row.id},
        )  # fmt: skip
        return {
            "subtype": "hook_disabled", "hook": hook.name, "hook_id": hook.id, "event": event,
            "text": f"Hook {hook.name} was turned off after {hook.consecutive_failures} "
            "consecutive failures; turn it back on in the workspace's hooks.",
        }  # fmt: skip

    async def _emit(self, row: Session, events: list[dict[str, Any]]) -> None:
        turn = row.turns
        last = await self.repo.last_seq_from(row.id, turn, HOOK_SEQ_BASE)
        now = utcnow()
        await self.sessions.insert_events(
            [
                {"session_id": row.id, "turn": turn, "attempt": 0, "seq": last + n,
                 "kind": "system", "data": data, "created_at": now}
                for n, data in enumerate(events, start=1)
            ]
        )  # fmt: skip

    async def runs(self, session_id: str, limit: int) -> list[HookRun]:
        return await self.repo.runs(session_id, limit)

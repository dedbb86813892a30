"""Models of session hooks that cross Temporal (pure pydantic, safe inside workflows).

A hook's script travels in the payload (it is workspace configuration, not a secret); the
workspace variables do not: the host fetches them from the API just before the script runs.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal, get_args

from pydantic import BaseModel, Field

HookEvent = Literal[
    "session_created", "session_started", "turn_completed", "session_done", "session_canceled"
]  # fmt: skip
HOOK_EVENTS: tuple[str, ...] = get_args(HookEvent)
# The script types workspace tasks offer (orchestrator/workspaces/schemas.py ScriptType).
HookScriptType = Literal["auto", "bash", "powershell", "cmd", "node", "python"]
MAX_OUTPUT = 64 * 1024  # characters of a run's output that are kept (the tail)
CUT = "[earlier output cut]\n"


def tail(text: str, limit: int = MAX_OUTPUT) -> str:
    """The last `limit` characters, marked when something was cut; no NUL (PostgreSQL)."""
    text = text.replace("\x00", "")
    if len(text) <= limit:
        return text
    return CUT + text[len(text) - limit + len(CUT) :]


class HookSpec(BaseModel):
    """What to run: the hook's own script, or its task's script and working directory.

    `problem` is set when there is nothing runnable (its task was deleted): the run is then
    recorded as failed without visiting the host.
    """

    hook_id: str
    name: str
    script: str = ""
    script_type: HookScriptType = "auto"
    working_directory: str = ""
    timeout_seconds: int = 300
    retries: int = 0
    problem: str | None = None


class HookPlanInput(BaseModel):
    session_id: str
    event: HookEvent


class HookPlan(BaseModel):
    """The enabled hooks of the session's workspace for one event, filtered by branch."""

    workspace_id: str = ""
    branch: str | None = None
    hooks: list[HookSpec] = Field(default_factory=list)


class RunHookInput(BaseModel):
    session_id: str
    workspace_id: str
    branch: str | None = None
    event: HookEvent
    hook: HookSpec


class HookRunResult(BaseModel):
    """One run's outcome; `output` is stdout and stderr interleaved, redacted, tail-kept."""

    ok: bool
    exit_code: int | None = None
    timed_out: bool = False
    output: str = ""
    attempt: int = 1
    started_at: datetime
    finished_at: datetime


class RecordHookRunInput(BaseModel):
    """`run_id` is chosen by the workflow, so a retried record stores the run once.

    `counts` is False when the run failed for a reason that is not the hook's (the host was
    offline or died): such failures do not move the circuit breaker.
    """

    run_id: str
    hook_id: str
    hook_name: str
    session_id: str
    event: HookEvent
    result: HookRunResult
    counts: bool = True


class RecordedHookRun(BaseModel):
    stored: bool
    disabled: bool = False

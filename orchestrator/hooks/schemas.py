"""API shapes for hooks and their runs."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field

from orchestrator.contracts.hooks import HookEvent, HookScriptType
from orchestrator.schemas import RequestModel
from orchestrator.workspaces import validation as v
from orchestrator.workspaces.schemas import Name

Glob = Annotated[
    str,
    Field(
        max_length=255,
        description="A glob matched against the session's branch (e.g. `feature/*`; `*` "
        "also matches `/`); empty matches every branch",
    ),
    AfterValidator(v.no_control),
]
Script = Annotated[str, Field(max_length=100_000)]
Timeout = Annotated[int, Field(ge=1, le=86_400, description="Seconds before the run is killed")]
Retries = Annotated[int, Field(ge=0, le=10, description="Extra attempts after a failure")]
TaskId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


class HookIn(RequestModel):
    """Either `task_id` (a workspace task) or a non-empty inline `script`, not both."""

    name: Name
    event: HookEvent
    task_id: TaskId | None = None
    script: Script = ""
    script_type: HookScriptType = "auto"
    timeout_seconds: Timeout = 300
    retries: Retries = 0
    branch_glob: Glob = ""
    enabled: bool = True


class HookUpdate(RequestModel):
    """Only the fields sent change; `task_id: null` detaches the task. Turning a disabled hook
    back on resets its failure count."""

    name: Name | None = None
    event: HookEvent | None = None
    task_id: TaskId | None = None
    script: Script | None = None
    script_type: HookScriptType | None = None
    timeout_seconds: Timeout | None = None
    retries: Retries | None = None
    branch_glob: Glob | None = None
    enabled: bool | None = None


class HookOut(BaseModel):
    id: str
    workspace_id: str
    name: str
    event: HookEvent
    task_id: str | None
    script: str
    script_type: HookScriptType
    timeout_seconds: int
    retries: int
    branch_glob: str
    enabled: bool
    consecutive_failures: int
    disabled_reason: str | None
    created_at: datetime
    updated_at: datetime


class HookRunOut(BaseModel):
    id: str
    hook_id: str | None = Field(description="null once the hook was deleted")
    name: str
    event: HookEvent
    ok: bool
    exit_code: int | None
    timed_out: bool
    output: str
    attempt: int
    started_at: datetime
    finished_at: datetime


class HookRunList(BaseModel):
    items: list[HookRunOut]

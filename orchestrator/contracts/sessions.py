"""Models of a session that cross Temporal (pure pydantic, safe inside workflows).

`SessionState` is the whole durable state of `SessionWorkflow`: it is the workflow's input,
so continue-as-new carries a long conversation on with nothing lost. Message texts stay in
it only until their turn starts; the transcript itself lives in the database.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from orchestrator.contracts.agent import Attachment, ModelPrice

Mode = Literal["chat", "develop", "bot"]
Status = Literal["waiting", "in_progress", "done", "canceled"]
DevMode = Literal["manual", "auto"]
Toggle = Literal[
    "code_architecture",
    "ux_enhancement",
    "edge_cases",
    "code_review",
    "verification",
    "update_tests",
    "update_docs",
]
TOGGLES: tuple[Toggle, ...] = (
    "code_architecture",
    "ux_enhancement",
    "edge_cases",
    "code_review",
    "verification",
    "update_tests",
    "update_docs",
)
MAX_AUTO_TURNS = 50
DONE_MARKER = "<polygent:done/>"


class PendingMessage(BaseModel):
    """A message waiting for its turn; `kind` says who asked for it."""

    text: str
    author: str = ""
    author_id: str | None = None
    attachments: list[Attachment] = Field(default_factory=list)
    kind: Literal["user", "auto", "review", "verification"] = "user"


class SessionState(BaseModel):
    """Everything SessionWorkflow knows; its input and its continue-as-new payload."""

    session_id: str
    workspace_id: str
    mode: Mode = "chat"
    provider: str = "claude-code"
    model: str | None = None
    base_branch: str
    branch: str
    status: Status = "waiting"
    dev_mode: DevMode = "manual"
    auto_turn_limit: int = Field(default=10, ge=1, le=MAX_AUTO_TURNS)
    toggles: list[Toggle] = Field(default_factory=list)
    host_id: str | None = None
    worktree_path: str | None = None
    provider_session_id: str | None = None
    turn: int = 0
    auto_turns: int = 0
    event_seq: int = 0  # numbering of the workflow's own transcript events in this turn
    pending: list[PendingMessage] = Field(default_factory=list)
    canceled: bool = False
    completed: bool = False
    reset_requested: bool = False
    dispose: bool = False
    heartbeat_timeout_seconds: float = Field(default=60.0, gt=0)
    turns_per_run: int = Field(default=100, ge=1)
    budget_usd: float | None = Field(default=None, gt=0)
    # The ticket this session implements: it is told (signal `implementation_finished`) each
    # time the work stops, with how the last implementation turn ended.
    ticket_id: str | None = None
    ticket_outcome: Literal["done", "incomplete", "failed"] = "done"
    ticket_summary: str = ""


__all__ = ["Attachment"]


class SendMessage(BaseModel):
    text: str = Field(min_length=1, max_length=100_000)
    author: str = ""
    author_id: str | None = None
    attachments: list[Attachment] = Field(default_factory=list, max_length=20)


class SessionSettings(BaseModel):
    """A change of how the session works, from PATCH /api/sessions/{id}."""

    dev_mode: DevMode | None = None
    auto_turn_limit: int | None = Field(default=None, ge=1, le=MAX_AUTO_TURNS)
    toggles: list[Toggle] | None = None


class SessionView(BaseModel):
    """The `state` query: what the dashboard shows beside the transcript."""

    status: Status
    turn: int
    running: bool
    host_id: str | None
    dev_mode: DevMode
    auto_turn_limit: int
    auto_turns: int
    toggles: list[Toggle]
    pending: int
    provider_session_id: str | None


class ChooseHostInput(BaseModel):
    session_id: str
    workspace_id: str
    provider: str


class HostChoice(BaseModel):
    """The chosen host, or why none fits now (`reason`, shown in the transcript)."""

    host_id: str | None = None
    reason: str | None = None


class EmitInput(BaseModel):
    """A workflow-originated transcript event (attempt 0), stored once by (turn, seq)."""

    session_id: str
    turn: int
    seq: int
    kind: str
    data: dict[str, Any] = Field(default_factory=dict)


class StatusUpdate(BaseModel):
    """Mirror of the workflow's state in the session row (status, host, counters)."""

    session_id: str
    status: Status
    host_id: str | None = None
    turns: int = 0
    dev_mode: DevMode = "manual"
    auto_turn_limit: int = 10
    toggles: list[Toggle] = Field(default_factory=list)


class TurnContextInput(BaseModel):
    session_id: str


class TurnContext(BaseModel):
    """What a turn needs from the database: the workspace's system prompt for the mode, and
    the budgets: `blocked` says which blocking budget is spent; `remaining_usd` is the least
    left of the blocking budgets (None: no budget applies); `price` prices the model."""

    system_prompt: str = ""
    blocked: str | None = None
    remaining_usd: float | None = None
    price: ModelPrice | None = None


class TurnRecord(BaseModel):
    """A finished turn for the cost audit and the session totals (USD from the price table
    when the CLI reported none)."""

    session_id: str
    turn: int
    ok: bool
    model: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cost_usd: float | None = None

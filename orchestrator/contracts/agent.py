"""Models of one agent turn that cross Temporal (pure pydantic, safe inside workflows).

Every provider's output is normalized into `AgentEvent`s so the workflow, the API and the
dashboard never learn a CLI's own stream format. Secrets never appear here: the MCP bearer
token and the provider credential are references redeemed on the host just before spawning.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

EventKind = Literal[
    "user",
    "text",
    "thinking",
    "tool_call",
    "tool_result",
    "todo",
    "usage",
    "error",
    "result",
    "system",
    "raw",
]


class Attachment(BaseModel):
    """A file attached to a message; the host downloads it into the worktree by id."""

    id: str
    name: str


class Usage(BaseModel):
    """Token counts; cache reads and writes are kept apart because they are priced apart.

    `input` counts only the input tokens that were neither read from nor written to the cache
    (providers that include cached tokens in their input count must subtract them), so
    `orchestrator.pricing.cost_of` prices each token once."""

    input: int = 0
    output: int = 0
    cache_read: int = 0
    cache_write: int = 0


class ModelPrice(BaseModel):
    """USD per million tokens (orchestrator/pricing.py holds the table)."""

    input: float = Field(ge=0, le=10_000)
    output: float = Field(ge=0, le=10_000)
    cache_read: float = Field(default=0.0, ge=0, le=10_000)
    cache_write: float = Field(default=0.0, ge=0, le=10_000)


class TodoItem(BaseModel):
    content: str
    status: str = "pending"
    id: str | None = None


class AgentEvent(BaseModel):
    """One normalized event. `(turn, attempt, seq)` orders it and makes storing it idempotent.

    Adapters build events with `seq=0`; the runner numbers them as they leave the CLI.
    """

    kind: EventKind
    seq: int = 0
    turn: int = 0
    attempt: int = 0
    message_id: str | None = None
    text: str | None = None
    tool_name: str | None = None
    tool_id: str | None = None
    tool_input: dict[str, Any] | None = None
    content: str | None = None
    is_error: bool = False
    todos: list[TodoItem] | None = None
    usage: Usage | None = None
    cost_usd: float | None = None
    session_id: str | None = None
    subtype: str | None = None
    data: dict[str, Any] | None = None  # provider details, e.g. num_turns, api_error_status
    raw: str | None = None


class McpConfig(BaseModel):
    """Our own MCP endpoint for the session; the token is a secret reference, not a value."""

    url: str
    bearer_token_ref: str | None = None


class McpServerSpec(BaseModel):
    """An extra MCP server of a Polygent Code subagent; its bearer token, if any, is read from
    the turn's environment variable `bearer_token_env` (a workspace secret), never carried."""

    name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,40}$")
    url: str
    bearer_token_env: str | None = None


class SubagentSpec(BaseModel):
    """A Polygent Code subagent the Task tool can start (`subagent_type` = `name`).

    For the built-ins `general` and `explorer` only model, MCP servers and MCP tools apply.
    `tools` None or empty: the harness default; `model` None or "inherit": the parent's model;
    `mcp_tools` None or empty: every tool of our MCP server.
    """

    name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    description: str = ""
    prompt: str = ""
    tools: list[str] | None = None
    model: str | None = None
    mcp_servers: list[McpServerSpec] = Field(default_factory=list)
    mcp_tools: list[str] | None = None
    enabled: bool = True


class TurnRequest(BaseModel):
    """Everything a provider adapter needs to build the command of one turn."""

    provider: str
    model: str | None = None
    prompt: str
    system_prompt_append: str | None = None
    allowed_tools: list[str] | None = None
    mcp: McpConfig | None = None
    budget_usd: float | None = Field(default=None, gt=0)
    # The session model's price: the agent stops a CLI without a native cap at the budget.
    price: ModelPrice | None = None
    # The turn answers to the workspace and instance budgets: the API's `budget_stop` on a
    # batch of usage stops it (review and verification passes count but never stop).
    budget_gated: bool = False
    resume_session_id: str | None = None
    worktree: str
    home: str
    turn: int = 0
    attempt: int = 0
    # Polygent Code only: custom subagents, and the price table (model id or `prefix*`, as in
    # orchestrator/pricing.py) its native USD cap prices subagents' other models with.
    subagents: list[SubagentSpec] = Field(default_factory=list)
    prices: dict[str, ModelPrice] | None = None


class TurnResult(BaseModel):
    """How the turn ended. `error` is the CLI's own message, for the person reading the session.

    `outcome` separates a budget stop from other failures so the workflow can react to it.
    """

    ok: bool
    outcome: Literal["success", "error", "budget_exceeded", "canceled"] = "success"
    error: str | None = None
    provider_session_id: str | None = None
    usage: Usage = Field(default_factory=Usage)
    cost_usd: float | None = None
    num_turns: int | None = None
    exit_code: int | None = None
    final_text: str | None = None
    model: str | None = None  # the model the CLI reported using, when it says
    changed_files: list[str] = Field(default_factory=list)
    checkpoint_ref: str | None = None
    retry_after_seconds: float | None = None  # a rate limit's reset time, when the API gave one


class TurnInput(BaseModel):
    """`agent.run_turn`: one turn in a session's worktree; credentials travel as references.

    `credential_refs` maps an environment variable of the CLI (e.g. ANTHROPIC_API_KEY) to a
    secret reference the host redeems just before spawning.
    """

    session_id: str
    worktree_path: str
    request: TurnRequest
    credential_refs: dict[str, str] = Field(default_factory=dict)
    # Fetch the workspace's variables (secret ones too) from the API on every attempt.
    session_env: bool = False
    attachments: list[Attachment] = Field(default_factory=list)

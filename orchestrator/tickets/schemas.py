"""Request and response bodies of the ticket API."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, field_validator

from orchestrator.contracts.tickets import Lifecycle, MergeMode, Priority
from orchestrator.schemas import RequestModel

ID = r"^[A-Za-z0-9_-]{1,64}$"
KEY_PREFIX = r"^[A-Z]{2,6}$"
Provider = Literal[
    "claude-code", "polygent-code", "gemini-cli", "opencode", "kilo-cli", "codex", "qwen-code"
]
Tag = Annotated[str, Field(min_length=1, max_length=50, pattern=r"^[\w .:/+#-]+$")]
Ident = Annotated[str, Field(pattern=ID)]


def _ids(ids: list[str]) -> list[str]:
    for i in ids:
        if not re.match(ID, i):
            raise ValueError(f"{i[:40]!r} is not an id")
    return list(dict.fromkeys(ids))


class CandidateIn(RequestModel):
    """One Best of N candidate: a provider and, optionally, its model."""

    provider: Provider
    model: str | None = Field(default=None, min_length=1, max_length=200, pattern=r"^[\w.:/@-]+$")


class TicketFields(RequestModel):
    """What a person sets on a ticket (all optional: PATCH sends only what changes)."""

    title: str | None = Field(default=None, min_length=1, max_length=300)
    description: str | None = Field(default=None, max_length=100_000)
    priority: Priority | None = None
    tags: list[Tag] | None = Field(default=None, max_length=30)
    developer_id: Ident | None = None
    qa_id: Ident | None = None
    provider: Provider | None = None
    model: str | None = Field(default=None, min_length=1, max_length=200, pattern=r"^[\w.:/@-]+$")
    preset: str | None = Field(default=None, min_length=1, max_length=100)
    budget_usd: float | None = Field(default=None, gt=0, le=1_000_000)
    force_no_dev: bool | None = None
    force_no_qa: bool | None = None
    skip_to_merge: bool | None = None
    blocker_ids: list[Ident] | None = Field(default=None, max_length=50)
    best_of: list[CandidateIn] | None = Field(
        default=None, max_length=4,
        description="Best of N: 2 to 4 providers or models that implement the ticket side by "
        "side; the developer picks one. Empty: one session with `provider` and `model`.",
    )  # fmt: skip

    @field_validator("best_of")
    @classmethod
    def _two_or_more(cls, v: list[CandidateIn] | None) -> list[CandidateIn] | None:
        if v and len(v) < 2:
            raise ValueError("Best of N needs at least 2 candidates (or none)")
        return v


class TicketCreate(TicketFields):
    title: str = Field(min_length=1, max_length=300)  # type: ignore[assignment]
    queue: bool = Field(default=False, description="Queue at once instead of staying Pending.")


class TicketPatch(TicketFields):
    pass


class DecisionIn(RequestModel):
    """An approval, or a rejection with feedback (required) and attachment ids."""

    feedback: str = Field(default="", max_length=100_000)
    attachment_ids: list[str] = Field(default_factory=list, max_length=20)
    request_id: str | None = Field(default=None, pattern=ID)

    @field_validator("attachment_ids")
    @classmethod
    def _check(cls, ids: list[str]) -> list[str]:
        return _ids(ids)


class CommentIn(RequestModel):
    body: str = Field(min_length=1, max_length=100_000)
    attachment_ids: list[str] = Field(default_factory=list, max_length=20)

    @field_validator("attachment_ids")
    @classmethod
    def _check(cls, ids: list[str]) -> list[str]:
        return _ids(ids)


class TicketOut(BaseModel):
    id: str
    workspace_id: str
    key: str
    title: str
    description: str
    priority: str
    tags: list[str]
    developer_id: str | None
    qa_id: str | None
    provider: str
    model: str | None
    preset: str | None
    budget_usd: float | None
    spent_usd: float = 0.0
    force_no_dev: bool
    force_no_qa: bool
    skip_to_merge: bool
    stage: str
    iteration: int
    qa_round: int
    session_id: str | None
    host_id: str | None
    workflow_id: str | None
    temporal_url: str | None = None
    created_by: str | None
    created_at: datetime
    updated_at: datetime
    queued_at: datetime | None
    eligible_at: datetime | None
    started_at: datetime | None
    ended_at: datetime | None
    failure: str | None
    pr_url: str | None
    source: str
    external_id: str | None
    blocker_ids: list[str] = Field(default_factory=list)
    attachment_ids: list[str] = Field(default_factory=list)
    best_of: list[dict[str, str | None]] = Field(default_factory=list)


class CandidateOut(BaseModel):
    """A Best of N candidate: its session, what ran it, how it ended, and what it cost."""

    session_id: str
    provider: str
    model: str | None
    status: str
    outcome: str | None = Field(description="done, incomplete, failed or canceled; null while "
                                "it works")  # fmt: skip
    summary: str = ""
    cost_usd: float
    picked: bool


class PickIn(RequestModel):
    session_id: Ident
    request_id: str | None = Field(default=None, pattern=ID)


class TicketPage(BaseModel):
    items: list[TicketOut]
    total: int


class AttachmentOut(BaseModel):
    id: str
    name: str
    size: int
    content_type: str


class CommentOut(BaseModel):
    id: str
    author_id: str | None
    author_name: str
    body: str
    attachment_ids: list[str]
    created_at: datetime


class TransitionOut(BaseModel):
    seq: int
    from_stage: str
    to_stage: str
    actor_type: str
    actor_id: str | None
    actor_name: str
    note: str
    attachment_ids: list[str]
    iteration: int
    qa_round: int
    at: datetime


class IterationOut(BaseModel):
    """One pass of Implementation and the decisions on it."""

    iteration: int
    transitions: list[TransitionOut]


class RoundOut(BaseModel):
    """Iterations between two QA rejections (round 0: before the first one)."""

    qa_round: int
    iterations: list[IterationOut]


class HistoryOut(BaseModel):
    transitions: list[TransitionOut]
    rounds: list[RoundOut]


class TicketsConfigIn(RequestModel):
    lifecycle: Lifecycle | None = None
    skip_qa: bool | None = None
    merge_mode: MergeMode | None = None
    key_prefix: str | None = Field(default=None, pattern=KEY_PREFIX)
    default_ticket_budget_usd: float | None = Field(default=None, gt=0, le=1_000_000)
    clear_default_budget: bool = False
    approval_reminder_hours: int | None = Field(default=None, ge=1, le=24 * 30)


class TicketsConfigOut(BaseModel):
    workspace_id: str
    lifecycle: str
    skip_qa: bool
    merge_mode: str
    key_prefix: str
    default_ticket_budget_usd: float | None
    approval_reminder_hours: int


class TicketSettingsIn(RequestModel):
    low_priority_hour: int = Field(
        ge=0, le=23, description="UTC hour low-priority tickets wait for."
    )


class TicketSettingsOut(BaseModel):
    low_priority_hour: int

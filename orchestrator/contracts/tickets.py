"""Models of a ticket that cross Temporal (pure pydantic, safe inside workflows).

`TicketState` is the whole durable state of `TicketWorkflow`; the row in the database mirrors
it through the `tickets.*` control activities.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

Stage = Literal[
    "pending",
    "queued",
    "implementation",
    "dev_approval",
    "qa_approval",
    "pull_request",
    "completed",
    "failed",
    "canceled",
    "merge_conflicts",
]
STAGES: tuple[Stage, ...] = (
    "pending",
    "queued",
    "implementation",
    "dev_approval",
    "qa_approval",
    "pull_request",
    "completed",
    "failed",
    "canceled",
    "merge_conflicts",
)
TERMINAL: tuple[Stage, ...] = ("completed", "failed", "canceled", "merge_conflicts")
# Stages that hold a slot of the host's Max Concurrent Tickets.
HOLDING: tuple[Stage, ...] = ("implementation", "dev_approval", "qa_approval", "pull_request")
Priority = Literal["high", "normal", "low"]
PRIORITY_RANK: dict[str, int] = {"high": 0, "normal": 1, "low": 2}
Lifecycle = Literal["qa_first", "merge_first"]
MergeMode = Literal["pull_request", "direct"]
Outcome = Literal["done", "incomplete", "failed", "canceled"]
QUEUE_RETRY_SECONDS = 30


class Actor(BaseModel):
    """Who asked for a change: a person (`user`), or the platform (`system`)."""

    actor_type: Literal["user", "system"] = "user"
    actor_id: str | None = None
    actor_name: str = ""


SYSTEM = Actor(actor_type="system", actor_name="Polygent")


class Decision(Actor):
    """An approval or rejection (update `approve` / `reject`)."""

    role: Literal["dev", "qa"]
    feedback: str = Field(default="", max_length=100_000)
    attachment_ids: list[str] = Field(default_factory=list, max_length=20)


class ImplementationFinished(BaseModel):
    """Signal from the ticket's session: its work stopped after `turn` (idle, or ended)."""

    session_id: str
    turn: int
    outcome: Outcome
    summary: str = ""


class TicketFlow(BaseModel):
    """How the ticket goes on after Implementation: the workspace's configuration with the
    ticket's own overrides, read when the ticket starts."""

    lifecycle: Lifecycle = "qa_first"
    merge_mode: MergeMode = "pull_request"
    dev_approval: bool = True
    qa_approval: bool = True
    skip_to_merge: bool = False
    reminder_hours: int = 24
    # How often an open pull request is asked about (the server's ticket_pr_poll_seconds).
    pr_poll_seconds: float = 60.0
    # Best of N: how many candidate sessions implement the ticket side by side (0: one).
    best_of: int = 0


PullRequestState = Literal["open", "merged", "closed", "conflicts"]


class PullRequestResult(BaseModel):
    """The pull request a provider opened (or found); `provider` "none" opened nothing."""

    url: str | None = None
    number: int | None = None
    provider: str = "none"


class PullRequestStatusInput(BaseModel):
    ticket_id: str
    provider: str
    number: int


class PullRequestStatus(BaseModel):
    """What the provider says of an open pull request; `detail` is a sentence for people."""

    state: PullRequestState
    detail: str = ""


class CandidateRef(BaseModel):
    """One Best of N candidate: its session and what runs it."""

    session_id: str
    provider: str
    model: str | None = None


class Pick(Actor):
    """The developer's choice among the candidates."""

    session_id: str


class KeepInput(BaseModel):
    """Keep `session_id` as the ticket's session and cancel the other candidates (None:
    cancel them all)."""

    ticket_id: str
    session_id: str | None = None


class CandidateView(CandidateRef):
    finished: ImplementationFinished | None = None


class TicketState(BaseModel):
    """Everything TicketWorkflow knows; its input."""

    ticket_id: str
    workspace_id: str
    key: str = ""
    stage: Stage = "pending"
    queue: bool = False
    queued_by: Actor | None = None
    seq: int = 0  # transitions written so far (the next one is seq + 1)
    iteration: int = 0
    qa_round: int = 0
    host_id: str | None = None
    session_id: str | None = None
    eligible_at: datetime | None = None
    flow: TicketFlow | None = None
    finished: ImplementationFinished | None = None
    seen_turn: int = 0
    decision: Decision | None = None
    skip: Actor | None = None
    cancel: Actor | None = None
    pr: Literal["merged", "closed"] | None = None
    pr_actor: Actor | None = None
    pull_request: PullRequestResult | None = None  # opened by a provider (tracked by polls)
    published: bool = False  # Merge First: merged or PR opened before QA approval
    candidates: list[CandidateRef] = Field(default_factory=list)  # Best of N
    reports: dict[str, ImplementationFinished] = Field(default_factory=dict)  # by session
    pick: Pick | None = None
    wakes: int = 0


class TicketView(BaseModel):
    """The `state` query."""

    stage: Stage
    iteration: int
    qa_round: int
    host_id: str | None
    session_id: str | None
    candidates: list[CandidateView] = Field(default_factory=list)


class TransitionInput(BaseModel):
    """A stage change to write once (by `seq`) with its TicketTransition row."""

    ticket_id: str
    seq: int
    to_stage: Stage
    actor: Actor = Field(default_factory=lambda: SYSTEM.model_copy())
    note: str = ""
    attachment_ids: list[str] = Field(default_factory=list)
    iteration: int = 0
    qa_round: int = 0
    now: datetime | None = None  # the workflow's clock (queue time, low-priority hour)
    failure: str | None = None


class TransitionResult(BaseModel):
    stage: Stage
    eligible_at: datetime | None = None


class AdmitInput(BaseModel):
    ticket_id: str
    seq: int
    now: datetime


class AdmitResult(BaseModel):
    """Admitted on `host_id` (with the flow it goes on with), or why not."""

    admitted: bool = False
    host_id: str | None = None
    flow: TicketFlow | None = None
    reason: str = ""
    eligible_at: datetime | None = None
    gone: bool = False


class TicketRef(BaseModel):
    ticket_id: str


class StartSessionResult(BaseModel):
    session_id: str


class FeedbackInput(BaseModel):
    """A rejection's feedback, sent as the session's next message by the person rejecting."""

    ticket_id: str
    session_id: str
    iteration: int
    text: str
    attachment_ids: list[str] = Field(default_factory=list)
    author_id: str | None = None
    author: str = ""


class GitInputRequest(BaseModel):
    ticket_id: str
    purpose: str


class PullRequestInput(BaseModel):
    ticket_id: str
    summary: str = ""


class EndSessionInput(BaseModel):
    session_id: str
    complete: bool


class ReleaseInput(BaseModel):
    """The ticket has ended: end its session (completed, or canceled), and when it held a
    slot (`now` set), wake the queued tickets that take it."""

    session_id: str | None = None
    complete: bool = False
    now: datetime | None = None
    limit: int = 2


class RemindInput(BaseModel):
    ticket_id: str
    role: Literal["dev", "qa"]
    waited_hours: int


class WakeInput(BaseModel):
    now: datetime
    limit: int = 20

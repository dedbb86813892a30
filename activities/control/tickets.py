"""Orchestrator-queue activities of TicketWorkflow: each one database unit of work (and, for
the session steps, Temporal calls through the client)."""

from __future__ import annotations

from collections.abc import Callable

from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError

from orchestrator.config import ServerSettings
from orchestrator.contracts.session_panel import GitRemoteInput
from orchestrator.contracts.tickets import (
    AdmitInput,
    AdmitResult,
    CandidateRef,
    EndSessionInput,
    FeedbackInput,
    GitInputRequest,
    KeepInput,
    PullRequestInput,
    PullRequestResult,
    PullRequestStatus,
    PullRequestStatusInput,
    ReleaseInput,
    RemindInput,
    StartSessionResult,
    TicketFlow,
    TicketRef,
    TransitionInput,
    TransitionResult,
    WakeInput,
)
from orchestrator.db import Database
from orchestrator.events import EventBus
from orchestrator.security.crypto import SecretBox
from orchestrator.tickets.candidates import TicketCandidates
from orchestrator.tickets.control import TicketControl, TicketGone
from orchestrator.tickets.pull_requests import PullRequestRefused, TicketPullRequests
from orchestrator.tickets.queue import wake
from orchestrator.tickets.repository import TicketRepository
from orchestrator.tickets.sessions import TicketSessions
from orchestrator.workspaces.errors import Invalid, WorkspaceError


def _gone(what: object) -> ApplicationError:
    return ApplicationError(f"The ticket {what} no longer exists.", type="TicketGone",
                            non_retryable=True)  # fmt: skip


def _refused(exc: PullRequestRefused) -> ApplicationError:
    return ApplicationError(str(exc), type="PullRequestRefused", non_retryable=True)


class TicketControlActivities:
    """`bus` is the API's event bus when both run in one process; `client` signals and
    updates other workflows (sessions, queued tickets)."""

    def __init__(
        self, db: Database, box: SecretBox, client: Client, settings: ServerSettings,
        bus: EventBus | None = None,
    ) -> None:  # fmt: skip
        self.db = db
        self.box = box
        self.client = client
        self.settings = settings
        self.bus = bus

    async def _announce(self, ticket_id: str, stage: str) -> None:
        """Tell the API's sockets (in-process only); the workspace lets them filter who sees it."""
        if self.bus is None:
            return
        async with self.db.session() as s:
            ws_id = await TicketRepository(s).workspace_of(ticket_id)
        self.bus.publish({"type": "ticket.updated", "ticket_id": ticket_id,
                          "workspace_id": ws_id, "stage": stage})  # fmt: skip

    @activity.defn(name="tickets.transition")
    async def transition(self, inp: TransitionInput) -> TransitionResult:
        try:
            async with self.db.session() as s:
                out = await TicketControl(s, self.box).transition(inp)
        except TicketGone as exc:
            raise _gone(exc) from None
        await self._announce(inp.ticket_id, out.stage)
        return out

    @activity.defn(name="tickets.admit")
    async def admit(self, inp: AdmitInput) -> AdmitResult:
        async with self.db.session() as s:
            out = await TicketControl(s, self.box).admit(inp)
        if out.flow is not None:
            out.flow = self._with_settings(out.flow)
        if out.admitted:
            activity.logger.info("Ticket %s starts on host %s.", inp.ticket_id, out.host_id)
            await self._announce(inp.ticket_id, "implementation")
        return out

    @activity.defn(name="tickets.flow")
    async def flow(self, inp: TicketRef) -> TicketFlow:
        try:
            async with self.db.session() as s:
                return self._with_settings(await TicketControl(s, self.box).flow(inp.ticket_id))
        except TicketGone as exc:
            raise _gone(exc) from None

    def _with_settings(self, flow: TicketFlow) -> TicketFlow:
        """The server's side of the flow (how often a pull request is asked about)."""
        return flow.model_copy(update={"pr_poll_seconds": self.settings.ticket_pr_poll_seconds})

    @activity.defn(name="tickets.start_session")
    async def start_session(self, inp: TicketRef) -> StartSessionResult:
        try:
            async with self.db.session() as s:
                sid = await TicketSessions(s, self.client, self.settings).start(inp.ticket_id)
        except LookupError:
            raise _gone(inp.ticket_id) from None
        except Invalid as exc:  # the provider or model is not usable (any more)
            raise ApplicationError(exc.message, type="SessionRefused", non_retryable=True) from None
        return StartSessionResult(session_id=sid)

    @activity.defn(name="tickets.start_candidates")
    async def start_candidates(self, inp: TicketRef) -> list[CandidateRef]:
        """Best of N: a session per candidate, on the ticket's host."""
        try:
            async with self.db.session() as s:
                return await TicketCandidates(s, self.client, self.settings).start_all(
                    inp.ticket_id
                )
        except LookupError:
            raise _gone(inp.ticket_id) from None
        except Invalid as exc:  # a provider or model is not usable (any more)
            raise ApplicationError(exc.message, type="SessionRefused", non_retryable=True) from None

    @activity.defn(name="tickets.keep_candidate")
    async def keep_candidate(self, inp: KeepInput) -> None:
        """The pick becomes the ticket's session; the other candidates are canceled."""
        try:
            async with self.db.session() as s:
                await TicketCandidates(s, self.client, self.settings).keep(
                    inp.ticket_id, inp.session_id
                )
        except LookupError:
            raise _gone(inp.ticket_id) from None

    @activity.defn(name="tickets.send_feedback")
    async def send_feedback(self, inp: FeedbackInput) -> None:
        try:
            async with self.db.session() as s:
                await TicketSessions(s, self.client, self.settings).feedback(inp)
        except LookupError:
            raise _gone(inp.ticket_id) from None
        except WorkspaceError as exc:
            if exc.status == 409:  # the session has ended: it cannot take the feedback
                raise ApplicationError(str(exc), type="SessionEnded", non_retryable=True) from None
            raise

    @activity.defn(name="tickets.end_session")
    async def end_session(self, inp: EndSessionInput) -> None:
        async with self.db.session() as s:
            await TicketSessions(s, self.client, self.settings).end(inp)

    @activity.defn(name="tickets.git_input")
    async def git_input(self, inp: GitInputRequest) -> GitRemoteInput:
        try:
            async with self.db.session() as s:
                return await TicketControl(s, self.box).git_input(inp.ticket_id, inp.purpose)
        except TicketGone as exc:
            raise _gone(exc) from None

    @activity.defn(name="tickets.open_pull_request")
    async def open_pull_request(self, inp: PullRequestInput) -> PullRequestResult:
        """Open (or find) the pull request; a provider that cannot answer now is retried, a
        refusal (token, access, repository) fails the ticket."""
        try:
            async with self.db.session() as s:
                prs = TicketPullRequests(s, self.box, self.settings)
                return await prs.open(inp.ticket_id, inp.summary)
        except LookupError:
            raise _gone(inp.ticket_id) from None
        except PullRequestRefused as exc:
            raise _refused(exc) from None

    @activity.defn(name="tickets.pull_request_status")
    async def pull_request_status(self, inp: PullRequestStatusInput) -> PullRequestStatus:
        try:
            async with self.db.session() as s:
                return await TicketPullRequests(s, self.box, self.settings).status(inp)
        except LookupError:
            raise _gone(inp.ticket_id) from None
        except PullRequestRefused as exc:
            raise _refused(exc) from None

    @activity.defn(name="tickets.remind")
    async def remind(self, inp: RemindInput) -> int:
        try:
            async with self.db.session() as s:
                return await TicketControl(s, self.box).remind(inp)
        except TicketGone as exc:
            raise _gone(exc) from None

    @activity.defn(name="tickets.release")
    async def release(self, inp: ReleaseInput) -> list[str]:
        """End the ended ticket's session, then wake the queued tickets that take its slot."""
        if inp.session_id is not None:
            await self.end_session(
                EndSessionInput(session_id=inp.session_id, complete=inp.complete)
            )
        if inp.now is None:
            return []
        return await self.wake_queued(WakeInput(now=inp.now, limit=inp.limit))

    @activity.defn(name="tickets.wake_queued")
    async def wake_queued(self, inp: WakeInput) -> list[str]:
        async with self.db.session() as s:
            return await wake(s, self.client, inp.now, inp.limit)

    def all(self) -> list[Callable[..., object]]:
        return [
            self.transition, self.admit, self.flow, self.start_session, self.start_candidates,
            self.keep_candidate, self.send_feedback,
            self.end_session, self.git_input, self.open_pull_request, self.pull_request_status,
            self.remind, self.wake_queued, self.release,
        ]  # fmt: skip

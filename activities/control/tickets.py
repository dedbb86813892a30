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
    EndSessionInput,
    FeedbackInput,
    GitInputRequest,
    PullRequestInput,
    PullRequestResult,
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
from orchestrator.tickets.control import TicketControl, TicketGone
from orchestrator.tickets.queue import wake
from orchestrator.tickets.sessions import TicketSessions
from orchestrator.workspaces.errors import Invalid, WorkspaceError


def _gone(what: object) -> ApplicationError:
    return ApplicationError(f"The ticket {what} no longer exists.", type="TicketGone",
                            non_retryable=True)  # fmt: skip


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

    @activity.defn(name="tickets.transition")
    async def transition(self, inp: TransitionInput) -> TransitionResult:
        try:
            async with self.db.session() as s:
                out = await TicketControl(s, self.box).transition(inp)
        except TicketGone as exc:
            raise _gone(exc) from None
        if self.bus is not None:
            self.bus.publish({"type": "ticket.updated", "ticket_id": inp.ticket_id,
                              "stage": out.stage})  # fmt: skip
        return out

    @activity.defn(name="tickets.admit")
    async def admit(self, inp: AdmitInput) -> AdmitResult:
        async with self.db.session() as s:
            out = await TicketControl(s, self.box).admit(inp)
        if out.admitted:
            activity.logger.info("Ticket %s starts on host %s.", inp.ticket_id, out.host_id)
            if self.bus is not None:
                self.bus.publish({"type": "ticket.updated", "ticket_id": inp.ticket_id,
                                  "stage": "implementation"})  # fmt: skip
        return out

    @activity.defn(name="tickets.flow")
    async def flow(self, inp: TicketRef) -> TicketFlow:
        try:
            async with self.db.session() as s:
                return await TicketControl(s, self.box).flow(inp.ticket_id)
        except TicketGone as exc:
            raise _gone(exc) from None

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
        try:
            async with self.db.session() as s:
                sessions = TicketSessions(s, self.client, self.settings)
                return await sessions.open_pull_request(inp.ticket_id, inp.summary)
        except LookupError:
            raise _gone(inp.ticket_id) from None

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
            self.transition, self.admit, self.flow, self.start_session, self.send_feedback,
            self.end_session, self.git_input, self.open_pull_request, self.remind,
            self.wake_queued, self.release,
        ]  # fmt: skip

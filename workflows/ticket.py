"""TicketWorkflow (`ticket-<id>`): one ticket from Pending to Completed (or Failed, Canceled,
Merge Conflicts).

Pending waits for `queue`; Queued asks `tickets.admit` for a host (a durable timer, or a
`wake` signal, between tries); Implementation runs one Develop session pinned to that host
and waits for the session's `implementation_finished` signal; the approvals are updates
(`approve`, `reject` with feedback that becomes the session's next message, `skip_to_merge`),
with reminders on a durable timer; then Direct Merge or the pull request. Every stage change
is written by `tickets.transition`, keyed by the transition number kept here.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Literal

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from orchestrator.contracts.tickets import (
        SYSTEM,
        TERMINAL,
        Actor,
        Decision,
        FeedbackInput,
        ImplementationFinished,
        Pick,
        RemindInput,
        StartSessionResult,
        TicketFlow,
        TicketRef,
        TicketState,
        TicketView,
    )
    from workflows.ticket_candidates import BestOfN
    from workflows.ticket_git import control
    from workflows.ticket_steps import TicketSteps

Verdict = Literal["approved", "rejected", "skip", "ended"]
ROLE_NAME = {"dev": "Developer", "qa": "QA"}


@workflow.defn
class TicketWorkflow(TicketSteps, BestOfN):
    @workflow.init
    def __init__(self, state: TicketState) -> None:
        # Set here, not in run(): an update may be handled before run() first executes.
        self.state = state
        self.woken = False
        self.verdict: Literal["approve", "reject"] | None = None
        self.next_actor: Actor | None = None
        self.next_note = ""

    @workflow.run
    async def run(self, state: TicketState) -> str:
        s = self.state
        try:
            await self._pipeline()
        except asyncio.CancelledError:  # canceled from Temporal itself: end like `cancel`
            if s.stage not in TERMINAL:
                await self._end("canceled", SYSTEM, note="Canceled from Temporal.")
        except ActivityError as err:
            if not (isinstance(err.cause, ApplicationError) and err.cause.type == "TicketGone"):
                raise
        await workflow.wait_condition(workflow.all_handlers_finished)
        return s.stage

    async def _pipeline(self) -> None:
        s = self.state
        if s.stage == "pending":
            await workflow.wait_condition(lambda: s.queue or s.cancel is not None)
            if s.cancel is not None:
                return await self._end("canceled", s.cancel)
            await self._move("queued", s.queued_by or SYSTEM)
        if s.stage == "queued" and not await self._admitted():
            return
        if s.flow is None:
            s.flow = await control("tickets.flow", TicketRef(ticket_id=s.ticket_id), TicketFlow)
        if s.stage == "pull_request":  # continued as new while the pull request was open
            return await self._pull_request()
        while s.stage == "implementation":
            if await self._implemented():
                await self._onwards()

    # -- implementation ------------------------------------------------------------------------

    def _fresh(self) -> bool:
        f = self.state.finished
        return f is not None and f.turn > self.state.seen_turn

    async def _implemented(self) -> bool:
        """Start the session (or let it work on the feedback) and wait until its work stops;
        False when the ticket ended."""
        s = self.state
        if s.session_id is None and s.flow is not None and s.flow.best_of:
            if not await self._candidates_picked():
                return False
        elif s.session_id is None:
            try:
                started: StartSessionResult = await control(
                    "tickets.start_session", TicketRef(ticket_id=s.ticket_id), StartSessionResult
                )
            except ActivityError as err:
                await self._end("failed", failure=f"The session could not start: {_why(err)}")
                return False
            s.session_id = started.session_id
        await workflow.wait_condition(lambda: self._fresh() or s.cancel is not None)
        if s.cancel is not None:
            await self._end("canceled", s.cancel)
            return False
        f = s.finished
        assert f is not None and s.flow is not None
        s.seen_turn = f.turn
        review = s.flow.dev_approval and s.skip is None and not s.flow.skip_to_merge
        if f.outcome == "done" or (f.outcome == "incomplete" and review):
            self.next_note = (self.next_note + " " + _summary(f)).strip()  # after a pick
            return True
        why = {"incomplete": "The agent stopped before saying it was done",
               "canceled": "The session was canceled", "failed": "The session failed"}  # fmt: skip
        await self._end("failed", failure=f"{why[f.outcome]}: {f.summary or 'no details'}")
        return False

    async def _onwards(self) -> None:
        """The approvals and the merge, in the workspace's lifecycle; returns when the ticket
        has ended or went back to Implementation."""
        s = self.state
        f = s.flow
        assert f is not None
        skip = s.skip is not None or f.skip_to_merge
        if not skip and f.dev_approval:
            verdict = await self._approval("dev")
            if verdict not in ("approved", "skip"):
                return
            skip = verdict == "skip"
        if f.lifecycle == "merge_first" and not skip and not await self._publish():
            return
        if not skip and f.qa_approval:
            verdict = await self._approval("qa")
            if verdict not in ("approved", "skip"):
                return
        await self._merge()

    # -- approvals -----------------------------------------------------------------------------

    async def _approval(self, role: Literal["dev", "qa"]) -> Verdict:
        s = self.state
        assert s.flow is not None
        await self._move(f"{role}_approval")  # type: ignore[arg-type]
        hours, waited = s.flow.reminder_hours, 0
        while True:
            try:
                await workflow.wait_condition(
                    lambda: s.decision is not None or s.skip is not None or s.cancel is not None,
                    timeout=timedelta(hours=hours),
                )
                break
            except TimeoutError:
                waited += hours
                await control(
                    "tickets.remind",
                    RemindInput(ticket_id=s.ticket_id, role=role, waited_hours=waited), int,
                )  # fmt: skip
        if s.cancel is not None:
            await self._end("canceled", s.cancel)
            return "ended"
        d = s.decision
        if d is None:  # skip to merge
            self.next_actor, self.next_note = s.skip, "Skipped to merge."
            return "skip"
        if self.verdict == "approve":
            note = f"{ROLE_NAME[role]} approval by {d.actor_name}."
            self.next_actor, self.next_note = d, (note + " " + d.feedback).strip()
            return "approved"
        await self._rejected(d)
        return "rejected"

    async def _rejected(self, d: Decision) -> None:
        """A new iteration (a QA rejection also starts a new QA round): the feedback is the
        session's next message, in the same worktree."""
        s = self.state
        s.iteration += 1
        if d.role == "qa":
            s.qa_round += 1
        s.published = False
        await self._move("implementation", d, d.feedback, d.attachment_ids)
        assert s.session_id is not None
        text = (
            f"{s.key}: {ROLE_NAME[d.role]} review by {d.actor_name} sent the work back "
            f"(iteration {s.iteration}). Address this feedback:\n\n{d.feedback}"
        )
        try:
            await control(
                "tickets.send_feedback",
                FeedbackInput(
                    ticket_id=s.ticket_id, session_id=s.session_id, iteration=s.iteration,
                    text=text, attachment_ids=d.attachment_ids, author_id=d.actor_id,
                    author=d.actor_name,
                ),
                None,
            )  # fmt: skip
        except ActivityError as err:
            await self._end("failed", failure=f"The feedback could not be sent: {_why(err)}")

    # -- updates, signals and the query --------------------------------------------------------

    def _live(self) -> None:
        s = self.state
        if s.stage in TERMINAL or s.cancel is not None:
            raise ValueError(f"The ticket is {s.stage if s.stage in TERMINAL else 'canceling'}.")

    @workflow.update
    async def queue(self, actor: Actor) -> str:
        """Pending → Queued."""
        s = self.state
        s.queue, s.queued_by = True, actor
        await workflow.wait_condition(lambda: s.stage != "pending")
        return s.stage

    @queue.validator
    def _check_queue(self, actor: Actor) -> None:
        self._live()
        if self.state.stage != "pending" or self.state.queue:
            raise ValueError(
                f"Only a Pending ticket can be queued (this one is {self.state.stage})."
            )

    def _check_decision(self, d: Decision) -> None:
        self._live()
        s = self.state
        if s.stage != f"{d.role}_approval":
            raise ValueError(f"The ticket is not waiting for {ROLE_NAME[d.role]} approval.")
        if s.decision is not None or s.skip is not None:
            raise ValueError("The ticket has been decided already.")

    async def _decide(self, d: Decision, verdict: Literal["approve", "reject"]) -> str:
        s = self.state
        s.decision, self.verdict = d, verdict
        await workflow.wait_condition(lambda: s.decision is None or s.stage in TERMINAL)
        return s.stage

    @workflow.update
    async def approve(self, d: Decision) -> str:
        return await self._decide(d, "approve")

    @approve.validator
    def _check_approve(self, d: Decision) -> None:
        self._check_decision(d)

    @workflow.update
    async def reject(self, d: Decision) -> str:
        """Back to Implementation with the feedback (required)."""
        return await self._decide(d, "reject")

    @reject.validator
    def _check_reject(self, d: Decision) -> None:
        self._check_decision(d)
        if not d.feedback.strip():
            raise ValueError("A rejection needs feedback.")

    @workflow.update
    def skip_to_merge(self, actor: Actor) -> str:
        """Skip the approvals: merge as soon as Implementation is done."""
        self.state.skip = actor
        return self.state.stage

    @skip_to_merge.validator
    def _check_skip(self, actor: Actor) -> None:
        self._live()
        s = self.state
        if s.stage not in ("implementation", "dev_approval", "qa_approval") or s.skip:
            raise ValueError(f"The ticket cannot skip to merge now (it is {s.stage}).")

    @workflow.update
    async def cancel(self, actor: Actor) -> str:
        s = self.state
        s.cancel = actor
        await workflow.wait_condition(lambda: s.stage in TERMINAL)
        return s.stage

    @cancel.validator
    def _check_cancel(self, actor: Actor) -> None:
        self._live()

    async def _pr(self, outcome: Literal["merged", "closed"], actor: Actor) -> str:
        s = self.state
        s.pr, s.pr_actor = outcome, actor
        await workflow.wait_condition(lambda: s.stage in TERMINAL)
        return s.stage

    @workflow.update
    async def pr_merged(self, actor: Actor) -> str:
        return await self._pr("merged", actor)

    @pr_merged.validator
    def _check_merged(self, actor: Actor) -> None:
        self._check_pr()

    @workflow.update
    async def pr_closed(self, actor: Actor) -> str:
        return await self._pr("closed", actor)

    @pr_closed.validator
    def _check_closed(self, actor: Actor) -> None:
        self._check_pr()

    def _check_pr(self) -> None:
        self._live()
        if self.state.stage != "pull_request" or self.state.pr is not None:
            raise ValueError(f"The ticket has no open pull request (it is {self.state.stage}).")

    @workflow.update
    def pick(self, p: Pick) -> str:
        """Best of N: continue with this candidate; the others are canceled."""
        self.state.pick = p
        return p.session_id

    @pick.validator
    def _check_pick_update(self, p: Pick) -> None:
        self._live()
        self._check_pick(p.session_id)

    @workflow.signal
    def implementation_finished(self, f: ImplementationFinished) -> None:
        s = self.state
        if s.session_id is None:  # each candidate's report (Best of N), kept for the pick
            seen = s.reports.get(f.session_id)
            if seen is None or f.turn > seen.turn:
                s.reports[f.session_id] = f
        if s.session_id in (None, f.session_id) and f.turn > s.seen_turn:
            s.finished = f

    @workflow.signal
    def wake(self) -> None:
        self.woken = True

    @workflow.query
    def view(self) -> TicketView:
        s = self.state
        return TicketView(stage=s.stage, iteration=s.iteration, qa_round=s.qa_round,
                          host_id=s.host_id, session_id=s.session_id,
                          candidates=self._candidate_views())  # fmt: skip


def _summary(f: ImplementationFinished) -> str:
    head = "Implementation done." if f.outcome == "done" else "The agent stopped short of done."
    return f"{head} {f.summary[-1000:]}".strip()


def _why(err: ActivityError) -> str:
    cause = err.cause
    while isinstance(cause, ActivityError) and cause.cause is not None:
        cause = cause.cause
    return str(cause or err)

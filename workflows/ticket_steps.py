"""The steps of TicketWorkflow that need no handler of their own: asking the queue for a
host, the merge or pull request, and writing stage changes. A base class, so the workflow
module stays readable; deterministic like the workflow itself.
"""

from __future__ import annotations

import contextlib
from datetime import timedelta
from typing import Literal

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from orchestrator.contracts.tickets import (
        QUEUE_RETRY_SECONDS,
        SYSTEM,
        Actor,
        AdmitInput,
        AdmitResult,
        PullRequestInput,
        PullRequestResult,
        PullRequestStatus,
        PullRequestStatusInput,
        ReleaseInput,
        Stage,
        TicketState,
        TransitionInput,
        TransitionResult,
    )
    from orchestrator.queues import SA_HOST, SA_STAGE
    from workflows.ticket_git import (
        CONTROL,
        OFFLINE_WAIT_SECONDS,
        GitRefused,
        HostOffline,
        control,
        publish,
    )

# A poll that fails (the provider is down) is given up after a few tries: the next poll asks
# again, so a manual pr_merged / pr_closed is never stuck behind a retrying activity.
POLL_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=10),
    maximum_attempts=3,
)  # fmt: skip


class TicketSteps:
    """State lives in `state`; `next_actor`/`next_note` carry a decision to the stage change
    it causes; `woken` is set by the `wake` signal."""

    state: TicketState
    woken: bool
    verdict: Literal["approve", "reject"] | None
    next_actor: Actor | None
    next_note: str

    # -- queue ---------------------------------------------------------------------------------

    async def _admitted(self) -> bool:
        """Ask for a host until one is given (True), or the ticket is canceled or gone."""
        s = self.state
        while True:
            if s.cancel is not None:
                await self._end("canceled", s.cancel)
                return False
            self.woken = False
            now = workflow.now()
            r: AdmitResult = await control(
                "tickets.admit", AdmitInput(ticket_id=s.ticket_id, seq=s.seq + 1, now=now),
                AdmitResult,
            )  # fmt: skip
            if r.gone:
                return False
            if r.admitted and r.host_id:
                s.seq, s.stage, s.host_id, s.iteration = s.seq + 1, "implementation", r.host_id, 1
                s.flow = r.flow  # the flow is read as the ticket starts
                workflow.upsert_search_attributes(
                    [SA_STAGE.value_set(s.stage), SA_HOST.value_set(r.host_id)]
                )
                return True
            # Spread out, so tickets queued together do not all ask at the same moment.
            wait = QUEUE_RETRY_SECONDS * (1 + workflow.random().random() / 2)
            if r.eligible_at is not None:
                s.eligible_at = r.eligible_at
                wait = max(1.0, (r.eligible_at - workflow.now()).total_seconds())
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(
                    lambda: self.woken or s.cancel is not None, timeout=timedelta(seconds=wait)
                )
            if workflow.info().is_continue_as_new_suggested():
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(s)

    # -- merge ---------------------------------------------------------------------------------

    async def _publish(self) -> bool:
        """Commit the work, then merge it into the starter branch (Direct Merge) or push the
        branch and open the pull request; False when the ticket ended instead."""
        s = self.state
        assert s.flow is not None and s.host_id is not None and s.session_id is not None
        s.decision = None  # the decision is taken: its update may answer now
        direct = s.flow.merge_mode == "direct"
        activity = "session.git_merge" if direct else "session.git_push"
        while True:
            try:
                message = f"{s.key}: iteration {s.iteration}"
                result = await publish(s.ticket_id, s.host_id, activity, message)
                break
            except HostOffline:
                await workflow.sleep(OFFLINE_WAIT_SECONDS)
            except GitRefused as exc:
                await self._end("failed", failure=f"Git refused: {exc}")
                return False
            if s.cancel is not None:
                await self._end("canceled", s.cancel)
                return False
        if result.files:
            files = ", ".join(result.files[:20])
            await self._end("merge_conflicts", failure=f"{result.message} Conflicts: {files}.")
            return False
        if not result.ok:
            await self._end("failed", failure=result.message)
            return False
        s.published = True
        self.next_note = (self.next_note + " " + result.message).strip()
        if not direct and not await self._open_pull_request():
            return False
        if s.cancel is not None:
            await self._end("canceled", s.cancel)
            return False
        return True

    async def _open_pull_request(self) -> bool:
        """Open the pull request (a provider's is tracked afterwards); False when the provider
        refused and the ticket failed."""
        s = self.state
        summary = s.finished.summary[-4000:] if s.finished is not None else ""
        try:
            pr: PullRequestResult = await control(
                "tickets.open_pull_request",
                PullRequestInput(ticket_id=s.ticket_id, summary=summary), PullRequestResult,
            )  # fmt: skip
        except ActivityError as err:
            why = _refusal(err)
            if why is None:
                raise
            await self._end("failed", failure=f"The pull request could not be opened: {why}")
            return False
        if pr.provider != "none" and pr.number is not None:
            s.pull_request = pr
        if pr.url:
            self.next_note += f" Pull request: {pr.url}."
        return True

    async def _merge(self) -> None:
        s = self.state
        assert s.flow is not None
        if not s.published and not await self._publish():
            return
        if s.flow.merge_mode == "direct":
            return await self._end("completed")
        await self._move("pull_request")
        await self._pull_request()

    async def _pull_request(self) -> None:
        """Wait in Pull Request until it is merged (Completed), closed (Failed) or has
        conflicts (Merge Conflicts): the provider's pull request is asked on a durable timer,
        and the pr_merged / pr_closed updates end the wait for any provider. Also where a run
        that continued as new while waiting picks up."""
        s = self.state
        done = self._pr_decided
        status: PullRequestStatus | None = None
        if s.pull_request is None:
            await workflow.wait_condition(done)
        while s.pull_request is not None and not done():
            assert s.flow is not None
            with contextlib.suppress(TimeoutError):
                poll = timedelta(seconds=s.flow.pr_poll_seconds)
                await workflow.wait_condition(done, timeout=poll)
            if done():
                break
            status = await self._pr_status(s.pull_request)
            if status is None:
                return  # the provider refused: the ticket failed
            if status.state != "open":
                break
            if workflow.info().is_continue_as_new_suggested():
                await workflow.wait_condition(lambda: workflow.all_handlers_finished() or done())
                if not done():
                    workflow.continue_as_new(s)
        if s.cancel is not None:
            return await self._end("canceled", s.cancel)
        if s.pr == "merged":
            return await self._end("completed", s.pr_actor, "The pull request was merged.")
        if s.pr == "closed":
            failure = "The pull request was closed unmerged."
            return await self._end("failed", s.pr_actor, failure=failure)
        assert status is not None
        url = s.pull_request.url if s.pull_request else None
        where = f"The pull request {url}" if url else "The pull request"
        if status.state == "merged":
            return await self._end("completed", SYSTEM, f"{where} was merged.")
        if status.state == "closed":
            return await self._end("failed", SYSTEM, failure=f"{where} was closed unmerged.")
        failure = f"{where} has conflicts. {status.detail}".strip()
        await self._end("merge_conflicts", SYSTEM, failure=failure)

    def _pr_decided(self) -> bool:
        return self.state.pr is not None or self.state.cancel is not None

    async def _pr_status(self, pr: PullRequestResult) -> PullRequestStatus | None:
        """The provider's word on the pull request; None when it refused (ticket failed)."""
        s = self.state
        assert pr.number is not None
        inp = PullRequestStatusInput(ticket_id=s.ticket_id, provider=pr.provider, number=pr.number)
        try:
            status: PullRequestStatus = await workflow.execute_activity(
                "tickets.pull_request_status", inp, result_type=PullRequestStatus,
                start_to_close_timeout=CONTROL, retry_policy=POLL_RETRY,
            )  # fmt: skip
        except ActivityError as err:
            why = _refusal(err)
            if why is not None:
                await self._end("failed", failure=f"The pull request could not be tracked: {why}")
                return None
            cause = err.cause
            if isinstance(cause, ApplicationError) and cause.type == "TicketGone":
                raise
            # The provider is down for now: ask again at the next poll, and meanwhile the
            # pr_merged / pr_closed updates are not held up behind endless retries.
            return PullRequestStatus(state="open", detail="The provider did not answer.")
        return status

    # -- stage changes -------------------------------------------------------------------------

    async def _move(
        self, to: Stage, actor: Actor | None = None, note: str = "",
        attachment_ids: list[str] | None = None, failure: str | None = None,
    ) -> None:  # fmt: skip
        """Write the stage change (once, by number); the actor defaults to whoever decided."""
        s = self.state
        if actor is None:
            actor, note = self.next_actor or SYSTEM, note or self.next_note
        self.next_actor, self.next_note = None, ""
        s.seq += 1
        r: TransitionResult = await control(
            "tickets.transition",
            TransitionInput(
                ticket_id=s.ticket_id, seq=s.seq, to_stage=to,
                actor=Actor(**actor.model_dump(include={"actor_type", "actor_id", "actor_name"})),
                note=note, attachment_ids=attachment_ids or [], iteration=s.iteration,
                qa_round=s.qa_round, now=workflow.now(), failure=failure,
            ),
            TransitionResult,
        )  # fmt: skip
        s.stage, s.decision, self.verdict = to, None, None
        s.eligible_at = r.eligible_at or s.eligible_at
        workflow.upsert_search_attributes([SA_STAGE.value_set(to)])

    async def _end(
        self, stage: Stage, actor: Actor | None = None, note: str = "",
        failure: str | None = None,
    ) -> None:  # fmt: skip
        """The final stage; then the session ends (completed, or canceled) and the host's
        room goes to the next queued ticket."""
        s = self.state
        await self._move(stage, actor, note or (failure or ""), failure=failure)
        if s.session_id is not None or s.host_id is not None:
            release = ReleaseInput(
                session_id=s.session_id, complete=stage in ("completed", "merge_conflicts"),
                now=workflow.now() if s.host_id is not None else None,
            )  # fmt: skip
            await control("tickets.release", release, None)


def _refusal(err: ActivityError) -> str | None:
    """The provider's sentence when it refused for good (bad token, no access), else None."""
    cause = err.cause
    if isinstance(cause, ApplicationError) and cause.type == "PullRequestRefused":
        return cause.message
    return None

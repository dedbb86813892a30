"""Best of N in TicketWorkflow: N candidate sessions implement the ticket side by side; the
developer picks one (the `pick` update), which becomes the ticket's session, and the others
are canceled (their cost stays on the ticket). Deterministic like the workflow itself."""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from orchestrator.contracts.tickets import (
        Actor,
        CandidateRef,
        CandidateView,
        KeepInput,
        Stage,
        TicketRef,
        TicketState,
    )
    from workflows.ticket_git import control


class BestOfN:
    state: TicketState
    next_actor: Actor | None
    next_note: str

    async def _end(
        self, stage: Stage, actor: Actor | None = None, note: str = "",
        failure: str | None = None,
    ) -> None: ...  # fmt: skip

    async def _candidates_picked(self) -> bool:
        """Start the candidates (once) and wait for a pick; False when the ticket ended."""
        s = self.state
        if not s.candidates:
            try:
                s.candidates = await control(
                    "tickets.start_candidates", TicketRef(ticket_id=s.ticket_id),
                    list[CandidateRef],
                )  # fmt: skip
            except ActivityError as err:
                await self._discard()
                await self._end("failed", failure=f"The candidates could not start: {err.cause}")
                return False
        await workflow.wait_condition(
            lambda: s.pick is not None or s.cancel is not None or self._all_failed()
        )
        if s.pick is None:
            await self._discard()
            if s.cancel is not None:
                await self._end("canceled", s.cancel)
            else:
                await self._end("failed", failure="No candidate finished its work.")
            return False
        p = s.pick
        await control(
            "tickets.keep_candidate", KeepInput(ticket_id=s.ticket_id, session_id=p.session_id),
            None,
        )  # fmt: skip
        chosen = next(c for c in s.candidates if c.session_id == p.session_id)
        s.session_id, s.finished = p.session_id, s.reports[p.session_id]
        self.next_actor = Actor(actor_type=p.actor_type, actor_id=p.actor_id,
                                actor_name=p.actor_name)  # fmt: skip
        self.next_note = f"Picked {_label(chosen)} of {len(s.candidates)} candidates."
        return True

    def _all_failed(self) -> bool:
        """Every candidate has stopped, and none of them is done."""
        r = self.state.reports
        return all(
            c.session_id in r and r[c.session_id].outcome in ("failed", "canceled")
            for c in self.state.candidates
        )

    async def _discard(self) -> None:
        s = self.state
        if s.candidates:
            await control("tickets.keep_candidate", KeepInput(ticket_id=s.ticket_id), None)

    def _check_pick(self, session_id: str) -> None:
        s = self.state
        if s.session_id is not None or not s.candidates or s.pick is not None:
            raise ValueError("The ticket has no candidates waiting for a pick.")
        if session_id not in {c.session_id for c in s.candidates}:
            raise ValueError(f"No candidate session {session_id} on this ticket.")
        done = s.reports.get(session_id)
        if done is None or done.outcome not in ("done", "incomplete"):
            raise ValueError("That candidate has not finished its work yet.")

    def _candidate_views(self) -> list[CandidateView]:
        r = self.state.reports
        return [CandidateView(**c.model_dump(), finished=r.get(c.session_id))
                for c in self.state.candidates]  # fmt: skip


def _label(c: CandidateRef) -> str:
    return f"{c.provider} ({c.model})" if c.model else c.provider

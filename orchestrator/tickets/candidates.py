"""Best of N: a ticket's implementation run by N providers or models at once, each in a
Develop session with its own worktree on the ticket's host. The developer compares the diffs
and picks one; that session becomes the ticket's, the others are canceled (their cost stays
on the ticket, which sums every session it ever had).

Every step is safe to retry: candidates are made in order, so the sessions already made are
the first candidates; first messages carry request ids."""

from __future__ import annotations

import contextlib

from temporalio.client import WorkflowQueryFailedError
from temporalio.service import RPCError

from orchestrator.contracts.tickets import (
    TERMINAL,
    CandidateRef,
    ImplementationFinished,
    Pick,
    TicketView,
)
from orchestrator.sessions.models import Session
from orchestrator.sessions.schemas import SessionCreate
from orchestrator.tickets.models import Ticket
from orchestrator.tickets.schemas import CandidateOut, PickIn
from orchestrator.tickets.service import TicketService, actor_of
from orchestrator.tickets.sessions import TicketSessions
from orchestrator.workspaces.errors import Conflict, Forbidden
from orchestrator.workspaces.repository import WorkspaceRepository


class TicketCandidates(TicketSessions):
    async def start_all(self, ticket_id: str) -> list[CandidateRef]:
        """One session per candidate (made and given its first message once)."""
        t = await self.repo.get(ticket_id)
        ws = await WorkspaceRepository(self.db).get(t.workspace_id) if t else None
        if t is None or ws is None:
            raise LookupError(ticket_id)
        svc = self._service(t.created_by, f"Ticket {t.key}")
        made = await self.repo.sessions_of(t.id)
        out: list[CandidateRef] = []
        for n, want in enumerate(t.best_of or []):
            provider, model = str(want["provider"]), want.get("model")
            row: Session | None = made[n] if n < len(made) else None
            if row is None:
                body = SessionCreate(
                    title=f"{t.key}: {t.title}"[:280] + f" [{n + 1}/{len(t.best_of)}]",
                    mode="develop", provider=provider, model=model, dev_mode="auto",  # type: ignore[arg-type]
                )  # fmt: skip
                row = await self._create(t, ws, svc, body)
            await self._first_message(t, svc, row, f"ticket-{t.id}-c{n}-1")
            out.append(CandidateRef(session_id=row.id, provider=provider, model=model))
        return out

    async def keep(self, ticket_id: str, session_id: str | None) -> None:
        """The picked session becomes the ticket's; every other one is canceled (all of them
        when nothing was picked: the ticket ended first)."""
        t = await self.repo.get(ticket_id)
        if t is None:
            raise LookupError(ticket_id)
        if session_id is not None:
            t.session_id = session_id
            await self.db.commit()
        svc = self._service(None, "Polygent")
        for row in await self.repo.sessions_of(ticket_id):
            if row.id != session_id and row.ended_at is None:
                with contextlib.suppress(Conflict):  # it has ended already
                    await svc.act(row, "cancel")


class CandidatePicks:
    """The API side: what each candidate did and cost, and the developer's pick."""

    def __init__(self, svc: TicketService) -> None:
        self.svc = svc

    async def views(self, row: Ticket) -> list[CandidateOut]:
        sessions = (await self.svc.repo.sessions_of(row.id))[: len(row.best_of or [])]
        finished: dict[str, ImplementationFinished | None] = {}
        if sessions and row.stage not in TERMINAL:
            await self.svc.db.commit()  # no read transaction held across the query
            with contextlib.suppress(RPCError, WorkflowQueryFailedError):
                view: TicketView = await self.svc.handle(row).query("view", result_type=TicketView)
                finished = {c.session_id: c.finished for c in view.candidates}
        out = []
        for s in sessions:
            f = finished.get(s.id)
            out.append(CandidateOut(
                session_id=s.id, provider=s.provider, model=s.model, status=s.status,
                outcome=f.outcome if f else None, summary=(f.summary if f else "")[-2000:],
                cost_usd=round(s.cost_usd, 6), picked=row.session_id == s.id,
            ))  # fmt: skip
        return out

    async def pick(self, row: Ticket, body: PickIn) -> None:
        if not row.best_of:
            raise Conflict("This ticket has no Best of N candidates.")
        if not self.svc.principal.can("tickets.approve_dev"):
            raise Forbidden("You need the tickets.approve_dev permission for this.")
        p = Pick(**actor_of(self.svc.principal).model_dump(), session_id=body.session_id)
        update_id = f"pick-{body.request_id}" if body.request_id else None
        await self.svc.update(row, "pick", p, update_id)

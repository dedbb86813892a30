"""Best of N: a ticket's candidates side by side (their diffs are each session's own
`/api/sessions/{id}/…` panel routes) and the developer's pick."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from api.auth import require
from api.problems import errors
from api.routes.ticket_common import Svc, TicketId, visible
from api.routes.workspace_common import domain_errors
from orchestrator.tickets.candidates import CandidatePicks
from orchestrator.tickets.schemas import CandidateOut, PickIn, TicketOut

router = APIRouter(tags=["tickets"])
VIEW = [Depends(require("tickets.view"))]


@router.get("/api/tickets/{ticket_id}/candidates", response_model=list[CandidateOut],
            responses=errors(401, 403, 404, 422), dependencies=VIEW)  # fmt: skip
async def candidates(ticket_id: TicketId, svc: Svc) -> list[CandidateOut]:
    """The Best of N candidates in order: session, provider and model, how each ended (null
    while it works) and what it cost. Empty for a ticket with one session."""
    row = await visible(ticket_id, svc)
    return await CandidatePicks(svc).views(row)


@router.post("/api/tickets/{ticket_id}/pick", response_model=TicketOut,
             responses=errors(401, 403, 404, 409, 422, 503), dependencies=VIEW)  # fmt: skip
async def pick(ticket_id: TicketId, body: PickIn, svc: Svc) -> TicketOut:
    """Continue with one finished candidate (tickets.approve_dev): it becomes the ticket's
    session and the others are canceled, their cost kept on the ticket."""
    row = await visible(ticket_id, svc)
    with domain_errors():
        await CandidatePicks(svc).pick(row, body)
    row = await visible(ticket_id, svc)
    await svc.db.refresh(row)
    return await svc.out(row)

"""Tickets: create and list them in a workspace, read, edit (Pending only) and delete one,
and queue it for implementation.

Reading needs tickets.view, changing tickets.manage, and the ticket's workspace must be
visible to the caller (else 404).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, status
from fastapi.responses import Response

from api.auth import require
from api.problems import errors
from api.routes.ticket_common import Actions, Svc, TicketId, visible
from api.routes.workspace_common import domain_errors, workspace
from orchestrator.contracts.tickets import Priority, Stage
from orchestrator.tickets.schemas import TicketCreate, TicketOut, TicketPage, TicketPatch
from orchestrator.workspaces.models import Workspace
from orchestrator.workspaces.repository import WorkspaceRepository

router = APIRouter(tags=["tickets"])
VIEW = [Depends(require("tickets.view"))]
MANAGE = [Depends(require("tickets.manage"))]


@router.post(
    "/api/workspaces/{workspace_id}/tickets",
    response_model=TicketOut,
    status_code=status.HTTP_201_CREATED,
    responses=errors(401, 403, 404, 409, 413, 422, 503),
)
async def create_ticket(
    body: TicketCreate, svc: Svc, ws: Annotated[Workspace, Depends(workspace("tickets.manage"))]
) -> TicketOut:
    """Create a ticket (Pending, or Queued at once with `queue`); its key comes from the
    workspace's prefix and sequence."""
    with domain_errors():
        row = await svc.create(ws, body)
        return await svc.out(row)


@router.get(
    "/api/workspaces/{workspace_id}/tickets",
    response_model=TicketPage,
    responses=errors(401, 403, 404, 422),
)
async def list_tickets(
    svc: Svc,
    ws: Annotated[Workspace, Depends(workspace("tickets.view"))],
    stage: Stage | None = None,
    priority: Priority | None = None,
    tag: Annotated[str | None, Query(min_length=1, max_length=50)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> TicketPage:
    """The workspace's tickets, newest first, filtered by stage, priority or tag."""
    rows, total = await svc.repo.list_for_workspace(ws.id, stage, priority, tag, limit, offset)
    return TicketPage(items=await svc.outs(rows), total=total)


@router.get("/api/tickets/{ticket_id}", response_model=TicketOut,
            responses=errors(401, 403, 404, 422), dependencies=VIEW)  # fmt: skip
async def get_ticket(ticket_id: TicketId, svc: Svc) -> TicketOut:
    """The ticket: stage, iteration and QA round, host, session, cost so far, Temporal link."""
    return await svc.out(await visible(ticket_id, svc))


@router.patch("/api/tickets/{ticket_id}", response_model=TicketOut,
              responses=errors(401, 403, 404, 409, 413, 422), dependencies=MANAGE)  # fmt: skip
async def patch_ticket(ticket_id: TicketId, body: TicketPatch, svc: Svc) -> TicketOut:
    """Change a Pending ticket (a queued or running one is refused with 409)."""
    row = await visible(ticket_id, svc)
    with domain_errors():
        ws = await WorkspaceRepository(svc.db).get(row.workspace_id)
        assert ws is not None
        await svc.patch(ws, row, body)
    return await svc.out(row)


@router.delete(
    "/api/tickets/{ticket_id}", status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response, responses=errors(401, 403, 404, 409, 422, 503),
    dependencies=MANAGE,
)  # fmt: skip
async def delete_ticket(ticket_id: TicketId, svc: Svc) -> Response:
    """Delete a Pending or finished ticket with its history (cancel a running one first)."""
    row = await visible(ticket_id, svc)
    with domain_errors():
        await svc.delete(row)
    return Response(status_code=204)


@router.post("/api/tickets/{ticket_id}/queue", response_model=TicketOut,
             responses=errors(401, 403, 404, 409, 413, 422, 503), dependencies=MANAGE)  # fmt: skip
async def queue_ticket(ticket_id: TicketId, svc: Svc, act: Actions) -> TicketOut:
    """Queue a Pending ticket: it starts when a host has room, by priority then FIFO."""
    row = await visible(ticket_id, svc)
    with domain_errors():
        await act.queue(row)
    await svc.db.refresh(row)
    return await svc.out(row)

"""Decisions on a ticket (approve, reject, skip to merge, cancel, pull request merged or
closed), its attachments, comments and history.

Approve and reject need tickets.view here and then the approval permission of the stage the
ticket waits in (tickets.approve_dev / tickets.approve_qa), decided per ticket.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, HTTPException, Path, UploadFile, status
from fastapi.responses import Response

from api.auth import require
from api.problems import errors
from api.routes.ticket_common import Actions, Svc, TicketId, visible
from api.routes.workspace_common import domain_errors
from orchestrator.sessions.events import SESSION_ID
from orchestrator.tickets.schemas import (
    AttachmentOut,
    CommentIn,
    CommentOut,
    DecisionIn,
    HistoryOut,
    TicketOut,
)
from orchestrator.tickets.service import TicketService

router = APIRouter(tags=["tickets"])
VIEW = [Depends(require("tickets.view"))]
MANAGE = [Depends(require("tickets.manage"))]
SKIP = [Depends(require("tickets.skip_to_merge"))]
MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024
ACTING = errors(401, 403, 404, 409, 413, 422, 503)


async def _answer(svc: TicketService, ticket_id: str) -> TicketOut:
    row = await visible(ticket_id, svc)
    await svc.db.refresh(row)
    return await svc.out(row)


@router.post("/api/tickets/{ticket_id}/approve", response_model=TicketOut, responses=ACTING,
             dependencies=VIEW)  # fmt: skip
async def approve(ticket_id: TicketId, body: DecisionIn, svc: Svc, act: Actions) -> TicketOut:
    """Give the approval the ticket waits for (developer or QA, by its stage)."""
    row = await visible(ticket_id, svc)
    with domain_errors():
        await act.decide(row, True, body)
    return await _answer(svc, ticket_id)


@router.post("/api/tickets/{ticket_id}/reject", response_model=TicketOut, responses=ACTING,
             dependencies=VIEW)  # fmt: skip
async def reject(ticket_id: TicketId, body: DecisionIn, svc: Svc, act: Actions) -> TicketOut:
    """Send the ticket back to Implementation with feedback (and attachment ids): the same
    session gets it as its next message; a QA rejection starts a new QA round."""
    row = await visible(ticket_id, svc)
    with domain_errors():
        await act.decide(row, False, body)
    return await _answer(svc, ticket_id)


@router.post("/api/tickets/{ticket_id}/skip-to-merge", response_model=TicketOut,
             responses=ACTING, dependencies=SKIP)  # fmt: skip
async def skip_to_merge(ticket_id: TicketId, svc: Svc, act: Actions) -> TicketOut:
    """Skip the approvals: merge (or open the pull request) once Implementation is done."""
    row = await visible(ticket_id, svc)
    with domain_errors():
        await act.skip_to_merge(row)
    return await _answer(svc, ticket_id)


@router.post("/api/tickets/{ticket_id}/cancel", response_model=TicketOut, responses=ACTING,
             dependencies=MANAGE)  # fmt: skip
async def cancel(ticket_id: TicketId, svc: Svc, act: Actions) -> TicketOut:
    """Cancel the ticket (and its session) from any stage that is not final."""
    row = await visible(ticket_id, svc)
    with domain_errors():
        await act.cancel(row)
    return await _answer(svc, ticket_id)


@router.post("/api/tickets/{ticket_id}/pr-merged", response_model=TicketOut, responses=ACTING,
             dependencies=MANAGE)  # fmt: skip
async def pr_merged(ticket_id: TicketId, svc: Svc, act: Actions) -> TicketOut:
    """Record that the ticket's pull request was merged (for workspaces without a tracked
    pull-request provider): the ticket completes."""
    row = await visible(ticket_id, svc)
    with domain_errors():
        await act.pull_request(row, True)
    return await _answer(svc, ticket_id)


@router.post("/api/tickets/{ticket_id}/pr-closed", response_model=TicketOut, responses=ACTING,
             dependencies=MANAGE)  # fmt: skip
async def pr_closed(ticket_id: TicketId, svc: Svc, act: Actions) -> TicketOut:
    """Record that the pull request was closed without merging: the ticket fails."""
    row = await visible(ticket_id, svc)
    with domain_errors():
        await act.pull_request(row, False)
    return await _answer(svc, ticket_id)


@router.post(
    "/api/tickets/{ticket_id}/attachments", response_model=AttachmentOut,
    status_code=status.HTTP_201_CREATED, responses=errors(401, 403, 404, 413, 422),
    dependencies=VIEW,
)  # fmt: skip
async def upload_attachment(
    ticket_id: TicketId,
    svc: Svc,
    file: Annotated[UploadFile, File(description="At most 10 MB.")],
) -> AttachmentOut:
    """Store a file on the ticket; referenced by id from a comment or a rejection it belongs
    there, otherwise the agent gets it with the ticket."""
    row = await visible(ticket_id, svc)
    p = svc.principal
    if not any(p.can(n) for n in ("tickets.manage", "tickets.approve_dev", "tickets.approve_qa")):
        raise HTTPException(403, "You need tickets.manage or an approval permission for this.")
    data = await file.read(MAX_ATTACHMENT_BYTES + 1)
    if len(data) > MAX_ATTACHMENT_BYTES:
        raise HTTPException(413, "An attachment may be at most 10 MB.")
    att = await svc.attach(row, file.filename or "attachment", file.content_type or "", data)
    return AttachmentOut(id=att.id, name=att.name, size=att.size, content_type=att.content_type)


@router.get("/api/tickets/{ticket_id}/attachments/{attachment_id}",
            responses=errors(401, 403, 404, 422), dependencies=VIEW)  # fmt: skip
async def download_attachment(
    ticket_id: TicketId, attachment_id: Annotated[str, Path(pattern=SESSION_ID)], svc: Svc
) -> Response:
    """The file's bytes, as a download."""
    row = await visible(ticket_id, svc)
    att = await svc.repo.attachment(row.id, attachment_id)
    if att is None:
        raise HTTPException(404, "No such attachment.")
    return Response(
        att.data, media_type="application/octet-stream",
        headers={"Content-Disposition": f'attachment; filename="{att.id}"',
                 "X-Content-Type-Options": "nosniff"},
    )  # fmt: skip


@router.get("/api/tickets/{ticket_id}/comments", response_model=list[CommentOut],
            responses=errors(401, 403, 404, 422), dependencies=VIEW)  # fmt: skip
async def list_comments(ticket_id: TicketId, svc: Svc, act: Actions) -> list[CommentOut]:
    """The ticket's comments, oldest first."""
    return await act.comments(await visible(ticket_id, svc))


@router.post(
    "/api/tickets/{ticket_id}/comments", response_model=CommentOut,
    status_code=status.HTTP_201_CREATED, responses=errors(401, 403, 404, 413, 422),
    dependencies=MANAGE,
)  # fmt: skip
async def add_comment(ticket_id: TicketId, body: CommentIn, svc: Svc, act: Actions) -> CommentOut:
    """Comment on the ticket (with attachment ids uploaded before)."""
    row = await visible(ticket_id, svc)
    with domain_errors():
        return await act.comment(row, body)


@router.get("/api/tickets/{ticket_id}/history", response_model=HistoryOut,
            responses=errors(401, 403, 404, 422), dependencies=VIEW)  # fmt: skip
async def history(ticket_id: TicketId, svc: Svc, act: Actions) -> HistoryOut:
    """Every stage change with who and when, and the iterations grouped by QA round."""
    return await act.history(await visible(ticket_id, svc))

"""Sessions: start one in a workspace, list them, and steer one (messages, cancel, complete,
reset, settings, dispose, attachments, read marker, cost audit).

Reading needs the session to be viewable (workspace member, then sessions.view_all or
view_own for one's own); acting needs sessions.edit on one's own or sessions.manage_all.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, File, HTTPException, Query, UploadFile, status
from fastapi.responses import Response

from api.auth import CurrentUser
from api.deps import DbSession, State
from api.problems import errors
from api.routes.session_access import SessionId, editable, viewable
from api.routes.workspace_common import domain_errors, workspace
from orchestrator.sessions.schemas import (
    MAX_ATTACHMENT_BYTES,
    Accepted,
    AttachmentOut,
    CostPage,
    MessageIn,
    ReadIn,
    SessionCreate,
    SessionOut,
    SessionPage,
    SessionPatch,
)
from orchestrator.sessions.service import SessionService
from orchestrator.workspaces.models import Workspace

router = APIRouter(tags=["sessions"])


def service(state: State, session: DbSession, user: CurrentUser) -> SessionService:
    return SessionService(session, user, state.temporal, state.settings)


Svc = Annotated[SessionService, Depends(service)]


@router.post(
    "/api/workspaces/{workspace_id}/sessions",
    response_model=SessionOut,
    status_code=status.HTTP_201_CREATED,
    responses=errors(401, 403, 404, 409, 422, 503),
)
async def create_session(
    body: SessionCreate,
    svc: Svc,
    ws: Annotated[Workspace, Depends(workspace("sessions.create"))],
) -> SessionOut:
    """Start a session: a worktree on a host picked by capacity, then the agent's turns."""
    with domain_errors():
        row = await svc.create(ws, body)
        return await svc.out(row)


@router.get(
    "/api/workspaces/{workspace_id}/sessions",
    response_model=SessionPage,
    responses=errors(401, 403, 404, 422),
)
async def list_sessions(
    svc: Svc,
    ws: Annotated[Workspace, Depends(workspace("workspaces.view"))],
    status_: Annotated[
        Literal["waiting", "in_progress", "done", "canceled"] | None, Query(alias="status")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> SessionPage:
    """The workspace's sessions, newest first, each with the caller's unread count."""
    items, total = await svc.list(ws, status_, limit, offset)
    return SessionPage(items=items, total=total)


@router.get("/api/sessions/{session_id}", response_model=SessionOut,
            responses=errors(401, 403, 404, 422))  # fmt: skip
async def get_session(
    session_id: SessionId, user: CurrentUser, session: DbSession, svc: Svc
) -> SessionOut:
    """The session: status, host (and whether it is online), settings, totals, cursors."""
    return await svc.out(await viewable(session, user, session_id))


@router.post(
    "/api/sessions/{session_id}/messages",
    response_model=Accepted,
    status_code=status.HTTP_202_ACCEPTED,
    responses=errors(401, 403, 404, 409, 422, 503),
)
async def send_message(
    session_id: SessionId, body: MessageIn, user: CurrentUser, session: DbSession, svc: Svc
) -> Accepted:
    """Queue a message for the agent; it is in the transcript when this answers. Sending the
    same `request_id` again queues nothing new."""
    row = await editable(session, user, session_id)
    with domain_errors():
        return Accepted(pending=await svc.send(row, body))


def _action(name: str, doc: str) -> None:
    async def act(
        session_id: SessionId, user: CurrentUser, session: DbSession, svc: Svc
    ) -> SessionOut:
        row = await editable(session, user, session_id)
        with domain_errors():
            await svc.act(row, name)
        await session.refresh(row)
        return await svc.out(row)

    act.__doc__ = doc
    path = {"cancel": "cancel", "complete": "complete", "reset_context": "reset"}[name]
    router.add_api_route(
        f"/api/sessions/{{session_id}}/{path}", act, methods=["POST"], response_model=SessionOut,
        responses=errors(401, 403, 404, 409, 422, 503), name=f"session_{path}",
    )  # fmt: skip


_action("cancel", "Cancel the session; a running turn is killed at once.")
_action("complete", "Mark the session Done (after the running turn, if any).")
_action("reset_context", "Start a fresh agent conversation with the next message, same worktree.")


@router.patch(
    "/api/sessions/{session_id}",
    response_model=SessionOut,
    responses=errors(401, 403, 404, 409, 422, 503),
)
async def patch_session(
    session_id: SessionId, body: SessionPatch, user: CurrentUser, session: DbSession, svc: Svc
) -> SessionOut:
    """Rename, switch Manual/Auto (Auto goes on at once when idle), set the turn limit or the
    toggles."""
    row = await editable(session, user, session_id)
    with domain_errors():
        await svc.patch(row, body)
    await session.refresh(row)
    return await svc.out(row)


@router.delete(
    "/api/sessions/{session_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=errors(401, 403, 404, 422, 503),
)
async def dispose_session(
    session_id: SessionId, user: CurrentUser, session: DbSession, svc: Svc
) -> Response:
    """Dispose of the session: it ends if running and its worktree is removed (uncommitted
    work is kept at a private ref); its transcript and costs stay for the audit."""
    row = await editable(session, user, session_id)
    if not (user.can("sessions.delete") or user.can("sessions.manage_all")):
        raise HTTPException(403, "You need the sessions.delete permission for this.")
    with domain_errors():
        await svc.dispose(row)
    return Response(status_code=204)


@router.post(
    "/api/sessions/{session_id}/attachments",
    response_model=AttachmentOut,
    status_code=status.HTTP_201_CREATED,
    responses=errors(401, 403, 404, 413, 422),
)
async def upload_attachment(
    session_id: SessionId,
    user: CurrentUser,
    session: DbSession,
    svc: Svc,
    file: Annotated[UploadFile, File(description="At most 10 MB.")],
) -> AttachmentOut:
    """Store a file to hand to the agent with a message (by its id)."""
    row = await editable(session, user, session_id)
    data = await file.read(MAX_ATTACHMENT_BYTES + 1)
    if len(data) > MAX_ATTACHMENT_BYTES:
        raise HTTPException(413, "An attachment may be at most 10 MB.")
    att = await svc.attach(row, file.filename or "attachment", file.content_type or "", data)
    return AttachmentOut(id=att.id, name=att.name, size=att.size, content_type=att.content_type)


@router.post(
    "/api/sessions/{session_id}/read",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=errors(401, 403, 404, 422),
)
async def mark_read(
    session_id: SessionId, body: ReadIn, user: CurrentUser, session: DbSession, svc: Svc
) -> Response:
    """Move the caller's read marker to `cursor` (it never moves back)."""
    row = await viewable(session, user, session_id)
    await svc.mark_read(row, body.cursor)
    return Response(status_code=204)


@router.get("/api/sessions/{session_id}/costs", response_model=CostPage,
            responses=errors(401, 403, 404, 422))  # fmt: skip
async def session_costs(
    session_id: SessionId, user: CurrentUser, session: DbSession, svc: Svc
) -> CostPage:
    """The cost audit: a row per model message and a row per turn with the reported USD."""
    return await svc.costs(await viewable(session, user, session_id))

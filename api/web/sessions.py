"""The dashboard page of one session: header, live transcript, composer and side panel.

The page renders what the row says at load time; session.js then subscribes to the transcript
over the WebSocket and keeps the header current from `GET /api/sessions/{id}`. Every change
goes through the JSON API. Sessions the caller may not see are a 404 (403 when they see the
workspace but lack the session permission), exactly as the API answers.
"""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from api.deps import DbSession, State
from api.web.routes import TEMPLATES, PageResponse, _base, _forbidden, page_user
from orchestrator.auth.service import Principal
from orchestrator.sessions.events import SESSION_ID, SessionAccessError, SessionEventService
from orchestrator.sessions.models import Session
from orchestrator.workspaces.repository import WorkspaceRepository

router = APIRouter(include_in_schema=False)
TOGGLES = [
    ("code_architecture", "Code Architecture"),
    ("ux_enhancement", "UX Enhancement"),
    ("edge_cases", "Edge Cases"),
    ("code_review", "Code Review"),
    ("verification", "Verification"),
    ("update_tests", "Update Tests"),
    ("update_docs", "Update Docs"),
]


async def _session(
    request: Request, state: State, session: DbSession, user: Principal, session_id: str
) -> Session:
    """The session the caller may view, else the 404 or 403 page."""
    try:
        if not re.fullmatch(SESSION_ID, session_id):
            raise SessionAccessError(404, "No such session.")
        return await SessionEventService(session).viewable(user, session_id)
    except SessionAccessError as exc:
        if exc.status == 403:
            raise PageResponse(_forbidden(request, state, user, "sessions.view_all")) from None
        ctx = _base(state, "session", user)
        raise PageResponse(
            TEMPLATES.TemplateResponse(request, "session_missing.html", ctx, 404)
        ) from None


def can_edit(user: Principal, row: Session) -> bool:
    """Mirrors the API's rule so the page hides controls the API would refuse."""
    own = row.created_by is not None and row.created_by == user.user_id
    return user.can("sessions.manage_all") or (own and user.can("sessions.edit"))


@router.get("/sessions/{session_id}", response_class=HTMLResponse)
async def session_page(
    request: Request,
    state: State,
    session: DbSession,
    user: Annotated[Principal, Depends(page_user())],
    session_id: str,
) -> HTMLResponse:
    row = await _session(request, state, session, user, session_id)
    workspace = await WorkspaceRepository(session).get(row.workspace_id)
    ctx = {
        **_base(state, "session", user),
        "s": row,
        "workspace_name": workspace.name if workspace else row.workspace_id,
        "can_edit": can_edit(user, row),
        "can_merge": user.can("sessions.merge_to_starter"),
        "toggles": TOGGLES,
    }
    return TEMPLATES.TemplateResponse(request, "session.html", ctx)

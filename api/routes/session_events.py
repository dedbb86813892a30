"""Reading a session and its transcript: `GET /api/sessions/{id}` and `/events?after=`.

Access: the session's workspace must be visible (member or admin, else 404), then
`sessions.view_all`, or `sessions.view_own` for the caller's own sessions (else 403).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query

from api.auth import CurrentUser
from api.deps import DbSession
from api.problems import errors
from orchestrator.sessions.events import (
    MAX_INT,
    SESSION_ID,
    EventPage,
    SessionAccessError,
    SessionEventService,
    SessionOut,
)
from orchestrator.sessions.models import Session

router = APIRouter(prefix="/api/sessions", tags=["sessions"])
SessionId = Annotated[str, Path(pattern=SESSION_ID)]


async def _viewable(svc: SessionEventService, user: CurrentUser, session_id: str) -> Session:
    try:
        return await svc.viewable(user, session_id)
    except SessionAccessError as exc:
        raise HTTPException(exc.status, str(exc)) from None


@router.get("/{session_id}", response_model=SessionOut, responses=errors(401, 403, 404, 422))
async def get_session(session_id: SessionId, user: CurrentUser, session: DbSession) -> SessionOut:
    """The session row (read-only)."""
    row = await _viewable(SessionEventService(session), user, session_id)
    return SessionOut.model_validate(row, from_attributes=True)


@router.get("/{session_id}/events", response_model=EventPage, responses=errors(401, 403, 404, 422))
async def list_events(
    session_id: SessionId,
    user: CurrentUser,
    session: DbSession,
    after: Annotated[int, Query(ge=0, le=MAX_INT, description="The last cursor seen.")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 500,
) -> EventPage:
    """The session's events after `after`, in cursor order; resume with `next_cursor`."""
    svc = SessionEventService(session)
    await _viewable(svc, user, session_id)
    return await svc.page(session_id, after, limit)

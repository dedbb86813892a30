"""Reading a session's transcript: `GET /api/sessions/{id}/events?after=`.

Access: the session's workspace must be visible (member or admin, else 404), then
`sessions.view_all`, or `sessions.view_own` for the caller's own sessions (else 403).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.auth import CurrentUser
from api.deps import DbSession
from api.problems import errors
from api.routes.session_access import SessionId, viewable
from orchestrator.sessions.events import MAX_INT, EventPage, SessionEventService

router = APIRouter(prefix="/api/sessions", tags=["sessions"])


@router.get("/{session_id}/events", response_model=EventPage, responses=errors(401, 403, 404, 422))
async def list_events(
    session_id: SessionId,
    user: CurrentUser,
    session: DbSession,
    after: Annotated[int, Query(ge=0, le=MAX_INT, description="The last cursor seen.")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 500,
) -> EventPage:
    """The session's events after `after`, in cursor order; resume with `next_cursor`."""
    await viewable(session, user, session_id)
    return await SessionEventService(session).page(session_id, after, limit)

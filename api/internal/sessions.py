"""Agents post a session's numbered events here (`POST /internal/sessions/{id}/events`).

Only the session key of the host the session runs on may post. Newly stored rows are
published on the bus after the commit, under a per-session lock held from insert to publish,
so live subscribers see one session's cursors in increasing order (they drop any cursor at
or below the last one they sent; an out-of-order publish would otherwise read as a gap).
"""

from __future__ import annotations

import asyncio
from typing import Annotated
from weakref import WeakValueDictionary

from fastapi import APIRouter, HTTPException, Path
from fastapi.responses import Response
from pydantic import BaseModel

from api.deps import DbSession, HostKey, State
from api.problems import errors
from orchestrator.sessions.events import (
    SESSION_ID,
    EventBatch,
    EventsPosted,
    SessionAccessError,
    SessionEventService,
)
from orchestrator.sessions.repository import SessionRepository
from orchestrator.workspaces.repository import WorkspaceRepository
from orchestrator.workspaces.variables import session_variables

router = APIRouter(prefix="/internal/sessions", tags=["internal"])
_locks: WeakValueDictionary[str, asyncio.Lock] = WeakValueDictionary()


def _lock(session_id: str) -> asyncio.Lock:
    lock = _locks.get(session_id)
    if lock is None:
        lock = _locks[session_id] = asyncio.Lock()
    return lock


@router.post(
    "/{session_id}/events", response_model=EventsPosted, responses=errors(401, 403, 404, 413, 422)
)
async def post_events(
    session_id: Annotated[str, Path(pattern=SESSION_ID)],
    body: EventBatch,
    key: HostKey,
    state: State,
    session: DbSession,
) -> EventsPosted:
    """Store a batch of events; re-posting events already stored stores nothing new."""
    async with _lock(session_id):
        try:
            posted, new = await SessionEventService(session).ingest(key, session_id, body.events)
        except SessionAccessError as exc:
            raise HTTPException(exc.status, str(exc)) from None
        await session.commit()
        if new:
            state.bus.publish(
                {"type": "session.events", "session_id": session_id,
                 "events": [e.model_dump() for e in new]}
            )  # fmt: skip
    return posted


class SessionEnvironment(BaseModel):
    variables: dict[str, str]
    secret: list[str]


SessionId = Annotated[str, Path(pattern=SESSION_ID)]


@router.get(
    "/{session_id}/environment",
    response_model=SessionEnvironment,
    responses=errors(401, 403, 404, 422),
)
async def environment(
    session_id: SessionId, key: HostKey, state: State, session: DbSession
) -> SessionEnvironment:
    """The workspace variables for a session on the calling host (secret ones decrypted)."""
    try:
        row = await SessionEventService(session).on_host(key, session_id)
    except SessionAccessError as exc:
        raise HTTPException(exc.status, str(exc)) from None
    values, secret = await session_variables(
        WorkspaceRepository(session), state.secrets, row.workspace_id
    )
    return SessionEnvironment(variables=values, secret=secret)


@router.get(
    "/{session_id}/attachments/{attachment_id}",
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}}}, **errors(401, 403, 404, 422)},
)
async def attachment(
    session_id: SessionId,
    attachment_id: Annotated[str, Path(pattern=SESSION_ID)],
    key: HostKey,
    session: DbSession,
) -> Response:
    """An attachment's bytes, for the host of its session."""
    try:
        await SessionEventService(session).on_host(key, session_id)
    except SessionAccessError as exc:
        raise HTTPException(exc.status, str(exc)) from None
    row = await SessionRepository(session).attachment(session_id, attachment_id)
    if row is None:
        raise HTTPException(404, "No such attachment.")
    return Response(row.data, media_type="application/octet-stream")

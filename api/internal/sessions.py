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

from api.deps import DbSession, HostKey, State
from api.problems import errors
from orchestrator.sessions.events import (
    SESSION_ID,
    EventBatch,
    EventsPosted,
    SessionAccessError,
    SessionEventService,
)

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

"""The session transcript: agents post numbered events, browsers read them by cursor.

Agents post `AgentEvent` batches; storing is idempotent on `(turn, attempt, seq)` so a
retried post (a lost response, an activity retry) never stores an event twice. Every stored
row gets an increasing `id`, the cursor a reader resumes from; one session's rows are
inserted under a lock on its row, so ids follow commit order and "after cursor" never skips.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field, field_validator
from sqlalchemy.ext.asyncio import AsyncSession

from orchestrator.auth.service import Principal
from orchestrator.base import utcnow
from orchestrator.contracts.agent import AgentEvent
from orchestrator.hosts.models import HostApiKey
from orchestrator.hosts.repository import HostRepository
from orchestrator.schemas import RequestModel
from orchestrator.sessions.models import Session, SessionEvent
from orchestrator.sessions.repository import SessionRepository
from orchestrator.workspaces.repository import WorkspaceRepository

MAX_BATCH = 500
MAX_EVENT_BYTES = 256 * 1024
MAX_INT = 2**31 - 1  # the columns are 32-bit on PostgreSQL
COLUMNS = {"session_id", "turn", "attempt", "seq", "kind"}
SESSION_ID = r"^[A-Za-z0-9_-]{1,64}$"  # ids are hex; anything else is refused before SQL


class EventBatch(RequestModel):
    events: list[AgentEvent] = Field(min_length=1, max_length=MAX_BATCH)

    @field_validator("events")
    @classmethod
    def _numbered(cls, events: list[AgentEvent]) -> list[AgentEvent]:
        for e in events:
            if not all(0 <= n <= MAX_INT for n in (e.turn, e.attempt, e.seq)):
                raise ValueError(f"turn, attempt and seq must be between 0 and {MAX_INT}")
        return events


class EventsPosted(BaseModel):
    stored: int
    duplicates: int
    last_cursor: int


class StoredEvent(BaseModel):
    cursor: int
    turn: int
    attempt: int
    seq: int
    kind: str
    data: dict[str, Any]


class EventPage(BaseModel):
    events: list[StoredEvent]
    next_cursor: int = Field(description="Pass as `after` to read on; unchanged when empty.")


class SessionOut(BaseModel):
    id: str
    workspace_id: str
    title: str
    mode: str
    status: str
    provider: str
    model: str | None
    host_id: str | None
    base_branch: str | None
    branch: str | None
    created_by: str | None
    workflow_id: str | None
    created_at: datetime
    updated_at: datetime


class SessionAccessError(Exception):
    """Refused: `status` is the HTTP answer (404 also for sessions the caller may not see)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def stored_event(row: SessionEvent) -> StoredEvent:
    return StoredEvent(
        cursor=row.id, turn=row.turn, attempt=row.attempt, seq=row.seq, kind=row.kind,
        data=row.data,
    )  # fmt: skip


def event_data(event: AgentEvent) -> dict[str, Any]:
    """The event minus its columns; through JSON so NaN/inf become null on both databases."""
    data: dict[str, Any] = json.loads(event.model_dump_json(exclude=COLUMNS, exclude_none=True))
    return data


class SessionEventService:
    def __init__(self, session: AsyncSession) -> None:
        self.repo = SessionRepository(session)
        self.hosts = HostRepository(session)
        self.workspaces = WorkspaceRepository(session)

    async def ingest(
        self, key: HostApiKey, session_id: str, events: list[AgentEvent]
    ) -> tuple[EventsPosted, list[StoredEvent]]:
        """Store the events not stored yet; returns the counts and the newly stored rows."""
        if key.host_type != "session":
            raise SessionAccessError(403, "Only session hosts may post session events.")
        for e in events:
            if len(e.model_dump_json().encode()) > MAX_EVENT_BYTES:
                raise SessionAccessError(413, f"An event is larger than {MAX_EVENT_BYTES} bytes.")
        workers = await self.hosts.list_workers()
        host = next(
            (w.host_id for w in workers if w.api_key_id == key.id and w.kind == "session"), None
        )
        if host is None:
            raise SessionAccessError(403, "Register this host before posting session events.")
        row = await self.repo.lock(session_id)
        if row is None:
            raise SessionAccessError(404, "No such session.")
        if row.host_id != host:
            raise SessionAccessError(403, "This session runs on another host.")
        now = utcnow()
        ordered = sorted(events, key=lambda e: (e.turn, e.attempt, e.seq))
        values = [
            {"session_id": session_id, "turn": e.turn, "attempt": e.attempt, "seq": e.seq,
             "kind": e.kind, "data": event_data(e), "created_at": now}
            for e in ordered
        ]  # fmt: skip
        ids = await self.repo.insert_events(values)
        new = [
            StoredEvent(cursor=ids[k], turn=v["turn"], attempt=v["attempt"], seq=v["seq"],
                        kind=v["kind"], data=v["data"])
            for v in values
            if (k := (v["turn"], v["attempt"], v["seq"])) in ids
        ]  # fmt: skip
        new.sort(key=lambda s: s.cursor)
        # Within one batch a repeated (turn, attempt, seq) is stored once: count it as a duplicate.
        posted = EventsPosted(
            stored=len(new),
            duplicates=len(events) - len(new),
            last_cursor=await self.repo.last_cursor(session_id),
        )
        return posted, new

    async def viewable(self, principal: Principal, session_id: str) -> Session:
        """The session, if the caller sees its workspace (else 404) and may view it (else 403)."""
        row = await self.repo.get(session_id)
        if row is None or not (
            principal.is_admin
            or await self.workspaces.is_member(row.workspace_id, principal.user_id)
        ):
            raise SessionAccessError(404, "No such session.")
        own = row.created_by is not None and row.created_by == principal.user_id
        if principal.can("sessions.view_all") or (own and principal.can("sessions.view_own")):
            return row
        raise SessionAccessError(
            403, "You need sessions.view_all (or sessions.view_own, for your own sessions)."
        )

    async def page(self, session_id: str, after: int, limit: int) -> EventPage:
        rows = await self.repo.events_after(session_id, after, limit)
        return EventPage(
            events=[stored_event(r) for r in rows], next_cursor=rows[-1].id if rows else after
        )

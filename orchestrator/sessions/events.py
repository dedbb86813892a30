"""The session transcript: agents post numbered events, browsers read them by cursor.

Agents post `AgentEvent` batches; storing is idempotent on `(turn, attempt, seq)` so a
retried post (a lost response, an activity retry) never stores an event twice. Every stored
row gets an increasing `id`, the cursor a reader resumes from; one session's rows are
inserted under a lock on its row, so ids follow commit order and "after cursor" never skips.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, Field, field_validator
from sqlalchemy.ext.asyncio import AsyncSession

from orchestrator.auth.service import Principal
from orchestrator.base import utcnow
from orchestrator.contracts.agent import AgentEvent, Usage
from orchestrator.hosts.models import HostApiKey
from orchestrator.hosts.repository import HostRepository
from orchestrator.pricing import ModelPrice, cost_of
from orchestrator.schemas import RequestModel
from orchestrator.sessions.models import Session, SessionEvent
from orchestrator.sessions.repository import SessionRepository
from orchestrator.settings.budget_guard import BudgetGuard
from orchestrator.settings.providers import PROVIDERS
from orchestrator.settings.service import SettingsService
from orchestrator.tickets.budget import ticket_limit
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
            if e.attempt < 1:
                raise ValueError("attempt must be at least 1 (attempt 0 is the workflow's own)")
        return events


class EventsPosted(BaseModel):
    stored: int
    duplicates: int
    last_cursor: int
    budget_stop: str | None = Field(
        default=None,
        description="Set when the usage in this batch left a blocking budget spent: the agent "
        "stops a budget-gated turn at once.",
    )


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
        for e in events:
            if len(e.model_dump_json().encode()) > MAX_EVENT_BYTES:
                raise SessionAccessError(413, f"An event is larger than {MAX_EVENT_BYTES} bytes.")
        row = await self.on_host(key, session_id, lock=True)
        now = utcnow()
        ordered = sorted(events, key=lambda e: (e.turn, e.attempt, e.seq))
        values = [
            {"session_id": session_id, "turn": e.turn, "attempt": e.attempt, "seq": e.seq,
             "kind": e.kind, "data": event_data(e), "created_at": now}
            for e in ordered
        ]  # fmt: skip
        ids = await self.repo.insert_events(values)
        stored = [e for e in ordered if (e.turn, e.attempt, e.seq) in ids]
        await self.record_message_costs(row, stored)
        budget_stop = None
        if any(e.kind == "usage" for e in stored):
            budget_stop = await BudgetGuard(self.repo.session).on_usage(
                row.workspace_id, await ticket_limit(self.repo.session, row)
            )
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
            last_cursor=new[-1].cursor if new else await self.repo.last_cursor(session_id),
            budget_stop=budget_stop,
        )
        return posted, new

    async def on_host(self, key: HostApiKey, session_id: str, lock: bool = False) -> Session:
        """The session, if it runs on the host this session key belongs to (else 403/404)."""
        if key.host_type != "session":
            raise SessionAccessError(403, "Only session hosts may act for sessions.")
        host = await self.hosts.host_of_key(key.id, "session")
        if host is None:
            raise SessionAccessError(403, "Register this host before acting for sessions.")
        row = await (self.repo.lock(session_id) if lock else self.repo.get(session_id))
        if row is None:
            raise SessionAccessError(404, "No such session.")
        if row.host_id != host:
            raise SessionAccessError(403, "This session runs on another host.")
        return row

    async def record_message_costs(self, row: Session, events: list[AgentEvent]) -> None:
        """One cost-audit row per model message, replaced by later snapshots of its usage.
        USD the provider reports wins; otherwise the price table's (for providers that report
        USD only per turn, an estimate until the turn row brings the exact figure)."""
        prices: Mapping[str, ModelPrice] | None = None
        for e in events:
            usage, mid = e.usage, e.message_id
            if e.kind != "usage" or usage is None or not mid:
                continue
            cost = e.cost_usd
            if cost is None:
                if prices is None:
                    prices = await SettingsService(self.repo.session).prices()
                cost = price_usage(row, usage, None, prices)
            await self.repo.put_message_cost(
                session_id=row.id, workspace_id=row.workspace_id, turn=e.turn,
                message_id=mid[:200], kind="message", provider=row.provider, model=row.model,
                input_tokens=usage.input, output_tokens=usage.output,
                cache_read_tokens=usage.cache_read, cache_write_tokens=usage.cache_write,
                cost_usd=cost, created_at=utcnow(),
            )  # fmt: skip

    async def editable(self, principal: Principal, session_id: str) -> Session:
        """The session, if the caller may act on it: own with sessions.edit, or manage_all."""
        row = await self.viewable(principal, session_id)
        own = row.created_by is not None and row.created_by == principal.user_id
        if principal.can("sessions.manage_all") or (own and principal.can("sessions.edit")):
            return row
        raise SessionAccessError(
            403, "You need sessions.edit (for your own sessions) or sessions.manage_all."
        )

    async def viewable(self, principal: Principal, session_id: str) -> Session:
        """The session, if the caller sees its workspace (else 404) and may view it (else 403):
        their own or all sessions by permission, and a ticket's sessions with tickets.view."""
        row = await self.repo.get(session_id)
        if (
            row is None
            or row.disposed_at is not None
            or not (
                principal.is_admin
                or await self.workspaces.is_member(row.workspace_id, principal.user_id)
            )
        ):
            raise SessionAccessError(404, "No such session.")
        own = row.created_by is not None and row.created_by == principal.user_id
        if principal.can("sessions.view_all") or (own and principal.can("sessions.view_own")):
            return row
        if row.ticket_id is not None and principal.can("tickets.view"):
            return row  # a ticket's sessions are the team's: whoever sees the ticket reads them
        raise SessionAccessError(
            403, "You need sessions.view_all (or sessions.view_own, for your own sessions)."
        )

    async def page(self, session_id: str, after: int, limit: int) -> EventPage:
        rows = await self.repo.events_after(session_id, after, limit)
        return EventPage(
            events=[stored_event(r) for r in rows], next_cursor=rows[-1].id if rows else after
        )


def price_usage(
    row: Session, usage: Usage, model: str | None, prices: Mapping[str, ModelPrice]
) -> float | None:
    """USD of `usage` by the model the CLI named, else the session's, else the provider's."""
    info = PROVIDERS.get(row.provider)
    name = model or row.model or (info.price_model if info else None)
    return cost_of(name, usage, prices)


async def priced(
    session: AsyncSession, row: Session, usage: Usage, model: str | None
) -> float | None:
    return price_usage(row, usage, model, await SettingsService(session).prices())

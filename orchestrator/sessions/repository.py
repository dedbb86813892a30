"""Session queries (all SQL for sessions lives here)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from orchestrator.sessions.models import Session, SessionEvent

FINISHED = ("done", "canceled")
PERSISTENT_MODES = ("chat", "bot")


class SessionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def ids_wanting_worktrees(self) -> list[str]:
        """Sessions whose worktree must stay: unfinished ones, and Chat/Bot ones until disposed
        (their rows go when they are disposed)."""
        rows = await self.session.scalars(
            select(Session.id).where(
                or_(Session.status.not_in(FINISHED), Session.mode.in_(PERSISTENT_MODES))
            )
        )
        return list(rows)

    async def get(self, session_id: str) -> Session | None:
        return await self.session.get(Session, session_id)

    async def lock(self, session_id: str) -> Session | None:
        """The row, locked until commit (PostgreSQL; SQLite serialises writers anyway), so one
        session's event ids are assigned in commit order and a cursor never skips a row."""
        return await self.session.scalar(
            select(Session).where(Session.id == session_id).with_for_update()
        )

    async def insert_events(self, rows: list[dict[str, Any]]) -> dict[tuple[int, int, int], int]:
        """INSERT ... ON CONFLICT DO NOTHING in one statement; the (turn, attempt, seq) of each
        row this call stored, with its new id. Rows already stored are left alone."""
        if not rows:
            return {}
        insert = sqlite_insert if self.session.get_bind().dialect.name == "sqlite" else pg_insert
        stmt = (
            insert(SessionEvent)
            .values(rows)
            .on_conflict_do_nothing()
            .returning(SessionEvent.id, SessionEvent.turn, SessionEvent.attempt, SessionEvent.seq)
        )
        result = await self.session.execute(stmt)
        return {(r.turn, r.attempt, r.seq): r.id for r in result}

    async def last_cursor(self, session_id: str) -> int:
        found = await self.session.scalar(
            select(func.max(SessionEvent.id)).where(SessionEvent.session_id == session_id)
        )
        return int(found or 0)

    async def events_after(self, session_id: str, after: int, limit: int) -> list[SessionEvent]:
        return list(
            await self.session.scalars(
                select(SessionEvent)
                .where(SessionEvent.session_id == session_id, SessionEvent.id > after)
                .order_by(SessionEvent.id)
                .limit(limit)
            )
        )

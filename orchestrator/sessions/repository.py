"""Session queries (all SQL for sessions lives here)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from orchestrator.sessions.models import (
    Session,
    SessionAttachment,
    SessionCost,
    SessionEvent,
    SessionRead,
)

FINISHED = ("done", "canceled")
PERSISTENT_MODES = ("chat", "bot")


class SessionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def ids_wanting_worktrees(self) -> list[str]:
        """Sessions whose worktree must stay: unfinished ones, and Chat/Bot ones until disposed."""
        rows = await self.session.scalars(
            select(Session.id).where(
                Session.disposed_at.is_(None),
                or_(Session.status.not_in(FINISHED), Session.mode.in_(PERSISTENT_MODES)),
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

    def _insert(self) -> Any:
        dialect = self.session.get_bind().dialect.name
        return sqlite_insert if dialect == "sqlite" else pg_insert

    async def active_per_host(self) -> dict[str, int]:
        """Unfinished sessions placed on each host (their worktrees hold a slot)."""
        rows = await self.session.execute(
            select(Session.host_id, func.count())
            .where(Session.host_id.is_not(None), Session.status.not_in(FINISHED),
                   Session.disposed_at.is_(None))
            .group_by(Session.host_id)
        )  # fmt: skip
        return {str(h): int(n) for h, n in rows.all()}

    async def add_cost(self, **values: Any) -> bool:
        """Insert one cost-audit row unless (session, turn, message) has one; True if added."""
        stmt = self._insert()(SessionCost).values(**values).on_conflict_do_nothing()
        result = await self.session.execute(stmt.returning(SessionCost.id))
        return result.first() is not None

    async def put_message_cost(self, **values: Any) -> None:
        """A model message's row, replaced by each later snapshot of the message's usage
        (providers repeat a message's usage as it grows: the last one counts)."""
        stmt = self._insert()(SessionCost).values(**values)
        keep = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens",
                "cost_usd")  # fmt: skip
        await self.session.execute(
            stmt.on_conflict_do_update(
                index_elements=["session_id", "turn", "message_id"],
                set_={k: getattr(stmt.excluded, k) for k in keep},
            )
        )

    async def costs(self, session_id: str) -> list[SessionCost]:
        return list(
            await self.session.scalars(
                select(SessionCost)
                .where(SessionCost.session_id == session_id)
                .order_by(SessionCost.id)
            )
        )

    async def list_for_workspace(
        self,
        workspace_id: str,
        status: str | None,
        created_by: str | None,
        limit: int,
        offset: int,
    ) -> tuple[list[Session], int]:
        """Newest first; `created_by` narrows to one person's sessions (view_own)."""
        where = [Session.workspace_id == workspace_id, Session.disposed_at.is_(None)]
        if status:
            where.append(Session.status == status)
        if created_by is not None:
            where.append(Session.created_by == created_by)
        total = await self.session.scalar(select(func.count()).select_from(Session).where(*where))
        rows = await self.session.scalars(
            select(Session).where(*where).order_by(Session.created_at.desc(), Session.id)
            .limit(limit).offset(offset)
        )  # fmt: skip
        return list(rows), int(total or 0)

    async def unread_counts(self, user_id: str, session_ids: list[str]) -> dict[str, int]:
        """Events after the person's read cursor, per session."""
        if not session_ids:
            return {}
        cursor = func.coalesce(SessionRead.cursor, 0)
        rows = await self.session.execute(
            select(SessionEvent.session_id, func.count())
            .select_from(SessionEvent)
            .outerjoin(SessionRead, (SessionRead.session_id == SessionEvent.session_id)
                       & (SessionRead.user_id == user_id))
            .where(SessionEvent.session_id.in_(session_ids), SessionEvent.id > cursor)
            .group_by(SessionEvent.session_id)
        )  # fmt: skip
        return {str(sid): int(n) for sid, n in rows.all()}

    async def read_cursors(self, user_id: str, session_ids: list[str]) -> dict[str, int]:
        if not session_ids:
            return {}
        rows = await self.session.execute(
            select(SessionRead.session_id, SessionRead.cursor).where(
                SessionRead.user_id == user_id, SessionRead.session_id.in_(session_ids)
            )
        )
        return {str(sid): int(c) for sid, c in rows.all()}

    async def last_cursors(self, session_ids: list[str]) -> dict[str, int]:
        if not session_ids:
            return {}
        rows = await self.session.execute(
            select(SessionEvent.session_id, func.max(SessionEvent.id))
            .where(SessionEvent.session_id.in_(session_ids))
            .group_by(SessionEvent.session_id)
        )
        return {str(sid): int(c) for sid, c in rows.all()}

    async def mark_read(self, user_id: str, session_id: str, cursor: int) -> None:
        """Move the read cursor forward (never back: an old tab must not mark things unread)."""
        stmt = (
            self._insert()(SessionRead)
            .values(user_id=user_id, session_id=session_id, cursor=cursor)
            .on_conflict_do_nothing()
        )
        await self.session.execute(stmt)
        await self.session.execute(
            update(SessionRead)
            .where(SessionRead.user_id == user_id, SessionRead.session_id == session_id,
                   SessionRead.cursor < cursor)
            .values(cursor=cursor)
        )  # fmt: skip

    async def add_attachment(self, row: SessionAttachment) -> SessionAttachment:
        self.session.add(row)
        await self.session.flush()
        return row

    async def attachment(self, session_id: str, attachment_id: str) -> SessionAttachment | None:
        row = await self.session.get(SessionAttachment, attachment_id)
        return row if row is not None and row.session_id == session_id else None

    async def insert_events(self, rows: list[dict[str, Any]]) -> dict[tuple[int, int, int], int]:
        """INSERT ... ON CONFLICT DO NOTHING for every row; the (turn, attempt, seq) of each row
        this call stored, with its new id. Rows already stored are left alone.

        One statement with the rows as parameters (SQLAlchemy batches them into multi-row
        INSERTs itself), so the compiled statement is cached instead of rebuilt per batch."""
        if not rows:
            return {}
        stmt = (
            self._insert()(SessionEvent)
            .on_conflict_do_nothing()
            .returning(SessionEvent.id, SessionEvent.turn, SessionEvent.attempt, SessionEvent.seq)
        )
        result = await self.session.execute(stmt, rows)
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

"""Ticket queries (all SQL for tickets lives here)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, cast, delete, exists, func, or_, select, text, update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased, defer

from orchestrator.auth.models import InstanceSetting
from orchestrator.contracts.tickets import HOLDING, PRIORITY_RANK
from orchestrator.sessions.models import Session, SessionCost
from orchestrator.tickets.models import (
    Ticket,
    TicketAttachment,
    TicketBlocker,
    TicketComment,
    TicketConfig,
    TicketTransition,
)

ADMISSION_LOCK = "tickets.admission_lock"


@dataclass(frozen=True)
class Queued:
    """What the queue's plan needs of a queued ticket."""

    id: str
    workspace_id: str
    provider: str


class TicketRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def _insert(self) -> Any:
        dialect = self.session.get_bind().dialect.name
        return sqlite_insert if dialect == "sqlite" else pg_insert

    @property
    def postgres(self) -> bool:
        return self.session.get_bind().dialect.name == "postgresql"

    # -- tickets -------------------------------------------------------------------------------

    async def get(self, ticket_id: str) -> Ticket | None:
        return await self.session.get(Ticket, ticket_id)

    async def workspace_of(self, ticket_id: str) -> str | None:
        found = await self.session.scalar(select(Ticket.workspace_id).where(Ticket.id == ticket_id))
        return str(found) if found is not None else None

    async def lock(self, ticket_id: str) -> Ticket | None:
        return await self.session.scalar(
            select(Ticket).where(Ticket.id == ticket_id).with_for_update()
        )

    async def add(self, row: Ticket) -> Ticket:
        self.session.add(row)
        await self.session.flush()
        return row

    async def in_workspace(self, workspace_id: str, ids: Sequence[str]) -> list[str]:
        if not ids:
            return []
        rows = await self.session.scalars(
            select(Ticket.id).where(Ticket.workspace_id == workspace_id, Ticket.id.in_(ids))
        )
        return list(rows)

    async def list_for_workspace(
        self, workspace_id: str, stage: str | None, priority: str | None, tag: str | None,
        limit: int, offset: int,
    ) -> tuple[list[Ticket], int]:  # fmt: skip
        """Newest first."""
        where: list[Any] = [Ticket.workspace_id == workspace_id]
        if stage:
            where.append(Ticket.stage == stage)
        if priority:
            where.append(Ticket.priority == priority)
        if tag:
            if self.postgres:
                where.append(cast(Ticket.tags, JSONB).contains([tag]))
            else:
                where.append(
                    text("EXISTS (SELECT 1 FROM json_each(tickets.tags) WHERE value = :tag)")
                    .bindparams(tag=tag)
                )  # fmt: skip
        total = await self.session.scalar(select(func.count()).select_from(Ticket).where(*where))
        rows = await self.session.scalars(
            select(Ticket).where(*where).order_by(Ticket.created_at.desc(), Ticket.number.desc())
            .limit(limit).offset(offset)
        )  # fmt: skip
        return list(rows), int(total or 0)

    # -- blockers, attachments, comments, transitions ------------------------------------------

    async def blocker_ids(self, ticket_id: str) -> list[str]:
        rows = await self.session.scalars(
            select(TicketBlocker.blocker_id).where(TicketBlocker.ticket_id == ticket_id)
        )
        return sorted(rows)

    async def set_blockers(self, ticket_id: str, blocker_ids: Sequence[str]) -> None:
        await self.session.execute(
            delete(TicketBlocker).where(TicketBlocker.ticket_id == ticket_id)
        )
        self.session.add_all(TicketBlocker(ticket_id=ticket_id, blocker_id=b) for b in blocker_ids)
        await self.session.flush()

    async def blocked_by(self, ticket_ids: Sequence[str]) -> dict[str, list[str]]:
        """The blockers of each ticket that are not Completed yet (keys of those blocked)."""
        if not ticket_ids:
            return {}
        blocker = aliased(Ticket)
        rows = await self.session.execute(
            select(TicketBlocker.ticket_id, blocker.key)
            .join(blocker, blocker.id == TicketBlocker.blocker_id)
            .where(TicketBlocker.ticket_id.in_(ticket_ids), blocker.stage != "completed")
        )
        out: dict[str, list[str]] = {}
        for tid, key in rows.all():
            out.setdefault(str(tid), []).append(str(key))
        return out

    async def add_attachment(self, row: TicketAttachment) -> TicketAttachment:
        self.session.add(row)
        await self.session.flush()
        return row

    async def attachment(self, ticket_id: str, attachment_id: str) -> TicketAttachment | None:
        row = await self.session.get(TicketAttachment, attachment_id)
        return row if row is not None and row.ticket_id == ticket_id else None

    async def attachment_ids(self, ticket_id: str) -> list[str]:
        """Files on the ticket itself: not referenced by a comment or a transition."""
        rows = await self.session.scalars(
            select(TicketAttachment.id).where(TicketAttachment.ticket_id == ticket_id)
            .order_by(TicketAttachment.created_at, TicketAttachment.id)
        )  # fmt: skip
        used: set[str] = set()
        for ids in await self.session.scalars(
            select(TicketComment.attachment_ids).where(TicketComment.ticket_id == ticket_id)
        ):
            used.update(ids or [])
        for ids in await self.session.scalars(
            select(TicketTransition.attachment_ids).where(TicketTransition.ticket_id == ticket_id)
        ):
            used.update(ids or [])
        return [i for i in rows if i not in used]

    async def add_comment(self, row: TicketComment) -> TicketComment:
        self.session.add(row)
        await self.session.flush()
        return row

    async def comments(self, ticket_id: str) -> list[TicketComment]:
        return list(
            await self.session.scalars(
                select(TicketComment).where(TicketComment.ticket_id == ticket_id)
                .order_by(TicketComment.created_at, TicketComment.id)
            )
        )  # fmt: skip

    async def add_transition(self, **values: Any) -> bool:
        """Insert unless (ticket, seq) is written already; True if it was added now."""
        stmt = self._insert()(TicketTransition).values(**values).on_conflict_do_nothing()
        result = await self.session.execute(stmt.returning(TicketTransition.id))
        return result.first() is not None

    async def transitions(self, ticket_id: str) -> list[TicketTransition]:
        return list(
            await self.session.scalars(
                select(TicketTransition).where(TicketTransition.ticket_id == ticket_id)
                .order_by(TicketTransition.seq)
            )
        )  # fmt: skip

    # -- configuration and the key sequence ----------------------------------------------------

    async def config(self, workspace_id: str) -> TicketConfig | None:
        return await self.session.get(TicketConfig, workspace_id)

    async def lock_config(self, workspace_id: str) -> TicketConfig:
        """The workspace's configuration row (made if missing), locked until commit: the
        insert takes SQLite's write lock, FOR UPDATE the PostgreSQL row lock."""
        await self.session.execute(
            self._insert()(TicketConfig).values(workspace_id=workspace_id).on_conflict_do_nothing()
        )
        row = await self.session.scalar(
            select(TicketConfig)
            .where(TicketConfig.workspace_id == workspace_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        assert row is not None
        return row

    # -- spend ---------------------------------------------------------------------------------

    async def spent(self, ticket_id: str) -> float:
        """USD spent by the ticket's sessions: finished turns, plus the message rows of turns
        still running (as the monthly budgets count them)."""
        turn = aliased(SessionCost)
        finished = exists().where(
            turn.kind == "turn", turn.session_id == SessionCost.session_id,
            turn.turn == SessionCost.turn,
        )  # fmt: skip
        counted = or_(SessionCost.kind == "turn", and_(SessionCost.kind == "message", ~finished))
        q = (
            select(func.coalesce(func.sum(SessionCost.cost_usd), 0.0))
            .join(Session, Session.id == SessionCost.session_id)
            .where(Session.ticket_id == ticket_id, counted)
        )
        return float(await self.session.scalar(q) or 0.0)

    async def spent_many(self, ticket_ids: Sequence[str]) -> dict[str, float]:
        if not ticket_ids:
            return {}
        rows = await self.session.execute(
            select(Session.ticket_id, func.coalesce(func.sum(Session.cost_usd), 0.0))
            .where(Session.ticket_id.in_(ticket_ids))
            .group_by(Session.ticket_id)
        )
        return {str(t): float(c) for t, c in rows.all()}

    async def session_of(self, ticket_id: str) -> Session | None:
        """The ticket's session: the one it names (a Best of N pick), else its newest."""
        chosen = await self.session.scalar(select(Ticket.session_id).where(Ticket.id == ticket_id))
        if chosen is not None:
            row = await self.session.get(Session, chosen)
            if row is not None and row.disposed_at is None:
                return row
        return await self.session.scalar(
            select(Session)
            .where(Session.ticket_id == ticket_id, Session.disposed_at.is_(None))
            .order_by(Session.created_at.desc())
            .limit(1)
        )

    async def sessions_of(self, ticket_id: str) -> list[Session]:
        """Every session the ticket had, oldest first (Best of N candidates in order)."""
        rows = await self.session.scalars(
            select(Session).where(Session.ticket_id == ticket_id).order_by(Session.created_at)
        )
        return list(rows)

    # -- the queue -----------------------------------------------------------------------------

    async def lock_admission(self) -> None:
        """Serialise admissions: a write first (SQLite's write lock, so the reads that follow
        see the latest commits), then the PostgreSQL row lock on the same row."""
        await self.session.execute(
            self._insert()(InstanceSetting)
            .values(key=ADMISSION_LOCK, value="")
            .on_conflict_do_nothing()
        )
        await self.session.execute(
            update(InstanceSetting)
            .where(InstanceSetting.key == ADMISSION_LOCK)
            .values(value=InstanceSetting.value)
        )

    async def holding_per_host(self) -> dict[str, int]:
        """Tickets between Implementation and Pull Request on each host."""
        rows = await self.session.execute(
            select(Ticket.host_id, func.count())
            .where(Ticket.host_id.is_not(None), Ticket.stage.in_(HOLDING))
            .group_by(Ticket.host_id)
        )
        return {str(h): int(n) for h, n in rows.all()}

    async def eligible_queued(self, now: datetime) -> list[Queued]:
        """Queued tickets whose time has come, best first: priority, then FIFO."""
        rank = case((Ticket.priority == "high", 0), (Ticket.priority == "low", 2), else_=1)
        rows = await self.session.execute(
            select(Ticket.id, Ticket.workspace_id, Ticket.provider)
            .where(Ticket.stage == "queued",
                   or_(Ticket.eligible_at.is_(None), Ticket.eligible_at <= now))
            .order_by(rank, Ticket.queued_at, Ticket.number, Ticket.id)
        )  # fmt: skip
        return [Queued(str(i), str(w), str(p)) for i, w, p in rows.all()]

    # -- dashboard reads -----------------------------------------------------------------------

    async def queued_in_order(self) -> list[Ticket]:
        """Every queued ticket in the order the queue takes them (priority, then FIFO), those
        still waiting for their Low Priority Execution Hour included."""
        rank = case(
            *((Ticket.priority == p, r) for p, r in PRIORITY_RANK.items() if p != "normal"),
            else_=PRIORITY_RANK["normal"],
        )
        return list(
            await self.session.scalars(
                select(Ticket).where(Ticket.stage == "queued")
                .order_by(rank, Ticket.queued_at, Ticket.number, Ticket.id)
            )
        )  # fmt: skip

    async def holding_tickets(self) -> list[Ticket]:
        """Tickets holding a slot of their host (Implementation to Pull Request)."""
        return list(
            await self.session.scalars(
                select(Ticket).where(Ticket.host_id.is_not(None), Ticket.stage.in_(HOLDING))
                .order_by(Ticket.started_at, Ticket.id)
            )
        )  # fmt: skip

    async def attachments_of(self, ticket_id: str) -> list[TicketAttachment]:
        """The ticket's files without their bytes (names and sizes for the dashboard)."""
        return list(
            await self.session.scalars(
                select(TicketAttachment).options(defer(TicketAttachment.data))
                .where(TicketAttachment.ticket_id == ticket_id)
                .order_by(TicketAttachment.created_at, TicketAttachment.id)
            )
        )  # fmt: skip

    async def sessions_for(self, ticket_id: str) -> list[Session]:
        """Every session that worked on the ticket, oldest first."""
        return list(
            await self.session.scalars(
                select(Session).where(Session.ticket_id == ticket_id)
                .order_by(Session.created_at, Session.id)
            )
        )  # fmt: skip

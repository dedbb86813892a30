"""Ticket sync queries (its SQL lives here): linked tickets and what was written back."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from orchestrator.tickets.models import Ticket
from orchestrator.tickets.sync_models import TicketSyncLink


class TicketSyncRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def linked(
        self, workspace_id: str, source: str
    ) -> list[tuple[Ticket, TicketSyncLink | None]]:
        """The workspace's tickets made from (or linked to) an item of `source`, as the
        database has them now."""
        rows = await self.session.execute(
            select(Ticket, TicketSyncLink)
            .outerjoin(TicketSyncLink, TicketSyncLink.ticket_id == Ticket.id)
            .where(Ticket.workspace_id == workspace_id, Ticket.source == source,
                   Ticket.external_id.is_not(None))
            .order_by(Ticket.number)
            .execution_options(populate_existing=True)
        )  # fmt: skip
        return [(t, link) for t, link in rows.all()]

    async def by_external(self, workspace_id: str, source: str, external_id: str) -> Ticket | None:
        return await self.session.scalar(
            select(Ticket).where(Ticket.workspace_id == workspace_id, Ticket.source == source,
                                 Ticket.external_id == external_id)
        )  # fmt: skip

    async def link(self, ticket_id: str) -> TicketSyncLink | None:
        return await self.session.get(TicketSyncLink, ticket_id)

    async def add_link(self, ticket_id: str, **values: Any) -> None:
        """Insert unless the ticket has its row already (a concurrent or earlier run)."""
        dialect = self.session.get_bind().dialect.name
        insert = sqlite_insert if dialect == "sqlite" else pg_insert
        await self.session.execute(
            insert(TicketSyncLink).values(ticket_id=ticket_id, **values).on_conflict_do_nothing()
        )

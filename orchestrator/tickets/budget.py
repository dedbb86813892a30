"""The per-ticket budget of a session's ticket, for BudgetGuard: always enforced, and spent
by every session of the ticket together."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from orchestrator.sessions.models import Session
from orchestrator.settings.budget_guard import TicketLimit
from orchestrator.tickets.repository import TicketRepository


async def ticket_limit(db: AsyncSession, row: Session) -> TicketLimit | None:
    """None when the session works for no ticket, or its ticket has no budget."""
    if row.ticket_id is None:
        return None
    repo = TicketRepository(db)
    ticket = await repo.get(row.ticket_id)
    if ticket is None or ticket.budget_usd is None:
        return None
    return TicketLimit(
        key=ticket.key, budget_usd=ticket.budget_usd, spent_usd=await repo.spent(ticket.id)
    )

"""What ticket sync remembers of a linked ticket: what it last wrote back to the item.

A row exists once the ticket's workflow has been started (a synced ticket without one was
committed by a run that stopped before starting it: the next run starts it), so a re-run
writes nothing twice and starts nothing twice.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from orchestrator.base import Base, utcnow


class TicketSyncLink(Base):
    __tablename__ = "ticket_sync_links"

    ticket_id: Mapped[str] = mapped_column(
        ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True
    )
    # The ticket stage last handled, and what was written for it (GitHub: started |
    # completed | failed; Azure DevOps: the state), so each change is written once.
    written_stage: Mapped[str | None] = mapped_column(String(20), default=None)
    written: Mapped[str | None] = mapped_column(String(64), default=None)
    url: Mapped[str | None] = mapped_column(String(500), default=None)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

"""A workspace's Tickets Configuration, the instance's Low Priority Execution Hour, and the
per-workspace key sequence (PT-457)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from orchestrator.auth.repository import AuthRepository
from orchestrator.tickets.models import TicketConfig
from orchestrator.tickets.repository import TicketRepository
from orchestrator.tickets.schemas import TicketsConfigIn, TicketsConfigOut
from orchestrator.workspaces.models import Workspace

LOW_PRIORITY_HOUR = "tickets.low_priority_hour"
DEFAULT_LOW_PRIORITY_HOUR = 2


def default_prefix(name: str) -> str:
    """The initials of the workspace name's words, upper-cased (2 to 6 letters): "Polygent
    Tickets" → PT; a one-word name gives its first three letters; no letters at all, TK."""
    words = re.findall(r"[A-Za-z]+", name)
    initials = "".join(w[0] for w in words).upper()[:6]
    if len(initials) >= 2:
        return initials
    letters = "".join(words).upper()
    return letters[:3] if len(letters) >= 2 else "TK"


def next_eligible(queued_at: datetime, hour: int) -> datetime:
    """The first `hour`:00 UTC at or after `queued_at`: when a low-priority ticket may start."""
    at = queued_at.replace(hour=hour, minute=0, second=0, microsecond=0)
    return at if at >= queued_at else at + timedelta(days=1)


class TicketConfigService:
    def __init__(self, session: AsyncSession) -> None:
        self.db = session
        self.repo = TicketRepository(session)

    def out(self, ws: Workspace, row: TicketConfig | None) -> TicketsConfigOut:
        row = row or TicketConfig(workspace_id=ws.id)
        return TicketsConfigOut(
            workspace_id=ws.id, lifecycle=row.lifecycle or "qa_first", skip_qa=bool(row.skip_qa),
            merge_mode=row.merge_mode or "pull_request",
            key_prefix=row.key_prefix or default_prefix(ws.name),
            default_ticket_budget_usd=row.default_ticket_budget_usd,
            approval_reminder_hours=row.approval_reminder_hours or 24,
        )  # fmt: skip

    async def get(self, ws: Workspace) -> TicketsConfigOut:
        return self.out(ws, await self.repo.config(ws.id))

    async def put(self, ws: Workspace, body: TicketsConfigIn) -> TicketsConfigOut:
        row = await self.repo.lock_config(ws.id)
        for field in ("lifecycle", "skip_qa", "merge_mode", "key_prefix",
                      "default_ticket_budget_usd", "approval_reminder_hours"):  # fmt: skip
            value = getattr(body, field)
            if value is not None:
                setattr(row, field, value)
        if body.clear_default_budget:
            row.default_ticket_budget_usd = None
        await self.db.flush()
        return self.out(ws, row)

    async def allocate_key(self, ws: Workspace) -> tuple[int, str]:
        """The next number and key of the workspace, under the configuration row's lock, so
        concurrent creates never collide (the unique (workspace, number) backs it up)."""
        row = await self.repo.lock_config(ws.id)
        number = row.next_number or 1
        row.next_number = number + 1
        await self.db.flush()
        return number, f"{row.key_prefix or default_prefix(ws.name)}-{number}"

    async def low_priority_hour(self) -> int:
        value = await AuthRepository(self.db).get_setting(LOW_PRIORITY_HOUR)
        try:
            hour = int(value) if value is not None else DEFAULT_LOW_PRIORITY_HOUR
        except ValueError:
            return DEFAULT_LOW_PRIORITY_HOUR
        return hour if 0 <= hour <= 23 else DEFAULT_LOW_PRIORITY_HOUR

    async def set_low_priority_hour(self, hour: int) -> None:
        await AuthRepository(self.db).set_setting(LOW_PRIORITY_HOUR, str(hour))

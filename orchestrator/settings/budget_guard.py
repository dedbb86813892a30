"""Budgets at work: whether a blocking budget is spent (checked before each turn and on every
batch of usage a running agent posts), and warnings to the people responsible for a budget.

Spend counts turns still running (their model messages), so sessions running side by side
cannot each spend the whole remainder: the first batch past the line stops every one of them.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from orchestrator.audit.repository import AuditRepository
from orchestrator.notifications.service import NotificationService
from orchestrator.settings.schemas import BudgetStatus
from orchestrator.settings.service import SettingsService


def where(status: BudgetStatus) -> str:
    return "the instance" if status.scope == "global" else "this workspace"


def spent_message(status: BudgetStatus) -> str:
    return (
        f"The monthly budget of {where(status)} (${status.monthly_usd:.2f}) is spent "
        f"(${status.spent_usd:.2f} in {status.month})."
    )


@dataclass(frozen=True)
class TicketLimit:
    """A ticket's own budget (always enforced) and what all its sessions spent so far."""

    key: str
    budget_usd: float
    spent_usd: float


class BudgetGuard:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.settings = SettingsService(session)

    async def check(
        self, workspace_id: str, ticket: TicketLimit | None = None,
        statuses: list[BudgetStatus] | None = None,
    ) -> tuple[str | None, float | None]:  # fmt: skip
        """(why work must stop now, or None; the least headroom of the blocking budgets,
        the ticket's own budget included when given)."""
        blocked, remaining = None, None
        if statuses is None:
            statuses = await self.settings.applicable(workspace_id)
        if ticket is not None:
            remaining = round(max(0.0, ticket.budget_usd - ticket.spent_usd), 6)
            if remaining <= 0:
                blocked = (
                    f"The budget of ticket {ticket.key} (${ticket.budget_usd:.2f}) is spent "
                    f"(${ticket.spent_usd:.2f})."
                )
        for status in statuses:
            if not status.blocking:
                continue
            if status.remaining_usd <= 0 and blocked is None:
                blocked = spent_message(status)
            remaining = (
                status.remaining_usd if remaining is None else min(remaining, status.remaining_usd)
            )
        return blocked, remaining

    async def exhausted(self, workspace_id: str, ticket: TicketLimit | None = None) -> str | None:
        return (await self.check(workspace_id, ticket))[0]

    async def on_usage(self, workspace_id: str, ticket: TicketLimit | None = None) -> str | None:
        """After new usage was stored: announce the lines it crossed, and say why work must
        stop now, if it must (the month's spend is read once for both)."""
        statuses = await self.settings.applicable(workspace_id)
        await self.announce(workspace_id, statuses)
        return (await self.check(workspace_id, ticket, statuses))[0]

    async def announce(
        self, workspace_id: str, statuses: list[BudgetStatus] | None = None
    ) -> list[tuple[BudgetStatus, str]]:
        """Budgets of the workspace that crossed their warning line or ran out this month and
        were not announced yet (each level once a month): audited, and each person who
        manages budgets there gets a notification."""
        out = []
        if statuses is None:
            statuses = await self.settings.applicable(workspace_id)
        for status in statuses:
            used = status.spent_usd / status.monthly_usd * 100
            level = (
                "exceeded" if status.remaining_usd <= 0
                else "warn" if used >= status.warn_percent else None
            )  # fmt: skip
            if not level or not await self.settings.repo.alert_once(status.id, status.month, level):
                continue
            await AuditRepository(self.session).add(
                f"budget.{level}", actor_type="system", target_type="budget",
                target_id=status.id, details=status.model_dump(),
            )  # fmt: skip
            await self._notify(status, level, used)
            out.append((status, level))
        return out

    async def _notify(self, status: BudgetStatus, level: str, used: float) -> None:
        name = "Instance" if status.scope == "global" else "Workspace"
        figures = f"${status.spent_usd:.2f} of ${status.monthly_usd:.2f} spent in {status.month}"
        if level == "exceeded":
            title = f"{name} budget spent"
            stop = " Work has stopped." if status.blocking else " It does not block work."
            body = f"{figures}.{stop}"
        else:
            title = f"{name} budget at {used:.0f}%"
            body = f"{figures} (warning at {status.warn_percent}%)."
        link = "/settings" if status.workspace_id is None else f"/workspaces/{status.workspace_id}"
        await NotificationService(self.session).to_holders(
            "budgets.manage", status.workspace_id, f"budget.{level}", title, body, link,
            "Open budgets",
        )  # fmt: skip

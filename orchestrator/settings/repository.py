"""All SQL for provider settings, prices and budgets."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import exists, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from orchestrator.sessions.models import Session, SessionCost
from orchestrator.settings.models import Budget, BudgetAlert, ModelPriceRow, ProviderSetting


class SettingsRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def provider_rows(self) -> dict[str, ProviderSetting]:
        return {r.provider: r for r in await self.session.scalars(select(ProviderSetting))}

    async def provider_row(self, provider: str) -> ProviderSetting | None:
        return await self.session.get(ProviderSetting, provider)

    async def add(self, row: object) -> None:
        self.session.add(row)
        await self.session.flush()

    async def delete(self, row: object) -> None:
        await self.session.delete(row)
        await self.session.flush()

    async def price_rows(self) -> list[ModelPriceRow]:
        return list(await self.session.scalars(select(ModelPriceRow).order_by(ModelPriceRow.model)))

    async def price_row(self, model: str) -> ModelPriceRow | None:
        return await self.session.get(ModelPriceRow, model)

    async def budgets(self) -> list[Budget]:
        return list(await self.session.scalars(select(Budget).order_by(Budget.scope)))

    async def budget(self, scope: str, workspace_id: str | None) -> Budget | None:
        return await self.session.scalar(
            select(Budget).where(Budget.scope == scope, Budget.workspace_id.is_(workspace_id))
            if workspace_id is None
            else select(Budget).where(Budget.scope == scope, Budget.workspace_id == workspace_id)
        )

    async def spent_since(self, since: datetime, workspace_id: str | None) -> float:
        """USD spent since `since` (instance-wide, or one workspace): the turn rows, plus the
        model-message rows of the turns running now (no turn row yet), so money spent by
        running turns counts at once. Both read indexed ranges: this month's turn rows, and
        the rows of sessions in progress."""
        turns = select(func.coalesce(func.sum(SessionCost.cost_usd), 0.0)).where(
            SessionCost.kind == "turn", SessionCost.created_at >= since
        )
        live = select(Session.id).where(Session.status == "in_progress")
        if workspace_id is not None:
            turns = turns.where(SessionCost.workspace_id == workspace_id)
            live = live.where(Session.workspace_id == workspace_id)
        done = aliased(SessionCost)
        # coalesce() keeps SQLite off the (kind, created_at) index here: it would scan every
        # turn row per message, or every message row of the month, instead of reading the rows
        # of the running sessions by session id and their turn rows by the unique index.
        running = select(func.coalesce(func.sum(SessionCost.cost_usd), 0.0)).where(
            SessionCost.session_id.in_(live),
            func.coalesce(SessionCost.kind, "") == "message",
            SessionCost.created_at >= since,
            ~exists().where(
                done.session_id == SessionCost.session_id, done.turn == SessionCost.turn,
                func.coalesce(done.kind, "") == "turn",
            ),
        )  # fmt: skip
        return float(await self.session.scalar(turns) or 0.0) + float(
            await self.session.scalar(running) or 0.0
        )

    async def alert_once(self, budget_id: str, month: str, level: str) -> bool:
        """Record that this alert went out; False when it had already (so it goes out once)."""
        dialect = self.session.get_bind().dialect.name
        insert = sqlite_insert if dialect == "sqlite" else pg_insert
        stmt = (
            insert(BudgetAlert)
            .values(budget_id=budget_id, month=month, level=level)
            .on_conflict_do_nothing()
            .returning(BudgetAlert.id)
        )
        return (await self.session.execute(stmt)).first() is not None

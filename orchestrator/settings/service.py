"""Provider settings, the effective price table and budget status.

Everything is read from the database at use, so a change takes effect at once in every
process without a restart.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from orchestrator.base import utcnow
from orchestrator.pricing import DEFAULT_PRICES, ModelPrice
from orchestrator.settings.models import Budget, ModelPriceRow, ProviderSetting
from orchestrator.settings.providers import PROVIDERS, model_problem, visible_models
from orchestrator.settings.repository import SettingsRepository
from orchestrator.settings.schemas import (
    BudgetIn,
    BudgetStatus,
    PriceIn,
    ProviderOut,
    ProviderPatch,
)
from orchestrator.workspaces.errors import Invalid, NotFound


def month_start(now: datetime | None = None) -> datetime:
    now = now or utcnow()
    return datetime(now.year, now.month, 1, tzinfo=UTC)


class SettingsService:
    def __init__(self, session: AsyncSession) -> None:
        self.repo = SettingsRepository(session)

    # -- providers -----------------------------------------------------------------------------

    async def providers(self) -> list[ProviderOut]:
        rows = await self.repo.provider_rows()
        return [self._out(pid, rows.get(pid)) for pid in PROVIDERS]

    def _out(self, pid: str, row: ProviderSetting | None) -> ProviderOut:
        info = PROVIDERS[pid]
        hidden = list(row.hidden_models) if row else []
        custom = list(row.custom_models) if row else []
        return ProviderOut(
            id=pid, name=info.name, cli=info.cli,
            enabled=row.enabled if row else info.enabled_by_default,
            models=visible_models(pid, hidden, custom), hidden_models=hidden,
            custom_models=custom, reports_usd=info.reports_usd,
        )  # fmt: skip

    async def provider(self, pid: str) -> ProviderOut:
        if pid not in PROVIDERS:
            raise NotFound(f"No provider {pid}.")
        return self._out(pid, await self.repo.provider_row(pid))

    async def update_provider(self, pid: str, body: ProviderPatch) -> ProviderOut:
        current = await self.provider(pid)
        row = await self.repo.provider_row(pid)
        if row is None:
            row = ProviderSetting(
                provider=pid, enabled=current.enabled, hidden_models=[], custom_models=[]
            )
            await self.repo.add(row)
        if body.enabled is not None:
            row.enabled = body.enabled
        if body.hidden_models is not None:
            row.hidden_models = sorted(set(body.hidden_models))
        if body.custom_models is not None:
            row.custom_models = list(dict.fromkeys(body.custom_models))
        row.updated_at = utcnow()
        return self._out(pid, row)

    async def usable(self, pid: str, model: str | None) -> None:
        """Raise Invalid (naming the field) unless a new session may use this provider/model.

        Sessions already running are never checked again: disabling a provider stops only
        new sessions."""
        out = await self.provider(pid)
        if not out.enabled:
            raise Invalid("provider", f"{out.name} is turned off in the provider settings.")
        problem = model_problem(pid, model, out.models) if model else None
        if problem:
            raise Invalid("model", problem)

    # -- prices --------------------------------------------------------------------------------

    async def prices(self) -> dict[str, ModelPrice]:
        """The defaults with the administrator's entries on top."""
        table = dict(DEFAULT_PRICES)
        for row in await self.repo.price_rows():
            table[row.model] = ModelPrice(
                input=row.input, output=row.output, cache_read=row.cache_read,
                cache_write=row.cache_write,
            )  # fmt: skip
        return table

    async def set_price(self, model: str, body: PriceIn) -> ModelPrice:
        row = await self.repo.price_row(model)
        if row is None:
            row = ModelPriceRow(model=model, input=0.0, output=0.0)
            await self.repo.add(row)
        row.input, row.output = body.input, body.output
        row.cache_read, row.cache_write = body.cache_read, body.cache_write
        row.updated_at = utcnow()
        return ModelPrice(**body.model_dump())

    async def reset_price(self, model: str) -> None:
        row = await self.repo.price_row(model)
        if row is None:
            raise NotFound(f"No price set for {model}.")
        await self.repo.delete(row)

    # -- budgets -------------------------------------------------------------------------------

    async def set_budget(self, workspace_id: str | None, body: BudgetIn) -> Budget:
        scope = "global" if workspace_id is None else "workspace"
        row = await self.repo.budget(scope, workspace_id)
        if row is None:
            row = Budget(scope=scope, workspace_id=workspace_id, monthly_usd=body.monthly_usd)
            await self.repo.add(row)
        row.monthly_usd = body.monthly_usd
        row.warn_percent = body.warn_percent
        row.blocking = body.blocking
        row.updated_at = utcnow()
        return row

    async def remove_budget(self, workspace_id: str | None) -> None:
        row = await self.repo.budget(
            "global" if workspace_id is None else "workspace", workspace_id
        )
        if row is None:
            raise NotFound("No such budget.")
        await self.repo.delete(row)

    async def status(self, row: Budget, now: datetime | None = None) -> BudgetStatus:
        spent = await self.repo.spent_since(month_start(now), row.workspace_id)
        return BudgetStatus(
            id=row.id, scope=row.scope, workspace_id=row.workspace_id, monthly_usd=row.monthly_usd,
            warn_percent=row.warn_percent, blocking=row.blocking, spent_usd=round(spent, 6),
            remaining_usd=round(max(0.0, row.monthly_usd - spent), 6),
            month=month_start(now).strftime("%Y-%m"),
        )  # fmt: skip

    async def applicable(
        self, workspace_id: str, now: datetime | None = None
    ) -> list[BudgetStatus]:
        """The global budget and the workspace's, with this month's spending."""
        out = []
        for scope, wid in (("global", None), ("workspace", workspace_id)):
            row = await self.repo.budget(scope, wid)
            if row is not None:
                out.append(await self.status(row, now))
        return out

    async def budget_rows(self) -> list[Budget]:
        return await self.repo.budgets()

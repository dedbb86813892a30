"""Instance settings: providers (on/off, models), the model price table and budgets.

Reading needs `settings.view`, changing `settings.manage` (budgets: `budgets.view` and
`budgets.manage`); `GET /api/providers` (what the
new-session form offers) is open to every signed-in person. Changes apply at once.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Response

from api.auth import CurrentUser, require
from api.deps import DbSession
from api.problems import errors
from api.routes.workspace_common import domain_errors, workspace
from orchestrator.hosts.repository import HostRepository
from orchestrator.pricing import DEFAULT_PRICES
from orchestrator.settings.providers import PROVIDERS
from orchestrator.settings.schemas import (
    BudgetIn,
    BudgetStatus,
    ModelId,
    PriceIn,
    PriceOut,
    ProviderOut,
    ProviderPatch,
)
from orchestrator.settings.service import SettingsService
from orchestrator.workspaces.models import Workspace
from orchestrator.workspaces.repository import WorkspaceRepository

router = APIRouter(tags=["settings"])
VIEW = [Depends(require("settings.view"))]
MANAGE = [Depends(require("settings.manage"))]
BUDGETS_VIEW = [Depends(require("budgets.view"))]
BUDGETS_MANAGE = [Depends(require("budgets.manage"))]


async def _with_hosts(session: DbSession, items: list[ProviderOut]) -> list[ProviderOut]:
    """Each provider with the CLI version every session host reported (the scheduler uses it)."""
    workers = [w for w in await HostRepository(session).list_workers() if w.kind == "session"]
    for item in items:
        for w in workers:
            clis = (w.info or {}).get("clis", {})
            item.hosts[w.host_id] = "built in" if item.cli is None else clis.get(item.id)
    return items


@router.get("/api/providers", response_model=list[ProviderOut], responses=errors(401))
async def enabled_providers(user: CurrentUser, session: DbSession) -> list[ProviderOut]:
    """The providers people can start sessions with, and their visible models."""
    return [p for p in await SettingsService(session).providers() if p.enabled]


@router.get(
    "/api/settings/providers", response_model=list[ProviderOut],
    responses=errors(401, 403), dependencies=VIEW,
)  # fmt: skip
async def list_providers(session: DbSession) -> list[ProviderOut]:
    """All seven providers with their settings and what each session host has installed."""
    return await _with_hosts(session, await SettingsService(session).providers())


@router.patch(
    "/api/settings/providers/{provider}", response_model=ProviderOut,
    responses=errors(401, 403, 404, 422), dependencies=MANAGE,
)  # fmt: skip
async def update_provider(provider: str, body: ProviderPatch, session: DbSession) -> ProviderOut:
    """Turn a provider on or off, hide models, add custom ones; running sessions go on."""
    if provider not in PROVIDERS:
        raise HTTPException(404, f"No provider {provider}.")
    with domain_errors():
        out = await SettingsService(session).update_provider(provider, body)
    await session.commit()
    return out


@router.get(
    "/api/settings/prices", response_model=list[PriceOut],
    responses=errors(401, 403), dependencies=VIEW,
)  # fmt: skip
async def list_prices(session: DbSession) -> list[PriceOut]:
    """USD per million tokens per model or `prefix*` pattern (for providers without USD)."""
    table = await SettingsService(session).prices()
    return [
        PriceOut(model=m, default=m in DEFAULT_PRICES and table[m] == DEFAULT_PRICES[m],
                 **p.model_dump())
        for m, p in sorted(table.items())
    ]  # fmt: skip


@router.put(
    "/api/settings/prices", response_model=PriceOut,
    responses=errors(401, 403, 422), dependencies=MANAGE,
)  # fmt: skip
async def set_price(
    body: PriceIn, session: DbSession, model: Annotated[ModelId, Query()]
) -> PriceOut:
    """Set the price of a model id or `prefix*` pattern."""
    price = await SettingsService(session).set_price(model, body)
    await session.commit()
    return PriceOut(model=model, default=False, **price.model_dump())


@router.delete(
    "/api/settings/prices", status_code=204, response_class=Response,
    responses=errors(401, 403, 404, 422), dependencies=MANAGE,
)  # fmt: skip
async def reset_price(session: DbSession, model: Annotated[ModelId, Query()]) -> Response:
    """Drop an override (a built-in price applies again)."""
    with domain_errors():
        await SettingsService(session).reset_price(model)
    await session.commit()
    return Response(status_code=204)


@router.get(
    "/api/budgets", response_model=list[BudgetStatus],
    responses=errors(401, 403), dependencies=BUDGETS_VIEW,
)  # fmt: skip
async def list_budgets(session: DbSession, user: CurrentUser) -> list[BudgetStatus]:
    """The instance's budget and those of the workspaces the caller belongs to (admins: all),
    with this calendar month's (UTC) spending, running turns included."""
    svc = SettingsService(session)
    rows = await svc.budget_rows()
    if not user.is_admin:
        mine = set(await WorkspaceRepository(session).ids_of_member(user.user_id))
        rows = [b for b in rows if b.workspace_id is None or b.workspace_id in mine]
    return [await svc.status(b) for b in rows]


@router.put(
    "/api/budgets/global", response_model=BudgetStatus,
    responses=errors(401, 403, 422), dependencies=BUDGETS_MANAGE,
)  # fmt: skip
async def set_global_budget(body: BudgetIn, session: DbSession) -> BudgetStatus:
    """The instance's monthly budget."""
    svc = SettingsService(session)
    row = await svc.set_budget(None, body)
    await session.commit()
    return await svc.status(row)


@router.delete(
    "/api/budgets/global", status_code=204, response_class=Response,
    responses=errors(401, 403, 404), dependencies=BUDGETS_MANAGE,
)  # fmt: skip
async def remove_global_budget(session: DbSession) -> Response:
    with domain_errors():
        await SettingsService(session).remove_budget(None)
    await session.commit()
    return Response(status_code=204)


@router.put(
    "/api/workspaces/{workspace_id}/budget", response_model=BudgetStatus,
    responses=errors(401, 403, 404, 422),
)  # fmt: skip
async def set_workspace_budget(
    body: BudgetIn,
    session: DbSession,
    user: CurrentUser,
    ws: Annotated[Workspace, Depends(workspace("budgets.manage"))],
) -> BudgetStatus:
    """A workspace's monthly budget."""
    svc = SettingsService(session)
    row = await svc.set_budget(ws.id, body)
    await session.commit()
    return await svc.status(row)


@router.delete(
    "/api/workspaces/{workspace_id}/budget", status_code=204, response_class=Response,
    responses=errors(401, 403, 404),
)  # fmt: skip
async def remove_workspace_budget(
    session: DbSession, ws: Annotated[Workspace, Depends(workspace("budgets.manage"))]
) -> Response:
    with domain_errors():
        await SettingsService(session).remove_budget(ws.id)
    await session.commit()
    return Response(status_code=204)

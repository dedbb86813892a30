"""A workspace's Tickets Configuration (lifecycle, Skip QA, merge mode, key prefix, default
budget, approval reminders) and the instance's Low Priority Execution Hour."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from api.auth import require
from api.deps import DbSession
from api.problems import errors
from api.routes.workspace_common import workspace
from orchestrator.tickets.config import TicketConfigService
from orchestrator.tickets.schemas import (
    TicketsConfigIn,
    TicketsConfigOut,
    TicketSettingsIn,
    TicketSettingsOut,
)
from orchestrator.workspaces.models import Workspace

router = APIRouter(tags=["tickets"])


@router.get(
    "/api/workspaces/{workspace_id}/tickets-config",
    response_model=TicketsConfigOut,
    responses=errors(401, 403, 404, 422),
)
async def get_config(
    session: DbSession, ws: Annotated[Workspace, Depends(workspace("workspaces.view"))]
) -> TicketsConfigOut:
    """The workspace's ticket settings (defaults until someone saves them)."""
    return await TicketConfigService(session).get(ws)


@router.put(
    "/api/workspaces/{workspace_id}/tickets-config",
    response_model=TicketsConfigOut,
    responses=errors(401, 403, 404, 413, 422),
)
async def put_config(
    body: TicketsConfigIn,
    session: DbSession,
    ws: Annotated[Workspace, Depends(workspace("workspaces.edit"))],
) -> TicketsConfigOut:
    """Change the fields given; the rest stay. New keys use a changed prefix; tickets that
    started keep the flow they started with."""
    out = await TicketConfigService(session).put(ws, body)
    await session.commit()
    return out


@router.get(
    "/api/settings/tickets",
    response_model=TicketSettingsOut,
    responses=errors(401, 403),
    dependencies=[Depends(require("settings.view"))],
)
async def get_ticket_settings(session: DbSession) -> TicketSettingsOut:
    """The Low Priority Execution Hour (UTC, default 2)."""
    return TicketSettingsOut(
        low_priority_hour=await TicketConfigService(session).low_priority_hour()
    )


@router.put(
    "/api/settings/tickets",
    response_model=TicketSettingsOut,
    responses=errors(401, 403, 413, 422),
    dependencies=[Depends(require("settings.manage"))],
)
async def put_ticket_settings(body: TicketSettingsIn, session: DbSession) -> TicketSettingsOut:
    """Set the hour low-priority tickets wait for (tickets queued before keep their time)."""
    svc = TicketConfigService(session)
    await svc.set_low_priority_hour(body.low_priority_hour)
    await session.commit()
    return TicketSettingsOut(low_priority_hour=body.low_priority_hour)

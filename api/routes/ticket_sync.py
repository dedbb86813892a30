"""Ticket sync on demand, and "Create GitHub Issue" / "Create TFS Bug" for a ticket.

The API reaches neither GitHub nor Azure DevOps itself (that is the orchestrator worker's
role): each route runs its workflow and answers the result. Syncing needs tickets.manage
(it creates and cancels tickets), like creating an item from a ticket.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

from api.auth import require
from api.deps import DbSession, State
from api.problems import Problem, errors
from api.routes.ticket_common import Svc, TicketId, visible
from api.routes.workspace_common import workspace
from orchestrator.contracts.ticket_sync import (
    CreateItemInput,
    ItemLink,
    SyncInput,
    SyncReport,
    SyncSource,
    item_workflow_id,
    sync_workflow_id,
)
from orchestrator.queues import ORCHESTRATOR_QUEUE
from orchestrator.tickets.sync_repository import TicketSyncRepository
from orchestrator.tickets.sync_sources import item_settings
from orchestrator.workspaces.models import Workspace
from orchestrator.workspaces.repository import WorkspaceRepository

router = APIRouter(tags=["tickets"])
MANAGE = [Depends(require("tickets.manage"))]
WAIT_SECONDS = 120.0
NAMES = {"github": "GitHub", "tfs": "Azure DevOps"}
PROVIDER: dict[int | str, dict[str, Any]] = {
    502: {"model": Problem, "description": "GitHub or Azure DevOps refused or did not answer; "
          "`detail` says why."},
}  # fmt: skip
RESPONSES: dict[int | str, dict[str, Any]] = {**errors(401, 403, 404, 409, 503), **PROVIDER}


def _client(state: State) -> Client:
    if state.temporal is None:
        raise HTTPException(503, "Temporal is not connected yet.")
    return state.temporal


async def _answer(handle: WorkflowHandle[Any, Any]) -> Any:
    """The workflow's result; its refusal as a problem naming the cause."""
    try:
        return await asyncio.wait_for(handle.result(), WAIT_SECONDS)
    except TimeoutError:
        raise HTTPException(
            503, f"Still running after {WAIT_SECONDS:g} s; see workflow {handle.id}."
        ) from None
    except WorkflowFailureError as exc:
        cause: BaseException | None = exc.cause
        while cause is not None and not isinstance(cause, ApplicationError):
            cause = cause.__cause__ or getattr(cause, "cause", None)
        kind = cause.type if isinstance(cause, ApplicationError) else None
        message = cause.message if isinstance(cause, ApplicationError) else str(exc)
        status = {"TicketGone": 404, "SyncNotConfigured": 409}.get(kind or "", 502)
        raise HTTPException(status, message) from None


async def _start(client: Client, workflow: str, arg: Any, wid: str, out: type[Any]) -> Any:
    try:
        handle = await client.start_workflow(
            workflow, arg, id=wid, task_queue=ORCHESTRATOR_QUEUE, result_type=out,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        )  # fmt: skip
    except RPCError as exc:
        raise HTTPException(503, f"Temporal did not take the request: {exc.message}.") from None
    return await _answer(handle)


@router.post(
    "/api/workspaces/{workspace_id}/tickets/sync", response_model=SyncReport, responses=RESPONSES
)
async def sync_now(
    state: State, session: DbSession,
    ws: Annotated[Workspace, Depends(workspace("tickets.manage"))],
) -> SyncReport:  # fmt: skip
    """Sync the workspace's tickets with its GitHub issues or Azure DevOps Bugs now and
    answer what the run did (a run already under way is joined). 409 when the workspace
    does not sync."""
    cfg = item_settings(ws)
    if cfg is None or not cfg.sync_enabled:
        raise HTTPException(409, "Ticket sync is not enabled for this workspace.")
    client = _client(state)
    await session.commit()  # no transaction open while the run writes
    report: SyncReport = await _start(
        client, "TicketSyncWorkflow", SyncInput(workspace_id=ws.id), sync_workflow_id(ws.id),
        SyncReport,
    )  # fmt: skip
    return report


async def _create_item(state: State, svc: Svc, ticket_id: str, source: SyncSource) -> ItemLink:
    row = await visible(ticket_id, svc)
    if row.external_id is not None and row.source in NAMES:
        if row.source != source:
            raise HTTPException(
                409, f"The ticket is linked to {NAMES[row.source]} item {row.external_id}."
            )
        link = await TicketSyncRepository(svc.db).link(row.id)
        return ItemLink(ticket_id=row.id, source=source, external_id=row.external_id,
                        url=link.url if link else None)  # fmt: skip
    ws = await WorkspaceRepository(svc.db).get(row.workspace_id)
    cfg = item_settings(ws) if ws else None
    if cfg is None or cfg.source != source:
        raise HTTPException(
            409, f"The workspace's tickets are not set up for {NAMES[source]} (ticket settings)."
        )
    client = _client(state)
    await svc.db.commit()
    inp = CreateItemInput(ticket_id=row.id, source=source)
    link_out: ItemLink = await _start(
        client, "TicketItemWorkflow", inp, item_workflow_id(row.id, source), ItemLink
    )
    return link_out


@router.post("/api/tickets/{ticket_id}/github-issue", response_model=ItemLink,
             responses=RESPONSES, dependencies=MANAGE)  # fmt: skip
async def create_github_issue(ticket_id: TicketId, state: State, svc: Svc) -> ItemLink:
    """Create GitHub Issue: an issue from the ticket (title, description, tags as labels,
    priority), linked to it; a second call answers the link (`created` false)."""
    return await _create_item(state, svc, ticket_id, "github")


@router.post("/api/tickets/{ticket_id}/tfs-bug", response_model=ItemLink, responses=RESPONSES,
             dependencies=MANAGE)  # fmt: skip
async def create_tfs_bug(ticket_id: TicketId, state: State, svc: Svc) -> ItemLink:
    """Create TFS Bug: an Azure DevOps Bug from the ticket (with the workspace's area path,
    tags and default fields), linked to it; a second call answers the link."""
    return await _create_item(state, svc, ticket_id, "tfs")

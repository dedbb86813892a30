"""Dashboard pages for tickets: a workspace's board, one ticket, and the queue per host.

Each page renders its live part from a fragment route (the board's columns, the ticket's
body, the queue) that its script fetches again when a `ticket.updated` event arrives, on
reconnect, and every few seconds while the tab is visible (events from an orchestrator worker
in another process never reach this process's bus). Pages only read; every change goes
through the JSON API, which decides permissions again.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse

from api.auth import require
from api.deps import DbSession, State
from api.routes.ticket_queue import queue_overview
from api.routes.workspace_common import workspace
from api.web.routes import TEMPLATES, PageResponse, _base, _forbidden, page_user
from orchestrator.auth.service import Principal
from orchestrator.contracts.tickets import HOLDING, TERMINAL
from orchestrator.sessions.events import SESSION_ID
from orchestrator.tickets.actions import history_of
from orchestrator.tickets.candidates import CandidatePicks
from orchestrator.tickets.models import Ticket
from orchestrator.tickets.repository import TicketRepository
from orchestrator.tickets.service import TicketService
from orchestrator.tickets.sync_repository import TicketSyncRepository
from orchestrator.users.repository import UserRepository
from orchestrator.workspaces.errors import Forbidden, NotFound
from orchestrator.workspaces.models import Workspace
from orchestrator.workspaces.repository import WorkspaceRepository
from orchestrator.workspaces.service import WorkspaceService

router = APIRouter(include_in_schema=False)
COLUMNS = [
    ("pending", "Pending"), ("queued", "Queued"), ("implementation", "Implementation"),
    ("dev_approval", "Developer Approval"), ("qa_approval", "QA Approval"),
    ("pull_request", "Pull Request"), ("completed", "Completed"),
    ("ended", "Failed / Canceled / Merge Conflicts"),
]  # fmt: skip
STAGE_LABELS = {**dict(COLUMNS[:-1]), "failed": "Failed", "canceled": "Canceled",
                "merge_conflicts": "Merge Conflicts"}  # fmt: skip
BOARD_MAX = 1000  # cards on one board; the API pages beyond that


def _ctx(state: State, page: str, user: Principal, **more: Any) -> dict[str, Any]:
    return {**_base(state, page, user), "stage_labels": STAGE_LABELS, **more}


async def _names(session: DbSession, workspace_id: str) -> dict[str, str]:
    return {u.id: u.display_name for u in await WorkspaceRepository(session).members(workspace_id)}


async def _workspace(
    request: Request, state: State, session: DbSession, user: Principal, workspace_id: str
) -> Workspace:
    """The workspace the caller may see tickets of, else the 404 or 403 page."""
    svc = WorkspaceService(session, state.secrets, user)
    try:
        return await svc.access(workspace_id, "tickets.view")
    except NotFound:
        ctx = _base(state, "tickets", user)
        page = TEMPLATES.TemplateResponse(request, "workspace_missing.html", ctx, 404)
        raise PageResponse(page) from None
    except Forbidden:
        raise PageResponse(_forbidden(request, state, user, "tickets.view")) from None


@router.get("/workspaces/{workspace_id}/tickets", response_class=HTMLResponse)
async def board_page(
    workspace_id: str,
    request: Request,
    state: State,
    session: DbSession,
    user: Annotated[Principal, Depends(page_user("tickets.view"))],
) -> HTMLResponse:
    ws = await _workspace(request, state, session, user, workspace_id)
    members = await WorkspaceRepository(session).members(ws.id)
    ctx = _ctx(
        state, "tickets", user, ws=ws, members=[(u.id, u.display_name) for u in members],
        can_manage=user.can("tickets.manage"),
    )  # fmt: skip
    return TEMPLATES.TemplateResponse(request, "tickets.html", ctx)


@router.get("/workspaces/{workspace_id}/tickets/board", response_class=HTMLResponse)
async def board_partial(
    request: Request,
    session: DbSession,
    ws: Annotated[Workspace, Depends(workspace("tickets.view"))],
    q: Annotated[str, Query(max_length=200)] = "",
    priority: Annotated[str, Query(pattern="^(|high|normal|low)$")] = "",
    tag: Annotated[str, Query(max_length=50)] = "",
) -> HTMLResponse:
    """The board's columns, filtered by text (key, title, description, tags), priority, tag."""
    repo = TicketRepository(session)
    rows: list[Ticket] = []
    while len(rows) < BOARD_MAX:
        page, total = await repo.list_for_workspace(
            ws.id, None, priority or None, tag.strip() or None, 200, len(rows)
        )
        rows.extend(page)
        if not page or len(rows) >= total:
            break
    needle = q.strip().lower()
    if needle:
        rows = [t for t in rows if needle in " ".join([t.key, t.title, t.description,
                                                       *(t.tags or [])]).lower()]  # fmt: skip
    columns: dict[str, list[Ticket]] = {c: [] for c, _ in COLUMNS}
    for t in sorted(rows, key=lambda t: t.number):
        columns["ended" if t.stage in TERMINAL and t.stage != "completed" else t.stage].append(t)
    ctx = {
        "columns": COLUMNS, "cards": columns, "names": await _names(session, ws.id),
        "stage_labels": STAGE_LABELS, "filtered": bool(needle or priority or tag.strip()),
    }  # fmt: skip
    return TEMPLATES.TemplateResponse(request, "partials/ticket_board.html", ctx)


async def _ticket(
    request: Request, state: State, session: DbSession, user: Principal, ticket_id: str
) -> tuple[TicketService, Ticket]:
    svc = TicketService(session, user, state.temporal, state.settings)
    try:
        if not re.fullmatch(SESSION_ID, ticket_id):
            raise NotFound("No such ticket.")
        row = await svc.visible(ticket_id)
    except NotFound:
        ctx = _base(state, "ticket", user)
        page = TEMPLATES.TemplateResponse(request, "ticket_missing.html", ctx, 404)
        raise PageResponse(page) from None
    return svc, row


async def _ticket_body(svc: TicketService, row: Ticket, user: Principal) -> dict[str, Any]:
    """What the ticket's live body shows, and which actions this viewer gets."""
    repo = svc.repo
    out = await svc.out(row)
    users = UserRepository(svc.db)
    people = {}
    for uid in (row.developer_id, row.qa_id):
        if uid and (u := await users.get(uid)) is not None:
            people[uid] = u.display_name
    stage = row.stage
    approve = {"dev_approval": "tickets.approve_dev", "qa_approval": "tickets.approve_qa"}
    ended = stage in TERMINAL
    budget = out.budget_usd
    candidates = await CandidatePicks(svc).views(row) if row.best_of else []
    ws = await WorkspaceRepository(svc.db).get(row.workspace_id)
    item_source = ws.ticket_source if ws and ws.ticket_source in ITEM_ACTIONS else None
    linked = row.external_id is not None and row.source in ITEM_ACTIONS
    link = await TicketSyncRepository(svc.db).link(row.id) if linked else None
    return {
        "item_action": ITEM_ACTIONS[item_source]
        if item_source and not linked and user.can("tickets.manage") else None,
        "item_link": (ITEM_NAMES[row.source], row.external_id, link.url if link else None)
        if linked else None,
        "candidates": candidates,
        "can_pick": bool(candidates) and row.session_id is None and stage == "implementation"
        and user.can("tickets.approve_dev"),
        "t": out, "people": people, "ended": ended,
        "history": history_of(await repo.transitions(row.id)),
        "comments": await repo.comments(row.id),
        "files": {a.id: a for a in await repo.attachments_of(row.id)},
        "sessions": await repo.sessions_for(row.id),
        "percent": min(100.0, 100 * out.spent_usd / budget) if budget else None,
        "can_decide": stage in approve and user.can(approve[stage]),
        "can_skip": stage in ("implementation", "dev_approval", "qa_approval")
        and user.can("tickets.skip_to_merge"),
        "can_queue": stage == "pending" and user.can("tickets.manage"),
        "can_cancel": not ended and user.can("tickets.manage"),
        "can_pr": stage == "pull_request" and user.can("tickets.manage"),
        "holding": stage in HOLDING, "stage_labels": STAGE_LABELS,
    }  # fmt: skip


# The workspace's item source → the ticket page's button (path, label); and its item's name.
ITEM_ACTIONS = {"github": ("github-issue", "Create GitHub Issue"),
                "tfs": ("tfs-bug", "Create TFS Bug")}  # fmt: skip
ITEM_NAMES = {"github": "GitHub issue", "tfs": "Azure DevOps work item"}


@router.get("/tickets/{ticket_id}", response_class=HTMLResponse)
async def ticket_page(
    ticket_id: str,
    request: Request,
    state: State,
    session: DbSession,
    user: Annotated[Principal, Depends(page_user())],
) -> HTMLResponse:
    """Like GET /api/tickets/{id}: 404 when missing or in a workspace the caller does not
    see, then 403 without tickets.view."""
    svc, row = await _ticket(request, state, session, user, ticket_id)
    if not user.can("tickets.view"):
        raise PageResponse(_forbidden(request, state, user, "tickets.view"))
    ws = await WorkspaceRepository(session).get(row.workspace_id)
    ctx = _ctx(
        state, "ticket", user, ws_name=ws.name if ws else row.workspace_id,
        can_manage=user.can("tickets.manage"),
        can_attach=any(user.can(p) for p in
                       ("tickets.manage", "tickets.approve_dev", "tickets.approve_qa")),
        **await _ticket_body(svc, row, user),
    )  # fmt: skip
    return TEMPLATES.TemplateResponse(request, "ticket.html", ctx)


@router.get("/tickets/{ticket_id}/body", response_class=HTMLResponse)
async def ticket_partial(
    ticket_id: str,
    request: Request,
    state: State,
    session: DbSession,
    user: Annotated[Principal, Depends(require("tickets.view"))],
) -> HTMLResponse:
    svc, row = await _ticket(request, state, session, user, ticket_id)
    ctx = await _ticket_body(svc, row, user)
    return TEMPLATES.TemplateResponse(request, "partials/ticket_body.html", ctx)


@router.get("/queue", response_class=HTMLResponse)
async def queue_page(
    request: Request,
    state: State,
    session: DbSession,
    user: Annotated[Principal, Depends(page_user("tickets.view"))],
) -> HTMLResponse:
    ctx = _ctx(state, "queue", user, q=await queue_overview(session, user))
    return TEMPLATES.TemplateResponse(request, "ticket_queue.html", ctx)


@router.get("/partials/ticket-queue", response_class=HTMLResponse)
async def queue_partial(
    request: Request,
    session: DbSession,
    user: Annotated[Principal, Depends(require("tickets.view"))],
) -> HTMLResponse:
    ctx = {"q": await queue_overview(session, user), "stage_labels": STAGE_LABELS}
    return TEMPLATES.TemplateResponse(request, "partials/ticket_queue.html", ctx)

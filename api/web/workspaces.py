"""Dashboard pages for workspaces: the list (with "New workspace") and one workspace's
settings in tabs. Pages only read; every change goes through the JSON API (workspaces.js)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from api.deps import DbSession, State
from api.web.routes import TEMPLATES, _base, _forbidden, page_user
from orchestrator.auth.service import Principal
from orchestrator.workspaces.errors import Forbidden, NotFound
from orchestrator.workspaces.service import WorkspaceService, member_out, workspace_out
from orchestrator.workspaces.tasks import TaskService, task_out
from orchestrator.workspaces.variables import VariableService, variable_out

router = APIRouter(include_in_schema=False)


@router.get("/workspaces", response_class=HTMLResponse)
async def workspaces_page(
    request: Request,
    state: State,
    session: DbSession,
    user: Annotated[Principal, Depends(page_user("workspaces.view"))],
) -> HTMLResponse:
    svc = WorkspaceService(session, state.secrets, user)
    ctx = {
        **_base(state, "workspaces", user),
        "workspaces": [workspace_out(ws) for ws in await svc.list_visible()],
        "can_create": user.can("workspaces.create"),
    }
    return TEMPLATES.TemplateResponse(request, "workspaces.html", ctx)


@router.get("/workspaces/{workspace_id}", response_class=HTMLResponse)
async def workspace_page(
    workspace_id: str,
    request: Request,
    state: State,
    session: DbSession,
    user: Annotated[Principal, Depends(page_user())],
) -> HTMLResponse:
    svc = WorkspaceService(session, state.secrets, user)
    try:
        ws = await svc.access(workspace_id, "workspaces.view")
    except NotFound:
        ctx = _base(state, "workspace", user)
        return TEMPLATES.TemplateResponse(request, "workspace_missing.html", ctx, 404)
    except Forbidden:
        return _forbidden(request, state, user, "workspaces.view")
    members = await svc.members(ws)
    can_users = user.can("workspaces.users")
    member_ids = {m.id for m in members}
    ctx = {
        **_base(state, "workspace", user),
        "ws": workspace_out(ws),
        "variables": [variable_out(v) for v in await VariableService(svc).all(ws)],
        "tasks": [task_out(t) for t in await TaskService(svc).all(ws)],
        "members": [member_out(m) for m in members],
        "candidates": [
            member_out(u) for u in await svc.repo.users() if u.id not in member_ids
        ] if can_users else [],
        "can_edit": user.can("workspaces.edit"),
        "can_delete": user.can("workspaces.delete"),
        "can_users": can_users,
        "script_types": ["auto", "bash", "powershell", "cmd", "node", "python"],
    }  # fmt: skip
    return TEMPLATES.TemplateResponse(request, "workspace.html", ctx)

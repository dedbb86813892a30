"""Session hooks of a workspace, and the runs of a session's hooks (the session sidebar).

Hooks follow workspace tasks: the workspace must be visible (else 404), then
`workspaces.view` to read and `workspaces.edit` to change. Runs follow the session's
transcript: visible workspace, then `sessions.view_all` or (own) `sessions.view_own`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response

from api.auth import CurrentUser
from api.deps import DbSession, State
from api.problems import errors
from api.routes.session_access import SessionId, viewable
from api.routes.workspace_common import Service, domain_errors, workspace
from orchestrator.hooks.runs import HookRunService
from orchestrator.hooks.schemas import HookIn, HookOut, HookRunList, HookRunOut, HookUpdate
from orchestrator.hooks.service import HookService, hook_out
from orchestrator.sessions.events import SESSION_ID
from orchestrator.workspaces.models import Workspace

router = APIRouter(prefix="/api/workspaces/{workspace_id}/hooks", tags=["hooks"])
runs_router = APIRouter(prefix="/api/sessions", tags=["hooks"])
Viewable = Annotated[Workspace, Depends(workspace("workspaces.view"))]
Editable = Annotated[Workspace, Depends(workspace("workspaces.edit"))]
HookId = Annotated[str, Path(pattern=SESSION_ID)]  # ids are hex; refused before SQL otherwise


@router.get("", response_model=list[HookOut], responses=errors(401, 403, 404))
async def list_hooks(ws: Viewable, svc: Service) -> list[HookOut]:
    return [hook_out(h) for h in await HookService(svc).all(ws)]


@router.post(
    "", response_model=HookOut, status_code=201, responses=errors(401, 403, 404, 409, 413, 422)
)
async def create_hook(body: HookIn, ws: Editable, svc: Service) -> HookOut:
    """Add a hook (409 if one of that name exists; 422 unless exactly one of `task_id` and
    `script` is given, or when the task is not in this workspace)."""
    with domain_errors():
        return hook_out(await HookService(svc).create(ws, body))


@router.get("/{hook_id}", response_model=HookOut, responses=errors(401, 403, 404, 422))
async def get_hook(hook_id: HookId, ws: Viewable, svc: Service) -> HookOut:
    with domain_errors():
        return hook_out(await HookService(svc).get(ws, hook_id))


@router.patch("/{hook_id}", response_model=HookOut, responses=errors(401, 403, 404, 409, 413, 422))
async def update_hook(hook_id: HookId, body: HookUpdate, ws: Editable, svc: Service) -> HookOut:
    """Change the fields sent; `enabled: true` on a disabled hook resets its failure count."""
    with domain_errors():
        return hook_out(await HookService(svc).update(ws, hook_id, body))


@router.delete(
    "/{hook_id}", status_code=204, responses=errors(401, 403, 404, 422), response_class=Response
)
async def delete_hook(hook_id: HookId, ws: Editable, svc: Service) -> Response:
    with domain_errors():
        await HookService(svc).delete(ws, hook_id)
    return Response(status_code=204)


@runs_router.get(
    "/{session_id}/hook-runs", response_model=HookRunList, responses=errors(401, 403, 404, 422)
)
async def list_hook_runs(
    session_id: SessionId,
    user: CurrentUser,
    session: DbSession,
    state: State,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> HookRunList:
    """The session's hook runs, newest first, with their (redacted, tail-kept) output."""
    await viewable(session, user, session_id)
    rows = await HookRunService(session, state.secrets).runs(session_id, limit)
    return HookRunList(items=[HookRunOut.model_validate(r, from_attributes=True) for r in rows])

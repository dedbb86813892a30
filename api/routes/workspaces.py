"""Workspaces: list, create (checked by `git ls-remote` on a session host), settings, delete,
and members. The git PAT is write-only: responses only say `has_git_pat`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Response
from sqlalchemy.exc import IntegrityError

from api.auth import require
from api.deps import DbSession
from api.problems import errors
from api.routes.workspace_common import Checker, Service, domain_errors, workspace
from orchestrator.workspaces.models import Workspace
from orchestrator.workspaces.schemas import (
    MemberOut,
    WorkspaceCreate,
    WorkspaceOut,
    WorkspaceUpdate,
)
from orchestrator.workspaces.service import member_out, workspace_out

router = APIRouter(prefix="/api/workspaces", tags=["workspaces"])
Viewable = Annotated[Workspace, Depends(workspace("workspaces.view"))]
Editable = Annotated[Workspace, Depends(workspace("workspaces.edit"))]
Deletable = Annotated[Workspace, Depends(workspace("workspaces.delete"))]
MembersManaged = Annotated[Workspace, Depends(workspace("workspaces.users"))]
CHECKED = (
    " The git URL, branch and token are checked with `git ls-remote` on an online "
    "session host: on failure nothing is saved and the answer is a 422 naming git_url (or "
    "default_branch when only the branch is missing) with git's message; 503 when no session "
    "host is online."
)


@router.get(
    "",
    response_model=list[WorkspaceOut],
    responses=errors(401, 403),
    dependencies=[Depends(require("workspaces.view"))],
)
async def list_workspaces(svc: Service) -> list[WorkspaceOut]:
    """The workspaces the caller is a member of (admins: all of them)."""
    return [workspace_out(ws) for ws in await svc.list_visible()]


@router.post(
    "",
    response_model=WorkspaceOut,
    status_code=201,
    responses=errors(401, 403, 409, 413, 422, 503),
    dependencies=[Depends(require("workspaces.create"))],
    description="Create a workspace; its creator becomes a member." + CHECKED,
)
async def create_workspace(
    body: WorkspaceCreate, svc: Service, checker: Checker, session: DbSession
) -> WorkspaceOut:
    with domain_errors():
        await svc.ensure_name_free(body.name)
        await session.commit()  # hold no transaction open while git runs on a host
        await checker.verify(body.git_url, body.default_branch, body.git_pat)
        try:
            ws = await svc.create(body)
        except IntegrityError:
            raise HTTPException(409, f"A workspace named {body.name} exists already.") from None
    return workspace_out(ws)


@router.get("/{workspace_id}", response_model=WorkspaceOut, responses=errors(401, 403, 404))
async def get_workspace(ws: Viewable) -> WorkspaceOut:
    """One workspace's settings (never its token)."""
    return workspace_out(ws)


@router.patch(
    "/{workspace_id}",
    response_model=WorkspaceOut,
    responses=errors(401, 403, 404, 409, 413, 422, 503),
    description="Change the fields sent; `git_pat: null` clears the token. Only a change of "
    "git_url, default_branch or git_pat runs the check." + CHECKED,
)
async def update_workspace(
    body: WorkspaceUpdate, ws: Editable, svc: Service, checker: Checker, session: DbSession
) -> WorkspaceOut:
    with domain_errors():
        if body.name is not None:
            await svc.ensure_name_free(body.name, ws.id)
        if svc.needs_git_check(ws, body):
            pat = body.git_pat if "git_pat" in body.model_fields_set else svc.git_pat(ws)
            url, branch = body.git_url or ws.git_url, body.default_branch or ws.default_branch
            await session.commit()
            await checker.verify(url, branch, pat, ws.id)
        try:
            ws = await svc.update(ws, body)
        except IntegrityError:
            raise HTTPException(409, f"A workspace named {body.name} exists already.") from None
    return workspace_out(ws)


@router.delete(
    "/{workspace_id}", status_code=204, responses=errors(401, 403, 404), response_class=Response
)
async def delete_workspace(ws: Deletable, svc: Service) -> Response:
    """Delete a workspace with its variables, tasks, members and tokens."""
    await svc.delete(ws)
    return Response(status_code=204)


@router.get(
    "/{workspace_id}/members", response_model=list[MemberOut], responses=errors(401, 403, 404)
)
async def list_members(ws: Viewable, svc: Service) -> list[MemberOut]:
    """Who sees this workspace (admins see every workspace without being listed)."""
    return [member_out(u) for u in await svc.members(ws)]


@router.put(
    "/{workspace_id}/members/{user_id}",
    status_code=204,
    responses=errors(401, 403, 404),
    response_class=Response,
)
async def add_member(user_id: str, ws: MembersManaged, svc: Service) -> Response:
    """Make a user a member (nothing changes when they are one already)."""
    with domain_errors():
        await svc.add_member(ws, user_id)
    return Response(status_code=204)


@router.delete(
    "/{workspace_id}/members/{user_id}",
    status_code=204,
    responses=errors(401, 403, 404),
    response_class=Response,
)
async def remove_member(user_id: str, ws: MembersManaged, svc: Service) -> Response:
    """Remove a member; the workspace disappears for them at once."""
    with domain_errors():
        await svc.remove_member(ws, user_id)
    return Response(status_code=204)

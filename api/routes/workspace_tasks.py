"""Workspace tasks: named scripts with a working directory and a script type."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response

from api.problems import errors
from api.routes.workspace_common import Service, domain_errors, workspace
from orchestrator.workspaces.models import Workspace
from orchestrator.workspaces.schemas import TaskIn, TaskOut
from orchestrator.workspaces.tasks import TaskService, task_out

router = APIRouter(prefix="/api/workspaces/{workspace_id}/tasks", tags=["workspaces"])
Viewable = Annotated[Workspace, Depends(workspace("workspaces.view"))]
Editable = Annotated[Workspace, Depends(workspace("workspaces.edit"))]


@router.get("", response_model=list[TaskOut], responses=errors(401, 403, 404))
async def list_tasks(ws: Viewable, svc: Service) -> list[TaskOut]:
    return [task_out(t) for t in await TaskService(svc).all(ws)]


@router.post(
    "", response_model=TaskOut, status_code=201, responses=errors(401, 403, 404, 409, 413, 422)
)
async def create_task(body: TaskIn, ws: Editable, svc: Service) -> TaskOut:
    """Add a task (409 if one of that name exists)."""
    with domain_errors():
        return task_out(await TaskService(svc).create(ws, body))


@router.get("/{task_id}", response_model=TaskOut, responses=errors(401, 403, 404))
async def get_task(task_id: str, ws: Viewable, svc: Service) -> TaskOut:
    with domain_errors():
        return task_out(await TaskService(svc).get(ws, task_id))


@router.put("/{task_id}", response_model=TaskOut, responses=errors(401, 403, 404, 409, 413, 422))
async def replace_task(task_id: str, body: TaskIn, ws: Editable, svc: Service) -> TaskOut:
    with domain_errors():
        return task_out(await TaskService(svc).update(ws, task_id, body))


@router.delete(
    "/{task_id}", status_code=204, responses=errors(401, 403, 404), response_class=Response
)
async def delete_task(task_id: str, ws: Editable, svc: Service) -> Response:
    with domain_errors():
        await TaskService(svc).delete(ws, task_id)
    return Response(status_code=204)

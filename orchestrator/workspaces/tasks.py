"""Workspace tasks: named reusable scripts (hooks, workflows and people run them)."""

from __future__ import annotations

from orchestrator.base import new_id, utcnow
from orchestrator.workspaces.errors import Conflict, NotFound
from orchestrator.workspaces.models import Workspace, WorkspaceTask
from orchestrator.workspaces.schemas import TaskIn, TaskOut
from orchestrator.workspaces.service import WorkspaceService


def task_out(task: WorkspaceTask) -> TaskOut:
    return TaskOut(
        id=task.id, name=task.name, working_directory=task.working_directory,
        script_type=task.script_type,  # type: ignore[arg-type]
        script=task.script, updated_at=task.updated_at,
    )  # fmt: skip


class TaskService:
    def __init__(self, workspaces: WorkspaceService) -> None:
        self.ws = workspaces
        self.repo = workspaces.repo

    async def all(self, ws: Workspace) -> list[WorkspaceTask]:
        return await self.repo.tasks(ws.id)

    async def get(self, ws: Workspace, task_id: str) -> WorkspaceTask:
        task = await self.repo.task(ws.id, task_id)
        if task is None:
            raise NotFound("No such task in this workspace.")
        return task

    async def _name_free(self, ws: Workspace, name: str, task_id: str | None = None) -> None:
        other = await self.repo.task_named(ws.id, name)
        if other is not None and other.id != task_id:
            raise Conflict(f"A task named {name} exists already.")

    async def create(self, ws: Workspace, body: TaskIn) -> WorkspaceTask:
        await self._name_free(ws, body.name)
        task = WorkspaceTask(id=new_id(), workspace_id=ws.id, **body.model_dump())
        await self.repo.add(task)
        await self.ws.audit("workspace.task_created", ws.id, task=task.name)
        return task

    async def update(self, ws: Workspace, task_id: str, body: TaskIn) -> WorkspaceTask:
        task = await self.get(ws, task_id)
        await self._name_free(ws, body.name, task.id)
        for field, value in body.model_dump().items():
            setattr(task, field, value)
        task.updated_at = utcnow()
        await self.repo.flush()
        await self.ws.audit("workspace.task_updated", ws.id, task=task.name)
        return task

    async def delete(self, ws: Workspace, task_id: str) -> None:
        task = await self.get(ws, task_id)
        await self.ws.audit("workspace.task_deleted", ws.id, task=task.name)
        await self.repo.remove(task)

"""Hooks: workspace configuration (people, through the API) and runs (the orchestrator worker).

Configuration follows workspace tasks: membership then permission (WorkspaceService.access),
names unique per workspace, every change audited. A hook runs either its task or its own
script, never both. Turning a disabled hook back on resets its failure count.
"""

from __future__ import annotations

from typing import Any

from orchestrator.base import new_id, utcnow
from orchestrator.hooks.models import Hook
from orchestrator.hooks.repository import HookRepository
from orchestrator.hooks.schemas import HookIn, HookOut, HookUpdate
from orchestrator.workspaces.errors import Conflict, Invalid, NotFound
from orchestrator.workspaces.models import Workspace
from orchestrator.workspaces.service import WorkspaceService

FIELDS = (
    "name", "event", "task_id", "script", "script_type", "timeout_seconds", "retries",
    "branch_glob", "enabled",
)  # fmt: skip


def hook_out(hook: Hook) -> HookOut:
    return HookOut.model_validate(hook, from_attributes=True)


class HookService:
    def __init__(self, workspaces: WorkspaceService) -> None:
        self.ws = workspaces
        self.repo = HookRepository(workspaces.repo.session)

    async def all(self, ws: Workspace) -> list[Hook]:
        return await self.repo.hooks(ws.id)

    async def get(self, ws: Workspace, hook_id: str) -> Hook:
        hook = await self.repo.hook(ws.id, hook_id)
        if hook is None:
            raise NotFound("No such hook in this workspace.")
        return hook

    async def _check(self, ws: Workspace, values: dict[str, Any], hook_id: str | None) -> None:
        other = await self.repo.named(ws.id, values["name"])
        if other is not None and other.id != hook_id:
            raise Conflict(f"A hook named {values['name']} exists already.")
        task_id, script = values["task_id"], values["script"]
        if task_id is not None:
            if script.strip():
                raise Invalid("script", "A hook runs its task or its own script, not both.")
            if await self.repo.task(ws.id, task_id) is None:
                raise Invalid("task_id", "No such task in this workspace.")
        elif not script.strip():
            raise Invalid("script", "Give the hook a script, or a task_id to run.")

    async def create(self, ws: Workspace, body: HookIn) -> Hook:
        values = body.model_dump()
        await self._check(ws, values, None)
        hook = Hook(id=new_id(), workspace_id=ws.id, consecutive_failures=0, **values)
        await self.repo.add(hook)
        await self.ws.audit("workspace.hook_created", ws.id, hook=hook.name, event=hook.event)
        return hook

    async def update(self, ws: Workspace, hook_id: str, body: HookUpdate) -> Hook:
        hook = await self.get(ws, hook_id)
        sent = body.model_dump(include=body.model_fields_set)
        sent = {k: v for k, v in sent.items() if v is not None or k == "task_id"}
        if sent.get("task_id") and "script" not in sent:
            sent["script"] = ""  # choosing a task replaces the inline script
        values = {f: sent.get(f, getattr(hook, f)) for f in FIELDS}
        await self._check(ws, values, hook.id)
        if values["enabled"] and not hook.enabled:
            hook.consecutive_failures = 0
            hook.disabled_reason = None
        for field, value in values.items():
            setattr(hook, field, value)
        hook.updated_at = utcnow()
        await self.repo.flush()
        await self.ws.audit("workspace.hook_updated", ws.id, hook=hook.name, fields=sorted(sent))
        return hook

    async def delete(self, ws: Workspace, hook_id: str) -> None:
        hook = await self.get(ws, hook_id)
        await self.ws.audit("workspace.hook_deleted", ws.id, hook=hook.name)
        await self.repo.remove(hook)

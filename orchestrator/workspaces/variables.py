"""Workspace environment variables: secret values are encrypted, write-only and audited.

A variable's secret flag never turns a stored secret into a readable value: every change
carries a new value, and an import never clears the flag of an existing secret variable.
"""

from __future__ import annotations

from typing import Literal

from orchestrator.base import new_id, utcnow
from orchestrator.logs import REDACTOR
from orchestrator.security.crypto import SecretBox
from orchestrator.workspaces import envfile
from orchestrator.workspaces.errors import Conflict, NotFound
from orchestrator.workspaces.models import Workspace, WorkspaceVariable
from orchestrator.workspaces.repository import WorkspaceRepository
from orchestrator.workspaces.schemas import ImportResult, VariableImport, VariableOut
from orchestrator.workspaces.sealed import variable_aad
from orchestrator.workspaces.service import WorkspaceService


def variable_out(var: WorkspaceVariable) -> VariableOut:
    return VariableOut(
        name=var.name, value=None if var.secret else var.value, secret=var.secret,
        updated_at=var.updated_at,
    )  # fmt: skip


class VariableService:
    def __init__(self, workspaces: WorkspaceService) -> None:
        self.ws = workspaces
        self.repo = workspaces.repo

    def _store(self, var: WorkspaceVariable, value: str, secret: bool) -> None:
        var.secret = secret
        if secret:
            REDACTOR.add(value)
            var.value = self.ws.box.encrypt(value, variable_aad(var))
        else:
            var.value = value
        var.updated_at = utcnow()

    async def _audit(self, action: str, ws: Workspace, var: WorkspaceVariable) -> None:
        await self.ws.audit(action, ws.id, variable=var.name, secret=var.secret)

    async def all(self, ws: Workspace) -> list[WorkspaceVariable]:
        return await self.repo.variables(ws.id)

    async def create(self, ws: Workspace, name: str, value: str, secret: bool) -> WorkspaceVariable:
        if await self.repo.variable(ws.id, name) is not None:
            raise Conflict(f"The variable {name} exists already.")
        var = WorkspaceVariable(id=new_id(), workspace_id=ws.id, name=name)
        self._store(var, value, secret)
        await self.repo.add(var)
        await self._audit("workspace.variable_set", ws, var)
        return var

    async def update(self, ws: Workspace, name: str, value: str, secret: bool) -> WorkspaceVariable:
        var = await self.repo.variable(ws.id, name)
        if var is None:
            raise NotFound(f"No variable named {name}.")
        self._store(var, value, secret)
        await self.repo.flush()
        await self._audit("workspace.variable_set", ws, var)
        return var

    async def delete(self, ws: Workspace, name: str) -> None:
        var = await self.repo.variable(ws.id, name)
        if var is None:
            raise NotFound(f"No variable named {name}.")
        await self._audit("workspace.variable_deleted", ws, var)
        await self.repo.remove(var)

    async def import_(self, ws: Workspace, body: VariableImport) -> ImportResult:
        entries = (
            envfile.parse_env(body.content)
            if body.format == "env"
            else envfile.parse_json(body.content)
        )
        existing = {v.name: v for v in await self.repo.variables(ws.id)}
        result = ImportResult(created=[], updated=[], skipped=[])
        for entry in {e.name: e for e in entries}.values():  # the last one of a name wins
            if entry.value is None:
                result.skipped.append(entry.name)
                continue
            secret = body.secret if entry.secret is None else entry.secret
            var = existing.get(entry.name)
            if var is None:
                var = WorkspaceVariable(id=new_id(), workspace_id=ws.id, name=entry.name)
                self._store(var, entry.value, secret)
                await self.repo.add(var)
                existing[var.name] = var
                result.created.append(var.name)
            else:
                self._store(var, entry.value, secret or var.secret)
                result.updated.append(var.name)
        await self.repo.flush()
        await self.ws.audit(
            "workspace.variables_imported", ws.id, format=body.format,
            created=result.created, updated=result.updated,
            secret=[n for n in result.created + result.updated if existing[n].secret],
        )  # fmt: skip
        return result

    async def export(self, ws: Workspace, fmt: Literal["env", "json"]) -> str:
        pairs = [(v.name, None if v.secret else v.value) for v in await self.repo.variables(ws.id)]
        return envfile.render_env(pairs) if fmt == "env" else envfile.render_json(pairs)


async def session_variables(
    repo: WorkspaceRepository, box: SecretBox, workspace_id: str
) -> tuple[dict[str, str], list[str]]:
    """Every variable of the workspace as a session's environment, secret values decrypted,
    and the names of the secret ones (the host redacts those values from everything it logs)."""
    values: dict[str, str] = {}
    secret: list[str] = []
    for var in await repo.variables(workspace_id):
        if var.secret:
            values[var.name] = box.decrypt(var.value, variable_aad(var))
            REDACTOR.add(values[var.name])
            secret.append(var.name)
        else:
            values[var.name] = var.value
    return values, secret

"""Personal Azure DevOps PATs: one per person and workspace, usable only on their behalf.

Nobody reads them back (not the owner, not an admin); the owner can replace or clear theirs,
and must see the workspace (be a member, or an admin) to store one for it.
"""

from __future__ import annotations

from orchestrator.base import new_id, utcnow
from orchestrator.logs import REDACTOR
from orchestrator.workspaces.errors import NotFound
from orchestrator.workspaces.models import PersonalPat
from orchestrator.workspaces.schemas import PersonalPatOut
from orchestrator.workspaces.sealed import personal_pat_aad
from orchestrator.workspaces.service import WorkspaceService


class PersonalPatService:
    def __init__(self, workspaces: WorkspaceService) -> None:
        self.ws = workspaces
        self.repo = workspaces.repo
        self.user_id = workspaces.principal.user_id

    async def all(self) -> list[PersonalPatOut]:
        return [
            PersonalPatOut(
                workspace_id=p.workspace_id, workspace_name=name, updated_at=p.updated_at
            )
            for p, name in await self.repo.personal_pats_of(self.user_id)
        ]

    async def set(self, workspace_id: str, value: str) -> None:
        ws = await self.ws.visible(workspace_id)
        REDACTOR.add(value)
        pat = await self.repo.personal_pat(self.user_id, ws.id)
        if pat is None:
            pat = PersonalPat(id=new_id(), user_id=self.user_id, workspace_id=ws.id)
            pat.value = self.ws.box.encrypt(value, personal_pat_aad(pat))
            await self.repo.add(pat)
        else:
            pat.value = self.ws.box.encrypt(value, personal_pat_aad(pat))
            pat.updated_at = utcnow()
            await self.repo.flush()
        await self.ws.audit("personal_pat.set", ws.id)

    async def clear(self, workspace_id: str) -> None:
        ws = await self.ws.visible(workspace_id)
        pat = await self.repo.personal_pat(self.user_id, ws.id)
        if pat is None:
            raise NotFound("You have no personal PAT for this workspace.")
        await self.repo.remove(pat)
        await self.ws.audit("personal_pat.cleared", ws.id)

    async def value(self, workspace_id: str) -> str | None:
        """The caller's own PAT, for the activity that acts on their behalf."""
        pat = await self.repo.personal_pat(self.user_id, workspace_id)
        return None if pat is None else self.ws.box.decrypt(pat.value, personal_pat_aad(pat))

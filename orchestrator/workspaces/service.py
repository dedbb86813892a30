"""Workspace logic: visibility, settings, the write-only git PAT, members.

Two layers decide access: membership (where) and permission (what). A workspace the caller
is not a member of does not exist for them (NotFound, 404) whatever their permissions; a
member without the permission gets Forbidden (403). Admins are members of everything.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client
from temporalio.service import RPCError

from orchestrator.audit.repository import AuditRepository
from orchestrator.auth.service import Principal
from orchestrator.base import new_id
from orchestrator.logs import REDACTOR
from orchestrator.schedules import apply_ticket_sync, remove_ticket_sync, sync_minutes
from orchestrator.security.crypto import SecretBox, SecretDecryptError
from orchestrator.users.models import User
from orchestrator.workspaces.errors import Conflict, Forbidden, Invalid, NotFound
from orchestrator.workspaces.models import Workspace
from orchestrator.workspaces.repository import WorkspaceRepository
from orchestrator.workspaces.schemas import (
    TICKETS,
    MemberOut,
    TicketConfig,
    WorkspaceCreate,
    WorkspaceOut,
    WorkspaceUpdate,
)
from orchestrator.workspaces.sealed import git_pat_aad

log = logging.getLogger(__name__)
PLAIN_FIELDS = (
    "name", "git_url", "default_branch",
    "prompt_chat", "prompt_develop", "prompt_merge_conflicts", "prompt_insights",
)  # fmt: skip


def workspace_out(ws: Workspace) -> WorkspaceOut:
    return WorkspaceOut(
        id=ws.id, name=ws.name, git_url=ws.git_url, default_branch=ws.default_branch,
        has_git_pat=ws.git_pat is not None,
        tickets=TICKETS.validate_python({**(ws.ticket_settings or {}), "source": ws.ticket_source}),
        prompt_chat=ws.prompt_chat, prompt_develop=ws.prompt_develop,
        prompt_merge_conflicts=ws.prompt_merge_conflicts, prompt_insights=ws.prompt_insights,
        created_by=ws.created_by, created_at=ws.created_at, updated_at=ws.updated_at,
    )  # fmt: skip


def member_out(user: User) -> MemberOut:
    return MemberOut(user_id=user.id, display_name=user.display_name, email=user.email)


class WorkspaceService:
    """`client` keeps the ticket sync schedules in step with the ticket settings."""

    def __init__(
        self, session: AsyncSession, box: SecretBox, principal: Principal, ip: str | None = None,
        client: Client | None = None,
    ) -> None:  # fmt: skip
        self.repo = WorkspaceRepository(session)
        self.audit_log = AuditRepository(session)
        self.box = box
        self.principal = principal
        self.ip = ip
        self.client = client

    async def _sync_schedule(self, ws: Workspace, gone: bool = False) -> None:
        """Create, change or remove the workspace's ticket sync schedule; a Temporal hiccup
        is logged (start-up reconciles the schedules with the settings)."""
        if self.client is None:
            return
        minutes = None if gone else sync_minutes(ws.ticket_source, ws.ticket_settings)
        try:
            if gone:
                await remove_ticket_sync(self.client, ws.id)
            else:
                await apply_ticket_sync(self.client, ws.id, minutes)
        except RPCError as exc:
            log.warning("Could not update the ticket sync schedule of %s: %s.", ws.id,
                        exc.message)  # fmt: skip

    async def audit(self, action: str, ws_id: str, **details: Any) -> None:
        await self.audit_log.add(
            action, actor_type="user", actor_id=self.principal.user_id,
            target_type="workspace", target_id=ws_id, ip=self.ip, details=details,
        )  # fmt: skip

    # -- visibility ------------------------------------------------------------------------

    async def visible(self, workspace_id: str) -> Workspace:
        ws = await self.repo.get(workspace_id)
        if ws is None or not (
            self.principal.is_admin or await self.repo.is_member(ws.id, self.principal.user_id)
        ):
            raise NotFound("No such workspace.")
        return ws

    async def access(self, workspace_id: str, permission: str) -> Workspace:
        ws = await self.visible(workspace_id)
        if not self.principal.can(permission):
            raise Forbidden(f"You need the {permission} permission for this.")
        return ws

    async def list_visible(self) -> list[Workspace]:
        if self.principal.is_admin:
            return await self.repo.list_all()
        return await self.repo.list_for(self.principal.user_id)

    # -- settings --------------------------------------------------------------------------

    async def ensure_name_free(self, name: str, workspace_id: str | None = None) -> None:
        other = await self.repo.by_name(name)
        if other is not None and other.id != workspace_id:
            raise Conflict(f"A workspace named {name} exists already.")

    def git_pat(self, ws: Workspace) -> str | None:
        """The stored token, decrypted for the git check only (never for a response)."""
        if ws.git_pat is None:
            return None
        try:
            value = self.box.decrypt(ws.git_pat, git_pat_aad(ws))
        except SecretDecryptError:
            raise Invalid(
                "git_pat",
                "The stored token cannot be decrypted (was the key changed?); set it again.",
            ) from None
        REDACTOR.add(value)
        return value

    def _set_tickets(self, ws: Workspace, tickets: TicketConfig) -> None:
        ws.ticket_source = tickets.source
        ws.ticket_settings = tickets.model_dump(exclude={"source"})

    def _set_pat(self, ws: Workspace, pat: str | None) -> None:
        REDACTOR.add(pat)
        ws.git_pat = None if pat is None else self.box.encrypt(pat, git_pat_aad(ws))

    async def create(self, body: WorkspaceCreate) -> Workspace:
        await self.ensure_name_free(body.name)
        ws = Workspace(id=new_id(), created_by=self.principal.user_id, ticket_settings={})
        for field in PLAIN_FIELDS:
            setattr(ws, field, getattr(body, field))
        self._set_tickets(ws, body.tickets)
        self._set_pat(ws, body.git_pat)  # bound to the id chosen above
        await self.repo.add(ws)
        await self.repo.add_member(ws.id, self.principal.user_id)
        await self.audit("workspace.created", ws.id, name=ws.name)
        if body.git_pat:
            await self.audit("workspace.git_pat_set", ws.id)
        await self._sync_schedule(ws)
        return ws

    @staticmethod
    def needs_git_check(ws: Workspace, body: WorkspaceUpdate) -> bool:
        sent = body.model_fields_set
        return (
            (body.git_url is not None and body.git_url != ws.git_url)
            or (body.default_branch is not None and body.default_branch != ws.default_branch)
            or "git_pat" in sent
        )

    async def update(self, ws: Workspace, body: WorkspaceUpdate) -> Workspace:
        if body.name is not None:
            await self.ensure_name_free(body.name, ws.id)
        changed = []
        for field in PLAIN_FIELDS:
            value = getattr(body, field)
            if value is not None and value != getattr(ws, field):
                setattr(ws, field, value)
                changed.append(field)
        if body.tickets is not None:
            self._set_tickets(ws, body.tickets)
            changed.append("tickets")
            await self._sync_schedule(ws)
        if "git_pat" in body.model_fields_set:
            self._set_pat(ws, body.git_pat)
            await self.audit(
                "workspace.git_pat_set" if body.git_pat else "workspace.git_pat_cleared", ws.id
            )
        if changed:
            await self.audit("workspace.updated", ws.id, fields=changed)
        await self.repo.flush()
        return ws

    async def delete(self, ws: Workspace) -> None:
        await self.audit("workspace.deleted", ws.id, name=ws.name)
        await self.repo.remove(ws)
        await self._sync_schedule(ws, gone=True)

    # -- members ---------------------------------------------------------------------------

    async def members(self, ws: Workspace) -> list[User]:
        return await self.repo.members(ws.id)

    async def add_member(self, ws: Workspace, user_id: str) -> bool:
        user = await self.repo.get_user(user_id)
        if user is None:
            raise NotFound("No such user.")
        added = await self.repo.add_member(ws.id, user.id)
        if added:
            await self.audit("workspace.member_added", ws.id, user_id=user.id)
        return added

    async def remove_member(self, ws: Workspace, user_id: str) -> None:
        if not await self.repo.remove_member(ws.id, user_id):
            raise NotFound("That user is not a member of this workspace.")
        await self.audit("workspace.member_removed", ws.id, user_id=user_id)

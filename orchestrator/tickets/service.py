"""Tickets from the API: rows in the database, decisions on Temporal.

A ticket's row is written first and committed, then `ticket-<id>` starts; every later change
of stage (queue, approve, reject, skip to merge, cancel, pull request merged) is a workflow
update, so the workflow's validators decide what is allowed and double clicks collapse by
update id. Editing is for Pending tickets only.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.service import RPCError, RPCStatusCode

from orchestrator.auth.service import Principal
from orchestrator.config import ServerSettings
from orchestrator.contracts.tickets import TERMINAL, Actor, TicketState
from orchestrator.queues import ORCHESTRATOR_QUEUE, SA_STAGE, SA_TICKET_KEY, SA_WORKSPACE
from orchestrator.sessions.service import runs_url
from orchestrator.settings.service import SettingsService
from orchestrator.tickets.config import TicketConfigService
from orchestrator.tickets.models import Ticket, TicketAttachment
from orchestrator.tickets.repository import TicketRepository
from orchestrator.tickets.schemas import TicketCreate, TicketFields, TicketOut, TicketPatch
from orchestrator.users.repository import UserRepository
from orchestrator.workspaces.errors import Conflict, Invalid, NotFound, Unavailable
from orchestrator.workspaces.models import Workspace
from orchestrator.workspaces.repository import WorkspaceRepository

EDITABLE = (
    "title", "description", "priority", "tags", "developer_id", "qa_id", "provider", "model",
    "preset", "budget_usd", "force_no_dev", "force_no_qa", "skip_to_merge", "best_of",
)  # fmt: skip


def workflow_id(ticket_id: str) -> str:
    return f"ticket-{ticket_id}"


def actor_of(principal: Principal) -> Actor:
    return Actor(actor_type="user", actor_id=principal.user_id, actor_name=principal.name)


class TicketService:
    def __init__(
        self,
        session: AsyncSession,
        principal: Principal,
        client: Client | None,
        settings: ServerSettings,
    ) -> None:
        self.db = session
        self.repo = TicketRepository(session)
        self.principal = principal
        self.client = client
        self.settings = settings

    def _client(self) -> Client:
        if self.client is None:
            raise Unavailable("Temporal is not connected yet.")
        return self.client

    def handle(self, row: Ticket) -> WorkflowHandle[Any, Any]:
        return self._client().get_workflow_handle(row.workflow_id or workflow_id(row.id))

    # -- access and reading --------------------------------------------------------------------

    async def visible(self, ticket_id: str) -> Ticket:
        """The ticket, if the caller sees its workspace (else 404, like a missing one)."""
        row = await self.repo.get(ticket_id)
        if row is None or not (
            self.principal.is_admin
            or await WorkspaceRepository(self.db).is_member(
                row.workspace_id, self.principal.user_id
            )
        ):
            raise NotFound("No such ticket.")
        return row

    async def out(self, row: Ticket) -> TicketOut:
        return (await self.outs([row]))[0]

    async def outs(self, rows: list[Ticket]) -> list[TicketOut]:
        spent = await self.repo.spent_many([r.id for r in rows])
        ui = self.settings.effective_temporal_ui_url
        out = []
        for row in rows:
            wid = row.workflow_id or workflow_id(row.id)
            data = {c: getattr(row, c) for c in TicketOut.model_fields if hasattr(row, c)}
            data.update(
                spent_usd=round(spent.get(row.id, 0.0), 6),
                temporal_url=runs_url(ui, self.settings.temporal_namespace, wid) if ui else None,
                blocker_ids=await self.repo.blocker_ids(row.id),
                attachment_ids=await self.repo.attachment_ids(row.id), tags=list(row.tags or []),
            )  # fmt: skip
            out.append(TicketOut.model_validate(data))
        return out

    # -- creating and editing ------------------------------------------------------------------

    async def _check(self, ws: Workspace, body: TicketFields, row: Ticket | None) -> None:
        """Refuse values only the database can judge, naming the field."""
        users = UserRepository(self.db)
        for field in ("developer_id", "qa_id"):
            uid = getattr(body, field)
            if uid is not None and await users.get(uid) is None:
                raise Invalid(field, f"No user {uid}.")
        if body.provider is not None or body.model is not None:
            provider = body.provider or (row.provider if row else "claude-code")
            await SettingsService(self.db).usable(provider, body.model)
        for n, c in enumerate(body.best_of or []):
            try:
                await SettingsService(self.db).usable(c.provider, c.model)
            except Invalid as exc:
                raise Invalid(f"best_of.{n}", exc.message) from None
        if body.blocker_ids:
            if row is not None and row.id in body.blocker_ids:
                raise Invalid("blocker_ids", "A ticket cannot block itself.")
            found = await self.repo.in_workspace(ws.id, body.blocker_ids)
            missing = sorted(set(body.blocker_ids) - set(found))
            if missing:
                raise Invalid("blocker_ids", f"No ticket {missing[0]} in this workspace.")

    async def create(self, ws: Workspace, body: TicketCreate, source: str = "manual",
                     external_id: str | None = None) -> Ticket:  # fmt: skip
        """Write the row, then start its workflow (the row goes again if Temporal says no)."""
        client = self._client()
        await self._check(ws, body, None)
        configs = TicketConfigService(self.db)
        config = await self.repo.config(ws.id)
        number, key = await configs.allocate_key(ws)
        row = Ticket(
            workspace_id=ws.id, number=number, key=key, title=body.title,
            description=body.description or "", priority=body.priority or "normal",
            tags=list(dict.fromkeys(body.tags or [])), developer_id=body.developer_id,
            qa_id=body.qa_id, provider=body.provider or "claude-code", model=body.model,
            preset=body.preset,
            best_of=[c.model_dump() for c in body.best_of or []],
            budget_usd=body.budget_usd or (config.default_ticket_budget_usd if config else None),
            force_no_dev=bool(body.force_no_dev), force_no_qa=bool(body.force_no_qa),
            skip_to_merge=bool(body.skip_to_merge), stage="pending",
            created_by=self.principal.user_id or None, source=source, external_id=external_id,
        )  # fmt: skip
        await self.repo.add(row)
        row.workflow_id = workflow_id(row.id)
        if body.blocker_ids:
            await self.repo.set_blockers(row.id, body.blocker_ids)
        await self.db.commit()
        state = TicketState(
            ticket_id=row.id, workspace_id=ws.id, key=key, queue=body.queue,
            queued_by=actor_of(self.principal) if body.queue else None,
        )  # fmt: skip
        try:
            await client.start_workflow(
                "TicketWorkflow", state, id=row.workflow_id, task_queue=ORCHESTRATOR_QUEUE,
                search_attributes=TypedSearchAttributes([
                    SearchAttributePair(SA_WORKSPACE, ws.id),
                    SearchAttributePair(SA_TICKET_KEY, key),
                    SearchAttributePair(SA_STAGE, "pending"),
                ]),
            )  # fmt: skip
        except RPCError as exc:
            await self.db.delete(row)
            await self.db.commit()
            raise Unavailable(f"Temporal refused to start the ticket: {exc.message}.") from None
        return row

    async def patch(self, ws: Workspace, row: Ticket, body: TicketPatch) -> Ticket:
        if row.stage != "pending":
            raise Conflict(f"Only a Pending ticket can be edited (this one is {row.stage}).")
        await self._check(ws, body, row)
        for field in EDITABLE:
            value = getattr(body, field)
            if field == "tags" and value is not None:
                value = list(dict.fromkeys(value))
            elif field == "best_of" and value is not None:
                value = [c.model_dump() for c in value]
            if value is not None:
                setattr(row, field, value)
        if body.blocker_ids is not None:
            await self.repo.set_blockers(row.id, body.blocker_ids)
        await self.db.commit()
        return row

    async def delete(self, row: Ticket) -> None:
        """A Pending or finished ticket goes with its history; a running one must be
        canceled first."""
        if row.stage != "pending" and row.stage not in TERMINAL:
            raise Conflict(f"Cancel the ticket first (it is {row.stage}).")
        if row.stage == "pending":
            try:
                await self.handle(row).terminate("ticket deleted")
            except RPCError as exc:
                if exc.status != RPCStatusCode.NOT_FOUND:
                    raise Unavailable(
                        f"Temporal did not take the request: {exc.message}."
                    ) from None
        await self.db.delete(row)
        await self.db.commit()

    async def attach(
        self, row: Ticket, name: str, content_type: str, data: bytes
    ) -> TicketAttachment:
        att = TicketAttachment(
            ticket_id=row.id, name=name[:255] or "attachment",
            content_type=content_type[:200] or "application/octet-stream", size=len(data),
            data=data, created_by=self.principal.user_id or None,
        )  # fmt: skip
        await self.repo.add_attachment(att)
        await self.db.commit()
        return att

    # -- steering ------------------------------------------------------------------------------

    async def update(
        self, row: Ticket, name: str, arg: Any = None, update_id: str | None = None
    ) -> Any:
        handle = self.handle(row)
        # End the read transaction first: updates wait on activities that need connections.
        await self.db.commit()
        try:
            if arg is None:
                return await handle.execute_update(name, id=update_id)
            return await handle.execute_update(name, arg, id=update_id)
        except WorkflowUpdateFailedError as exc:
            cause = exc.cause
            raise Conflict(str(getattr(cause, "message", None) or cause or exc)) from None
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                raise Conflict(f"The ticket has ended ({row.stage}).") from None
            raise Unavailable(f"Temporal did not take the request: {exc.message}.") from None

"""Starting and steering sessions from the API: rows in the database, decisions on Temporal.

A session's row is written first and committed, then `session-<id>` starts; every later
action (message, cancel, complete, reset, settings, dispose) is a workflow update, so the
workflow's validators decide what is allowed and double clicks collapse by update id.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.service import RPCError, RPCStatusCode

from orchestrator.auth.service import Principal
from orchestrator.base import new_id, utcnow
from orchestrator.config import ServerSettings
from orchestrator.contracts.sessions import (
    Attachment,
    SendMessage,
    SessionSettings,
    SessionState,
)
from orchestrator.hosts.repository import HostRepository
from orchestrator.queues import ORCHESTRATOR_QUEUE, SA_PROVIDER, SA_WORKSPACE
from orchestrator.sessions.models import Session, SessionAttachment
from orchestrator.sessions.repository import SessionRepository
from orchestrator.sessions.schemas import (
    CostOut,
    CostPage,
    MessageIn,
    SessionCreate,
    SessionOut,
    SessionPatch,
    Toggles,
)
from orchestrator.settings.service import SettingsService
from orchestrator.workspaces.errors import Conflict, Invalid, Unavailable
from orchestrator.workspaces.models import Workspace
from orchestrator.workspaces.validation import branch_problem


def workflow_id(session_id: str) -> str:
    return f"session-{session_id}"


def runs_url(ui: str, namespace: str, wid: str) -> str:
    """The Temporal UI's list of every run of the workflow (continue-as-new makes several)."""
    return f"{ui}/namespaces/{namespace}/workflows?query=" + quote(f'WorkflowId="{wid}"')


class SessionService:
    def __init__(
        self,
        session: AsyncSession,
        principal: Principal,
        client: Client | None,
        settings: ServerSettings,
    ) -> None:
        self.db = session
        self.repo = SessionRepository(session)
        self.hosts = HostRepository(session)
        self.principal = principal
        self.client = client
        self.settings = settings

    def _client(self) -> Client:
        if self.client is None:
            raise Unavailable("Temporal is not connected yet.")
        return self.client

    def _handle(self, row: Session) -> WorkflowHandle[Any, Any]:
        return self._client().get_workflow_handle(row.workflow_id or workflow_id(row.id))

    # -- reading -------------------------------------------------------------------------------

    async def out(self, row: Session) -> SessionOut:
        return (await self.outs([row]))[0]

    async def outs(self, rows: list[Session]) -> list[SessionOut]:
        """The sessions as the API shows them; a few queries for the whole page, not per row."""
        ids = [r.id for r in rows]
        me = self.principal.user_id
        online = {
            w.host_id: w.online for w in await self.hosts.list_workers() if w.kind == "session"
        }
        reads = await self.repo.read_cursors(me, ids)
        lasts = await self.repo.last_cursors(ids)
        unread = await self.repo.unread_counts(me, ids)
        ui = self.settings.effective_temporal_ui_url
        out = []
        for row in rows:
            wid = row.workflow_id or workflow_id(row.id)
            data = {c: getattr(row, c) for c in SessionOut.model_fields if hasattr(row, c)}
            data.update(
                toggles=Toggles.of(list(row.toggles or [])),
                host_online=online.get(row.host_id) if row.host_id else None,
                temporal_url=runs_url(ui, self.settings.temporal_namespace, wid) if ui else None,
                last_cursor=lasts.get(row.id, 0), read_cursor=reads.get(row.id, 0),
                unread=unread.get(row.id, 0),
            )  # fmt: skip
            out.append(SessionOut.model_validate(data))
        return out

    async def list(
        self, ws: Workspace, status: str | None, limit: int, offset: int
    ) -> tuple[list[SessionOut], int]:
        """Everyone's sessions with sessions.view_all, else only the caller's own."""
        if not (self.principal.can("sessions.view_all") or self.principal.can("sessions.view_own")):
            return [], 0
        mine = None if self.principal.can("sessions.view_all") else self.principal.user_id
        rows, total = await self.repo.list_for_workspace(ws.id, status, mine, limit, offset)
        return await self.outs(rows), total

    async def costs(self, row: Session) -> CostPage:
        items = [
            CostOut.model_validate(c, from_attributes=True) for c in await self.repo.costs(row.id)
        ]
        turns = [c.cost_usd or 0.0 for c in items if c.kind == "turn"]
        return CostPage(items=items, total_usd=round(sum(turns), 6))

    # -- starting ------------------------------------------------------------------------------

    async def create(
        self, ws: Workspace, body: SessionCreate, *, host_id: str | None = None,
        ticket_id: str | None = None, budget_usd: float | None = None,
    ) -> Session:  # fmt: skip
        """Write the row, then start its workflow (the row is removed again if Temporal says no).

        A ticket's session is pinned to the host its ticket was admitted on, tells the ticket
        when its work stops, and is capped by the ticket's budget."""
        client = self._client()
        base = body.base_branch or ws.default_branch
        problem = branch_problem(base)
        if problem:
            raise Invalid("base_branch", problem)
        await SettingsService(self.db).usable(body.provider, body.model)
        sid = new_id()
        row = Session(
            id=sid, workspace_id=ws.id, title=body.title or (body.message or "")[:80],
            mode=body.mode, status="waiting", provider=body.provider, model=body.model,
            base_branch=base, branch=f"polygent/{sid[:8]}",
            created_by=self.principal.user_id or None, workflow_id=workflow_id(sid),
            dev_mode=body.dev_mode, auto_turn_limit=body.auto_turn_limit,
            toggles=body.toggles.enabled(), host_id=host_id, ticket_id=ticket_id,
        )  # fmt: skip
        self.db.add(row)
        await self.db.commit()
        state = SessionState(
            session_id=sid, workspace_id=ws.id, mode=body.mode, provider=body.provider,
            model=body.model, base_branch=base, branch=row.branch or "", dev_mode=body.dev_mode,
            auto_turn_limit=body.auto_turn_limit, toggles=body.toggles.enabled(),
            heartbeat_timeout_seconds=self.settings.turn_heartbeat_timeout_seconds,
            turns_per_run=self.settings.session_turns_per_run, host_id=host_id,
            ticket_id=ticket_id, budget_usd=budget_usd,
        )  # fmt: skip
        try:
            await client.start_workflow(
                "SessionWorkflow", state, id=workflow_id(sid), task_queue=ORCHESTRATOR_QUEUE,
                search_attributes=TypedSearchAttributes([
                    SearchAttributePair(SA_WORKSPACE, ws.id),
                    SearchAttributePair(SA_PROVIDER, body.provider),
                ]),
            )  # fmt: skip
        except RPCError as exc:
            await self.db.delete(row)
            await self.db.commit()
            raise Unavailable(f"Temporal refused to start the session: {exc.message}.") from None
        if body.message:
            await self.send(row, MessageIn(text=body.message))
        return row

    # -- steering ------------------------------------------------------------------------------

    async def _update(
        self, row: Session, name: str, arg: Any = None, update_id: str | None = None
    ) -> Any:
        handle = self._handle(row)
        # End the read transaction first: the update waits on activities that need database
        # connections of their own, and a request holding one for seconds could drain the pool.
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
                raise Conflict(f"The session has ended ({row.status}).") from None
            raise Unavailable(f"Temporal did not take the request: {exc.message}.") from None

    async def send(self, row: Session, body: MessageIn) -> int:
        attachments: list[Attachment] = []
        for aid in body.attachment_ids:
            att = await self.repo.attachment(row.id, aid)
            if att is None:
                raise Invalid("attachment_ids", f"No attachment {aid} in this session.")
            attachments.append(Attachment(id=att.id, name=att.name))
        msg = SendMessage(
            text=body.text, author=self.principal.name, author_id=self.principal.user_id,
            attachments=attachments,
        )  # fmt: skip
        update_id = f"message-{body.request_id}" if body.request_id else None
        pending: int = await self._update(row, "send_message", msg, update_id)
        return pending

    async def act(self, row: Session, name: str) -> None:
        """cancel, complete or reset_context."""
        await self._update(row, name)

    async def patch(self, row: Session, body: SessionPatch) -> None:
        if body.title is not None:
            row.title = body.title
            await self.db.commit()
        change = SessionSettings(
            dev_mode=body.dev_mode, auto_turn_limit=body.auto_turn_limit,
            toggles=body.toggles.enabled() if body.toggles is not None else None,
        )  # fmt: skip
        if change.model_dump(exclude_none=True):
            await self._update(row, "configure", change)

    async def dispose(self, row: Session) -> None:
        """End the session if it runs, remove its worktree, and hide it from every list."""
        try:
            await self._update(row, "dispose")
        except Conflict:  # the workflow has ended: a short run removes the worktree
            if row.host_id is not None:
                await self._start_disposal(row)
        row.disposed_at = utcnow()
        await self.db.commit()

    async def _start_disposal(self, row: Session) -> None:
        state = SessionState(
            session_id=row.id, workspace_id=row.workspace_id, mode=row.mode,  # type: ignore[arg-type]
            provider=row.provider, base_branch=row.base_branch or "", branch=row.branch or "",
            host_id=row.host_id, worktree_path="", dispose=True,
            canceled=row.status != "done", completed=row.status == "done",
        )  # fmt: skip
        try:
            await self._client().start_workflow(
                "SessionWorkflow", state, id=workflow_id(row.id), task_queue=ORCHESTRATOR_QUEUE
            )
        except RPCError as exc:
            raise Unavailable(
                f"Temporal refused to dispose of the session: {exc.message}."
            ) from None

    async def attach(
        self, row: Session, name: str, content_type: str, data: bytes
    ) -> SessionAttachment:
        att = SessionAttachment(
            session_id=row.id, name=name[:255] or "attachment",
            content_type=content_type[:200] or "application/octet-stream", size=len(data),
            data=data, created_by=self.principal.user_id,
        )  # fmt: skip
        await self.repo.add_attachment(att)
        await self.db.commit()
        return att

    async def mark_read(self, row: Session, cursor: int) -> None:
        await self.repo.mark_read(self.principal.user_id, row.id, cursor)
        await self.db.commit()

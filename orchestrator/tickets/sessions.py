"""A ticket's Develop session, through the same path as POST /api/workspaces/{id}/sessions:
started on the host the ticket was admitted on (Auto mode, the ticket's provider, model and
budget), then steered by updates: the feedback of a rejection is its next message, and the
ticket's end completes or cancels it. Every step is safe to retry (request ids, lookups).
The pull request of the session's branch is tickets/pull_requests.py's."""

from __future__ import annotations

import contextlib

from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client

from orchestrator.auth.service import Principal
from orchestrator.config import ServerSettings
from orchestrator.contracts.tickets import EndSessionInput, FeedbackInput
from orchestrator.sessions.models import Session, SessionAttachment
from orchestrator.sessions.repository import SessionRepository
from orchestrator.sessions.schemas import MessageIn, SessionCreate
from orchestrator.sessions.service import SessionService
from orchestrator.tickets.models import Ticket
from orchestrator.tickets.repository import TicketRepository
from orchestrator.workspaces.errors import Conflict
from orchestrator.workspaces.models import Workspace
from orchestrator.workspaces.repository import WorkspaceRepository

MAX_MESSAGE = 100_000


def first_message(t: Ticket) -> str:
    text = f"{t.key}: {t.title}"
    if t.description.strip():
        text += "\n\n" + t.description.strip()
    return text[:MAX_MESSAGE]


class TicketSessions:
    def __init__(self, db: AsyncSession, client: Client, settings: ServerSettings) -> None:
        self.db = db
        self.repo = TicketRepository(db)
        self.client = client
        self.settings = settings

    def _service(self, user_id: str | None, name: str) -> SessionService:
        who = Principal(user_id or "", name, None, frozenset(), "")
        return SessionService(self.db, who, self.client, self.settings)

    async def _copy(self, t: Ticket, row: Session, ids: list[str]) -> list[str]:
        """The ticket's files as the session's attachments (the host fetches those)."""
        out = []
        for aid in ids:
            att = await self.repo.attachment(t.id, aid)
            if att is None:
                continue
            copy = SessionAttachment(
                session_id=row.id, name=att.name, content_type=att.content_type, size=att.size,
                data=att.data,
            )  # fmt: skip
            await SessionRepository(self.db).add_attachment(copy)
            out.append(copy.id)
        await self.db.commit()
        return out

    async def start(self, ticket_id: str) -> str:
        """The ticket's session (made and given its first message once)."""
        t = await self.repo.get(ticket_id)
        ws = await WorkspaceRepository(self.db).get(t.workspace_id) if t else None
        if t is None or ws is None:
            raise LookupError(ticket_id)
        svc = self._service(t.created_by, f"Ticket {t.key}")
        row = await self.repo.session_of(t.id)
        if row is None:
            body = SessionCreate(
                title=f"{t.key}: {t.title}"[:300], mode="develop", provider=t.provider,  # type: ignore[arg-type]
                model=t.model, dev_mode="auto",
            )  # fmt: skip
            row = await self._create(t, ws, svc, body)
        t = await self.repo.get(ticket_id)
        assert t is not None
        t.session_id = row.id
        await self._first_message(t, svc, row, f"ticket-{t.id}-1")
        return row.id

    async def _create(
        self, t: Ticket, ws: Workspace, svc: SessionService, body: SessionCreate
    ) -> Session:
        """A session of the ticket: on its host, capped by its budget."""
        return await svc.create(
            ws, body, host_id=t.host_id, ticket_id=t.id, budget_usd=t.budget_usd
        )

    async def _first_message(
        self, t: Ticket, svc: SessionService, row: Session, request_id: str
    ) -> None:
        """The ticket's key, title, description and files as the session's first message
        (once, by `request_id`)."""
        files = await self._copy(t, row, await self.repo.attachment_ids(t.id))
        msg = MessageIn(text=first_message(t), attachment_ids=files, request_id=request_id)
        await svc.send(row, msg)

    async def feedback(self, inp: FeedbackInput) -> None:
        t = await self.repo.get(inp.ticket_id)
        row = await SessionRepository(self.db).get(inp.session_id)
        if t is None or row is None:
            raise LookupError(inp.ticket_id)
        files = await self._copy(t, row, inp.attachment_ids)
        msg = MessageIn(text=inp.text[:MAX_MESSAGE], attachment_ids=files,
                        request_id=f"ticket-{t.id}-{inp.iteration}")  # fmt: skip
        await self._service(inp.author_id, inp.author).send(row, msg)

    async def end(self, inp: EndSessionInput) -> None:
        row = await SessionRepository(self.db).get(inp.session_id)
        if row is None:
            return
        with contextlib.suppress(Conflict):  # it has ended already
            await self._service(None, "Polygent").act(row, "complete" if inp.complete else "cancel")

"""What TicketWorkflow asks of the database, through its control activities.

Each method is one unit of work the activity commits. Stage changes are keyed by the
workflow's transition number, so a retried activity writes each change once.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from orchestrator.base import utcnow
from orchestrator.contracts.session_panel import Author, GitRemoteInput
from orchestrator.contracts.tickets import (
    TERMINAL,
    AdmitInput,
    AdmitResult,
    RemindInput,
    TicketFlow,
    TransitionInput,
    TransitionResult,
)
from orchestrator.logs import REDACTOR
from orchestrator.notifications.service import NotificationService
from orchestrator.secrets.service import SecretRefService
from orchestrator.security.crypto import SecretBox
from orchestrator.tickets.config import TicketConfigService, next_eligible
from orchestrator.tickets.models import Ticket
from orchestrator.tickets.queue import plan, why_waiting
from orchestrator.tickets.repository import TicketRepository
from orchestrator.users.repository import UserRepository
from orchestrator.workspaces.repository import WorkspaceRepository
from orchestrator.workspaces.sealed import git_pat_aad

STAGE_NAMES = {"dev": "Developer Approval", "qa": "QA Approval"}
PERMISSION = {"dev": "tickets.approve_dev", "qa": "tickets.approve_qa"}


class TicketGone(LookupError):
    """The ticket row is gone (deleted, or with its workspace): the workflow should end."""


class TicketControl:
    def __init__(self, session: AsyncSession, box: SecretBox) -> None:
        self.db = session
        self.repo = TicketRepository(session)
        self.box = box

    async def _ticket(self, ticket_id: str, lock: bool = False) -> Ticket:
        row = await (self.repo.lock(ticket_id) if lock else self.repo.get(ticket_id))
        if row is None:
            raise TicketGone(ticket_id)
        return row

    async def transition(self, inp: TransitionInput) -> TransitionResult:
        """Write the stage change and its history row, once."""
        t = await self._ticket(inp.ticket_id, lock=True)
        now = inp.now or utcnow()
        a = inp.actor
        added = await self.repo.add_transition(
            ticket_id=t.id, seq=inp.seq, from_stage=t.stage, to_stage=inp.to_stage,
            actor_type=a.actor_type, actor_id=a.actor_id, actor_name=a.actor_name[:200],
            note=inp.note, attachment_ids=inp.attachment_ids, iteration=inp.iteration,
            qa_round=inp.qa_round, at=now,
        )  # fmt: skip
        if not added:  # a retry of a change already written
            return TransitionResult(stage=t.stage, eligible_at=t.eligible_at)  # type: ignore[arg-type]
        t.stage, t.iteration, t.qa_round = inp.to_stage, inp.iteration, inp.qa_round
        if inp.to_stage == "queued":
            t.queued_at = now
            hour = await TicketConfigService(self.db).low_priority_hour()
            t.eligible_at = next_eligible(now, hour) if t.priority == "low" else None
        if inp.to_stage in TERMINAL:
            t.ended_at = now
            t.failure = inp.failure
        return TransitionResult(stage=inp.to_stage, eligible_at=t.eligible_at)

    async def admit(self, inp: AdmitInput) -> AdmitResult:
        """Start the ticket now if the queue's plan gives it a host (see tickets/queue.py)."""
        await self.repo.lock_admission()
        t = await self.repo.get(inp.ticket_id)
        if t is None:
            return AdmitResult(gone=True, reason="The ticket no longer exists.")
        if t.stage != "queued":
            done = [x for x in await self.repo.transitions(t.id) if x.seq == inp.seq]
            if done and t.host_id:  # this admission committed already: the activity retried
                return AdmitResult(admitted=True, host_id=t.host_id, flow=await self.flow(t.id))
            return AdmitResult(reason=f"The ticket is {t.stage}, not queued.")
        if t.eligible_at is not None and inp.now < t.eligible_at:
            return AdmitResult(
                eligible_at=t.eligible_at,
                reason=f"Low priority: waits for {t.eligible_at:%Y-%m-%d %H:%M} UTC.",
            )
        p = await plan(self.db, inp.now, t)
        host = p.starts.get(t.id)
        if host is None:
            return AdmitResult(reason=why_waiting(t, p))
        await self.repo.add_transition(
            ticket_id=t.id, seq=inp.seq, from_stage="queued", to_stage="implementation",
            actor_type="system", actor_name="Polygent", note=f"Started on host {host}.",
            iteration=1, qa_round=0, at=inp.now,
        )  # fmt: skip
        t.stage, t.host_id, t.iteration, t.started_at = "implementation", host, 1, inp.now
        return AdmitResult(admitted=True, host_id=host, flow=await self.flow(t.id))

    async def flow(self, ticket_id: str) -> TicketFlow:
        t = await self._ticket(ticket_id)
        config = await self.repo.config(t.workspace_id)
        return TicketFlow(
            lifecycle=(config.lifecycle if config else "qa_first"),  # type: ignore[arg-type]
            merge_mode=(config.merge_mode if config else "pull_request"),  # type: ignore[arg-type]
            dev_approval=not t.force_no_dev,
            qa_approval=not (t.force_no_qa or (config is not None and config.skip_qa)),
            skip_to_merge=t.skip_to_merge,
            reminder_hours=(config.approval_reminder_hours if config else 24) or 24,
            best_of=len(t.best_of or []),
        )  # fmt: skip

    async def git_input(self, ticket_id: str, purpose: str) -> GitRemoteInput:
        """Push or merge the ticket's session branch, with a fresh single-use reference to the
        workspace token (each try mints its own)."""
        t = await self._ticket(ticket_id)
        session = await self.repo.session_of(t.id)
        ws = await WorkspaceRepository(self.db).get(t.workspace_id)
        if session is None or ws is None:
            raise TicketGone(ticket_id)
        ref = None
        if ws.git_pat:
            pat = self.box.decrypt(ws.git_pat, git_pat_aad(ws))
            REDACTOR.add(pat)
            ref = await SecretRefService(self.db, self.box).mint(
                purpose, pat, workspace_id=ws.id, ttl=timedelta(minutes=5)
            )
        return GitRemoteInput(
            workspace_id=ws.id, session_id=session.id, git_url=ws.git_url,
            branch=session.branch or "", base_branch=session.base_branch or ws.default_branch,
            author=await self.author(t), secret_ref=ref,
        )  # fmt: skip

    async def author(self, t: Ticket) -> Author:
        """Commits are the developer's (else the creator's), by name and address."""
        for uid in (t.developer_id, t.created_by):
            user = await UserRepository(self.db).get(uid) if uid else None
            if user is not None:
                name = (user.display_name or "").strip()[:200] or "Polygent user"
                return Author(name=name, email=user.email or f"{user.id}@users.polygent.invalid")
        return Author(name="Polygent", email="tickets@polygent.invalid")

    async def remind(self, inp: RemindInput) -> int:
        """Tell the person the approval waits for (else everyone who may give it)."""
        t = await self._ticket(inp.ticket_id)
        if t.stage != f"{inp.role}_approval":
            return 0
        notes = NotificationService(self.db)
        title = f"{t.key} waits for {STAGE_NAMES[inp.role]}"
        body = f"{t.title} has waited {inp.waited_hours} h for {STAGE_NAMES[inp.role]}."
        link = f"/tickets/{t.id}"
        person = t.developer_id if inp.role == "dev" else t.qa_id
        if person is not None:
            sent = await notes.notify([person], "ticket.approval", title, body, link, "Open ticket")
        else:
            sent = await notes.to_holders(
                PERMISSION[inp.role], t.workspace_id, "ticket.approval", title, body, link,
                "Open ticket",
            )  # fmt: skip
        return len(sent)

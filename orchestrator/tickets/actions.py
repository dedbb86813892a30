"""What people do to a ticket once it exists: queue, approve, reject, skip to merge, cancel,
mark its pull request merged; comments; the history grouped by QA round.

Permission to decide is checked here against the stage the ticket waits in (Developer
Approval needs tickets.approve_dev, QA Approval tickets.approve_qa); the workflow's
validators check the stage again, so a decision that raced a change is refused (409).
"""

from __future__ import annotations

from orchestrator.contracts.tickets import Decision
from orchestrator.tickets.models import Ticket, TicketComment, TicketTransition
from orchestrator.tickets.schemas import (
    CommentIn,
    CommentOut,
    DecisionIn,
    HistoryOut,
    IterationOut,
    RoundOut,
    TransitionOut,
)
from orchestrator.tickets.service import TicketService, actor_of
from orchestrator.workspaces.errors import Conflict, Forbidden, Invalid

APPROVER = {"dev_approval": ("dev", "tickets.approve_dev"),
            "qa_approval": ("qa", "tickets.approve_qa")}  # fmt: skip


class TicketActions:
    def __init__(self, svc: TicketService) -> None:
        self.svc = svc
        self.repo = svc.repo
        self.principal = svc.principal

    async def _attachments(self, row: Ticket, ids: list[str]) -> list[str]:
        for aid in ids:
            if await self.repo.attachment(row.id, aid) is None:
                raise Invalid("attachment_ids", f"No attachment {aid} on this ticket.")
        return ids

    async def queue(self, row: Ticket) -> None:
        await self.svc.update(row, "queue", actor_of(self.principal), f"queue-{row.id}")

    async def decide(self, row: Ticket, approve: bool, body: DecisionIn) -> None:
        if row.stage not in APPROVER:
            raise Conflict(f"The ticket is not waiting for an approval (it is {row.stage}).")
        role, permission = APPROVER[row.stage]
        if not self.principal.can(permission):
            raise Forbidden(f"You need the {permission} permission for this.")
        if not approve and not body.feedback.strip():
            raise Invalid("feedback", "Say what needs to change.")
        decision = Decision(
            **actor_of(self.principal).model_dump(), role=role, feedback=body.feedback,
            attachment_ids=await self._attachments(row, body.attachment_ids),
        )  # fmt: skip
        name = "approve" if approve else "reject"
        update_id = f"{name}-{body.request_id}" if body.request_id else None
        await self.svc.update(row, name, decision, update_id)

    async def skip_to_merge(self, row: Ticket) -> None:
        await self.svc.update(row, "skip_to_merge", actor_of(self.principal))

    async def cancel(self, row: Ticket) -> None:
        await self.svc.update(row, "cancel", actor_of(self.principal), f"cancel-{row.id}")

    async def pull_request(self, row: Ticket, merged: bool) -> None:
        name = "pr_merged" if merged else "pr_closed"
        await self.svc.update(row, name, actor_of(self.principal), f"{name}-{row.id}")

    # -- comments and history ------------------------------------------------------------------

    async def comment(self, row: Ticket, body: CommentIn) -> CommentOut:
        c = TicketComment(
            ticket_id=row.id, author_id=self.principal.user_id or None,
            author_name=self.principal.name, body=body.body,
            attachment_ids=await self._attachments(row, body.attachment_ids),
        )  # fmt: skip
        await self.repo.add_comment(c)
        await self.svc.db.commit()
        return CommentOut.model_validate(c, from_attributes=True)

    async def comments(self, row: Ticket) -> list[CommentOut]:
        return [
            CommentOut.model_validate(c, from_attributes=True)
            for c in await self.repo.comments(row.id)
        ]

    async def history(self, row: Ticket) -> HistoryOut:
        return history_of(await self.repo.transitions(row.id))


def history_of(rows: list[TicketTransition]) -> HistoryOut:
    """Every transition, and the same grouped: QA round → iteration → its transitions."""
    items = [TransitionOut.model_validate(t, from_attributes=True) for t in rows]
    rounds: dict[int, dict[int, list[TransitionOut]]] = {}
    for t in items:
        if t.iteration == 0:
            continue  # before Implementation started (Pending, Queued)
        rounds.setdefault(t.qa_round, {}).setdefault(t.iteration, []).append(t)
    return HistoryOut(
        transitions=items,
        rounds=[
            RoundOut(
                qa_round=r,
                iterations=[
                    IterationOut(iteration=i, transitions=ts) for i, ts in sorted(its.items())
                ],
            )
            for r, its in sorted(rounds.items())
        ],
    )

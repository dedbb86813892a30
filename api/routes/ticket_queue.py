"""The ticket queue as the dashboard shows it: each session host's Max Concurrent Tickets and
the tickets it holds, and the queued tickets in the order they will start.

Read-only. The order and the "starts now" answers come from the same plan that admits
tickets (orchestrator/tickets/queue.py), so the page never disagrees with the queue. Tickets
of workspaces the caller does not see are counted, never named; hosts are listed only to
callers holding hosts.view.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth import require
from api.deps import DbSession
from api.problems import errors
from orchestrator.auth.service import Principal
from orchestrator.base import utcnow
from orchestrator.hosts.repository import HostRepository
from orchestrator.tickets.models import Ticket
from orchestrator.tickets.queue import HostRoom, plan
from orchestrator.tickets.repository import TicketRepository
from orchestrator.workspaces.repository import WorkspaceRepository

router = APIRouter(tags=["tickets"])
QueueState = Literal["starting", "waiting", "low_priority_hour", "blocked"]


class TicketBrief(BaseModel):
    id: str
    key: str
    title: str
    workspace_id: str
    workspace_name: str
    priority: str
    stage: str


class QueuedOut(TicketBrief):
    position: int
    queued_at: datetime | None
    eligible_at: datetime | None
    state: QueueState
    note: str
    starts_on: str | None
    fits: list[str]


class HostQueueOut(BaseModel):
    host_id: str
    name: str
    online: bool
    max_concurrent_tickets: int
    in_flight: int
    tickets: list[TicketBrief]
    queued: list[str]


class QueueOut(BaseModel):
    at: datetime
    hosts: list[HostQueueOut]
    queued: list[QueuedOut]
    hidden_queued: int


def _brief(t: Ticket, names: dict[str, str]) -> TicketBrief:
    return TicketBrief(
        id=t.id, key=t.key, title=t.title, workspace_id=t.workspace_id,
        workspace_name=names.get(t.workspace_id, t.workspace_id), priority=t.priority,
        stage=t.stage,
    )  # fmt: skip


def _state(
    t: Ticket, now: datetime, blocked: dict[str, list[str]], starts: dict[str, str],
    hosts: list[HostRoom],
) -> tuple[QueueState, str]:  # fmt: skip
    if t.id in blocked:
        return "blocked", f"Blocked by {', '.join(sorted(blocked[t.id]))} (must complete first)."
    if t.eligible_at is not None and t.eligible_at > now:
        at = t.eligible_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
        return "low_priority_hour", f"Low priority: waits for its execution hour ({at})."
    if t.id in starts:
        return "starting", f"Starts now on {starts[t.id]}."
    if not any(h.unfit(t) is None for h in hosts):
        return "waiting", "No session host fits it (offline, not serving the workspace, or no CLI)."
    return "waiting", "Waits for room on a host."


async def queue_overview(db: AsyncSession, principal: Principal) -> QueueOut:
    """The queue now, as `principal` may see it."""
    now = utcnow()
    repo = TicketRepository(db)
    workspaces = WorkspaceRepository(db)
    visible = await (
        workspaces.list_all() if principal.is_admin else workspaces.list_for(principal.user_id)
    )
    names = {w.id: w.name for w in visible}
    p = await plan(db, now)
    queued = await repo.queued_in_order()
    blocked = await repo.blocked_by([t.id for t in queued])
    out: list[QueuedOut] = []
    for position, t in enumerate(queued, start=1):
        if t.workspace_id not in names:
            continue
        state, note = _state(t, now, blocked, p.starts, p.hosts)
        out.append(
            QueuedOut(
                **_brief(t, names).model_dump(), position=position, queued_at=t.queued_at,
                eligible_at=t.eligible_at, state=state, note=note, starts_on=p.starts.get(t.id),
                fits=[h.host_id for h in p.hosts if h.unfit(t) is None],
            )
        )  # fmt: skip
    hosts: list[HostQueueOut] = []
    if principal.can("hosts.view"):
        host_names = {h.id: h.name for h in await HostRepository(db).list_hosts()}
        holding = await repo.holding_tickets()
        for h in sorted(p.hosts, key=lambda r: r.host_id):
            mine = [t for t in holding if t.host_id == h.host_id]
            hosts.append(
                HostQueueOut(
                    host_id=h.host_id, name=host_names.get(h.host_id, h.host_id), online=h.online,
                    max_concurrent_tickets=h.capacity, in_flight=h.busy,
                    tickets=[_brief(t, names) for t in mine if t.workspace_id in names],
                    queued=[q.id for q in out if h.host_id in q.fits],
                )
            )  # fmt: skip
    return QueueOut(at=now, hosts=hosts, queued=out, hidden_queued=len(queued) - len(out))


@router.get("/api/tickets/queue", response_model=QueueOut, responses=errors(401, 403))
async def get_queue(
    session: DbSession, user: Annotated[Principal, Depends(require("tickets.view"))]
) -> QueueOut:
    """Each session host's Max Concurrent Tickets and the tickets it holds; the queued tickets
    in start order (priority, then FIFO), each marked starting, waiting for room, waiting for
    the Low Priority Execution Hour, or blocked."""
    return await queue_overview(session, user)

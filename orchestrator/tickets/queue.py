"""The ticket queue: which queued tickets start now, and on which host.

One plan serves every decision: the eligible, unblocked queued tickets, best first (high →
normal → low, then FIFO by queue time), each given the fitting session host with the most
free room (online, serving the workspace, with the ticket's provider installed, fewer than
its Max Concurrent Tickets between Implementation and Pull Request). A ticket is admitted
only when the plan gives it a host, so a better-ranked ticket that could take the same host
always goes first, and capacity is never overshot: admissions run one at a time under a lock
(see TicketRepository.lock_admission) and re-read the counts inside it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client
from temporalio.service import RPCError

from orchestrator.hosts.repository import HostRepository
from orchestrator.sessions.control import needs_cli
from orchestrator.tickets.models import Ticket
from orchestrator.tickets.repository import Queued, TicketRepository


@dataclass
class HostRoom:
    host_id: str
    online: bool
    allowlist: list[str]
    clis: dict[str, object]
    capacity: int
    busy: int
    free: int = field(init=False)

    def __post_init__(self) -> None:
        self.free = self.capacity - self.busy

    def unfit(self, t: Ticket | Queued) -> str | None:
        """Why the host can never take this ticket now (None: it can, room permitting)."""
        if not self.online:
            return f"{self.host_id} is offline"
        if self.allowlist and t.workspace_id not in self.allowlist:
            return f"{self.host_id} does not serve this workspace"
        if needs_cli(t.provider) and not self.clis.get(t.provider):
            return f"{self.host_id} does not have {t.provider} installed"
        return None


@dataclass
class Plan:
    """Tickets that start now → their host; the hosts as the plan found them."""

    starts: dict[str, str]
    hosts: list[HostRoom]
    blocked: dict[str, list[str]]


async def rooms(db: AsyncSession) -> list[HostRoom]:
    repo = HostRepository(db)
    hosts = {h.id: h for h in await repo.list_hosts()}
    busy = await TicketRepository(db).holding_per_host()
    out = []
    for w in await repo.list_workers():
        host = hosts.get(w.host_id)
        if w.kind != "session" or host is None:
            continue
        out.append(
            HostRoom(
                host_id=host.id, online=w.online, allowlist=list(host.workspace_allowlist or []),
                clis=dict((w.info or {}).get("clis") or {}), capacity=host.max_concurrent_tickets,
                busy=busy.get(host.id, 0),
            )
        )  # fmt: skip
    return out


async def plan(db: AsyncSession, now: datetime, ticket: Ticket | None = None) -> Plan:
    """The plan (`ticket`: the one asking, whose blockers the answer names)."""
    repo = TicketRepository(db)
    hosts = await rooms(db)
    starts: dict[str, str] = {}
    free = [h for h in hosts if h.free > 0 and h.online]
    if not free:  # nothing can start: no need to look at the queue
        blocked = await repo.blocked_by([ticket.id]) if ticket else {}
        return Plan(starts=starts, hosts=hosts, blocked=blocked)
    queued = await repo.eligible_queued(now)
    blocked = await repo.blocked_by([t.id for t in queued])
    for t in queued:
        if not free:
            break
        if t.id in blocked:
            continue
        fits = [h for h in free if h.unfit(t) is None]
        if not fits:
            continue
        best = min(fits, key=lambda h: (-h.free, h.host_id))
        best.free -= 1
        starts[t.id] = best.host_id
        free = [h for h in free if h.free > 0]
    return Plan(starts=starts, hosts=hosts, blocked=blocked)


def why_waiting(t: Ticket, p: Plan) -> str:
    """What the ticket waits for, as the dashboard shows it."""
    if t.id in p.blocked:
        return f"Waiting for {', '.join(sorted(p.blocked[t.id]))} to complete."
    reasons = [r for r in (h.unfit(t) for h in p.hosts) if r]
    if len(reasons) == len(p.hosts):
        why = "; ".join(reasons) or "no session host has registered"
        return f"Waiting for a session host: {why}."
    return "Waiting for room on a host (higher-priority or earlier tickets go first)."


async def wake(db: AsyncSession, client: Client, now: datetime, limit: int = 20) -> list[str]:
    """Signal `wake` to the queued tickets the plan would start now, so freed room is taken
    at once instead of at their next retry (idempotent: a woken ticket just asks again).

    The last `limit` of the plan: a ticket that ends frees one slot, and the better-ranked
    tickets the plan names before it were woken for earlier slots already (an ending ticket
    wakes two, for another that ended at the same moment)."""
    woken = []
    for tid in list((await plan(db, now)).starts)[-limit:]:
        try:
            await client.get_workflow_handle(f"ticket-{tid}").signal("wake")
        except RPCError:  # ended meanwhile: nothing to wake
            continue
        woken.append(tid)
    return woken

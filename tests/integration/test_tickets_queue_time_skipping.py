"""The ticket queue under time skipping: 200 queued tickets of mixed priority on two hosts
with room for 2 and 3. The real admission (`tickets.admit`, `tickets.transition`,
`tickets.release` on the test database) decides; the implementation path is stubbed (the
session says it is done at once, git steps answer ok). Never more than capacity in flight,
starts in order (high, normal, low; FIFO within each), low priority only from the Low
Priority Execution Hour."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update
from temporalio import activity
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.control.tickets import TicketControlActivities
from orchestrator.auth.repository import AuthRepository
from orchestrator.config import ServerSettings
from orchestrator.contracts.session_panel import (
    Author,
    GitActionResult,
    GitCommitInput,
    GitRemoteInput,
    GitStatus,
    GitStatusInput,
)
from orchestrator.contracts.tickets import (
    PRIORITY_RANK,
    QUEUE_RETRY_SECONDS,
    AdmitInput,
    AdmitResult,
    Decision,
    GitInputRequest,
    ImplementationFinished,
    RemindInput,
    StartSessionResult,
    TicketRef,
    TicketState,
)
from orchestrator.db import Database
from orchestrator.hosts.models import Host, HostWorker
from orchestrator.notifications.models import Notification
from orchestrator.queues import ORCHESTRATOR_QUEUE, agent_queue
from orchestrator.security.crypto import SecretBox
from orchestrator.tickets.config import LOW_PRIORITY_HOUR, next_eligible
from orchestrator.tickets.models import Ticket, TicketConfig, TicketTransition
from orchestrator.tickets.queue import wake
from orchestrator.tickets.repository import TicketRepository
from orchestrator.users.models import User
from orchestrator.workspaces.models import Workspace, WorkspaceMember
from tests.helpers import TEST_MASTER, wait_for
from workflows.ticket import TicketWorkflow

pytestmark = pytest.mark.tickets
CAPACITY = {"qa2": 2, "qa3": 3}
COUNT = 200


@dataclass
class Recorder:
    """What the stubs saw: admissions in order (with the workflow's clock), the most tickets
    in flight on each host right after an admission, reminders."""

    db: Database
    real_reminders: bool = False
    admitted: list[tuple[str, str, datetime]] = field(default_factory=list)
    most: dict[str, int] = field(default_factory=dict)
    reminders: list[RemindInput] = field(default_factory=list)

    def activities(self, client: Client) -> list[Any]:
        real = TicketControlActivities(
            self.db, SecretBox(TEST_MASTER), client, ServerSettings(data_dir=Path("/tmp"))
        )

        @activity.defn(name="tickets.admit")
        async def admit(inp: AdmitInput) -> AdmitResult:
            out = await real.admit(inp)
            if out.admitted and out.host_id:
                async with self.db.session() as s:
                    busy = (await TicketRepository(s).holding_per_host()).get(out.host_id, 0)
                self.most[out.host_id] = max(self.most.get(out.host_id, 0), busy)
                if inp.ticket_id not in {a[0] for a in self.admitted}:
                    self.admitted.append((inp.ticket_id, out.host_id, inp.now))
            return out

        @activity.defn(name="tickets.start_session")
        async def start_session(inp: TicketRef) -> StartSessionResult:
            sid = f"s{inp.ticket_id[:12]}"
            done = ImplementationFinished(session_id=sid, turn=1, outcome="done", summary="ok")
            await client.get_workflow_handle(f"ticket-{inp.ticket_id}").signal(
                "implementation_finished", done
            )
            return StartSessionResult(session_id=sid)

        @activity.defn(name="tickets.git_input")
        async def git_input(inp: GitInputRequest) -> GitRemoteInput:
            return GitRemoteInput(
                workspace_id="w", session_id="s", git_url="https://git.invalid/r.git",
                branch="polygent/x", base_branch="main", author=Author(name="a", email="a@b"),
            )  # fmt: skip

        @activity.defn(name="tickets.remind")
        async def remind(inp: RemindInput) -> int:
            self.reminders.append(inp)
            return 1

        return [admit, real.transition, real.flow, real.release, start_session, git_input,
                real.remind if self.real_reminders else remind]  # fmt: skip


def host_activities() -> list[Any]:
    @activity.defn(name="session.git_status")
    async def git_status(inp: GitStatusInput) -> GitStatus:
        return GitStatus(branch="polygent/x")

    @activity.defn(name="session.git_commit")
    async def git_commit(inp: GitCommitInput) -> GitActionResult:
        return GitActionResult(ok=False, message="Nothing is staged.")

    @activity.defn(name="session.git_merge")
    async def git_merge(inp: GitRemoteInput) -> GitActionResult:
        return GitActionResult(ok=True, message="Merged.", sha="0" * 40)

    return [git_status, git_commit, git_merge]


@contextlib.asynccontextmanager
async def workers(env: WorkflowEnvironment, rec: Recorder) -> AsyncIterator[None]:
    orchestrator = Worker(
        env.client, task_queue=ORCHESTRATOR_QUEUE, workflows=[TicketWorkflow],
        activities=rec.activities(env.client), max_concurrent_activities=20,
    )  # fmt: skip
    hosts = [
        Worker(env.client, task_queue=agent_queue(h), activities=host_activities())
        for h in CAPACITY
    ]
    async with orchestrator, hosts[0], hosts[1]:
        yield


async def _seed(db: Database, low_hour: int) -> tuple[str, list[Ticket]]:
    """A workspace (Direct Merge, no approvals needed), two offline hosts, 200 tickets."""
    prios = ["high", "normal", "normal", "low"]
    async with db.session() as s:
        ws = Workspace(name=f"queue-{uuid.uuid4().hex[:6]}", git_url="https://git.invalid/r.git")
        s.add(ws)
        await s.flush()
        s.add(TicketConfig(workspace_id=ws.id, merge_mode="direct"))
        for host, cap in CAPACITY.items():
            s.add(Host(id=host, name=host, max_concurrent_tickets=cap))
            await s.flush()
            clis = {"clis": {"claude-code": "1"}}
            s.add(HostWorker(host_id=host, kind="session", online=False,
                             task_queue=agent_queue(host), info=clis))  # fmt: skip
        await AuthRepository(s).set_setting(LOW_PRIORITY_HOUR, str(low_hour))
        rows = [
            Ticket(workspace_id=ws.id, number=i + 1, key=f"Q-{i + 1}", title=f"Q {i + 1}",
                   priority=prios[i % 4], force_no_dev=True, force_no_qa=True,
                   workflow_id=None)
            for i in range(COUNT)
        ]  # fmt: skip
        s.add_all(rows)
        await s.flush()
        for r in rows:
            r.workflow_id = f"ticket-{r.id}"
        return ws.id, rows


async def _stages(db: Database) -> dict[str, tuple[str, str, datetime | None]]:
    async with db.session() as s:
        rows = await s.execute(select(Ticket.id, Ticket.stage, Ticket.priority, Ticket.queued_at))
        return {str(i): (str(st), str(p), q) for i, st, p, q in rows.all()}


@pytest.mark.timeout(600)
async def test_two_hundred_queued_tickets_start_in_order_within_capacity(
    db: Database, time_skipping_env: WorkflowEnvironment
) -> None:
    env = time_skipping_env
    start = await env.get_current_time()
    low_hour = (start.hour + 2) % 24
    ws_id, rows = await _seed(db, low_hour)
    rec = Recorder(db)
    async with workers(env, rec):
        await _run(env, db, rec, ws_id, rows, low_hour)
    stages = await _stages(db)
    lows = [t for t, (_, p, _) in stages.items() if p == "low"]
    eligible = next_eligible(min(stages[t][2] for t in lows), low_hour)  # type: ignore[type-var]
    expected = sorted(
        stages, key=lambda t: (PRIORITY_RANK[stages[t][1]], stages[t][2], _number(rows, t))
    )
    assert len(rec.admitted) == COUNT
    # Tickets given free room at the same moment start in any order among themselves (at
    # most the total capacity of them); otherwise the order is exactly the ranking.
    order, together = await _admission_order(db), sum(CAPACITY.values()) - 1
    assert sorted(order) == sorted(expected)
    for n in range(1, COUNT + 1):
        assert set(order[:n]) <= set(expected[: n + together]), f"ticket {n} started too early"
    assert rec.most == CAPACITY, f"in flight at most: {rec.most}"
    for tid, _, at in rec.admitted:
        if stages[tid][1] == "low":
            assert at >= eligible
        else:
            assert at < eligible


async def _run(
    env: WorkflowEnvironment, db: Database, rec: Recorder, ws_id: str, rows: list[Ticket],
    low_hour: int,
) -> None:  # fmt: skip
    """Queue everything with the hosts offline, bring them online, drain the high and normal
    tickets, then skip time to the low-priority hour and drain the rest."""
    await asyncio.gather(*(
        env.client.start_workflow(
            TicketWorkflow.run,
            TicketState(ticket_id=r.id, workspace_id=ws_id, key=r.key, queue=True),
            id=f"ticket-{r.id}", task_queue=ORCHESTRATOR_QUEUE,
        )
        for r in rows
    ))  # fmt: skip

    async def all_queued() -> bool:
        return all(st == "queued" for st, _, _ in (await _stages(db)).values())

    await wait_for(all_queued, timeout=120, what="every ticket queued")
    assert rec.admitted == [], "no host is online: nothing may start"

    # The hosts come online: the queue starts (woken, not waiting for a retry timer).
    async with db.session() as s:
        await s.execute(update(HostWorker).where(HostWorker.host_id.in_(CAPACITY))
                        .values(online=True))  # fmt: skip
    async with db.session() as s:
        await wake(s, env.client, await env.get_current_time())

    stages = await _stages(db)
    first = [t for t, (_, p, _) in stages.items() if p != "low"]

    async def drained() -> int:
        now = await _stages(db)
        return sum(now[t][0] != "completed" for t in first)

    await _drain(env, drained, "high and normal tickets done")
    stages = await _stages(db)
    lows = [t for t, (_, p, _) in stages.items() if p == "low"]
    assert all(stages[t][0] == "queued" for t in lows), "low priority waits for its hour"
    at = min(stages[t][2] for t in lows)
    eligible = next_eligible(at, low_hour)  # type: ignore[arg-type]
    await env.sleep((eligible - await env.get_current_time()).total_seconds() + 2)

    async def finished() -> int:
        return sum(st != "completed" for st, _, _ in (await _stages(db)).values())

    await _drain(env, finished, "every ticket done")


async def _drain(env: WorkflowEnvironment, left: Callable[[], Awaitable[int]], what: str) -> None:
    """Until nothing is left. Freed room is taken by waking queued tickets; should a burst of
    endings leave one unwoken, its retry timer is the fallback, and time here only moves when
    the test moves it: after 10 s without progress, skip one retry period (far less, in all,
    than the hour before the low-priority hour)."""
    loop = asyncio.get_running_loop()
    deadline, last, since = loop.time() + 400, -1, loop.time()
    while (n := await left()) > 0:
        if n != last:
            last, since = n, loop.time()
        elif loop.time() - since > 10:
            await env.sleep(QUEUE_RETRY_SECONDS * 1.5)
            since = loop.time()
        assert loop.time() < deadline, f"timed out waiting for {what} ({n} left)"
        await asyncio.sleep(0.5)


async def _admission_order(db: Database) -> list[str]:
    """Tickets in the order their admissions committed (admissions hold one lock)."""
    async with db.session() as s:
        rows = await s.scalars(
            select(TicketTransition.ticket_id)
            .where(TicketTransition.to_stage == "implementation", TicketTransition.iteration == 1)
            .order_by(TicketTransition.id)
        )
        return list(rows)


def _number(rows: list[Ticket], tid: str) -> int:
    return next(r.number for r in rows if r.id == tid)


async def _user(s: Any, name: str, ws_id: str, role: str | None = None) -> str:
    user = User(issuer="local", subject=name, email=f"{name}@example.test", display_name=name)
    s.add(user)
    await s.flush()
    s.add(WorkspaceMember(workspace_id=ws_id, user_id=user.id))
    if role:
        found = await AuthRepository(s).role_by_name(role)
        assert found is not None
        await AuthRepository(s).assign_role(user.id, found.id)
    return str(user.id)


async def _inbox(db: Database, user_id: str) -> list[str]:
    async with db.session() as s:
        rows = await s.scalars(select(Notification.title).where(Notification.user_id == user_id))
        return list(rows)


async def test_an_approval_that_waits_reminds_once_per_period(
    db: Database, time_skipping_env: WorkflowEnvironment
) -> None:
    env = time_skipping_env
    async with db.session() as s:
        ws = Workspace(name=f"remind-{uuid.uuid4().hex[:6]}", git_url="https://git.invalid/r.git")
        s.add(ws)
        await s.flush()
        s.add(TicketConfig(workspace_id=ws.id, merge_mode="direct", approval_reminder_hours=1))
        s.add(Host(id="qa2", name="qa2", max_concurrent_tickets=2))
        await s.flush()
        s.add(HostWorker(host_id="qa2", kind="session", online=True, task_queue=agent_queue("qa2"),
                         info={"clis": {"claude-code": "1"}}))  # fmt: skip
        dev = await _user(s, "remind-dev", ws.id)
        qa = await _user(s, "remind-qa", ws.id, "qa")
        t = Ticket(workspace_id=ws.id, number=1, key="RM-1", title="Remind me", developer_id=dev)
        s.add(t)
        await s.flush()
        ws_id, tid = ws.id, t.id
    rec = Recorder(db, real_reminders=True)
    async with workers(env, rec):
        handle = await env.client.start_workflow(
            TicketWorkflow.run, TicketState(ticket_id=tid, workspace_id=ws_id, key="RM-1",
                                            queue=True),
            id=f"ticket-{tid}", task_queue=ORCHESTRATOR_QUEUE,
        )  # fmt: skip

        async def stage(want: str) -> bool:
            return (await _stages(db))[tid][0] == want

        await wait_for(lambda: stage("dev_approval"), timeout=60, what="dev approval")
        assert await _inbox(db, dev) == []
        await env.sleep(3600 + 30)
        await wait_for(lambda: _inbox(db, dev), timeout=60, what="the first reminder")
        await env.sleep(3600)
        titles = await wait_for(lambda: _two(db, dev), timeout=60, what="the second reminder")
        assert titles == ["RM-1 waits for Developer Approval"] * 2
        await handle.execute_update(
            TicketWorkflow.approve, Decision(role="dev", actor_id=dev, actor_name="remind-dev")
        )
        await wait_for(lambda: stage("qa_approval"), timeout=60, what="QA approval")
        await env.sleep(3600 + 30)
        # No QA is assigned: everyone who may give the approval in the workspace is reminded.
        got = await wait_for(lambda: _inbox(db, qa), timeout=60, what="the QA reminder")
        assert got == ["RM-1 waits for QA Approval"]
        assert len(await _inbox(db, dev)) == 2  # the developer cannot give it
        await handle.execute_update(
            TicketWorkflow.approve, Decision(role="qa", actor_id=qa, actor_name="remind-qa")
        )
        assert await handle.result() == "completed"


async def _two(db: Database, user_id: str) -> list[str] | None:
    titles = await _inbox(db, user_id)
    return titles if len(titles) >= 2 else None

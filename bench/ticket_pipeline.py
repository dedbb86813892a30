"""Ticket pipeline: the overhead of TicketWorkflow per ticket against a bare Temporal workflow
with the same activities, and tickets per minute through the whole platform.

(a) overhead — in this process, on one local Temporal dev server (`start_local`, the
project's encrypted data converter) and a migrated SQLite database (or `--postgres`): a
TicketWorkflow per sample with the real control activities (`tickets.admit`, `flow`,
`transition`, `release` on the database: admission under the lock, every stage change
written) and a zero-work agent (the session says it is done at once; the host's git steps
answer at once). A ticket runs queued → implementation → completed (Force No Developer,
Force No QA, Direct Merge). Floor: `BareTicketWorkflow` below, which runs the same number of
activities, on the same queues in the same order, each returning at once (no database). The
samples alternate.

(b) throughput — the platform of the integration tests (`bench/_sessions.py`: served API,
orchestrator worker, a session agent, SQLite or `--postgres`, a real git remote) with a fake
`claude` that answers each turn at once with Auto mode's done marker: `--tickets` (20)
tickets created through the API and queued at once on one host allowing `--capacity` (4) at a
time; each gets a real Develop session and worktree and is merged into main with real git.
Prints tickets per minute, and each ticket's time from creation to Completed.

    .venv/bin/python bench/ticket_pipeline.py [--samples 20] [--tickets 20] [--capacity 4]
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity, workflow

with workflow.unsafe.imports_passed_through():
    import argparse
    import asyncio
    import contextlib
    import statistics
    import sys
    import tempfile
    import time
    import uuid
    from collections.abc import AsyncIterator
    from pathlib import Path
    from typing import Any

    from _common import header, load_average, ratio, table, temporal_binary
    from pydantic import BaseModel

CONTROL_QUEUE = "bench.control"
AGENT_QUEUE = "bench.agent"


class BareInput(BaseModel):
    queues: list[str]


@workflow.defn
class BareTicketWorkflow:
    """As many activities as a ticket ran, on the same queues in the same order."""

    @workflow.run
    async def run(self, inp: BareInput) -> int:
        for n, queue in enumerate(inp.queues):
            await workflow.execute_activity(
                "bench.noop", str(n), task_queue=queue, start_to_close_timeout=timedelta(seconds=60)
            )
        return len(inp.queues)


@activity.defn(name="bench.noop")
async def noop(value: str) -> str:
    return value


# -- (a) overhead ------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def overhead_rig(tmp: Path, binary: str, postgres: bool) -> AsyncIterator[Any]:
    """Dev server, migrated database, a workspace and an online host; the ticket workers
    (real control activities, zero-work agent) and the bare workers."""
    from temporalio.testing import WorkflowEnvironment
    from temporalio.worker import Worker

    from orchestrator.db import Database
    from orchestrator.hosts.models import Host, HostWorker
    from orchestrator.migrate import upgrade
    from orchestrator.queues import ORCHESTRATOR_QUEUE, SEARCH_ATTRIBUTE_KEYS, agent_queue
    from orchestrator.temporal import data_converter
    from orchestrator.tickets.models import TicketConfig
    from orchestrator.workspaces.models import Workspace
    from tests.helpers import TEST_PAYLOAD_KEYS
    from tests.integration.test_tickets_queue_time_skipping import Recorder, host_activities
    from workflows.ticket import TicketWorkflow

    env = await WorkflowEnvironment.start_local(
        namespace="default", data_converter=data_converter(TEST_PAYLOAD_KEYS),
        search_attributes=list(SEARCH_ATTRIBUTE_KEYS), dev_server_existing_path=binary,
        dev_server_log_level="error",
    )  # fmt: skip
    pg: tuple[str, str] | None = None
    if postgres:
        from tests.conftest import PG_ADMIN_URL, create_pg_database

        url = create_pg_database(PG_ADMIN_URL)
        pg = (PG_ADMIN_URL, url)
    else:
        url = f"sqlite:///{tmp / 'polygent.db'}"
    tmp.mkdir(parents=True, exist_ok=True)
    await upgrade(url)
    db = Database(url)
    try:
        async with db.session() as s:
            ws = Workspace(name="bench", git_url="https://git.invalid/r.git")
            s.add(ws)
            await s.flush()
            s.add(TicketConfig(workspace_id=ws.id, merge_mode="direct"))
            s.add(Host(id="bench", name="bench", max_concurrent_tickets=4))
            await s.flush()
            s.add(HostWorker(host_id="bench", kind="session", online=True,
                             task_queue=agent_queue("bench"),
                             info={"clis": {"claude-code": "1"}}))  # fmt: skip
            ws_id = ws.id
        workers = [
            Worker(env.client, task_queue=ORCHESTRATOR_QUEUE, workflows=[TicketWorkflow],
                   activities=Recorder(db).activities(env.client)),
            Worker(env.client, task_queue=agent_queue("bench"), activities=host_activities()),
            Worker(env.client, task_queue=CONTROL_QUEUE, workflows=[BareTicketWorkflow],
                   activities=[noop]),
            Worker(env.client, task_queue=AGENT_QUEUE, activities=[noop]),
        ]  # fmt: skip
        async with contextlib.AsyncExitStack() as stack:
            for w in workers:
                await stack.enter_async_context(w)
            yield env.client, db, ws_id
    finally:
        await db.dispose()
        await env.shutdown()
        if pg is not None:
            from tests.conftest import drop_pg_database

            drop_pg_database(*pg)


async def one_ticket(client: Any, db: Any, ws_id: str, n: int) -> tuple[float, list[str]]:
    """Seconds from start to result of one ticket, and the queue of each activity it ran."""
    from temporalio.api.enums.v1 import EventType

    from orchestrator.contracts.tickets import TicketState
    from orchestrator.queues import ORCHESTRATOR_QUEUE
    from orchestrator.tickets.models import Ticket
    from workflows.ticket import TicketWorkflow

    async with db.session() as s:
        t = Ticket(workspace_id=ws_id, number=n, key=f"B-{n}", title=f"Bench {n}",
                   force_no_dev=True, force_no_qa=True)  # fmt: skip
        s.add(t)
        await s.flush()
        t.workflow_id, tid = f"ticket-{t.id}", t.id
    t0 = time.perf_counter()
    result = await client.execute_workflow(
        TicketWorkflow.run, TicketState(ticket_id=tid, workspace_id=ws_id, key=f"B-{n}",
                                        queue=True),
        id=f"ticket-{tid}", task_queue=ORCHESTRATOR_QUEUE,
    )  # fmt: skip
    took = time.perf_counter() - t0
    if result != "completed":
        raise RuntimeError(f"ticket B-{n} ended {result}")
    queues = []
    async for e in client.get_workflow_handle(f"ticket-{tid}").fetch_history_events():
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            q = e.activity_task_scheduled_event_attributes.task_queue.name
            queues.append(CONTROL_QUEUE if q == ORCHESTRATOR_QUEUE else AGENT_QUEUE)
    return took, queues


async def overhead(args: argparse.Namespace, tmp: Path, binary: str) -> None:
    async with overhead_rig(tmp, binary, args.postgres) as (client, db, ws_id):
        ticket_s: list[float] = []
        bare_s: list[float] = []
        shape: list[str] = []
        for n in range(1, args.samples + args.warmup + 1):
            order = ["ticket", "bare"] if n % 2 else ["bare", "ticket"]
            for kind in order:
                if kind == "ticket" or not shape:
                    took, shape = await one_ticket(client, db, ws_id, n)
                    if n > args.warmup:
                        ticket_s.append(took)
                    continue
                t0 = time.perf_counter()
                await client.execute_workflow(
                    BareTicketWorkflow.run, BareInput(queues=shape),
                    id=f"bare-{uuid.uuid4().hex}", task_queue=CONTROL_QUEUE,
                )  # fmt: skip
                if n > args.warmup:
                    bare_s.append(time.perf_counter() - t0)
            print(f"  sample {n}: ticket {ticket_s[-1] if ticket_s else 0:.3f}s", flush=True)
    t_med, b_med = statistics.median(ticket_s), statistics.median(bare_s)
    print(f"\n(a) one ticket, {len(shape)} activities "
          f"({shape.count(CONTROL_QUEUE)} control, {shape.count(AGENT_QUEUE)} agent):")  # fmt: skip
    print(table(["", "median s", "min s", "max s"], [
        ["TicketWorkflow", f"{t_med:.3f}", f"{min(ticket_s):.3f}", f"{max(ticket_s):.3f}"],
        ["bare workflow", f"{b_med:.3f}", f"{min(bare_s):.3f}", f"{max(bare_s):.3f}"],
    ]))  # fmt: skip
    print(f"  overhead ratio (median): {ratio(t_med, b_med)}  (goal: at most 1.5x)")


# -- (b) throughput ----------------------------------------------------------------------------

DONE = '"result": "Done."'


async def throughput(args: argparse.Namespace, tmp: Path, binary: str) -> None:
    from _sessions import FAKE_CLAUDE, platform, poll, prepend_path, start_session_agent

    from orchestrator.contracts.sessions import DONE_MARKER

    fake_dir = tmp / "bin"
    fake_dir.mkdir()
    assert DONE in FAKE_CLAUDE
    script = FAKE_CLAUDE.replace("{python}", sys.executable)
    (fake_dir / "claude").write_text(script.replace(DONE, f'"result": "Done.\\n{DONE_MARKER}"'))
    (fake_dir / "claude").chmod(0o755)
    prepend_path(fake_dir)
    (tmp / "b").mkdir()
    async with platform(tmp / "b", binary, args.postgres) as plat:
        http, ws = plat.stack.http, plat.workspace_id
        host = await start_session_agent(plat, max_concurrent_activities=args.capacity + 2)
        r = await http.patch(f"/api/hosts/{host}", json={"max_concurrent_tickets": args.capacity})
        r.raise_for_status()
        r = await http.put(f"/api/workspaces/{ws}/tickets-config",
                           json={"key_prefix": "BN", "merge_mode": "direct"})  # fmt: skip
        r.raise_for_status()
        t0 = time.perf_counter()
        created: dict[str, float] = {}
        for n in range(args.tickets):
            r = await http.post(f"/api/workspaces/{ws}/tickets", json={
                "title": f"Bench ticket {n}", "force_no_dev": True, "force_no_qa": True,
                "queue": True})  # fmt: skip
            r.raise_for_status()
            created[r.json()["id"]] = time.perf_counter()
        done: dict[str, float] = {}

        async def all_done() -> bool:
            for tid in set(created) - set(done):
                t = (await http.get(f"/api/tickets/{tid}")).json()
                if t["stage"] in ("failed", "canceled", "merge_conflicts"):
                    raise RuntimeError(f"ticket {t['key']} ended {t['stage']}: {t['failure']}")
                if t["stage"] == "completed":
                    done[tid] = time.perf_counter()
                    print(f"  {len(done)}/{len(created)} completed", flush=True)
            return len(done) == len(created)

        await poll(all_done, timeout=1800, what="every ticket completed", interval=0.5)
        total = max(done.values()) - t0
        each = [done[t] - created[t] for t in created]
    print(f"\n(b) {args.tickets} tickets, {args.capacity} at a time, on {plat.db_label}:")
    print(f"  all completed in {total:.1f}s: {args.tickets / total * 60:.1f} tickets/minute")
    print(f"  creation → Completed per ticket: median {statistics.median(each):.1f}s, "
          f"min {min(each):.1f}s, max {max(each):.1f}s")  # fmt: skip


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=20, help="(a) timed tickets (20)")
    parser.add_argument("--warmup", type=int, default=2, help="(a) untimed tickets first (2)")
    parser.add_argument("--tickets", type=int, default=20, help="(b) tickets queued (20)")
    parser.add_argument("--capacity", type=int, default=4, help="(b) Max Concurrent Tickets (4)")
    parser.add_argument("--postgres", action="store_true", help="PostgreSQL instead of SQLite")
    parser.add_argument("--only", choices=["overhead", "throughput"], help="run one part")
    args = parser.parse_args()
    binary = temporal_binary()
    header("Ticket pipeline", [
        "(a) TicketWorkflow with real control activities and a zero-work agent vs a bare"
        " workflow with the same activities",
        "(b) tickets per minute through the platform (fake claude, real sessions and git)",
    ], binary)  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="polygent-bench-") as d:
        if args.only in (None, "overhead"):
            await overhead(args, Path(d) / "a", binary)
        if args.only in (None, "throughput"):
            await throughput(args, Path(d), binary)
    print(f"\nload average at the end: {load_average()}")


if __name__ == "__main__":
    asyncio.run(main())

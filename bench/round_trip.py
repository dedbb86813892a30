"""Host-probe round trip: latency of HostProbeWorkflow through the real in-process stack,
against a bare Temporal workflow of the same shape as the floor.

Both run in this process on one Temporal dev server (`WorkflowEnvironment.start_local` with
the venv's `temporal`, the project's encrypted pydantic data converter and search
attributes):

* polygent: tests/integration/stack.py `running_stack` (served API, orchestrator worker) on
  a migrated SQLite database, plus a session agent and a deploy agent for one host; each
  sample is `client.execute_workflow(HostProbeWorkflow.run, ...)` on the orchestrator queue:
  pick the host (SQLite), `agent.probe` on the host's agent queue, `deploy.probe` on its
  deploy queue (each spawns `git --version` and six `<cli> --version` lookups), record the
  probe (SQLite).
* bare: `BareProbeWorkflow` below: the same four activities in the same order on three
  queues (orchestrator-like, agent-like, deploy-like), run by plain Workers, each returning
  at once; same payload types (the project's pydantic contracts, the agents' answers canned
  from one real host report) and the same timeouts and retry policy, no database, no
  subprocess, no search-attribute upsert.

Samples alternate polygent/bare (order flipped every iteration) so background load hits
both alike. One `host_report("session", tmp)` call is also timed on its own: the probe makes
two of them in sequence, which is the activities' own work in the gap.

    .venv/bin/python bench/round_trip.py [--samples 30] [--warmup 3]
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity, workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    import argparse
    import asyncio
    import shutil
    import statistics
    import sys
    import tempfile
    import time
    import uuid
    from collections.abc import Awaitable, Callable
    from contextlib import AsyncExitStack
    from pathlib import Path
    from typing import Any

    from _common import header, load_average, percentile, ratio, table, temporal_binary

    from orchestrator.contracts.hosts import (
        HostReport,
        ProbeInput,
        ProbeOutcome,
        ProbeRecord,
        ProbeResult,
    )

BARE_ORCHESTRATOR_QUEUE = "bench.orchestrator"
BARE_AGENT_QUEUE = "bench.agent.bare"
BARE_DEPLOY_QUEUE = "bench.deploy.bare"
CONTROL_TIMEOUT = timedelta(seconds=30)


@workflow.defn(name="BenchBareProbe")
class BareProbeWorkflow:
    """HostProbeWorkflow's shape with nothing of the platform in it."""

    @workflow.run
    async def run(self, inp: ProbeInput) -> ProbeResult:
        host_id: str = await workflow.execute_activity(
            "bench.pick", inp, result_type=str, start_to_close_timeout=CONTROL_TIMEOUT
        )
        agent = await self._ask("bench.agent", BARE_AGENT_QUEUE, inp)
        deploy = await self._ask("bench.deploy", BARE_DEPLOY_QUEUE, inp)
        info = workflow.info()
        record = ProbeRecord(
            host_id=host_id,
            workflow_id=info.workflow_id,
            run_id=info.run_id,
            agent=agent,
            deploy=deploy,
        )
        await workflow.execute_activity(
            "bench.record", record, start_to_close_timeout=CONTROL_TIMEOUT
        )
        return ProbeResult(host_id=host_id, status=record.status, agent=agent, deploy=deploy)

    async def _ask(self, name: str, queue: str, inp: ProbeInput) -> ProbeOutcome:
        report = await workflow.execute_activity(
            name,
            result_type=HostReport,
            task_queue=queue,
            schedule_to_start_timeout=timedelta(seconds=inp.schedule_to_start_seconds),
            start_to_close_timeout=timedelta(seconds=60),
            retry_policy=RetryPolicy(maximum_attempts=3),
        )
        return ProbeOutcome(report=report)


CANNED: dict[str, HostReport] = {}


@activity.defn(name="bench.pick")
async def bare_pick(inp: ProbeInput) -> str:
    return inp.host_id or "bare"


@activity.defn(name="bench.agent")
async def bare_agent() -> HostReport:
    return CANNED["session"]


@activity.defn(name="bench.deploy")
async def bare_deploy() -> HostReport:
    return CANNED["deploy"]


@activity.defn(name="bench.record")
async def bare_record(rec: ProbeRecord) -> None:
    return None


# -- measurement ------------------------------------------------------------------------------


def stats_ms(values: list[float]) -> dict[str, float]:
    ms = [v * 1000 for v in values]
    return {
        "min": min(ms),
        "p50": percentile(ms, 50),
        "p95": percentile(ms, 95),
        "mean": statistics.fmean(ms),
        "max": max(ms),
    }


async def breakdown(client: Any, workflow_id: str) -> tuple[float, float]:
    """(queue wait, worker time) in seconds from the history's server-side event times.

    Queue wait: each workflow or activity task's scheduled -> started (Temporal holding the
    task until a poller takes it; ~0 for activities started eagerly with the workflow
    task). Worker time: started -> completed (the worker running the task, including the
    round trip back to the server).
    """
    from temporalio.api.enums.v1 import EventType

    history = await client.get_workflow_handle(workflow_id).fetch_history()
    at = {e.event_id: e.event_time.ToDatetime() for e in history.events}
    wait = work = 0.0
    for e in history.events:
        kind = e.event_type
        if kind == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED:
            since, into = e.workflow_task_started_event_attributes.scheduled_event_id, "wait"
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            since, into = e.activity_task_started_event_attributes.scheduled_event_id, "wait"
        elif kind == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            since, into = e.workflow_task_completed_event_attributes.started_event_id, "work"
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            since, into = e.activity_task_completed_event_attributes.started_event_id, "work"
        else:
            continue
        took = (e.event_time.ToDatetime() - at[since]).total_seconds()
        if into == "wait":
            wait += took
        else:
            work += took
    return wait, work


async def timed(fn: Callable[[], Awaitable[Any]]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    result = await fn()
    return time.perf_counter() - t0, result


async def main_async(args: argparse.Namespace) -> int:
    from temporalio.testing import WorkflowEnvironment
    from temporalio.worker import Worker

    from activities.common.hostinfo import host_report
    from orchestrator.db import Database
    from orchestrator.hosts.repository import HostRepository
    from orchestrator.migrate import upgrade
    from orchestrator.queues import ORCHESTRATOR_QUEUE, SEARCH_ATTRIBUTE_KEYS
    from orchestrator.temporal import data_converter
    from tests.helpers import TEST_PAYLOAD_KEYS, wait_for
    from tests.integration.stack import running_stack, unique_host
    from workflows.host_probe import HostProbeWorkflow

    binary = temporal_binary()
    header(
        "bench/round_trip.py: HostProbeWorkflow round trip",
        [
            "latency of `execute_workflow(HostProbeWorkflow.run)` through the in-process stack",
            "(API, orchestrator worker, session + deploy agents, SQLite) on a local Temporal dev",
            "server; floor: a bare 4-activity workflow of the same shape on plain Workers.",
            f"{args.warmup} warm-ups then {args.samples} samples each, interleaved.",
        ],
        binary,
    )
    tmp = Path(tempfile.mkdtemp(prefix="polygent-bench-rt-"))
    t0 = time.perf_counter()
    env = await WorkflowEnvironment.start_local(
        namespace="default",
        data_converter=data_converter(TEST_PAYLOAD_KEYS),
        search_attributes=list(SEARCH_ATTRIBUTE_KEYS),
        dev_server_existing_path=binary,
        dev_server_log_level="error",
    )
    print(f"  dev server up in {time.perf_counter() - t0:.2f}s", flush=True)
    db_url = f"sqlite:///{tmp / 'polygent.db'}"
    await upgrade(db_url)
    db = Database(db_url)
    client = env.client
    real: list[float] = []
    bare: list[float] = []
    reports: list[float] = []
    parts: dict[str, list[tuple[float, float]]] = {"real": [], "bare": []}
    try:
        async with AsyncExitStack() as stack_cm:
            stack = await stack_cm.enter_async_context(running_stack(db, client, tmp / "stack"))
            host = unique_host()
            await stack.start_agent(host, "session")
            await stack.start_agent(host, "deploy")

            async def both_online() -> bool:
                # From the database, as the orchestrator sees it (the API may need sign-in).
                async with db.session() as session:
                    workers = [
                        w for w in await HostRepository(session).list_workers() if w.host_id == host
                    ]
                return len(workers) == 2 and all(w.online for w in workers)

            await wait_for(both_online, timeout=60, what="both agents online")

            for kind in ("session", "deploy"):
                CANNED[kind] = await host_report(kind, tmp / "canned" / kind)
            agent_opts: dict[str, Any] = {
                "max_concurrent_activities": 4,
                "max_heartbeat_throttle_interval": timedelta(seconds=2),
                "graceful_shutdown_timeout": timedelta(seconds=10),
            }
            for worker in (
                Worker(
                    client,
                    task_queue=BARE_ORCHESTRATOR_QUEUE,
                    workflows=[BareProbeWorkflow],
                    activities=[bare_pick, bare_record],
                    identity="bench-orchestrator",
                ),
                Worker(
                    client,
                    task_queue=BARE_AGENT_QUEUE,
                    activities=[bare_agent],
                    identity="bench-agent",
                    **agent_opts,
                ),
                Worker(
                    client,
                    task_queue=BARE_DEPLOY_QUEUE,
                    activities=[bare_deploy],
                    identity="bench-deploy",
                    **agent_opts,
                ),
            ):
                await stack_cm.enter_async_context(worker)

            ids: dict[str, list[str]] = {"real": [], "bare": []}

            async def run_real() -> ProbeResult:
                wid = f"bench-probe-{uuid.uuid4().hex[:12]}"
                ids["real"].append(wid)
                return await client.execute_workflow(
                    HostProbeWorkflow.run,
                    ProbeInput(host_id=host, schedule_to_start_seconds=5),
                    id=wid,
                    task_queue=ORCHESTRATOR_QUEUE,
                )

            async def run_bare() -> ProbeResult:
                wid = f"bench-bare-{uuid.uuid4().hex[:12]}"
                ids["bare"].append(wid)
                return await client.execute_workflow(
                    BareProbeWorkflow.run,
                    ProbeInput(host_id=host, schedule_to_start_seconds=5),
                    id=wid,
                    task_queue=BARE_ORCHESTRATOR_QUEUE,
                )

            statuses: dict[str, int] = {}
            for i in range(args.warmup + args.samples):
                order = [(run_real, real), (run_bare, bare)]
                if i % 2:
                    order.reverse()
                for fn, into in order:
                    took, result = await timed(fn)
                    if i >= args.warmup:
                        into.append(took)
                        if fn is run_real:
                            statuses[result.status] = statuses.get(result.status, 0) + 1
                if i >= args.warmup and (i - args.warmup + 1) % 10 == 0:
                    print(f"  {i - args.warmup + 1}/{args.samples} samples", flush=True)

            for kind in ("real", "bare"):
                for wid in ids[kind][args.warmup :]:
                    parts[kind].append(await breakdown(client, wid))

            await host_report("session", tmp / "alone")  # warm-up
            for _ in range(args.reports):
                took, _ = await timed(lambda: host_report("session", tmp / "alone"))
                reports.append(took)
    finally:
        await db.dispose()
        await env.shutdown()
        shutil.rmtree(tmp, ignore_errors=True)

    r, b, h = stats_ms(real), stats_ms(bare), stats_ms(reports)
    print()
    print(f"summary (milliseconds; {args.samples} samples each after {args.warmup} warm-ups)")
    cols = ("p50", "p95", "mean", "min", "max")
    rows = [
        ["polygent HostProbeWorkflow", *(f"{r[k]:.1f}" for k in cols)],
        ["bare 4-activity workflow", *(f"{b[k]:.1f}" for k in cols)],
        [f"host_report() alone (x{args.reports})", *(f"{h[k]:.1f}" for k in cols)],
    ]
    print(table(["", *cols], rows))
    print()
    print("where the time goes (median per workflow, ms, from the histories' event times)")
    split = []
    for label, kind, total in (("polygent", "real", r), ("bare", "bare", b)):
        wait = statistics.median(w for w, _ in parts[kind]) * 1000
        work = statistics.median(x for _, x in parts[kind]) * 1000
        split.append(
            [
                label,
                f"{total['p50']:.1f}",
                f"{wait:.1f}",
                f"{work:.1f}",
                f"{total['p50'] - wait - work:.1f}",
            ]
        )
    print(table(["", "total p50", "queue wait", "worker time", "rest"], split))
    print("  (queue wait: tasks scheduled but not yet taken by a poller; worker time: tasks")
    print("   being run, incl. the reply; rest: client start/result calls, scheduling gaps)")
    if args.verbose:
        print(f"  polygent samples (ms): {[round(v * 1000) for v in real]}")
        print(f"  bare samples (ms):     {[round(v * 1000) for v in bare]}")
    print()
    p50, mean = ratio(r["p50"], b["p50"]), ratio(r["mean"], b["mean"])
    print(f"ratio polygent / bare: p50 {p50}, mean {mean}")
    gap = r["p50"] - b["p50"]
    own = 2 * h["p50"]
    rest = (
        f"leaving ~{gap - own:.1f} ms for the rest of the platform (SQLite pick/record, "
        "search-attribute upsert, ...)"
        if gap > own
        else "so the platform's own work is within this run's noise"
    )
    print(
        f"gap at p50: {gap:+.1f} ms; the probe runs host_report() twice in sequence (agent, "
        f"then deploy), ~{own:.1f} ms of it, {rest}."
    )
    print(f"probe statuses: {statuses}")
    print(f"load average at end: {load_average()}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(
        description="Latency of the HostProbeWorkflow round trip through the in-process stack, "
        "against a bare Temporal workflow of the same shape."
    )
    parser.add_argument("--samples", type=int, default=30, help="timed runs each (default 30)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed runs each (default 3)")
    parser.add_argument(
        "--reports", type=int, default=20, help="timed host_report() calls (default 20)"
    )
    parser.add_argument("--verbose", action="store_true", help="print every sample")
    args = parser.parse_args()
    if args.samples < 1 or args.warmup < 0 or args.reports < 1:
        parser.error("--samples and --reports must be >= 1, --warmup >= 0")
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())

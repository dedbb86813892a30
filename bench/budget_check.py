"""The cost of the budget check on every event: in the agent, and at ingestion in the API.

(a) In the agent (activities/agent/turn.py): every batch the runner hands over goes through
`BudgetMeter.add()` (activities/agent/budget.py) after it is posted; the meter keeps running
totals (a message's new usage snapshot replaces its old one), so an event costs the same
however long the turn is. A turn's events are a Claude-shaped cycle: per model message
one usage snapshot, thinking, text, a tool call and its result; the turn ends with a result
line. Batches of `--batch-sizes` events (1: a CLI printing slowly, each event posted alone
after the runner's 50 ms flush; 250: the runner's largest batch, a burst), turns of
`--turn-events` (500 and 2,500 events: 100 and 500 model messages). Rows: the meter with a
budget, the meter without one (budget None: never stops), and the floor: the loop `on_events`
already runs over each batch (the provider session id check), without the meter. µs per
event, median of `--runs` (3).

(b) At ingestion (orchestrator/sessions/events.py `SessionEventService.ingest`): a stored
batch holding a usage event records the message's cost row, then asks
`BudgetGuard(session).exhausted(workspace_id)` and `.announce(workspace_id)`
(orchestrator/settings/budget_guard.py): for the global and the workspace budget, the month's
spend (turn rows plus the message rows of turns without a turn row, `spent_since` in
orchestrator/settings/repository.py). Timed: the service itself, `SessionEventService(s).ingest`
called directly in its own unit of work and committed (as POST /internal/sessions/{id}/events
does, without HTTP, auth and the bus), with a `HostApiKey` whose session worker is on the
session's host. Database: a migrated SQLite file, or with `--postgres` a PostgreSQL database
created for the run (and dropped) as bench/_sessions.py does; seeded with `--workspaces` (10)
workspaces, `--sessions` (500) sessions and `--rows` (10,000) message cost rows this month
(turns of 5 messages, each finished turn with its turn row; the last turn of every tenth
session still running). Batches of `--batch` (50) events, one of them a usage event:

* floor: the same batch without a usage event (no cost row, no check);
* no budgets: the usage event's cost row, and the check finding no budget;
* budgets: a blocking global and workspace budget, half spent (the check sums the spend);
* past warning: the same budgets 90% spent (warning line 80%, already announced: each batch
  also tries to record the announcement again).

Per run each variant stores `--batches` (30) batches after one untimed batch, the order
rotating between runs; then the check alone (`exhausted` + `announce` in a unit of work of
its own) as often. Prints µs per batch (median, p95) and per event, the check's cost
(budgets - no budgets) and the ratios.

    .venv/bin/python bench/budget_check.py [--runs 3] [--turn-events 500,2500] [--batches 30]
                                           [--batch 50] [--rows 10000] [--postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from _common import header, load_average, percentile, ratio, table

MODEL = "claude-sonnet-4-5"
TOOL_OUTPUT = "".join(f"line {i}: ok\n" for i in range(40))  # ~500 bytes of command output


# -- (a) the meter in the agent ---------------------------------------------------------------


def turn_events(n: int) -> list[Any]:
    """A turn of `n` events: per model message a usage snapshot, thinking, text, a tool call
    and its result (Claude-shaped); the last event is the turn's result line."""
    from orchestrator.contracts.agent import AgentEvent, Usage

    out: list[AgentEvent] = []
    i = 0
    while len(out) < n - 1:
        mid = f"msg_{i}"
        usage = Usage(input=100 + i % 7, output=42, cache_read=3000, cache_write=20)
        out += [
            AgentEvent(kind="usage", message_id=mid, usage=usage, subtype="snapshot"),
            AgentEvent(kind="thinking", message_id=mid, text="I should run the tests."),
            AgentEvent(kind="text", message_id=mid, text="Running the tests."),
            AgentEvent(
                kind="tool_call",
                message_id=mid,
                tool_name="Bash",
                tool_id=f"t{i}",
                tool_input={"command": "pytest -q"},
            ),
            AgentEvent(kind="tool_result", tool_name="Bash", tool_id=f"t{i}", content=TOOL_OUTPUT),
        ]
        i += 1
    out = out[: n - 1]
    out.append(AgentEvent(kind="result", subtype="success", session_id="s", cost_usd=0.5))
    return out


def batches_of(events: list[Any], size: int) -> list[list[Any]]:
    return [events[k : k + size] for k in range(0, len(events), size)]


def time_meter(batches: list[list[Any]], side: str) -> float:
    """Seconds for the whole turn: `BudgetMeter.add` per batch (side "budget": with a turn
    budget, never reached; "meter": without one), or ("floor") only the loop `on_events` runs
    over each batch anyway."""
    from activities.agent.budget import BudgetMeter
    from orchestrator.pricing import DEFAULT_PRICES, price_for

    gc.collect()
    if side == "floor":
        provider_session = None
        t0 = time.perf_counter()
        for batch in batches:
            for e in batch:
                if e.session_id and e.session_id != provider_session:
                    provider_session = e.session_id
        return time.perf_counter() - t0
    meter = BudgetMeter(1e9 if side == "budget" else None, price_for(MODEL, DEFAULT_PRICES))
    t0 = time.perf_counter()
    for batch in batches:
        meter.add(batch)
    return time.perf_counter() - t0


METER_SIDES = (
    ("floor", "floor: on_events' own loop"),
    ("meter", "BudgetMeter.add, no budget"),
    ("budget", "BudgetMeter.add, budget set"),
)


def agent_side(turn_sizes: list[int], batch_sizes: list[int], runs: int) -> list[list[str]]:
    rows: list[list[str]] = []
    for n in turn_sizes:
        events = turn_events(n)
        for size in batch_sizes:
            batches = batches_of(events, size)
            times: dict[str, list[float]] = {label: [] for _, label in METER_SIDES}
            for i in range(runs):
                sides = METER_SIDES if i % 2 == 0 else METER_SIDES[::-1]
                for side, label in sides:
                    times[label].append(time_meter(batches, side))
            floor = statistics.median(times[METER_SIDES[0][1]])
            for _, label in METER_SIDES:
                t = statistics.median(times[label])
                rows.append(
                    [
                        f"{n} events, batches of {size}: {label}",
                        f"{t / n * 1e6:.3f}",
                        f"{t * 1e3:.1f}",
                        ratio(t, floor),
                    ]
                )
            print(
                f"  turn of {n} events ({n // 5} messages), batches of {size}: meter with budget "
                f"{statistics.median(times[METER_SIDES[2][1]]) / n * 1e6:.2f} µs/event",
                flush=True,
            )
    return rows


# -- (b) the check at ingestion ---------------------------------------------------------------


@dataclass
class Seeded:
    db: Any  # orchestrator.db.Database
    label: str
    key: Any  # HostApiKey
    session_id: str
    workspace_id: str
    cost_rows: int
    seq: int = 0
    message: int = 0
    batch_times: dict[str, list[float]] = field(default_factory=dict)
    check_times: dict[str, list[float]] = field(default_factory=dict)


@contextlib.asynccontextmanager
async def database(tmp: Path, postgres: bool) -> AsyncIterator[tuple[Any, str]]:
    """A migrated database: a SQLite file, or a PostgreSQL database of its own (dropped)."""
    from orchestrator.db import Database
    from orchestrator.migrate import upgrade

    pg: tuple[str, str] | None = None
    if postgres:
        from tests.conftest import PG_ADMIN_URL, create_pg_database

        url = create_pg_database(PG_ADMIN_URL)
        pg, label = (PG_ADMIN_URL, url), "PostgreSQL (127.0.0.1:5432)"
    else:
        url, label = f"sqlite:///{tmp / 'polygent.db'}", "SQLite (file)"
    db = None
    try:
        await upgrade(url)
        db = Database(url)
        yield db, label
    finally:
        if db is not None:
            await db.dispose()
        if pg is not None:
            from tests.conftest import drop_pg_database

            drop_pg_database(*pg)


def cost_rows(sessions: list[tuple[str, str]], per_session: int) -> list[dict[str, Any]]:
    """Each session's message rows in turns of 5, each turn dated this month with its turn row,
    except the last turn of every tenth session (still running: its messages count alone)."""
    from orchestrator.base import utcnow
    from orchestrator.settings.service import month_start

    rng, now = random.Random(1), utcnow()
    start = month_start(now)
    span = max(1.0, (now - start).total_seconds() - 1)
    rows: list[dict[str, Any]] = []
    turns = (per_session + 4) // 5
    for k, (sid, w) in enumerate(sessions):
        for turn in range(1, turns + 1):
            count = min(5, per_session - (turn - 1) * 5)
            costs = [round(rng.uniform(0.01, 0.05), 6) for _ in range(count)]
            common = {
                "session_id": sid, "workspace_id": w, "turn": turn, "provider": "claude-code",
                "model": MODEL, "created_at": start + timedelta(seconds=rng.uniform(0, span)),
            }  # fmt: skip
            rows += [
                {**common, "message_id": f"msg_{turn}_{m}", "kind": "message", "cost_usd": c,
                 "input_tokens": 100, "output_tokens": 42}
                for m, c in enumerate(costs)
            ]  # fmt: skip
            if turn < turns or k % 10:
                rows.append({
                    **common, "message_id": f"turn-{turn}", "kind": "turn",
                    "input_tokens": 100 * count, "output_tokens": 42 * count,
                    "cost_usd": round(sum(costs), 6),
                })  # fmt: skip
    return rows


async def seed(db: Any, label: str, args: argparse.Namespace) -> Seeded:
    """Host, key and session worker; workspaces, sessions and this month's cost rows."""
    from sqlalchemy import insert

    from orchestrator.hosts.models import Host, HostApiKey, HostWorker
    from orchestrator.sessions.models import Session, SessionCost
    from orchestrator.workspaces.models import Workspace

    host = "bench-host"
    async with db.session() as s:
        key = HostApiKey(
            id=uuid.uuid4().hex[:16], name="bench", host_type="session", key_hash="0" * 64,
            pepper_kid="bench",
        )  # fmt: skip
        s.add_all([key, Host(id=host, name=host)])
        await s.flush()
        s.add(HostWorker(host_id=host, kind="session", task_queue="b", api_key_id=key.id))
        workspaces = [uuid.uuid4().hex for _ in range(args.workspaces)]
        git = "https://git.invalid/r.git"
        names = [{"id": w, "name": f"bench-{k}", "git_url": git} for k, w in enumerate(workspaces)]
        await s.execute(insert(Workspace), names)
        sessions = [
            (uuid.uuid4().hex, workspaces[k % args.workspaces]) for k in range(args.sessions)
        ]
        await s.execute(insert(Session), [
            {"id": sid, "workspace_id": w, "host_id": host, "provider": "claude-code",
             "model": MODEL, "status": "waiting", "title": "seeded"}
            for sid, w in sessions
        ])  # fmt: skip
        rows = cost_rows(sessions, max(1, args.rows // args.sessions))
        for k in range(0, len(rows), 2000):
            await s.execute(insert(SessionCost), rows[k : k + 2000])
        bench = Session(workspace_id=workspaces[0], host_id=host, provider="claude-code",
                        model=MODEL, status="running", title="bench")  # fmt: skip
        s.add(bench)
        await s.flush()
    messages = sum(r["kind"] == "message" for r in rows)
    print(
        f"  seeded {label}: {args.workspaces} workspaces, {args.sessions} sessions, "
        f"{messages} message + {len(rows) - messages} turn cost rows this month",
        flush=True,
    )
    return Seeded(db, label, key, bench.id, workspaces[0], len(rows))


def ingest_batch(st: Seeded, k: int, usage: bool) -> list[Any]:
    """`k` events of one turn, numbered on from the last batch; one usage event if `usage`."""
    from orchestrator.contracts.agent import AgentEvent, Usage

    events: list[AgentEvent] = []
    for j in range(k):
        st.seq += 1
        common = {"turn": 1, "attempt": 1, "seq": st.seq}
        if usage and j == 0:
            st.message += 1
            events.append(
                AgentEvent(
                    kind="usage",
                    message_id=f"bench_msg_{st.message}",
                    subtype="snapshot",
                    usage=Usage(input=100, output=42, cache_read=3000, cache_write=20),
                    **common,
                )
            )
            continue
        kind = ("thinking", "text", "tool_call", "tool_result")[j % 4]
        events.append(
            AgentEvent(
                kind=kind,
                text="Running the tests." if kind in ("thinking", "text") else None,
                tool_name="Bash" if kind.startswith("tool") else None,
                tool_input={"command": "pytest -q"} if kind == "tool_call" else None,
                content=TOOL_OUTPUT if kind == "tool_result" else None,
                **common,
            )
        )
    return events


async def configure(st: Seeded, variant: str) -> None:
    """No budgets, or a global and a workspace budget at 50% / 90% of this month's spend."""
    from sqlalchemy import delete

    from orchestrator.settings.models import Budget
    from orchestrator.settings.repository import SettingsRepository
    from orchestrator.settings.service import month_start

    async with st.db.session() as s:
        await s.execute(delete(Budget))
        if variant in ("floor", "none"):
            return
        share = 0.5 if variant == "budgets" else 0.9
        repo = SettingsRepository(s)
        for wid in (None, st.workspace_id):
            spent = await repo.spent_since(month_start(), wid)
            s.add(
                Budget(
                    scope="global" if wid is None else "workspace",
                    workspace_id=wid,
                    monthly_usd=round(spent / share, 2),
                    warn_percent=80,
                    blocking=True,
                )
            )


async def store(st: Seeded, usage: bool, k: int) -> tuple[float, Any]:
    from orchestrator.sessions.events import SessionEventService

    events = ingest_batch(st, k, usage)
    t0 = time.perf_counter()
    async with st.db.session() as s:
        posted, _ = await SessionEventService(s).ingest(st.key, st.session_id, events)
    return time.perf_counter() - t0, posted


async def check_alone(st: Seeded) -> float:
    from orchestrator.settings.budget_guard import BudgetGuard

    t0 = time.perf_counter()
    async with st.db.session() as s:
        guard = BudgetGuard(s)
        stop = await guard.exhausted(st.workspace_id)
        await guard.announce(st.workspace_id)
    assert stop is None, stop  # the budgets are never spent here
    return time.perf_counter() - t0


VARIANTS = (
    ("floor", "floor: no usage event (no check)"),
    ("none", "usage event, no budgets"),
    ("budgets", "usage event, 2 budgets (50% spent)"),
    ("warned", "usage event, 2 budgets (90%, warned)"),
)


async def ingestion_side(args: argparse.Namespace) -> Seeded:
    with tempfile.TemporaryDirectory(prefix="polygent-bench-budget-") as tmp:
        async with database(Path(tmp), args.postgres) as (db, label):
            st = await seed(db, label, args)
            order = [v for v, _ in VARIANTS]
            for i in range(args.runs):
                shift = i % len(order)
                for variant in order[shift:] + order[:shift]:
                    await configure(st, variant)
                    usage = variant != "floor"
                    _, posted = await store(st, usage, args.batch)  # untimed: first alerts
                    assert posted.budget_stop is None, posted.budget_stop
                    times = st.batch_times.setdefault(variant, [])
                    for _ in range(args.batches):
                        times.append((await store(st, usage, args.batch))[0])
                    if usage:
                        await check_alone(st)
                        checks = st.check_times.setdefault(variant, [])
                        for _ in range(args.batches):
                            checks.append(await check_alone(st))
                    recent = statistics.median(times[-args.batches :]) * 1e6
                    print(
                        f"  run {i + 1} {variant:>8}: {recent:,.0f} µs/batch "
                        f"(median of {args.batches})",
                        flush=True,
                    )
            return st


# -- the report -------------------------------------------------------------------------------


def ingestion_report(st: Seeded, k: int) -> None:
    med = {v: statistics.median(st.batch_times[v]) * 1e6 for v, _ in VARIANTS}
    rows = []
    for v, label in VARIANTS:
        t = st.batch_times[v]
        check = f"{statistics.median(st.check_times[v]) * 1e6:,.0f}" if v in st.check_times else "-"
        rows.append(
            [
                label,
                f"{med[v]:,.0f}",
                f"{percentile(t, 95) * 1e6:,.0f}",
                f"{med[v] / k:,.1f}",
                check,
                ratio(med[v], med["floor"]),
            ]
        )
    print(f"(b) at ingestion: {st.label}, batches of {k} events, {st.cost_rows} cost rows seeded")
    print(table(["", "µs/batch", "p95", "µs/event", "check alone µs", "vs floor"], rows))
    for v in ("budgets", "warned"):
        cost = med[v] - med["none"]
        print(
            f"  budget check ({v}) = {v} - no budgets: {cost:,.0f} µs per batch, "
            f"{cost / k:,.1f} µs per event; ratio with / without budgets "
            f"{ratio(med[v], med['none'])}, with the check / floor {ratio(med[v], med['floor'])}"
        )
    usage_cost = med["none"] - med["floor"]
    print(
        f"  a usage event with no budget set (cost row, prices, empty check) = no budgets - floor: "
        f"{usage_cost:,.0f} µs per batch"
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description="Cost of the budget check per event: BudgetMeter.add in the agent, and "
        "BudgetGuard on every batch of usage SessionEventService.ingest stores."
    )
    parser.add_argument("--runs", type=int, default=3, help="runs of every variant (3)")
    parser.add_argument("--turn-events", default="500,2500", help="(a) events per turn (500,2500)")
    parser.add_argument("--batch-sizes", default="1,250", help="(a) events per batch (1,250)")
    parser.add_argument("--batches", type=int, default=30, help="(b) batches per variant (30)")
    parser.add_argument("--batch", type=int, default=50, help="(b) events per batch (50)")
    parser.add_argument("--rows", type=int, default=10000, help="(b) message cost rows (10000)")
    parser.add_argument("--sessions", type=int, default=500, help="(b) seeded sessions (500)")
    parser.add_argument("--workspaces", type=int, default=10, help="(b) workspaces (10)")
    parser.add_argument("--postgres", action="store_true", help="(b) PostgreSQL at 127.0.0.1")
    parser.add_argument("--skip-agent", action="store_true", help="only (b)")
    args = parser.parse_args()
    turn_sizes = [int(x) for x in args.turn_events.split(",") if x]
    batch_sizes = [int(x) for x in args.batch_sizes.split(",") if x]
    if args.runs < 1 or args.batches < 1 or args.batch < 2 or args.sessions < 1:
        parser.error("--runs, --batches, --sessions must be >= 1 and --batch >= 2")
    if min(turn_sizes + batch_sizes, default=0) < 1 or args.rows < args.sessions:
        parser.error("sizes must be >= 1 and --rows >= --sessions")

    header(
        "bench/budget_check.py: the budget check per event, in the agent and at ingestion",
        [
            "(a) BudgetMeter.add per batch a turn posts (µs per event), against on_events' own "
            "loop;",
            "(b) SessionEventService.ingest of a batch with a usage event on a migrated database "
            f"with {args.rows:,} cost rows,",
            "    without and with a global + workspace budget, against the same batch without "
            f"usage. {args.runs} runs.",
        ],
    )
    if not args.skip_agent:
        print("(a) the agent's meter", flush=True)
        rows = agent_side(turn_sizes, batch_sizes, args.runs)
    print("(b) the check at ingestion", flush=True)
    st = asyncio.run(ingestion_side(args))

    print()
    print(f"summary ({args.runs} runs; (a) medians of the runs, (b) all batches pooled)")
    if not args.skip_agent:
        print("(a) in the agent: BudgetMeter.add over one turn")
        print(table(["", "µs/event", "ms/turn", "vs floor"], rows))
        print("  the meter keeps running totals: its cost per event does not grow with the turn")
    ingestion_report(st, args.batch)
    print(f"load average at end: {load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Session events: events per second and latency from an agent CLI's stdout to a WebSocket
client, through the whole platform, against a bare reader of the same CLI as the floor.

Everything but the WebSocket client runs in this process, as under `polygent up`: a local
Temporal dev server, the in-process stack of the integration tests (served API, orchestrator
worker, one session agent) on SQLite (or `--postgres`), a workspace on a real git remote and
one chat session. The session's `claude` is bench/_sessions.py's fake CLI (first on PATH), so
each run is a real turn: message → SessionWorkflow → `agent.run_turn` → the real runner and
Claude Code adapter → batched idempotent POSTs to /internal/sessions/{id}/events → storage →
bus → `/ws`. The fake CLI prints `--events` stream-json lines (text and tool_use alternately),
each flushed and stamped with the time it was printed; the client (a separate Python process,
as a browser would be) subscribed before the message was sent and notes when each arrives.

* burst: the CLI prints as fast as it can; events/s = events / (last arrival - first print).
  Latencies then mostly measure the backlog.
* paced: the CLI prints `--rate` events per second (the goal's 5,000 by default); the
  latencies say whether the platform keeps up at that rate.

Floor: the same fake CLI, same prompt, read by a bare asyncio subprocess reader in this
process (`json.loads` per line, nothing else). Between the two, for where the time goes: the
platform's runner (activities/agent/runner.py `run_cli`, redaction, the Claude stream parser,
batching) alone, handing its batches to a no-op instead of POSTing them. The order of the
three is flipped every run so background load hits them alike.

    .venv/bin/python bench/session_events.py [--events 20000] [--rate 5000] [--runs 2]
                                             [--postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _common import header, load_average, percentile, ratio, table, temporal_binary
from _sessions import (
    MARK,
    Platform,
    bench_prompt,
    mark_of,
    new_session,
    platform,
    prepend_path,
    send,
    session_row,
    start_session_agent,
    wait_turns,
    write_fake_claude,
)

GOAL_RATE = 5000.0
GOAL_P99_MS = 250.0
SIDES = (
    ("polygent", "polygent → WebSocket"),
    ("runner", "runner + parser alone"),
    ("bare", "bare reader (floor)"),
)


@dataclass
class Run:
    """What a receiver saw of one CLI run: arrival - print time of each event, in seconds."""

    expected: int
    latencies: list[float]
    first_printed: float
    last_printed: float
    last_arrived: float
    duplicates: int = 0

    @property
    def rate(self) -> float:
        span = self.last_arrived - self.first_printed
        return len(self.latencies) / span if span > 0 else math.nan

    @property
    def emit_rate(self) -> float:
        span = self.last_printed - self.first_printed
        return len(self.latencies) / span if span > 0 else math.nan

    @classmethod
    def of(cls, body: dict[str, Any]) -> Run:
        return cls(**body)


class Receiver:
    """Collects marks (index, print time) as they arrive; duplicates are counted, not kept."""

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.seen: set[int] = set()
        self.latencies: list[float] = []
        self.first = math.inf
        self.last = 0.0
        self.arrived = 0.0
        self.duplicates = 0

    def add(self, index: int, printed: float, now: float) -> None:
        if index in self.seen:
            self.duplicates += 1
            return
        self.seen.add(index)
        self.latencies.append(now - printed)
        self.first = min(self.first, printed)
        self.last = max(self.last, printed)
        self.arrived = now

    @property
    def done(self) -> bool:
        return len(self.seen) >= self.expected

    def run(self) -> Run:
        return Run(
            self.expected, self.latencies, self.first, self.last, self.arrived, self.duplicates
        )


# -- the WebSocket client (a child process) ---------------------------------------------------


async def client_main() -> int:
    """Subscribe, say "ready", collect the marked events, print them as one JSON line."""
    import websockets

    cfg = json.loads(sys.stdin.readline())
    recv = Receiver(cfg["expected"])
    headers = {"Authorization": f"Bearer {cfg['token']}"}

    async def collect() -> None:
        async with websockets.connect(cfg["url"], additional_headers=headers, max_size=None) as ws:
            sub = {"type": "subscribe", "session_id": cfg["session_id"], "after": cfg["after"]}
            await ws.send(json.dumps(sub))
            async for text in ws:
                now = time.time()
                msg = json.loads(text)
                if msg["type"] == "subscribed":
                    print("ready", flush=True)
                elif msg["type"] == "session.events":
                    for e in msg["events"]:
                        mark = mark_of(e["data"])
                        if mark is not None:
                            recv.add(*mark, now)
                    if recv.done:
                        return

    try:
        await asyncio.wait_for(collect(), cfg["timeout"])
    except TimeoutError:
        print(f"client: timed out with {len(recv.seen)}/{recv.expected}", file=sys.stderr)
    print(json.dumps(recv.run().__dict__), flush=True)
    return 0


# -- the two sides ----------------------------------------------------------------------------


async def platform_run(
    plat: Platform, sid: str, turn: int, events: int, rate: float, timeout: float
) -> Run:
    """One turn of the session printing `events`, seen by a freshly subscribed client."""
    after = (await session_row(plat, sid))["last_cursor"]
    client = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--ws-client",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        limit=1 << 26, start_new_session=True,
    )  # fmt: skip
    assert client.stdin is not None and client.stdout is not None
    cfg = {
        "url": plat.stack.url.replace("http", "ws", 1) + "/ws", "token": plat.token,
        "session_id": sid, "after": after, "expected": events, "timeout": timeout,
    }  # fmt: skip
    client.stdin.write((json.dumps(cfg) + "\n").encode())  # the token stays out of argv
    await client.stdin.drain()
    try:
        ready = await asyncio.wait_for(client.stdout.readline(), 30)
        if ready.strip() != b"ready":
            raise RuntimeError(f"the WebSocket client did not subscribe: {ready!r}")
        await send(plat, sid, bench_prompt(events, rate))
        line = await asyncio.wait_for(client.stdout.readline(), timeout + 30)
        await client.wait()
    finally:
        if client.returncode is None:
            client.kill()
            await client.wait()
    await wait_turns(plat, sid, turn, timeout=timeout)
    return Run.of(json.loads(line))


async def bare_run(fake: Path, cwd: Path, events: int, rate: float) -> Run:
    """The same CLI and prompt read by a bare asyncio subprocess reader."""
    recv = Receiver(events)
    argv = [str(fake), "-p", bench_prompt(events, rate), "--output-format", "stream-json"]
    proc = await asyncio.create_subprocess_exec(
        *argv, cwd=cwd, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        limit=1 << 20, start_new_session=True,
    )  # fmt: skip
    assert proc.stdout is not None
    async for line in proc.stdout:
        now = time.time()
        json.loads(line)
        found = MARK.search(line.decode())
        if found:
            recv.add(int(found[1]), float(found[2]), now)
    await proc.wait()
    return recv.run()


async def runner_run(fake: Path, cwd: Path, events: int, rate: float) -> Run:
    """The platform's runner and Claude Code parser alone: events handed to a no-op sink."""
    from activities.agent.providers.base import Launch
    from activities.agent.providers.claude_stream import ClaudeStreamParser
    from activities.agent.runner import run_cli
    from orchestrator.contracts.agent import AgentEvent

    recv = Receiver(events)
    argv = [str(fake), "-p", bench_prompt(events, rate), "--output-format", "stream-json"]

    async def sink(batch: list[AgentEvent]) -> None:
        now = time.time()
        for e in batch:
            mark = mark_of({"text": e.text, "tool_input": e.tool_input})
            if mark is not None:
                recv.add(*mark, now)

    launch = Launch(argv=argv, env={"PATH": str(fake.parent)})
    await run_cli(launch, cwd, ClaudeStreamParser().parse, sink, turn=1, attempt=1)
    return recv.run()


# -- the report -------------------------------------------------------------------------------


def summary(runs: list[Run]) -> dict[str, float]:
    lat = [v * 1000 for r in runs for v in r.latencies]
    got = sum(len(r.latencies) for r in runs)
    return {
        "events": got,
        "missing": sum(r.expected for r in runs) - got,
        "duplicates": sum(r.duplicates for r in runs),
        "rate": statistics.median(r.rate for r in runs),
        "emit": statistics.median(r.emit_rate for r in runs),
        "p50": percentile(lat, 50),
        "p95": percentile(lat, 95),
        "p99": percentile(lat, 99),
        "max": max(lat),
    }


def row(label: str, s: dict[str, float]) -> list[str]:
    return [
        label,
        f"{s['events']:.0f}",
        f"{s['rate']:,.0f}",
        f"{s['emit']:,.0f}",
        *(f"{s[k]:.1f}" for k in ("p50", "p95", "p99", "max")),
    ]


async def main_async(args: argparse.Namespace) -> int:
    binary = temporal_binary()
    header(
        "bench/session_events.py: session events, CLI stdout → WebSocket",
        [
            "events/s and latency (print → arrival) of a turn's events through runner, adapter,",
            "batched POSTs, storage, bus and /ws, in-process stack on a local Temporal dev",
            "server; floor: the same fake CLI read by a bare asyncio subprocess reader.",
            f"{args.runs} runs each of {args.events} events: burst (as fast as the CLI can) and "
            f"paced at {args.rate:g}/s; goal ≥ {GOAL_RATE:,.0f} events/s and p99 < "
            f"{GOAL_P99_MS:.0f} ms.",
        ],
        binary,
    )
    tmp = Path(tempfile.mkdtemp(prefix="polygent-bench-ev-"))
    fake = write_fake_claude(tmp / "bin")
    prepend_path(fake.parent)
    phases = [("burst", 0.0), (f"paced {args.rate:g}/s", args.rate)]
    results: dict[tuple[str, str], list[Run]] = {}
    try:
        async with platform(tmp, binary, postgres=args.postgres) as plat:
            print(f"  database: {plat.db_label}", flush=True)
            await start_session_agent(plat)
            sid = await new_session(plat, "bench events")
            turn = 1
            await platform_run(plat, sid, turn, min(args.events, 500), 0.0, args.timeout)
            await bare_run(fake, tmp, min(args.events, 500), 0.0)
            print("  warmed up (one turn of 500 events, one bare run)", flush=True)
            for i in range(args.runs):
                for phase, rate in phases:
                    sides = ["polygent", "runner", "bare"]
                    if i % 2:
                        sides.reverse()
                    for side in sides:
                        if side == "polygent":
                            turn += 1
                            run = await platform_run(
                                plat, sid, turn, args.events, rate, args.timeout
                            )
                        elif side == "runner":
                            run = await runner_run(fake, tmp, args.events, rate)
                        else:
                            run = await bare_run(fake, tmp, args.events, rate)
                        results.setdefault((phase, side), []).append(run)
                        print(
                            f"  run {i + 1} {phase:>14} {side:>8}: {len(run.latencies)} events, "
                            f"{run.rate:,.0f}/s, p99 "
                            f"{percentile(run.latencies, 99) * 1000:.1f} ms",
                            flush=True,
                        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    print()
    print(f"summary ({args.runs} runs of {args.events} events each; latencies in ms, pooled)")
    rows, stats = [], {}
    for phase, _ in phases:
        for side, label in SIDES:
            s = stats[(phase, side)] = summary(results[(phase, side)])
            rows.append(row(f"{phase}: {label}", s))
    cols = ["events", "events/s", "CLI printed/s", "p50", "p95", "p99", "max"]
    print(table(["", *cols], rows))
    lost = {k: (v["missing"], v["duplicates"]) for k, v in stats.items() if k[1] == "polygent"}
    print(f"missing / duplicate events at the client: {lost}")
    print()
    burst, paced = stats[(phases[0][0], "polygent")], stats[(phases[1][0], "polygent")]
    for phase, _ in phases:
        p, b = stats[(phase, "polygent")], stats[(phase, "bare")]
        print(
            f"ratio polygent / bare ({phase}): events/s {ratio(p['rate'], b['rate'])}, "
            f"p99 latency {ratio(p['p99'], b['p99'])}"
        )
    met_rate = "met" if burst["rate"] >= GOAL_RATE else "NOT met"
    print(
        f"goal ≥ {GOAL_RATE:,.0f} events/s: {burst['rate']:,.0f} events/s in a burst "
        f"({burst['rate'] / GOAL_RATE:.0%} of the goal): {met_rate}"
    )
    kept_up = paced["rate"] >= 0.95 * min(args.rate, paced["emit"])
    met_p99 = "met" if paced["p99"] < GOAL_P99_MS and kept_up else "NOT met"
    print(
        f"goal p99 < {GOAL_P99_MS:.0f} ms at {args.rate:g} events/s: p99 {paced['p99']:.1f} ms, "
        f"{paced['rate']:,.0f} events/s delivered of {paced['emit']:,.0f}/s printed: {met_p99}"
    )
    print(
        "  (one Python process serves the API, both workers and the runner here, as under "
        "`polygent up`; the client is its own process)"
    )
    print(f"load average at end: {load_average()}")
    return 0


def main() -> int:
    if sys.argv[1:] == ["--ws-client"]:
        return asyncio.run(client_main())
    parser = argparse.ArgumentParser(
        description="Events per second and latency from an agent CLI's stdout to a WebSocket "
        "client through the in-process platform, against a bare reader of the same CLI."
    )
    parser.add_argument("--events", type=int, default=20000, help="events per run (20000)")
    parser.add_argument(
        "--rate", type=float, default=GOAL_RATE, help="events/s of the paced runs (5000)"
    )
    parser.add_argument("--runs", type=int, default=2, help="runs per phase and side (2)")
    parser.add_argument("--postgres", action="store_true", help="PostgreSQL at 127.0.0.1:5432")
    parser.add_argument("--timeout", type=float, default=300, help="seconds one run may take (300)")
    args = parser.parse_args()
    if args.events < 2 or args.runs < 1 or args.rate <= 0:
        parser.error("--events must be >= 2, --runs >= 1, --rate > 0")
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())

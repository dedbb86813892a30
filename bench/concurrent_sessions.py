"""Concurrent sessions: memory and CPU of `--sessions` (50) turns running at once on one
session agent, against the same number of bare CLI processes as the floor.

The platform runs in this process: a local Temporal dev server, the in-process stack of the
integration tests (served API, orchestrator worker) on SQLite (or `--postgres`), a workspace on
a real git remote, and one session agent whose activity limit is raised (AgentSettings
`max_concurrent_activities`) and whose host takes that many sessions (PATCH /api/hosts/{id}
`max_concurrent_sessions`). The session's `claude` is bench/_sessions.py's fake CLI (first on
PATH), told to print `--events` stream-json events over `--seconds`: a slow agent that mostly
waits, as a real one waiting for its model does.

After one warm-up turn, `--sessions` chat sessions are created and their worktrees prepared
(the idle cost per session is noted), then one message is sent to each, `--send-at-once` (8)
requests in flight. (POST .../messages holds a pooled database connection while it waits for
the workflow's update, whose handler needs one too for `sessions.emit`; with every role in one
process, as here and under `polygent up`, 15 sends at once, the SQLite pool's 5 + 10 overflow,
starve it and fail with a 500 after 30 s.) While the turns run, every 0.5 s: the RSS of this
process, of the fake CLIs (and how many are alive) and of the Temporal dev server. Reported
per session: the peak RSS growth of this process and the peak RSS of the CLIs, divided by the
number of sessions; CPU time (user + system) of this process and of its reaped children (the
CLIs, git) per session-second (sessions x `--seconds`, the time each CLI runs, on both sides;
the platform's CPU is counted from the first send to the last turn back to `waiting`).

Floor: the same number of the same fake CLI with the same prompt, spawned at once by a bare
asyncio reader in this process (reading their lines), measured the same way.

    .venv/bin/python bench/concurrent_sessions.py [--sessions 50] [--seconds 20] [--events 6]
                                                  [--send-at-once 8] [--postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
from _common import MIB, header, load_average, ratio, table, temporal_binary
from _sessions import (
    Platform,
    bench_prompt,
    new_session,
    platform,
    prepend_path,
    rss,
    send,
    start_session_agent,
    wait_turns,
    write_fake_claude,
)

SAMPLE_SECONDS = 0.5


@dataclass
class Sample:
    at: float
    own: int
    clis: int
    alive: int
    temporal: int


@dataclass
class Window:
    """CPU seconds and RSS samples between `start()` and `stop()`."""

    fake: str
    temporal_pid: int | None = None
    samples: list[Sample] = field(default_factory=list)
    t0: float = 0.0
    t1: float = 0.0
    own_rss0: int = 0
    temporal_rss0: int = 0
    cpu0: tuple[float, float, float] = (0.0, 0.0, 0.0)
    cpu1: tuple[float, float, float] = (0.0, 0.0, 0.0)
    _task: asyncio.Task[None] | None = None
    _is_cli: dict[int, bool] = field(default_factory=dict)

    def cpu(self) -> tuple[float, float, float]:
        """(this process, its reaped children, the Temporal server) CPU seconds so far."""
        t = psutil.Process().cpu_times()
        temporal = 0.0
        if self.temporal_pid is not None:
            with contextlib.suppress(psutil.Error):
                tt = psutil.Process(self.temporal_pid).cpu_times()
                temporal = tt.user + tt.system
        return t.user + t.system, t.children_user + t.children_system, temporal

    def clis(self) -> list[psutil.Process]:
        found = []
        for p in psutil.Process().children(recursive=True):
            with contextlib.suppress(psutil.Error):
                if p.pid not in self._is_cli:
                    self._is_cli[p.pid] = self.fake in " ".join(p.cmdline())
                if self._is_cli[p.pid] and p.status() != psutil.STATUS_ZOMBIE:
                    found.append(p)
        return found

    def sample(self) -> None:
        clis = self.clis()
        total = 0
        for p in clis:
            with contextlib.suppress(psutil.Error):
                total += p.memory_info().rss
        self.samples.append(
            Sample(time.perf_counter() - self.t0, rss(psutil.Process().pid), total, len(clis),
                   rss(self.temporal_pid))
        )  # fmt: skip

    async def _loop(self) -> None:
        while True:
            self.sample()
            await asyncio.sleep(SAMPLE_SECONDS)

    def start(self) -> None:
        self.own_rss0 = rss(psutil.Process().pid)
        self.temporal_rss0 = rss(self.temporal_pid)
        self.cpu0 = self.cpu()
        self.t0 = time.perf_counter()
        self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        self.t1 = time.perf_counter()
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self.sample()
        self.cpu1 = self.cpu()

    @property
    def seconds(self) -> float:
        return self.t1 - self.t0

    def alive_at(self, n: int) -> float | None:
        """Seconds into the window when `n` CLIs were first seen alive at once."""
        return next((s.at for s in self.samples if s.alive >= n), None)

    def figures(self, n: int, cli_seconds: float) -> dict[str, float]:
        """Per session; CPU in ms per second of a session's CLI run (n x `cli_seconds`)."""
        own, kids, temporal = (b - a for a, b in zip(self.cpu0, self.cpu1, strict=True))
        session_seconds = n * cli_seconds
        return {
            "own_mib": (max(s.own for s in self.samples) - self.own_rss0) / MIB / n,
            "clis_mib": max(s.clis / s.alive for s in self.samples if s.alive) / MIB,
            "temporal_mib": (max(s.temporal for s in self.samples) - self.temporal_rss0) / MIB / n,
            "own_turn": own / n,
            "kids_turn": kids / n,
            "own_cpu": own / session_seconds * 1000,
            "kids_cpu": kids / session_seconds * 1000,
            "temporal_cpu": temporal / session_seconds * 1000,
            "alive": max(s.alive for s in self.samples),
            "seconds": self.seconds,
        }


async def bare(fake: Path, cwd: Path, n: int, prompt: str) -> Window:
    """`n` fake CLIs spawned at once, each read to the end by a bare asyncio reader."""
    window = Window(str(fake))

    async def one() -> int:
        proc = await asyncio.create_subprocess_exec(
            str(fake), "-p", prompt, "--output-format", "stream-json", cwd=cwd,
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            start_new_session=True,
        )  # fmt: skip
        assert proc.stdout is not None
        lines = 0
        async for _ in proc.stdout:
            lines += 1
        await proc.wait()
        return lines

    window.start()
    counts = await asyncio.gather(*(one() for _ in range(n)))
    await window.stop()
    if min(counts) < 2:
        raise RuntimeError(f"a bare CLI printed too little: {counts}")
    return window


async def sessions_run(
    plat: Platform, fake: Path, sids: list[str], prompt: str, timeout: float, at_once: int
) -> Window:
    """One message to every session (`at_once` requests in flight); until every turn is back
    to `waiting`."""
    window = Window(str(fake), plat.temporal_pid)
    gate = asyncio.Semaphore(at_once)

    async def one(sid: str) -> None:
        async with gate:
            await send(plat, sid, prompt)

    window.start()
    await asyncio.gather(*(one(sid) for sid in sids))
    ws = plat.workspace_id
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    wanted = set(sids)
    while True:
        r = await plat.stack.http.get(f"/api/workspaces/{ws}/sessions", params={"limit": 200})
        r.raise_for_status()
        done = {s["id"] for s in r.json()["items"] if s["status"] == "waiting" and s["turns"] >= 1}
        if wanted <= done:
            break
        if loop.time() > deadline:
            raise RuntimeError(f"{len(wanted - done)} turns still running after {timeout} s")
        await asyncio.sleep(SAMPLE_SECONDS)
    await window.stop()
    return window


async def create_sessions(plat: Platform, n: int) -> list[str]:
    """`n` sessions with their worktrees ready (created a few at a time, as people would)."""
    gate = asyncio.Semaphore(8)

    async def one(i: int) -> str:
        async with gate:
            return await new_session(plat, f"bench concurrent {i}")

    return list(await asyncio.gather(*(one(i) for i in range(n))))


def fmt(v: float, digits: int = 1) -> str:
    return f"{v:.{digits}f}"


async def main_async(args: argparse.Namespace) -> int:
    n = args.sessions
    binary = temporal_binary()
    header(
        "bench/concurrent_sessions.py: concurrent session turns on one agent",
        [
            f"{n} chat sessions' turns at once on one session agent, each a fake CLI printing",
            f"{args.events} events over {args.seconds:g} s. Per session: RSS growth of this "
            "process (API, workers,",
            "runner) and the CLIs' RSS; CPU per session-second (a second of one CLI's run).",
            f"Floor: {n} of the same CLI spawned at once by a bare asyncio reader.",
        ],
        binary,
    )
    tmp = Path(tempfile.mkdtemp(prefix="polygent-bench-conc-"))
    fake = write_fake_claude(tmp / "bin")
    prepend_path(fake.parent)
    prompt = bench_prompt(args.events, args.events / args.seconds, args.seconds)
    stats: dict[str, Any] = {}
    try:
        async with platform(tmp, binary, postgres=args.postgres) as plat:
            print(f"  database: {plat.db_label}", flush=True)
            host = await start_session_agent(plat, max(64, n + 14))
            r = await plat.stack.http.patch(
                f"/api/hosts/{host}", json={"max_concurrent_sessions": n + 10}
            )
            r.raise_for_status()
            warm = await new_session(plat, "bench warm-up")
            await send(plat, warm, bench_prompt(args.events))
            await wait_turns(plat, warm, 1)
            print("  warmed up (one session, one turn)", flush=True)

            floor = await bare(fake, tmp, n, prompt)
            print(f"  floor: {n} bare CLIs ran in {floor.seconds:.1f}s", flush=True)

            before = rss(psutil.Process().pid)
            temporal_before = rss(plat.temporal_pid)
            t0 = time.perf_counter()
            sids = await create_sessions(plat, n)
            stats["create_seconds"] = time.perf_counter() - t0
            stats["idle_own_mib"] = (rss(psutil.Process().pid) - before) / MIB / n
            stats["idle_temporal_mib"] = (rss(plat.temporal_pid) - temporal_before) / MIB / n
            print(
                f"  {n} sessions created, worktrees ready, in {stats['create_seconds']:.1f}s",
                flush=True,
            )
            real = await sessions_run(plat, fake, sids, prompt, args.timeout, args.send_at_once)
            print(f"  {n} turns ran in {real.seconds:.1f}s", flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    p, b = real.figures(n, args.seconds), floor.figures(n, args.seconds)
    p_cpu, b_cpu = p["own_cpu"] + p["kids_cpu"], b["own_cpu"] + b["kids_cpu"]
    print()
    print(f"summary (per session, {n} at once; CPU in ms per session-second)")
    rows = [
        ["polygent", fmt(p["own_mib"]), fmt(p["clis_mib"]), fmt(p["own_mib"] + p["clis_mib"]),
         fmt(p["own_cpu"], 2), fmt(p["kids_cpu"], 2), fmt(p_cpu, 2),
         f"{p['alive']:.0f}", fmt(p["seconds"])],
        ["bare reader (floor)", fmt(b["own_mib"]), fmt(b["clis_mib"]),
         fmt(b["own_mib"] + b["clis_mib"]), fmt(b["own_cpu"], 2), fmt(b["kids_cpu"], 2),
         fmt(b_cpu, 2), f"{b['alive']:.0f}", fmt(b["seconds"])],
    ]  # fmt: skip
    cols = [
        "RSS MiB own",
        "a CLI",
        "total",
        "CPU own",
        "children",
        "total",
        "peak CLIs",
        "window s",
    ]
    print(table(["", *cols], rows))
    print("  (own: growth of this process's RSS at its peak over the window, per session;")
    print("   a CLI: the RSS of one fake CLI; children CPU: the CLIs and git, once reaped)")
    print()
    memory = ratio(p["own_mib"] + p["clis_mib"], b["own_mib"] + b["clis_mib"])
    print(f"ratio polygent / bare: memory {memory}, CPU {ratio(p_cpu, b_cpu)}")
    print(
        f"platform overhead per session: {p['own_mib'] - b['own_mib']:+.1f} MiB of this process,"
        f" {p_cpu - b_cpu:+.2f} ms CPU per session-second (about {(p_cpu - b_cpu) / 10:.2f}% of"
        " a core)"
    )
    print(
        f"Temporal dev server per session: +{p['temporal_mib']:.2f} MiB while running, "
        f"{p['temporal_cpu']:.2f} ms CPU per session-second"
    )
    print(
        f"idle sessions (created, worktree ready, no turn): +{stats['idle_own_mib']:.2f} MiB of "
        f"this process, +{stats['idle_temporal_mib']:.2f} MiB of the Temporal server each; "
        f"creating {n} took {stats['create_seconds']:.1f}s"
    )
    print(
        f"CPU seconds per turn: this process {p['own_turn']:.2f} (floor {b['own_turn']:.3f}), "
        f"children {p['kids_turn']:.2f} (floor {b['kids_turn']:.3f})"
    )
    peak = int(p["alive"])
    started = real.alive_at(n)
    print(
        f"CLIs alive at once: peak {peak} of {n}, "
        + (
            f"all {n} {started:.1f}s after the first send"
            if started is not None
            else f"reached {real.alive_at(peak) or 0:.1f}s after the first send"
        )
        + f"; last turn back to waiting after {p['seconds']:.1f}s (each CLI runs "
        f"{args.seconds:g}s; the floor's window {b['seconds']:.1f}s)"
    )
    print(f"load average at end: {load_average()}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(
        description="Memory and CPU of concurrent session turns on one session agent, against "
        "as many bare CLI processes."
    )
    parser.add_argument("--sessions", type=int, default=50, help="sessions at once (50)")
    parser.add_argument("--seconds", type=float, default=20, help="each CLI's run time (20)")
    parser.add_argument("--events", type=int, default=6, help="events each CLI prints (6)")
    parser.add_argument(
        "--send-at-once",
        type=int,
        default=8,
        help="message requests in flight at once (8; see the module docstring)",
    )
    parser.add_argument("--postgres", action="store_true", help="PostgreSQL at 127.0.0.1:5432")
    parser.add_argument("--timeout", type=float, default=600, help="seconds the turns may take")
    args = parser.parse_args()
    if args.sessions < 1 or args.seconds <= 0 or args.events < 1 or args.send_at_once < 1:
        parser.error("--sessions, --events and --send-at-once must be >= 1, --seconds > 0")
    if args.sessions > 240:
        parser.error("--sessions may be at most 240 (AgentSettings caps activities at 256)")
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())

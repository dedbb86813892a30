"""Turn overhead: a whole session turn through the platform against the same Claude Code
command run by hand, both against the same fake Anthropic server.

The platform side runs in this process: a local Temporal dev server, the in-process stack of
the integration tests (served API, orchestrator worker, one session agent) on SQLite (or
`--postgres`), a workspace on a real git remote and one chat session, with the real Claude
Code CLI (.agent-clis/, tests/clis.py) talking to tests/fakes/anthropic.py (scripted to answer
each turn with one text message). A sample is: POST /api/sessions/{id}/messages → the
SessionWorkflow update → status in_progress → `agent.run_turn` on the host queue (secrets,
workspace variables, the adapter's command) → the CLI → its events POSTed and stored → the
checkpoint commit → turn recorded → status `waiting`, seen on a WebSocket subscribed to the
session. The Claude Code adapter is wrapped to note when it built the command (just before
the spawn) and when it read the outcome (just after the CLI exited), which splits each sample
into before / CLI / after.

Floor: the command line and environment the adapter built for the platform's last turn
(same argv, `--resume` included, same HOME, same worktree as cwd), spawned by hand with
asyncio and read to the end. Samples alternate (order flipped every iteration).

    .venv/bin/python bench/turn_overhead.py [--samples 10] [--warmup 1] [--postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from _common import header, load_average, ratio, table, temporal_binary
from _sessions import (
    LiveSocket,
    Platform,
    live_socket,
    new_session,
    platform,
    send,
    start_session_agent,
    status_event,
)


class Recorder:
    """Wraps the Claude Code adapter: notes each command it builds and when each turn ends."""

    def __init__(self) -> None:
        from activities.agent.providers import ClaudeCodeAdapter

        recorder = self

        class Recording(ClaudeCodeAdapter):
            def prepare(
                self, request: Any, home: Path, env: Mapping[str, str], mcp_token: str | None = None
            ) -> Any:
                launch = super().prepare(request, home, env, mcp_token=mcp_token)
                recorder.prepared.append((time.perf_counter(), launch, Path(request.worktree)))
                return launch

            def finish(self, exit_code: int, events: Sequence[Any], stderr_tail: str = "") -> Any:
                recorder.finished.append(time.perf_counter())
                return super().finish(exit_code, events, stderr_tail)

        self.prepared: list[tuple[float, Any, Path]] = []
        self.finished: list[float] = []
        self.adapter = Recording()

    def install(self) -> None:
        from activities.agent import providers

        providers.ADAPTERS["claude-code"] = self.adapter


async def platform_turn(
    plat: Platform, sock: LiveSocket, rec: Recorder, sid: str, turn: int, timeout: float
) -> dict[str, float]:
    """Seconds from sending the message to status `waiting`, split at the CLI's spawn/exit."""
    start = len(sock.events)
    n_prep, n_fin = len(rec.prepared), len(rec.finished)
    t0 = time.perf_counter()
    await send(plat, sid, f"Say hello (turn {turn}).")
    at, _ = await sock.until(status_event(turn, "waiting"), timeout, start)
    if len(rec.prepared) != n_prep + 1 or len(rec.finished) != n_fin + 1:
        raise RuntimeError(f"turn {turn} did not run the CLI exactly once")
    spawned, ended = rec.prepared[-1][0], rec.finished[-1]
    ok = any(e.get("kind") == "result" and e.get("turn") == turn for _, e in sock.events[start:])
    return {
        "total": at - t0, "before": spawned - t0, "cli": ended - spawned, "after": at - ended,
        "ok": float(ok),
    }  # fmt: skip


async def by_hand(rec: Recorder) -> dict[str, float]:
    """The platform's last command line, environment and cwd, spawned and read to the end."""
    _, launch, cwd = rec.prepared[-1]
    t0 = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(
        *launch.argv, cwd=cwd, env=launch.env, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, start_new_session=True,
    )  # fmt: skip
    out, _ = await proc.communicate()
    took = time.perf_counter() - t0
    ok = proc.returncode == 0 and b'"type":"result"' in out
    return {"total": took, "ok": float(ok)}


def med(samples: list[dict[str, float]], key: str) -> float:
    return statistics.median(s[key] for s in samples) * 1000


async def main_async(args: argparse.Namespace) -> int:
    from tests.clis import CLI_BIN, cli_path
    from tests.fakes.anthropic import finish, serve_anthropic

    if not (CLI_BIN / "claude").exists():
        print("Claude Code is not installed: run scripts/install-agent-clis", file=sys.stderr)
        return 2
    ask = await asyncio.create_subprocess_exec(
        str(CLI_BIN / "claude"), "--version", stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "PATH": cli_path()},
    )  # fmt: skip
    version = (await ask.communicate())[0].decode().strip()
    binary = temporal_binary()
    header(
        "bench/turn_overhead.py: one session turn through the platform vs the CLI by hand",
        [
            "median seconds from POST .../messages to status `waiting` on the WebSocket (real",
            "Claude Code CLI, fake Anthropic server, in-process stack, local Temporal dev",
            "server); floor: the same command line, environment and cwd spawned by hand.",
            f"{args.warmup} warm-up turns after the first, then {args.samples} samples each, "
            f"interleaved. Claude Code {version}.",
        ],
        binary,
    )
    tmp = Path(tempfile.mkdtemp(prefix="polygent-bench-turn-"))
    real: list[dict[str, float]] = []
    hand: list[dict[str, float]] = []
    rec = Recorder()
    rec.install()
    try:
        with serve_anthropic() as fake:
            fake.script([finish("Hello.")])
            os.environ["PATH"] = cli_path()
            os.environ["ANTHROPIC_BASE_URL"] = fake.base_url
            os.environ["NO_PROXY"] = "127.0.0.1,localhost"
            os.environ.pop("ANTHROPIC_API_KEY", None)
            async with platform(tmp, binary, postgres=args.postgres) as plat:
                print(f"  database: {plat.db_label}", flush=True)
                await start_session_agent(plat)
                sid = await new_session(plat, "bench turns")
                async with live_socket(plat) as sock:
                    await sock.subscribe(sid)
                    turn = 0
                    for _ in range(1 + args.warmup):
                        turn += 1
                        await platform_turn(plat, sock, rec, sid, turn, args.timeout)
                    await by_hand(rec)
                    print(f"  warmed up ({turn} turns, one run by hand)", flush=True)
                    for i in range(args.samples):
                        order = ["real", "hand"] if i % 2 == 0 else ["hand", "real"]
                        for side in order:
                            if side == "real":
                                turn += 1
                                real.append(
                                    await platform_turn(plat, sock, rec, sid, turn, args.timeout)
                                )
                            else:
                                hand.append(await by_hand(rec))
                        print(
                            f"  {i + 1}/{args.samples}: platform {real[-1]['total']:.2f}s "
                            f"(CLI {real[-1]['cli']:.2f}s), by hand {hand[-1]['total']:.2f}s",
                            flush=True,
                        )
                argv = rec.prepared[-1][1].argv
                requests = len(fake.requests)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    print()
    print(f"summary (median milliseconds over {args.samples} samples each)")
    rows = [
        ["platform turn (send → waiting)", f"{med(real, 'total'):.0f}",
         f"{min(s['total'] for s in real) * 1000:.0f}",
         f"{max(s['total'] for s in real) * 1000:.0f}"],
        ["  before the CLI (update, status, context, secrets, spawn)",
         f"{med(real, 'before'):.0f}", "", ""],
        ["  the CLI inside the platform", f"{med(real, 'cli'):.0f}", "", ""],
        ["  after the CLI (checkpoint, record, status, WS)", f"{med(real, 'after'):.0f}", "", ""],
        ["CLI by hand (floor)", f"{med(hand, 'total'):.0f}",
         f"{min(s['total'] for s in hand) * 1000:.0f}",
         f"{max(s['total'] for s in hand) * 1000:.0f}"],
    ]  # fmt: skip
    print(table(["", "median", "min", "max"], rows))
    for s in real:
        s["own"] = s["before"] + s["after"]
    overhead = med(real, "total") - med(hand, "total")
    print()
    print(f"ratio platform / by hand (median): {ratio(med(real, 'total'), med(hand, 'total'))}")
    print(
        f"difference of the medians: {overhead:+.0f} ms; the platform's own time per turn "
        f"(before + after the CLI): median {med(real, 'own'):.0f} ms, "
        f"min {min(s['own'] for s in real) * 1000:.0f} ms"
    )
    print(
        f"the CLI inside the platform vs by hand (medians): "
        f"{med(real, 'cli') - med(hand, 'total'):+.0f} ms (noise, and this process's own work"
        " while the CLI runs: it also serves the fake model API, from a thread)"
    )
    failed = sum(1 for s in real if not s["ok"]), sum(1 for s in hand if not s["ok"])
    print(f"turns without a result event: platform {failed[0]}, by hand {failed[1]}")
    print(f"fake Anthropic requests served: {requests}")
    shown = [a if len(a) < 60 else a[:57] + "..." for a in argv]
    print(f"command (last turn): {' '.join(shown)}")
    print(f"load average at end: {load_average()}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(
        description="A session turn through the platform (real Claude Code, fake Anthropic "
        "server) against the same command run by hand."
    )
    parser.add_argument("--samples", type=int, default=10, help="timed turns each (10)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed turns after the first (1)")
    parser.add_argument("--postgres", action="store_true", help="PostgreSQL at 127.0.0.1:5432")
    parser.add_argument("--timeout", type=float, default=180, help="seconds one turn may take")
    args = parser.parse_args()
    if args.samples < 1 or args.warmup < 0:
        parser.error("--samples must be >= 1, --warmup >= 0")
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())

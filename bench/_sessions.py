"""Shared set-up of the session benchmarks; not a benchmark itself.

`platform()` brings up what tests/integration/test_sessions.py runs on: a local Temporal dev
server (`WorkflowEnvironment.start_local`, the project's encrypted data converter), a migrated
SQLite (or, with `postgres=True`, a fresh PostgreSQL) database, the in-process stack of
tests/integration/stack.py, a real git remote behind a token and a workspace on it. The
session agent is started with `start_session_agent` (a configurable activity limit, which
`Stack.start_agent` fixes at 4).

`FAKE_CLAUDE` is a stand-in for the `claude` executable: it prints Claude Code stream-json
(init, then text / tool_use assistant lines, then the result) as told by its prompt
(`BENCH events=N rate=R hold=S`: N lines, R per second or 0 for as fast as it can, lasting at
least S seconds), each line flushed, each event's text carrying `bench <i> <unix time>` so a
receiver computes its latency. It answers `--version` so the host probe lists claude-code.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
from _common import MIB

FAKE_CLAUDE = r'''#!{python}
"""A fake `claude` for polygent's benchmarks: prints what its prompt asks for."""
import json, os, re, sys, time, uuid

argv = sys.argv[1:]
if "--version" in argv:
    print("0.0.0 (Claude Code; polygent bench fake)")
    sys.exit(0)
prompt = argv[argv.index("-p") + 1] if "-p" in argv else ""
found = re.search(r"BENCH events=(\d+) rate=([0-9.]+) hold=([0-9.]+)", prompt)
n, rate, hold = (int(found[1]), float(found[2]), float(found[3])) if found else (1, 0.0, 0.0)
sid = argv[argv.index("--resume") + 1] if "--resume" in argv else str(uuid.uuid4())
out = sys.stdout


def emit(obj):
    out.write(json.dumps(obj, separators=(",", ":")) + "\n")
    out.flush()


emit({"type": "system", "subtype": "init", "session_id": sid, "model": "bench",
      "cwd": os.getcwd(), "tools": ["Bash"], "mcp_servers": [],
      "claude_code_version": "0.0.0-bench"})
start = time.time()
for i in range(n):
    if rate > 0:
        delay = start + i / rate - time.time()
        if delay > 0:
            time.sleep(delay)
    mark = f"bench {i} {time.time():.6f}"
    if i % 2:
        block = {"type": "tool_use", "id": f"toolu_{i}", "name": "Bash",
                 "input": {"command": mark, "description": "bench"}}
    else:
        block = {"type": "text", "text": mark}
    emit({"type": "assistant", "session_id": sid,
          "message": {"id": f"msg_{i}", "model": "bench", "role": "assistant",
                      "content": [block]}})
left = start + hold - time.time()
if left > 0:
    time.sleep(left)
emit({"type": "result", "subtype": "success", "is_error": False, "result": "Done.",
      "session_id": sid, "num_turns": 1, "total_cost_usd": 0.0,
      "usage": {"input_tokens": 1, "output_tokens": 1}})
'''

MARK = re.compile(r"bench (\d+) (\d+\.\d+)")


def write_fake_claude(directory: Path) -> Path:
    """`directory/claude`, executable; put `directory` first on PATH to use it."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "claude"
    path.write_text(FAKE_CLAUDE.replace("{python}", sys.executable))
    path.chmod(0o755)
    return path


def bench_prompt(events: int, rate: float = 0.0, hold: float = 0.0) -> str:
    return f"BENCH events={events} rate={rate:g} hold={hold:g}"


def mark_of(data: dict[str, Any]) -> tuple[int, float] | None:
    """The (index, unix time) mark of a stored text or tool_call event's data, if any."""
    text = data.get("text") or (data.get("tool_input") or {}).get("command")
    found = MARK.fullmatch(text) if isinstance(text, str) else None
    return (int(found[1]), float(found[2])) if found else None


def prepend_path(directory: str | Path) -> None:
    """Our PATH, which the agent passes on to the CLI and its probe reads, starts here."""
    os.environ["PATH"] = os.pathsep.join([str(directory), os.environ.get("PATH", os.defpath)])


async def poll(
    check: Callable[[], Awaitable[bool]], timeout: float, what: str, interval: float = 0.1
) -> None:
    """Until `check()` is true; RuntimeError naming `what` after `timeout` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await check():
        if loop.time() > deadline:
            raise RuntimeError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(interval)


# -- the platform -----------------------------------------------------------------------------


@dataclass
class Platform:
    stack: Any  # tests.integration.stack.Stack
    client: Any  # temporalio.client.Client
    db_label: str
    workspace_id: str = ""
    temporal_pid: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def token(self) -> str:
        return str(self.stack.http.headers["Authorization"]).split()[1]


@contextlib.asynccontextmanager
async def platform(tmp: Path, binary: str, postgres: bool = False) -> AsyncIterator[Platform]:
    """Temporal dev server, database, in-process stack, git remote and a workspace."""
    from temporalio.testing import WorkflowEnvironment

    from orchestrator.db import Database
    from orchestrator.migrate import upgrade
    from orchestrator.queues import SEARCH_ATTRIBUTE_KEYS
    from orchestrator.temporal import data_converter
    from tests.helpers import TEST_PAYLOAD_KEYS
    from tests.integration.sessions_kit import add_workspace, git_remote
    from tests.integration.stack import running_stack

    t0 = time.perf_counter()
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    env = await WorkflowEnvironment.start_local(
        namespace="default",
        data_converter=data_converter(TEST_PAYLOAD_KEYS),
        search_attributes=list(SEARCH_ATTRIBUTE_KEYS),
        dev_server_existing_path=binary,
        dev_server_log_level="error",
    )
    temporal = [
        p
        for p in psutil.Process().children(recursive=True)
        if p.pid not in before and "temporal" in p.name()
    ]
    print(f"  dev server up in {time.perf_counter() - t0:.2f}s", flush=True)
    pg: tuple[str, str] | None = None
    if postgres:
        from tests.conftest import PG_ADMIN_URL, create_pg_database

        url = create_pg_database(PG_ADMIN_URL)
        pg = (PG_ADMIN_URL, url)
        label = "PostgreSQL (127.0.0.1:5432)"
    else:
        url = f"sqlite:///{tmp / 'polygent.db'}"
        label = "SQLite"
    db = None
    try:
        await upgrade(url)
        db = Database(url)
        with git_remote(tmp / "remote") as remote:
            async with running_stack(db, env.client, tmp / "stack") as stack:
                plat = Platform(stack, env.client, label)
                plat.temporal_pid = temporal[0].pid if temporal else None
                plat.workspace_id = await add_workspace(stack.state.db, remote)
                yield plat
    finally:
        if db is not None:
            await db.dispose()
        await env.shutdown()
        if pg is not None:
            from tests.conftest import drop_pg_database

            drop_pg_database(*pg)


async def start_session_agent(plat: Platform, max_concurrent_activities: int = 4) -> str:
    """A session agent in this process (like `Stack.start_agent`, with our activity limit);
    the stack stops it at the end. Returns its host id once it is online."""
    from pydantic import SecretStr

    from agent_worker.main import session_activities
    from orchestrator.config import AgentSettings
    from orchestrator.hostagent.runtime import run_host_agent
    from tests.integration.stack import Agent, unique_host

    stack = plat.stack
    host = unique_host()
    settings = AgentSettings.model_construct(
        name=host,
        main_server_url=stack.url,
        api_key=SecretStr(await stack.mint("session")),
        storage_path=stack.tmp / host / "session",
        temporal_address=None,
        max_concurrent_activities=max_concurrent_activities,
        data_dir=stack.tmp,
        log_level="INFO",
        log_format="text",
    )
    stop = asyncio.Event()
    task = asyncio.create_task(
        run_host_agent(
            settings, "session", session_activities(settings), stop,
            temporal_client=stack.state.temporal,
        )
    )  # fmt: skip
    stack.agents[(host, "session")] = Agent(stop, task)

    async def online() -> bool:
        w = await stack.worker(host, "session")
        clis = (w or {}).get("info", {}).get("clis", {})
        return bool(w and w["online"] and clis.get("claude-code"))

    await poll(online, timeout=60, what="the session agent registers with claude-code")
    return host


async def new_session(plat: Platform, title: str) -> str:
    """A chat session without a first message, once its worktree is ready."""
    from tests.integration.sessions_kit import events, start

    sid = str((await start(plat.stack, plat.workspace_id, mode="chat", title=title))["id"])

    async def ready() -> bool:
        evs = await events(plat.stack, sid)
        return any(e["data"].get("subtype") == "worktree" for e in evs)

    await poll(ready, timeout=120, interval=0.2, what=f"the worktree of {title}")
    return sid


async def send(plat: Platform, sid: str, text: str) -> None:
    r = await plat.stack.http.post(f"/api/sessions/{sid}/messages", json={"text": text})
    if r.status_code != 202:
        raise RuntimeError(f"sending to {sid}: {r.status_code} {r.text}")


async def session_row(plat: Platform, sid: str) -> dict[str, Any]:
    r = await plat.stack.http.get(f"/api/sessions/{sid}")
    r.raise_for_status()
    row: dict[str, Any] = r.json()
    return row


async def wait_turns(plat: Platform, sid: str, turns: int, timeout: float = 300) -> None:
    """Until the session is back to waiting with `turns` turns done."""

    async def done() -> bool:
        row = await session_row(plat, sid)
        return bool(row["status"] == "waiting" and row["turns"] >= turns)

    await poll(done, timeout=timeout, interval=0.1, what=f"turn {turns} of {sid} ends")


# -- a live WebSocket in this process ---------------------------------------------------------


class LiveSocket:
    """`/ws` as the dashboard uses it; every session event kept with the time it arrived."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.events: list[tuple[float, dict[str, Any]]] = []  # (perf_counter, event)
        self.changed = asyncio.Event()
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for text in self.ws:
            msg = json.loads(text)
            now = time.perf_counter()
            if msg.get("type") == "session.events":
                self.events.extend((now, e) for e in msg["events"])
            elif msg.get("type") == "subscribed":
                self.events.append((now, {"kind": "subscribed"}))
            self.changed.set()

    async def subscribe(self, sid: str, after: int = 0) -> None:
        await self.ws.send(json.dumps({"type": "subscribe", "session_id": sid, "after": after}))
        await self.until(lambda e: e.get("kind") == "subscribed", 30)

    async def until(
        self, match: Callable[[dict[str, Any]], bool], timeout: float, start: int = 0
    ) -> tuple[float, dict[str, Any]]:
        """The first event from index `start` on that matches, with its arrival time."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        seen = start
        while True:
            for at, e in self.events[seen:]:
                if match(e):
                    return at, e
            seen = len(self.events)
            self.changed.clear()
            if self.reader.done():
                raise RuntimeError("the WebSocket closed")
            await asyncio.wait_for(self.changed.wait(), max(0.01, deadline - loop.time()))


@contextlib.asynccontextmanager
async def live_socket(plat: Platform) -> AsyncIterator[LiveSocket]:
    import websockets

    url = plat.stack.url.replace("http", "ws", 1) + "/ws"
    headers = {"Authorization": f"Bearer {plat.token}"}
    async with websockets.connect(url, additional_headers=headers, max_size=None) as ws:
        sock = LiveSocket(ws)
        try:
            yield sock
        finally:
            sock.reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await sock.reader


def status_event(turn: int, status: str) -> Callable[[dict[str, Any]], bool]:
    def match(e: dict[str, Any]) -> bool:
        data = e.get("data") or {}
        return (
            e.get("kind") == "system"
            and e.get("turn") == turn
            and data.get("subtype") == "status"
            and data.get("status") == status
        )

    return match


# -- processes --------------------------------------------------------------------------------


def rss(pid: int | None) -> int:
    if pid is None:
        return 0
    with contextlib.suppress(psutil.Error):
        return int(psutil.Process(pid).memory_info().rss)
    return 0


def children_with(fragment: str) -> list[psutil.Process]:
    """Live descendants of this process whose command line contains `fragment`."""
    found = []
    for p in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.Error):
            if fragment in " ".join(p.cmdline()):
                found.append(p)
    return found


def mib(n: float) -> str:
    return f"{n / MIB:.1f}"

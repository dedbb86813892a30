"""Crash recovery of a session with every role in its own process, killed with SIGKILL mid-turn:
the session agent (the turn resumes through Claude Code's own --resume in the same worktree
and the transcript marks the interruption), the orchestrator worker, the API and the Temporal
server (each time the session carries on once the process is back). No event is lost or
stored twice: every attempt's sequence numbers run 1..n without a gap."""

from __future__ import annotations

import signal
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from orchestrator.db import Database
from tests.clis import cli_path, require_cli
from tests.conftest import create_pg_database, drop_pg_database
from tests.e2e.conftest import Polygent, Proc, get_host, wait_ready, wait_until, workers_by_kind
from tests.fakes.anthropic import FakeAnthropic, Step, finish, run_command, serve_anthropic
from tests.helpers import TEST_MASTER, binary
from tests.integration.sessions_kit import API_KEY, PAT, add_workspace, git_remote

pytestmark = [pytest.mark.sessions, pytest.mark.slow]

HOST = "crashhost"


def temporal_server(polygent: Polygent, db_file: Path) -> Proc:
    """A Temporal dev server that keeps its state in a file, so a restart loses nothing."""
    return polygent.spawn(
        [
            binary("temporal"), "server", "start-dev", "--ip", "127.0.0.1",
            "--port", str(polygent.temporal_port), "--headless", "--namespace", "default",
            "--db-filename", str(db_file), "--log-level", "error",
        ],
        name="temporal",
    )  # fmt: skip


@asynccontextmanager
async def database(kind: str, tmp: Path, pg_admin_url: str) -> AsyncIterator[str]:
    if kind == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp / 'polygent.db'}"
        return
    url = create_pg_database(pg_admin_url)
    try:
        yield url
    finally:
        drop_pg_database(pg_admin_url, url)


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
async def test_session_survives_sigkill_of_every_process(
    polygent: Polygent, pg_admin_url: str, kind: str
) -> None:
    require_cli("claude")
    async with database(kind, polygent.tmp, pg_admin_url) as db_url:
        try:
            with serve_anthropic() as fake, git_remote(polygent.tmp / "remote") as remote:
                await _scenario(polygent, db_url, fake, remote)
        finally:
            polygent.cleanup()


async def _scenario(polygent: Polygent, db_url: str, fake: FakeAnthropic, remote: Any) -> None:
    marker = f"sleep 95.{uuid.uuid4().int % 10**6}"
    calls: list[int] = []

    def choose(body: dict[str, Any]) -> Step:
        calls.append(1)
        if len(calls) == 1:  # turn 1, attempt 1: a long command the agent is killed in
            return run_command(f"echo started && {marker}")
        return finish(f"Answer {len(calls)}.", delay=3.0)

    fake.choose = choose  # type: ignore[method-assign]
    temporal_db = polygent.tmp / "temporal.db"
    temporal = temporal_server(polygent, temporal_db)
    env = polygent.env(
        POLYGENT_DATABASE_URL=db_url,
        POLYGENT_TEMPORAL_ADDRESS=polygent.temporal_address,
        POLYGENT_ENCRYPTION_KEY=TEST_MASTER.serialize(),
        POLYGENT_TEMPORAL_PORT=None,
        POLYGENT_TEMPORAL_UI_PORT=None,
        POLYGENT_HEARTBEAT_INTERVAL_SECONDS=1,
        POLYGENT_HOST_OFFLINE_AFTER_SECONDS=5,
        POLYGENT_TURN_HEARTBEAT_TIMEOUT_SECONDS=6,
    )
    assert polygent.run("migrate", env=env, timeout=90).returncode == 0
    api = polygent.start("api", env=env)
    worker = polygent.start("worker", env=env)
    (key,) = polygent.mint_keys(HOST, "session", env=env)
    await wait_ready(api, polygent.api_url)
    agent_env = polygent.agent_env(
        HOST, key, PATH=cli_path(), ANTHROPIC_BASE_URL=fake.base_url,
        NO_PROXY="127.0.0.1,localhost",
    )  # fmt: skip
    agent = polygent.start("agent-worker", env=agent_env)
    db = Database(db_url)
    try:
        ws_id = await add_workspace(db, remote)
    finally:
        await db.dispose()
    procs = lambda: (api, worker, agent, temporal)  # noqa: E731

    async with await polygent.sign_in(polygent.api_url, env=env) as http:

        async def agent_online() -> bool:
            w = workers_by_kind(await get_host(http, HOST)).get("session")
            return bool(w and w["online"])

        await wait_until(agent_online, timeout=60, what="the agent registers", procs=procs())
        r = await http.post(f"/api/workspaces/{ws_id}/sessions",
                            json={"mode": "chat", "message": "Start"})  # fmt: skip
        assert r.status_code == 201, r.text
        sid = r.json()["id"]

        def sleeper() -> psutil.Process | None:
            for p in psutil.process_iter(["cmdline"]):
                if marker in " ".join(p.info["cmdline"] or []):
                    return p
            return None

        # 1. The session agent dies mid-turn; a new one resumes the same conversation.
        await wait_until(sleeper, timeout=90, what="the scripted command runs", procs=procs())
        agent.send(signal.SIGKILL)
        await agent.wait_exit(10)
        agent = polygent.start("agent-worker", env=agent_env)
        evs = await _turn_done(http, sid, 1, procs())
        interrupted = [e for e in evs if e["data"].get("subtype") == "interrupted"]
        assert interrupted and interrupted[0]["turn"] == 1 and interrupted[0]["attempt"] == 2
        assert any(e["kind"] == "tool_call" and e["attempt"] == 1 for e in evs)
        assert any(e["kind"] == "text" and e["attempt"] == 2 for e in evs)
        first, resumed = fake.main_requests()[0], fake.main_requests()[1]
        assert len(resumed.body["messages"]) > len(first.body["messages"]), "resumed history"
        await wait_until(lambda: sleeper() is None, timeout=10, what="the orphan is reaped")

        # 2-4. The orchestrator worker, the API, then Temporal die mid-turn and come back.
        for turn, victim in ((2, "worker"), (3, "api"), (4, "temporal")):
            r = await http.post(f"/api/sessions/{sid}/messages", json={"text": f"Go {turn}"})
            assert r.status_code == 202, r.text
            await _status(http, sid, "in_progress", turn, procs())
            if victim == "worker":
                worker.send(signal.SIGKILL)
                await worker.wait_exit(10)
                worker = polygent.start("worker", env=env)
            elif victim == "api":
                api.send(signal.SIGKILL)
                await api.wait_exit(10)
                api = polygent.start("api", env=env)
                await wait_ready(api, polygent.api_url)
            else:
                temporal.send(signal.SIGKILL)
                await temporal.wait_exit(10)
                temporal = temporal_server(polygent, temporal_db)
            evs = await _turn_done(http, sid, turn, procs(), timeout=120)

        _no_gaps(evs)
        for turn in (2, 3, 4):  # every turn answered, and its user message stored once
            assert any(e["kind"] == "text" and e["turn"] == turn for e in evs), turn
            users = [e for e in evs if e["kind"] == "user" and e["data"]["text"] == f"Go {turn}"]
            assert len(users) == 1, users
        assert API_KEY not in str(evs) and PAT not in str(evs)


def _no_gaps(evs: list[dict[str, Any]]) -> None:
    """Each (turn, attempt) of the agent numbered 1..n, with no repeat and no hole."""
    seen: dict[tuple[int, int], list[int]] = {}
    for e in evs:
        if e["attempt"] >= 1:
            seen.setdefault((e["turn"], e["attempt"]), []).append(e["seq"])
    for key, seqs in seen.items():
        start = min(seqs)
        assert sorted(seqs) == list(range(start, start + len(seqs))), (key, seqs)
    cursors = [e["cursor"] for e in evs]
    assert len(cursors) == len(set(cursors))


async def _events(http: httpx.AsyncClient, sid: str) -> list[dict[str, Any]] | None:
    out: list[dict[str, Any]] = []
    after = 0
    while True:
        try:
            r = await http.get(f"/api/sessions/{sid}/events", params={"after": after})
        except httpx.HTTPError:
            return None  # the API is restarting
        if r.status_code != 200:
            return None
        page = r.json()
        out.extend(page["events"])
        if not page["events"]:
            return out
        after = page["next_cursor"]


async def _turn_done(
    http: httpx.AsyncClient, sid: str, turn: int, procs: tuple[Proc, ...], timeout: float = 120
) -> list[dict[str, Any]]:
    async def check() -> list[dict[str, Any]] | None:
        evs = await _events(http, sid)
        if evs is None:
            return None
        done = any(
            e["turn"] == turn and e["data"].get("subtype") == "status"
            and e["data"].get("status") == "waiting"
            for e in evs
        )  # fmt: skip
        return evs if done else None

    found: list[dict[str, Any]] = await wait_until(
        check, timeout=timeout, interval=0.3, what=f"turn {turn} ends", procs=procs
    )
    return found


async def _status(
    http: httpx.AsyncClient, sid: str, status: str, turn: int, procs: tuple[Proc, ...]
) -> None:
    async def check() -> bool:
        r = await http.get(f"/api/sessions/{sid}")
        body = r.json()
        return body["status"] == status and body["turns"] >= turn

    await wait_until(check, timeout=60, interval=0.1, what=f"turn {turn} {status}", procs=procs)

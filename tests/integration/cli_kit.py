"""What the tests of every agent CLI share: a proxy that refuses (and records) every outside
connection, the child environment pointing at it, and one turn driven through the adapter
and the real runner. The fixtures `proxy`, `worktree` and `home` are in conftest.py."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from activities.agent.providers import ProviderAdapter
from activities.agent.runner import run_cli
from orchestrator.contracts.agent import AgentEvent, TurnRequest, TurnResult
from tests.clis import cli_path


class RefusingProxy:
    """Records the first line of every connection (CONNECT host:port) and closes it."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.seen: list[str] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(2)
                try:
                    self.seen.append(conn.recv(4096).split(b"\r\n", 1)[0].decode(errors="replace"))
                except OSError:
                    self.seen.append("?")


def proxied_env(proxy: RefusingProxy, **variables: str) -> dict[str, str]:
    """The CLIs on PATH, loopback direct, everything else through the refusing proxy."""
    dead = f"http://127.0.0.1:{proxy.port}"
    return {
        "PATH": cli_path(), **variables,
        "HTTPS_PROXY": dead, "HTTP_PROXY": dead, "NO_PROXY": "127.0.0.1,localhost",
    }  # fmt: skip


async def drive(
    adapter: ProviderAdapter,
    env: dict[str, str],
    worktree: Path,
    home: Path,
    *,
    secrets: Iterable[str] = (),
    mcp_token: str | None = None,
    extra_env: dict[str, str] | None = None,
    **fields: Any,
) -> tuple[TurnResult, list[AgentEvent]]:
    """One turn: check, prepare (no secret may reach argv), run, finish; and every event."""
    request = TurnRequest(provider=adapter.name, worktree=str(worktree), home=str(home), **fields)
    adapter.check(request, env)
    launch = adapter.prepare(request, home, env, mcp_token=mcp_token)
    hidden = [*secrets, *([mcp_token] if mcp_token else [])]
    assert not [a for a in launch.argv if any(s in a for s in hidden)], "a secret in argv"
    launch.env.update(extra_env or {})
    events: list[AgentEvent] = []

    async def collect(batch: list[AgentEvent]) -> None:
        events.extend(batch)

    outcome = await run_cli(
        launch, worktree, adapter.parser().parse, collect,
        turn=request.turn, attempt=request.attempt or 1,
    )  # fmt: skip
    return adapter.finish(outcome.exit_code, outcome.events, outcome.stderr_tail), events


def kinds(events: list[AgentEvent]) -> list[str]:
    return [e.kind for e in events]

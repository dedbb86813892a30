"""The real Qwen Code CLI, run by our adapter and runner against the fake OpenAI Chat API.

Each test gets a fresh `git init` worktree and an isolated HOME. The environment names a
recording proxy that refuses everything: Qwen would send even loopback traffic through it
(it ignores NO_PROXY), so the adapter must not pass it on, and the proxy must see nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psutil
import pytest

from activities.agent.providers import ADAPTERS, ProviderAdapter, ProviderCheckError
from activities.agent.providers.qwen_code import QwenCodeAdapter
from activities.agent.runner import run_cli
from orchestrator.contracts.agent import AgentEvent, McpConfig, TurnRequest, TurnResult
from tests.clis import require_cli
from tests.fakes.mcp import serve_mcp
from tests.fakes.openai_chat import (
    QWEN_TOOLS,
    FakeOpenAIChat,
    Step,
    finish,
    run_shell,
    serve_openai_chat,
    todo_write,
    write_file,
)
from tests.helpers import wait_for
from tests.integration.cli_kit import RefusingProxy, drive, kinds, proxied_env

pytestmark = [pytest.mark.providers, pytest.mark.slow]

API_KEY = "sk-qwen-fake-0123456789abcdef"
MCP_TOKEN = "mcp-secret-token-qwen-42"
MODEL = "qwen3-coder-plus"
MCP_TOOL = "mcp__polygent__polygent_ping"
ADAPTER = ADAPTERS["qwen-code"]
EACH = {"input": 70, "output": 42, "cache_read": 30, "cache_write": 0}  # one fake response


class TunnelProxy:
    """An HTTP proxy that tunnels CONNECTs to loopback and refuses (and records) the rest."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.tunneled: list[str] = []
        self.refused: list[str] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        with conn:
            head = b""
            while b"\r\n\r\n" not in head and len(head) < 65536:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                head += chunk
            first = head.split(b"\r\n", 1)[0].decode(errors="replace")
            method, target = [*first.split(" "), "", ""][:2]
            host, _, port = target.rpartition(":")
            if method != "CONNECT" or host not in ("127.0.0.1", "localhost"):
                self.refused.append(first)
                return
            self.tunneled.append(target)
            with socket.create_connection((host, int(port))) as upstream:
                conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                pipe = threading.Thread(target=_pump, args=(upstream, conn), daemon=True)
                pipe.start()
                _pump(conn, upstream)
                pipe.join(timeout=5)


def _pump(src: socket.socket, dst: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := src.recv(65536):
            dst.sendall(data)
    with contextlib.suppress(OSError):
        dst.shutdown(socket.SHUT_WR)


@pytest.fixture
def fake() -> Iterator[FakeOpenAIChat]:
    require_cli("qwen")
    with serve_openai_chat(QWEN_TOOLS | {MCP_TOOL}) as server:
        yield server


def base_env(base_url: str, proxy: RefusingProxy) -> dict[str, str]:
    return proxied_env(proxy, OPENAI_BASE_URL=base_url, OPENAI_API_KEY=API_KEY)


async def run_turn(
    env: dict[str, str],
    worktree: Path,
    home: Path,
    adapter: ProviderAdapter = ADAPTER,
    mcp_token: str | None = None,
    extra_env: dict[str, str] | None = None,
    **fields: Any,
) -> tuple[TurnResult, list[AgentEvent]]:
    fields.setdefault("model", MODEL)
    return await drive(
        adapter, env, worktree, home, secrets=[API_KEY], mcp_token=mcp_token,
        extra_env=extra_env, **fields,
    )  # fmt: skip


async def test_scripted_turn_with_mcp_thinking_todos_and_tokens(
    fake: FakeOpenAIChat, proxy: RefusingProxy, worktree: Path, home: Path
) -> None:
    target = worktree / "hello.txt"
    with serve_mcp(MCP_TOKEN) as mcp:
        fake.script(
            [
                Step(text="Pinging.", tool=MCP_TOOL, tool_input={"text": "hi"}),
                write_file(str(target), f"hello\nkey={API_KEY}\n", thinking="I should write it."),
                todo_write(["Write hello.txt", "Run the command"]),
                run_shell("echo ran > ran.txt"),
                finish("All done."),
            ]
        )
        result, events = await run_turn(
            base_env(fake.base_url, proxy), worktree, home, mcp_token=MCP_TOKEN,
            prompt="Write hello.txt and run the command", turn=3,
            system_prompt_append="APPENDED-POLYGENT-RULES",
            mcp=McpConfig(url=mcp.url, bearer_token_ref="ref:1"),
        )  # fmt: skip
        assert mcp.called() == ["hi"] and mcp.rejected == 0

    assert result.ok, result.error
    assert target.read_text() == f"hello\nkey={API_KEY}\n"
    assert (worktree / "ran.txt").read_text() == "ran\n"
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    ks = kinds(events)
    assert ks[0] == "system" and events[0].subtype == "init" and ks[-1] == "result"
    assert "thinking" in ks and "todo" in ks
    assert next(e.text for e in events if e.kind == "thinking") == "I should write it."
    calls = {e.tool_id: e for e in events if e.kind == "tool_call"}
    results = {e.tool_id: e for e in events if e.kind == "tool_result"}
    assert [c.tool_name for c in calls.values()] == [
        MCP_TOOL, "write_file", "todo_write", "run_shell_command",
    ]  # fmt: skip
    assert calls.keys() == results.keys() and not any(r.is_error for r in results.values())
    assert "pong: hi" in (results[next(iter(calls))].content or "")
    todo = next(e for e in events if e.kind == "todo")
    assert todo.todos and [t.content for t in todo.todos] == ["Write hello.txt", "Run the command"]
    # One usage event per model response (five), and the same total on the result.
    usages = [e.usage for e in events if e.kind == "usage"]
    assert [u.model_dump() for u in usages if u] == [EACH] * 5
    assert result.usage.model_dump() == {k: v * 5 for k, v in EACH.items()}
    assert result.cost_usd is None and result.final_text == "All done."
    assert result.num_turns and result.provider_session_id == events[0].session_id
    dumped = json.dumps([e.model_dump() for e in events])
    assert API_KEY not in dumped and MCP_TOKEN not in dumped
    main = fake.main_requests()
    assert len(main) == 5 and len(fake.requests) == 5  # no memory agent, no other calls
    assert all(r.headers.get("authorization") == f"Bearer {API_KEY}" for r in main)
    assert all(r.body.get("model") == MODEL and r.body.get("stream") for r in main)
    assert all("APPENDED-POLYGENT-RULES" in json.dumps(r.body["messages"][0]) for r in main)
    assert proxy.seen == []


async def test_settings_stop_outside_traffic(
    fake: FakeOpenAIChat, proxy: RefusingProxy, worktree: Path, home: Path
) -> None:
    """With a proxy forced into its environment, every connection Qwen makes is seen: it sends
    even loopback through the proxy (why the adapter drops it) and nothing leaves loopback,
    even when the worktree's own settings ask for telemetry and update checks."""
    # A repository's own settings cannot turn the memory agent or telemetry back on.
    (worktree / ".qwen").mkdir()
    hostile = {
        "memory": {"enableManagedAutoMemory": True},
        "telemetry": {"enabled": True, "target": "gcp"},
        "privacy": {"usageStatisticsEnabled": True},
        "general": {"disableAutoUpdate": False, "disableUpdateNag": False},
    }
    (worktree / ".qwen" / "settings.json").write_text(json.dumps(hostile))
    tunnel = TunnelProxy()
    forced = {"HTTPS_PROXY": f"http://127.0.0.1:{tunnel.port}"}
    forced["HTTP_PROXY"] = forced["https_proxy"] = forced["http_proxy"] = forced["HTTPS_PROXY"]
    try:
        with serve_mcp(MCP_TOKEN) as mcp:
            fake.script([finish("Quiet.")])
            result, _ = await run_turn(
                base_env(fake.base_url, proxy), worktree, home, mcp_token=MCP_TOKEN,
                extra_env=forced, prompt="Hi", mcp=McpConfig(url=mcp.url),
            )  # fmt: skip
            assert result.ok, result.error
    finally:
        tunnel.sock.close()
    assert f"127.0.0.1:{fake.port}" in tunnel.tunneled
    assert tunnel.refused == [] and proxy.seen == []
    assert len(fake.requests) == 1  # the main turn only: no memory agent


async def test_resume_continues_the_session_and_the_allowlist_holds(
    fake: FakeOpenAIChat, proxy: RefusingProxy, worktree: Path, home: Path
) -> None:
    env = base_env(fake.base_url, proxy)
    fake.script([write_file(str(worktree / "a.txt"), "a\n"), finish("First done.")])
    first, _ = await run_turn(
        env, worktree, home, prompt="FIRST-PROMPT", allowed_tools=["Read", "Write"]
    )
    assert first.ok and first.provider_session_id, first.error
    offered = fake.main_requests()[0].tool_names
    assert {"read_file", "write_file"} <= set(offered) and "run_shell_command" not in offered

    fake.script([finish("Second done.")])
    second, _ = await run_turn(
        env, worktree, home, prompt="SECOND-PROMPT", resume_session_id=first.provider_session_id
    )
    assert second.ok, second.error
    assert second.provider_session_id == first.provider_session_id
    assert second.final_text == "Second done."
    last = fake.main_requests()[-1]
    history = json.dumps(last.body["messages"])
    assert "FIRST-PROMPT" in history and "SECOND-PROMPT" in history
    assert '"role": "tool"' in history  # the first turn's write result was sent again
    assert "run_shell_command" in last.tool_names
    # The CLI's result counts the whole session once resumed; the turn reports its own tokens.
    assert second.usage.model_dump() == EACH


async def test_api_error_and_connection_failure_fail_the_turn(
    fake: FakeOpenAIChat, proxy: RefusingProxy, worktree: Path, home: Path
) -> None:
    fake.fail(400, "the fake rejects this request")
    result, events = await run_turn(base_env(fake.base_url, proxy), worktree, home, prompt="Hi")
    assert not result.ok and result.outcome == "error" and result.exit_code != 0
    assert (
        result.error and "400" in result.error and "the fake rejects this request" in result.error
    )
    assert "error" in kinds(events) and result.retry_after_seconds is None

    # Nothing listens on port 1, and Node's fetch refuses it outright. A refused connection on
    # another port ends the same way, only after the CLI's own 7 attempts with backoff (~75 s,
    # observed): the recorded line is in tests/unit/test_qwen_parser.py.
    closed = "http://127.0.0.1:1/v1"
    quick = QwenCodeAdapter(max_retries=0)  # and no retries inside the OpenAI SDK either
    down, _ = await run_turn(base_env(closed, proxy), worktree, home, adapter=quick, prompt="Hi")
    assert not down.ok and down.outcome == "error"
    assert down.error and "Connection error" in down.error
    assert proxy.seen == []


async def test_rate_limit_reports_the_reset_time_or_is_retried(
    fake: FakeOpenAIChat, proxy: RefusingProxy, worktree: Path, home: Path
) -> None:
    env = base_env(fake.base_url, proxy)
    reset = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    fake.fail(429, f"You exceeded your current quota; it will reset at {reset}.")
    limited, _ = await run_turn(env, worktree, home, prompt="Hi")
    assert not limited.ok and limited.outcome == "error"
    assert limited.error and "Quota exhausted" in limited.error
    assert limited.retry_after_seconds is not None and 3500 < limited.retry_after_seconds <= 3600

    fake.fail(429, "slow down", times=1, retry_after=0)
    fake.script([write_file(str(worktree / "b.txt"), "b\n"), finish("Fine.")])
    retried, _ = await run_turn(env, worktree, home, prompt="Go")
    assert retried.ok, retried.error
    assert (worktree / "b.txt").read_text() == "b\n"


async def test_cancel_kills_the_cli_and_the_child_it_relaunches(
    fake: FakeOpenAIChat, proxy: RefusingProxy, worktree: Path, home: Path
) -> None:
    """Qwen re-executes itself in a child process; a cancelled turn leaves neither behind."""
    fake.script([Step(text="Thinking for a long time.", delay=60), finish()])
    env = base_env(fake.base_url, proxy)
    request = TurnRequest(
        provider="qwen-code", prompt="Wait", model=MODEL, worktree=str(worktree), home=str(home)
    )
    launch = ADAPTER.prepare(request, home, env)
    pids: list[int] = []

    async def ignore(batch: list[AgentEvent]) -> None:
        pass

    task = asyncio.create_task(
        run_cli(launch, worktree, ADAPTER.parser().parse, ignore, on_spawn=pids.append)
    )
    await wait_for(lambda: fake.main_requests(), timeout=60, what="the model request")
    tree = [psutil.Process(pids[0]), *psutil.Process(pids[0]).children(recursive=True)]
    assert len(tree) >= 2  # the launcher and the CLI it relaunched
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert [p for p in tree if p.is_running() and p.status() != psutil.STATUS_ZOMBIE] == []


async def test_missing_credential_unknown_model_and_missing_cli_fail_before_spawning(
    fake: FakeOpenAIChat, proxy: RefusingProxy, worktree: Path, home: Path
) -> None:
    env = base_env(fake.base_url, proxy)
    request = TurnRequest(provider="qwen-code", prompt="x", worktree=str(worktree), home=str(home))
    with pytest.raises(ProviderCheckError, match="OPENAI_API_KEY"):
        ADAPTER.check(request, {k: v for k, v in env.items() if k != "OPENAI_API_KEY"})
    with pytest.raises(ProviderCheckError, match="gpt-nonsense"):
        ADAPTER.check(request.model_copy(update={"model": "gpt-nonsense"}), env, models=[MODEL])
    with pytest.raises(ProviderCheckError, match="not installed"):
        ADAPTER.check(request, {**env, "PATH": "/nonexistent"})
    ADAPTER.check(request.model_copy(update={"model": MODEL}), env, models=[MODEL])
    assert fake.requests == []

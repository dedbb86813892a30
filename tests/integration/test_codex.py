"""The real Codex CLI, run by our adapter and runner against the fake OpenAI Responses API.

Each test gets a fresh `git init` worktree and an isolated HOME; outside traffic goes to a
recording proxy that refuses everything, so an attempt to leave loopback is seen and fails.
The adapter under test retries once (the default retries five times with backoff).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from activities.agent.budget import BudgetMeter, BudgetReached
from activities.agent.providers import ADAPTERS, ProviderCheckError
from activities.agent.providers.codex import CodexAdapter
from activities.agent.runner import run_cli
from orchestrator.contracts.agent import (
    AgentEvent,
    McpConfig,
    ModelPrice,
    TurnRequest,
    TurnResult,
)
from tests.clis import require_cli
from tests.fakes.mcp import FakeMcp, serve_mcp
from tests.fakes.openai_responses import (
    Call,
    FakeResponses,
    Step,
    add_file,
    apply_patch,
    exec_command,
    finish,
    serve_responses,
    update_plan,
)
from tests.helpers import free_port, wait_for
from tests.integration.cli_kit import RefusingProxy, drive, kinds, proxied_env

pytestmark = [pytest.mark.providers, pytest.mark.slow]

API_KEY = "sk-proj-fake-0123456789abcdef"
MCP_TOKEN = "mcp-secret-token-42"
ADAPTER = CodexAdapter(request_max_retries=1, stream_max_retries=1)
MODEL = "gpt-5.5"


@pytest.fixture
def fake() -> Iterator[FakeResponses]:
    require_cli("codex")
    with serve_responses() as server:
        yield server


def base_env(base_url: str, proxy: RefusingProxy) -> dict[str, str]:
    return proxied_env(proxy, OPENAI_BASE_URL=base_url, OPENAI_API_KEY=API_KEY)


def request_for(worktree: Path, home: Path, **fields: Any) -> TurnRequest:
    fields.setdefault("model", MODEL)
    return TurnRequest(provider="codex", worktree=str(worktree), home=str(home), **fields)


async def run_turn(
    env: dict[str, str], worktree: Path, home: Path, **fields: Any
) -> tuple[TurnResult, list[AgentEvent]]:
    fields.setdefault("model", MODEL)
    return await drive(ADAPTER, env, worktree, home, secrets=[API_KEY], **fields)


def mcp_ping(text: str) -> list[Step]:
    """How a search-capable model reaches a deferred MCP tool: search, then the call."""
    search = Call("tool_search", {"query": "polygent ping", "limit": 5}, search=True)
    ping = Call("polygent_ping", {"text": text}, namespace="mcp__polygent")
    return [Step(text="Looking for the tool.", calls=[search]), Step(calls=[ping])]


@pytest.fixture
def mcp() -> Iterator[FakeMcp]:
    with serve_mcp(MCP_TOKEN) as server:
        yield server


async def test_scripted_turn_writes_runs_plans_calls_mcp_and_finishes(
    fake: FakeResponses, proxy: RefusingProxy, worktree: Path, home: Path, mcp: FakeMcp
) -> None:
    target = worktree / "hello.txt"
    fake.script(
        [
            apply_patch(
                add_file(str(target), f"hello\nkey={API_KEY}"), reasoning="I should write it."
            ),
            exec_command("echo ran > ran.txt"),
            update_plan([("Write the file", "completed"), ("Check it", "in_progress")]),
            *mcp_ping("from codex"),
            finish("All done."),
        ]
    )
    env = base_env(fake.base_url, proxy)
    request = request_for(
        worktree,
        home,
        prompt="Write hello.txt and run the command",
        system_prompt_append="APPENDED-POLYGENT-RULES",
        mcp=McpConfig(url=mcp.url, bearer_token_ref="ref:1"),
    )
    ADAPTER.check(request, env)
    launch = ADAPTER.prepare(request, home, env, mcp_token=MCP_TOKEN)
    config = launch.files[0]
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert MCP_TOKEN not in config.read_text() and API_KEY not in config.read_text()
    assert all(MCP_TOKEN not in a and API_KEY not in a for a in launch.argv)

    batches: list[list[AgentEvent]] = []

    async def collect(batch: list[AgentEvent]) -> None:
        batches.append(batch)

    outcome = await run_cli(launch, worktree, ADAPTER.parser().parse, collect, turn=2, attempt=1)
    result = ADAPTER.finish(outcome.exit_code, outcome.events, outcome.stderr_tail)
    events = [e for b in batches for e in b]

    assert result.ok, result.error
    assert target.read_text() == f"hello\nkey={API_KEY}\n"
    assert (worktree / "ran.txt").read_text() == "ran\n"
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    ks = kinds(events)
    assert ks[0] == "system" and events[0].subtype == "init"
    assert "thinking" in ks and "text" in ks and ks[-2:] == ["usage", "result"]
    calls = {e.tool_id: e for e in events if e.kind == "tool_call"}
    results = {e.tool_id: e for e in events if e.kind == "tool_result"}
    assert [c.tool_name for c in calls.values()] == [
        "apply_patch", "shell", "mcp__polygent__polygent_ping",
    ]  # fmt: skip
    assert calls.keys() == results.keys()
    assert all(not r.is_error for r in results.values())
    ping = next(r for r in results.values() if r.tool_name == "mcp__polygent__polygent_ping")
    assert ping.content == "pong: from codex" and mcp.called() == ["from codex"]
    assert mcp.rejected == 0
    todos = [e for e in events if e.kind == "todo"]
    assert todos and todos[-1].todos is not None
    assert [(t.content, t.status) for t in todos[-1].todos] == [
        ("Write the file", "completed"), ("Check it", "pending"),
    ]  # fmt: skip
    # Six requests of 100 input tokens (30 of them cached) and 42 output tokens each.
    assert result.usage.model_dump() == {
        "input": 420,
        "output": 252,
        "cache_read": 180,
        "cache_write": 0,
    }
    assert result.cost_usd is None
    # The running usage (from the rollout) and the final count share one snapshot id.
    usages = [e for e in events if e.kind == "usage"]
    assert "running" in {e.subtype for e in usages} and len({e.message_id for e in usages}) == 1
    assert result.final_text == "All done."
    assert result.provider_session_id and result.provider_session_id == events[0].session_id
    dumped = json.dumps([e.model_dump() for e in events])
    assert API_KEY not in dumped and MCP_TOKEN not in dumped
    main = fake.main_requests()
    assert len(main) == len(fake.requests) == 6
    assert all("APPENDED-POLYGENT-RULES" in r.texts("developer") for r in main)
    assert all(r.headers.get("authorization") == f"Bearer {API_KEY}" for r in main)
    assert all(r.body.get("model") == MODEL for r in main)
    assert {"apply_patch", "update_plan"} <= set(main[0].tool_names)
    assert all(r.path == "/v1/responses" for r in fake.requests)
    assert proxy.seen == []
    assert (home / ".codex" / "sessions").is_dir()


async def test_resume_continues_the_thread_and_reports_its_own_tokens(
    fake: FakeResponses, proxy: RefusingProxy, worktree: Path, home: Path
) -> None:
    env = base_env(fake.base_url, proxy)
    fake.script([apply_patch(add_file(str(worktree / "a.txt"), "a")), finish("First done.")])
    first, _ = await run_turn(env, worktree, home, prompt="FIRST-PROMPT")
    assert first.ok and first.provider_session_id
    assert first.usage.model_dump() == {
        "input": 140,
        "output": 84,
        "cache_read": 60,
        "cache_write": 0,
    }

    fake.script([finish("Second done.")])
    second, events = await run_turn(
        env, worktree, home, prompt="SECOND-PROMPT", resume_session_id=first.provider_session_id
    )
    assert second.ok, second.error
    assert second.provider_session_id == first.provider_session_id
    assert second.final_text == "Second done."
    # Codex reports the thread's total (3 requests); the run made one.
    assert second.usage.model_dump() == {
        "input": 70,
        "output": 42,
        "cache_read": 30,
        "cache_write": 0,
    }
    final = next(e for e in events if e.kind == "result")
    assert final.data and final.data["cumulative"]["input_tokens"] == 300
    history = json.dumps(fake.requests[-1].body["input"])
    assert "FIRST-PROMPT" in history and "SECOND-PROMPT" in history
    assert "custom_tool_call_output" in history  # the first run's patch result was sent again


async def test_api_error_fails_the_turn_with_the_api_message(
    fake: FakeResponses, proxy: RefusingProxy, worktree: Path, home: Path
) -> None:
    fake.fail(400, "the fake rejects this request")
    result, events = await run_turn(base_env(fake.base_url, proxy), worktree, home, prompt="Hi")
    assert not result.ok and result.outcome == "error" and result.exit_code != 0
    assert result.error and "the fake rejects this request" in result.error
    assert result.retry_after_seconds is None
    assert "error" in kinds(events) and kinds(events)[-1] == "result"
    assert len(fake.requests) == 1  # a 400 is not retried


async def test_connection_failure_fails_the_turn(
    proxy: RefusingProxy, worktree: Path, home: Path
) -> None:
    require_cli("codex")
    closed = f"http://127.0.0.1:{free_port()}/v1"
    started = time.monotonic()
    result, events = await run_turn(base_env(closed, proxy), worktree, home, prompt="Hi")
    assert not result.ok and result.outcome == "error" and result.exit_code != 0
    assert result.error and "Connection failed" in result.error
    assert [e.subtype for e in events if e.kind == "system"].count("retry") == 1
    assert time.monotonic() - started < 30  # no endless reconnecting


async def test_rate_limits_retry_or_report_the_reset_time(
    fake: FakeResponses, proxy: RefusingProxy, worktree: Path, home: Path
) -> None:
    env = base_env(fake.base_url, proxy)
    # A short 429 is retried by Codex itself after Retry-After.
    fake.fail(429, "slow down", times=1, retry_after=0)
    fake.script([finish("Fine.")])
    ok, events = await run_turn(env, worktree, home, prompt="Go")
    assert ok.ok, ok.error
    assert "retry" in [e.subtype for e in events if e.kind == "system"]

    # A rate limit inside the stream names its wait: the turn fails and carries it.
    fake.script(
        [Step(fail=("rate_limit_exceeded", "Rate limit reached. Please try again in 20ms."))]
    )
    limited, _ = await run_turn(env, worktree, home, prompt="Go")
    assert not limited.ok and limited.outcome == "error"
    assert limited.error and "rate limit" in limited.error.lower()
    assert limited.retry_after_seconds == pytest.approx(0.02)

    # A spent usage limit: Codex prints the reset as a local time, with minute precision.
    reset = int(time.time()) + 2 * 86400 + 125
    fake.fail(429, "usage limit", type="usage_limit_reached", resets_at=reset)
    spent, _ = await run_turn(env, worktree, home, prompt="Go")
    assert not spent.ok and spent.error and "usage limit" in spent.error
    assert spent.retry_after_seconds is not None
    assert reset - time.time() <= spent.retry_after_seconds <= reset - time.time() + 61
    assert proxy.seen == []


async def test_missing_credential_and_cli_fail_before_spawning(
    fake: FakeResponses, proxy: RefusingProxy, worktree: Path, home: Path
) -> None:
    env = base_env(fake.base_url, proxy)
    request = request_for(worktree, home, prompt="x")
    no_key = {k: v for k, v in env.items() if k != "OPENAI_API_KEY"}
    with pytest.raises(ProviderCheckError, match="OPENAI_API_KEY"):
        ADAPTERS["codex"].check(request, no_key)
    with pytest.raises(ProviderCheckError, match="gpt-nonsense"):
        ADAPTER.check(request.model_copy(update={"model": "gpt-nonsense"}), env, models=[MODEL])
    with pytest.raises(ProviderCheckError, match="not installed"):
        ADAPTER.check(request, {**env, "PATH": "/nonexistent"})
    ADAPTER.check(request, {**no_key, "CODEX_API_KEY": API_KEY}, models=[MODEL])
    assert fake.requests == []


async def test_read_only_allowlist_blocks_writes(
    fake: FakeResponses, proxy: RefusingProxy, worktree: Path, home: Path
) -> None:
    target = worktree / "blocked.txt"
    fake.script([apply_patch(add_file(str(target), "x")), finish("Could not.")])
    result, _ = await run_turn(
        base_env(fake.base_url, proxy), worktree, home, prompt="Try", allowed_tools=["Read", "Grep"]
    )
    assert result.ok, result.error
    assert not target.exists()
    rejected = fake.requests[-1].tool_outputs()[-1]["output"]
    assert "read-only" in rejected


async def test_budget_stops_codex_mid_run(
    fake: FakeResponses, proxy: RefusingProxy, worktree: Path, home: Path
) -> None:
    fake.script(
        [
            exec_command("echo one > one.txt"),
            exec_command("echo two > two.txt"),
            exec_command("echo three > three.txt", delay=2.0),
            finish(),
        ]
    )
    env = base_env(fake.base_url, proxy)
    launch = ADAPTER.prepare(request_for(worktree, home, prompt="Spend"), home, env)
    # $10 per million input tokens: each request (70 uncached input tokens) costs $0.0007, so
    # the second one crosses $0.001; its usage is in the rollout before its command runs.
    meter = BudgetMeter(0.001, ModelPrice(input=10, output=0))
    events: list[AgentEvent] = []

    async def on_events(batch: list[AgentEvent]) -> None:
        events.extend(batch)
        meter.add(batch)

    with pytest.raises(BudgetReached):
        await run_cli(launch, worktree, ADAPTER.parser().parse, on_events)
    assert meter.spent > 0.001 and meter.usage.input == 140
    assert (worktree / "one.txt").exists() and not (worktree / "three.txt").exists()
    assert [e.subtype for e in events if e.kind == "usage"] == ["running", "running"]


async def test_cancel_kills_the_process_tree(
    fake: FakeResponses, proxy: RefusingProxy, worktree: Path, home: Path
) -> None:
    fake.script([exec_command("echo waiting && sleep 120"), finish()])
    env = base_env(fake.base_url, proxy)
    launch = ADAPTER.prepare(request_for(worktree, home, prompt="Sleep"), home, env)
    pids: list[int] = []

    async def ignore(batch: list[AgentEvent]) -> None:
        pass

    task = asyncio.create_task(
        run_cli(launch, worktree, ADAPTER.parser().parse, ignore, on_spawn=pids.append)
    )
    await wait_for(lambda: pids, what="the CLI to start")

    def sleeper() -> psutil.Process | None:
        try:
            kids = psutil.Process(pids[0]).children(recursive=True)
        except psutil.Error:
            return None
        for kid in kids:
            with contextlib.suppress(psutil.Error):  # short-lived helpers come and go
                if kid.name() == "sleep":
                    return kid
        return None

    await wait_for(sleeper, timeout=60, what="the command's sleep under the CLI")
    tree = [psutil.Process(pids[0]), *psutil.Process(pids[0]).children(recursive=True)]
    started = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert time.monotonic() - started < 2.0
    assert [p for p in tree if p.is_running() and p.status() != psutil.STATUS_ZOMBIE] == []

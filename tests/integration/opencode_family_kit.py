"""Shared scenarios for the OpenCode and Kilo CLI tests: the real CLI, our adapter and runner,
the fake Anthropic server (OpenCode's `@ai-sdk/anthropic` provider points at it) and the fake
MCP server. Each CLI's test module supplies its adapter and fixtures and asserts the same."""

from __future__ import annotations

import json
import stat
import time
from pathlib import Path
from typing import Any

import pytest

from activities.agent.providers import ProviderCheckError
from activities.agent.providers.opencode_family import OpenCodeFamilyAdapter
from activities.agent.turn import snapshot
from orchestrator.contracts.agent import AgentEvent, McpConfig, TurnRequest, TurnResult
from orchestrator.contracts.worktrees import CHECKPOINT_NAMESPACE
from tests.fakes.anthropic import FakeAnthropic, Recorded, Step, finish
from tests.fakes.mcp import FakeMcp
from tests.helpers import free_port
from tests.integration.cli_kit import RefusingProxy, drive, proxied_env

API_KEY = "sk-ant-fake-0123456789abcdef"
MCP_TOKEN = "mcp-secret-token-42"
MODEL = "anthropic/claude-sonnet-4-5"
STEP_COST = (100 * 3 + 42 * 15 + 30 * 0.3 + 20 * 3.75) / 1e6  # the fake's usage, sonnet prices
MCP_TOOL = "polygent_polygent_ping"  # OpenCode names MCP tools <server>_<tool>
# Quotes, a number, a dash word and a newline: `run` would mangle these as arguments.
PROMPT = 'Write hello.txt -- "as asked" 123\n-v and run the command'


def write_file(path: Path, content: str, **kw: Any) -> Step:
    return Step(
        text="I'll write the file.",
        tool="write",
        tool_input={"filePath": str(path), "content": content},
        **kw,
    )


def run_bash(command: str) -> Step:
    return Step(text="Running it.", tool="bash",
                tool_input={"command": command, "description": "Run it"})  # fmt: skip


def ping(text: str) -> Step:
    return Step(text="Pinging Polygent.", tool=MCP_TOOL, tool_input={"text": text})


def todo(items: list[str]) -> Step:
    todos = [
        {"id": str(i), "content": c, "status": "pending", "priority": "high"}
        for i, c in enumerate(items, 1)
    ]
    return Step(text="Planning.", tool="todowrite", tool_input={"todos": todos})


def base_env(fake: FakeAnthropic, proxy: RefusingProxy) -> dict[str, str]:
    return proxied_env(proxy, ANTHROPIC_BASE_URL=fake.base_url, ANTHROPIC_API_KEY=API_KEY)


async def run_turn(
    adapter: OpenCodeFamilyAdapter,
    env: dict[str, str],
    worktree: Path,
    home: Path,
    mcp_token: str | None = None,
    **fields: Any,
) -> tuple[TurnResult, list[AgentEvent]]:
    fields.setdefault("model", MODEL)
    return await drive(
        adapter, env, worktree, home, secrets=[API_KEY, MCP_TOKEN], mcp_token=mcp_token, **fields
    )


def user_text(rec: Recorded) -> str:
    """The first text of the first user message the CLI sent."""
    content = rec.body["messages"][0]["content"]
    if isinstance(content, str):
        return content
    return next(b["text"] for b in content if b.get("type") == "text")


async def scripted_turn(
    adapter: OpenCodeFamilyAdapter,
    fake: FakeAnthropic,
    mcp: FakeMcp,
    proxy: RefusingProxy,
    worktree: Path,
    home: Path,
) -> None:
    """Write, run, call our MCP tool, plan, finish: transcript, tokens, cost, files, traffic."""
    target = worktree / "hello.txt"
    fake.script([
        write_file(target, f"hello\nkey={API_KEY}\n", thinking="I should write it."),
        run_bash("echo ran > ran.txt"),
        ping("hello from the agent"),
        todo(["Write hello.txt", "Report back"]),
        finish("All done."),
    ])  # fmt: skip
    result, events = await run_turn(
        adapter, base_env(fake, proxy), worktree, home, mcp_token=MCP_TOKEN, prompt=PROMPT,
        system_prompt_append="APPENDED-POLYGENT-RULES", turn=3,
        mcp=McpConfig(url=mcp.url, bearer_token_ref="ref:1"),
    )  # fmt: skip

    assert result.ok, result.error
    assert result.outcome == "success" and result.exit_code == 0
    assert target.read_text() == f"hello\nkey={API_KEY}\n"
    assert (worktree / "ran.txt").read_text() == "ran\n"
    # The transcript, in the CLI's order.
    kinds = [e.kind for e in events]
    assert kinds[0] == "system" and events[0].subtype == "step_start"
    thinking = next(e for e in events if e.kind == "thinking")
    assert thinking.text == "I should write it."
    calls = {e.tool_id: e for e in events if e.kind == "tool_call"}
    results = {e.tool_id: e for e in events if e.kind == "tool_result"}
    assert [c.tool_name for c in calls.values()] == ["write", "bash", MCP_TOOL, "todowrite"]
    assert calls.keys() == results.keys()
    assert all(not r.is_error for r in results.values())
    ping_result = next(r for r in results.values() if r.tool_name == MCP_TOOL)
    assert ping_result.content and "pong: hello from the agent" in ping_result.content
    todos = next(e for e in events if e.kind == "todo")
    assert [t.content for t in todos.todos or []] == ["Write hello.txt", "Report back"]
    # Five model calls, 100 in / 42 out / 30 cache read / 20 cache write each, priced per step.
    steps = [e for e in events if e.kind == "usage"]
    assert len(steps) == 5 and all(e.cost_usd == pytest.approx(STEP_COST) for e in steps)
    assert result.usage.model_dump() == {
        "input": 500, "output": 210, "cache_read": 150, "cache_write": 100,
    }  # fmt: skip
    assert result.cost_usd == pytest.approx(5 * STEP_COST)
    assert result.num_turns == 5 and result.final_text == "All done."
    sid = result.provider_session_id
    assert sid and sid.startswith("ses_") and {e.session_id for e in events} == {sid}
    # Secrets: redacted from events, never on disk in the config, never in argv (run_turn).
    dumped = json.dumps([e.model_dump() for e in events])
    assert API_KEY not in dumped and MCP_TOKEN not in dumped
    config_file = home / ".config" / adapter.spec.app / f"{adapter.spec.app}.json"
    assert stat.S_IMODE(config_file.stat().st_mode) == 0o600
    config = json.loads(config_file.read_text())
    assert MCP_TOKEN not in config_file.read_text() and API_KEY not in config_file.read_text()
    assert config["mcp"]["polygent"]["url"] == mcp.url
    # Our MCP server: listed with the right token, and called once.
    assert mcp.called() == ["hello from the agent"] and mcp.rejected == 0
    # What reached the model API: the exact prompt, our rules, the key, the model, no titles.
    main = fake.main_requests()
    assert len(main) == 5 and len(fake.requests) == 5
    assert user_text(main[0]) == PROMPT
    assert all("APPENDED-POLYGENT-RULES" in r.system_text for r in main)
    assert all(r.headers.get("x-api-key") == API_KEY for r in main)
    assert {r.body.get("model") for r in main} == {"claude-sonnet-4-5"}
    assert MCP_TOOL in main[0].tool_names
    assert proxy.seen == []  # no outside traffic at all
    # The changed files, as the turn activity checkpoints them.
    changed, ref = await snapshot("git", worktree, f"{CHECKPOINT_NAMESPACE}/test/turn-3")
    assert sorted(changed) == ["hello.txt", "ran.txt"] and ref


async def resume(
    adapter: OpenCodeFamilyAdapter,
    fake: FakeAnthropic,
    proxy: RefusingProxy,
    worktree: Path,
    home: Path,
) -> None:
    env = base_env(fake, proxy)
    fake.script([write_file(worktree / "a.txt", "a\n"), finish("First done.")])
    first, _ = await run_turn(adapter, env, worktree, home, prompt="FIRST-PROMPT")
    assert first.ok and first.provider_session_id, first.error

    fake.script([finish("Second done.")])
    second, _ = await run_turn(
        adapter, env, worktree, home, prompt="SECOND-PROMPT", turn=1,
        resume_session_id=first.provider_session_id,
    )  # fmt: skip
    assert second.ok, second.error
    assert second.provider_session_id == first.provider_session_id
    assert second.final_text == "Second done."
    # Usage is per run, not cumulative over the session.
    assert second.usage.input == 100 and second.num_turns == 1
    history = json.dumps(fake.main_requests()[-1].body["messages"])
    assert "FIRST-PROMPT" in history and "SECOND-PROMPT" in history
    assert "tool_result" in history  # the first turn's write result was sent again


async def api_error(
    adapter: OpenCodeFamilyAdapter,
    fake: FakeAnthropic,
    proxy: RefusingProxy,
    worktree: Path,
    home: Path,
) -> None:
    fake.fail(400, "the fake rejects this request")
    result, events = await run_turn(adapter, base_env(fake, proxy), worktree, home, prompt="Hi")
    assert not result.ok and result.outcome == "error" and result.exit_code == 1
    assert result.error and "400" in result.error
    assert "the fake rejects this request" in result.error
    assert result.retry_after_seconds is None
    assert [e.kind for e in events] == ["error"]
    assert len(fake.requests) == 1  # a 400 is not retried


async def connection_failure(
    adapter: OpenCodeFamilyAdapter,
    fake: FakeAnthropic,
    proxy: RefusingProxy,
    worktree: Path,
    home: Path,
    attempts: list[int],
) -> None:
    """A closed port: the turn fails after `attempts` (the CLI's retry notices), no sleep."""
    env = {**base_env(fake, proxy), "ANTHROPIC_BASE_URL": f"http://127.0.0.1:{free_port()}"}
    result, events = await run_turn(adapter, env, worktree, home, prompt="Hi")
    assert not result.ok and result.outcome == "error"
    assert result.error and "connect" in result.error.lower()
    assert result.retry_after_seconds is None  # nothing says when it would work again
    retries = [e for e in events if e.subtype == "retry"]
    assert [e.data["attempt"] for e in retries if e.data] == attempts
    assert fake.requests == [] and proxy.seen == []


async def rate_limit_with_reset_time(
    adapter: OpenCodeFamilyAdapter,
    fake: FakeAnthropic,
    proxy: RefusingProxy,
    worktree: Path,
    home: Path,
) -> None:
    """A long Retry-After ends the turn at once, carrying the reset time for a durable sleep."""
    fake.fail(429, "rate limited by the fake", retry_after=3600)
    started = time.monotonic()
    result, _ = await run_turn(adapter, base_env(fake, proxy), worktree, home, prompt="Hi")
    assert time.monotonic() - started < 60
    assert not result.ok and result.outcome == "error"
    assert result.error and "rate limited by the fake" in result.error
    assert result.retry_after_seconds == pytest.approx(3600, abs=5)
    assert result.provider_session_id  # the workflow resumes this session after the sleep
    assert len(fake.requests) == 1


async def allowlist_and_short_retry(
    adapter: OpenCodeFamilyAdapter,
    fake: FakeAnthropic,
    proxy: RefusingProxy,
    worktree: Path,
    home: Path,
) -> None:
    """A mode's tools only, even against the repository's own config; a 0 s retry is the CLI's."""
    app = adapter.spec.app
    (worktree / f"{app}.json").write_text(json.dumps({"permission": {"bash": "allow"}}))
    fake.fail(429, "slow down", times=1, retry_after=0)
    fake.script([write_file(worktree / "b.txt", "b\n"), finish("Fine.")])
    result, events = await run_turn(
        adapter, base_env(fake, proxy), worktree, home, prompt="Go",
        allowed_tools=["Read", "Write", "mcp__polygent__polygent_ping"],
    )  # fmt: skip
    assert result.ok, result.error
    assert (worktree / "b.txt").read_text() == "b\n"
    assert any(e.subtype == "retry" for e in events)
    main = fake.main_requests()
    assert len(main) == 3  # the 429, then two scripted answers
    tools = set(main[-1].tool_names)
    assert {"read", "write"} <= tools
    assert not tools & {"bash", "webfetch", "task", "todowrite"}


def checks_before_spawning(
    adapter: OpenCodeFamilyAdapter, fake: FakeAnthropic, proxy: RefusingProxy, worktree: Path,
    home: Path,
) -> None:  # fmt: skip
    env = base_env(fake, proxy)
    request = TurnRequest(
        provider=adapter.name, model=MODEL, prompt="x", worktree=str(worktree), home=str(home)
    )
    no_key = {k: v for k, v in env.items() if k != "ANTHROPIC_API_KEY"}
    with pytest.raises(ProviderCheckError, match="ANTHROPIC_API_KEY"):
        adapter.check(request, no_key)
    with pytest.raises(ProviderCheckError, match="anthropic/nonsense"):
        adapter.check(request.model_copy(update={"model": "anthropic/nonsense"}), env, [MODEL])
    with pytest.raises(ProviderCheckError, match="provider/model"):
        adapter.check(request.model_copy(update={"model": "claude-sonnet-4-5"}), env)
    with pytest.raises(ProviderCheckError, match="session id"):
        adapter.check(request.model_copy(update={"resume_session_id": "--evil"}), env)
    with pytest.raises(ProviderCheckError, match="not installed"):
        adapter.check(request, {**env, "PATH": "/nonexistent"})
    adapter.check(request, env, [MODEL])
    adapter.check(request.model_copy(update={"model": "opencode/grok-code"}), no_key)  # free
    assert fake.requests == []

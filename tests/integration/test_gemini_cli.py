"""The real Gemini CLI, run by our adapter and runner against the fake Gemini API.

Each test gets a fresh `git init` worktree and an isolated HOME; outside traffic goes to a
recording proxy that refuses everything (loopback is exempt through NO_PROXY), so an attempt
to leave the machine is seen and fails.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from activities.agent.providers import ADAPTERS, ProviderAdapter, ProviderCheckError
from activities.agent.providers.gemini_cli import GeminiCliAdapter
from orchestrator.contracts.agent import AgentEvent, McpConfig, TurnRequest, TurnResult
from tests.clis import require_cli
from tests.fakes.gemini import FakeGemini, Step, finish, run_shell, serve_gemini, write_file
from tests.fakes.mcp import serve_mcp
from tests.helpers import free_port
from tests.integration.cli_kit import RefusingProxy, drive, kinds, proxied_env

pytestmark = [pytest.mark.providers, pytest.mark.slow]

API_KEY = "gemini-fake-key-0123456789abcdef"
MCP_TOKEN = "mcp-secret-token-gemini-42"
MODEL = "gemini-2.5-flash"  # a Gemini 2 name: the CLI then offers its write_todos tool
ADAPTER = ADAPTERS["gemini-cli"]
EACH = {"input": 70, "output": 42, "cache_read": 30, "cache_write": 0}  # one fake response


@pytest.fixture
def fake() -> Iterator[FakeGemini]:
    require_cli("gemini")
    with serve_gemini() as server:
        yield server


def base_env(base_url: str, proxy: RefusingProxy) -> dict[str, str]:
    return proxied_env(proxy, GOOGLE_GEMINI_BASE_URL=base_url, GEMINI_API_KEY=API_KEY)


async def run_turn(
    env: dict[str, str],
    worktree: Path,
    home: Path,
    adapter: ProviderAdapter = ADAPTER,
    mcp_token: str | None = None,
    **fields: Any,
) -> tuple[TurnResult, list[AgentEvent]]:
    fields.setdefault("model", MODEL)
    return await drive(
        adapter, env, worktree, home, secrets=[API_KEY], mcp_token=mcp_token, **fields
    )


async def test_scripted_turn_with_mcp_todos_and_tokens(
    fake: FakeGemini, proxy: RefusingProxy, worktree: Path, home: Path
) -> None:
    target = worktree / "hello.txt"
    todos = [{"description": "Write hello.txt", "status": "in_progress"}]
    with serve_mcp(MCP_TOKEN) as mcp:
        fake.script(
            [
                Step(text="Pinging.", tool="mcp_polygent_polygent_ping", tool_input={"text": "hi"}),
                Step(text="Planning.", tool="write_todos", tool_input={"todos": todos}),
                write_file(str(target), f"hello\nkey={API_KEY}\n"),
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
    assert ks[0] == "system" and events[0].subtype == "init"
    assert ks[-2:] == ["usage", "result"] and "todo" in ks
    calls = {e.tool_id: e for e in events if e.kind == "tool_call"}
    results = {e.tool_id: e for e in events if e.kind == "tool_result"}
    assert [c.tool_name for c in calls.values()] == [
        "mcp_polygent_polygent_ping", "write_todos", "write_file", "run_shell_command",
    ]  # fmt: skip
    assert calls.keys() == results.keys() and not any(r.is_error for r in results.values())
    assert "pong: hi" in (results[next(iter(calls))].content or "")
    todo = next(e for e in events if e.kind == "todo")
    assert todo.todos and todo.todos[0].content == "Write hello.txt"
    assert [e.text for e in events if e.kind == "text"][-1] == "All done."
    # Tokens: five responses of 100 prompt tokens (30 of them cached) and 42 output tokens.
    assert result.usage.model_dump() == {k: v * 5 for k, v in EACH.items()}
    assert result.cost_usd is None and result.final_text == "All done."
    assert result.provider_session_id == events[0].session_id
    dumped = json.dumps([e.model_dump() for e in events])
    assert API_KEY not in dumped and MCP_TOKEN not in dumped
    # What reached the model API, and that nothing else was contacted.
    main = fake.main_requests()
    assert len(main) == 5 and len(fake.requests) == 5
    assert all(r.headers.get("x-goog-api-key") == API_KEY for r in main)
    assert all(f"/models/{MODEL}:streamGenerateContent" in r.path for r in main)
    assert all("APPENDED-POLYGENT-RULES" in json.dumps(r.body["systemInstruction"]) for r in main)
    assert proxy.seen == []
    assert (home / ".gemini" / "settings.json").exists()


async def test_resume_continues_the_session_and_the_allowlist_holds(
    fake: FakeGemini, proxy: RefusingProxy, worktree: Path, home: Path
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
    history = json.dumps(last.body["contents"])
    assert "FIRST-PROMPT" in history and "SECOND-PROMPT" in history
    assert "functionResponse" in history  # the first turn's write result was sent again
    assert "run_shell_command" in last.tool_names  # the allowlist was the first turn's only
    assert second.usage.model_dump() == EACH  # this run's tokens, not the session's


async def test_api_error_and_connection_failure_fail_the_turn(
    fake: FakeGemini, proxy: RefusingProxy, worktree: Path, home: Path
) -> None:
    fake.fail(400, "the fake rejects this request")
    result, events = await run_turn(base_env(fake.base_url, proxy), worktree, home, prompt="Hi")
    assert not result.ok and result.outcome == "error" and result.exit_code != 0
    assert (
        result.error and "400" in result.error and "the fake rejects this request" in result.error
    )
    assert kinds(events)[-1] == "result" and result.retry_after_seconds is None
    assert len(fake.requests) == 1  # a 400 is not retried

    closed = f"http://127.0.0.1:{free_port()}"
    quick = GeminiCliAdapter(max_attempts=1)  # the CLI's default retries 10 times with backoff
    down, _ = await run_turn(base_env(closed, proxy), worktree, home, adapter=quick, prompt="Hi")
    assert not down.ok and down.outcome == "error"
    assert down.error and "fetch failed" in down.error
    assert proxy.seen == []


async def test_rate_limit_reports_the_reset_time_or_is_retried(
    fake: FakeGemini, proxy: RefusingProxy, worktree: Path, home: Path
) -> None:
    env = base_env(fake.base_url, proxy)
    fake.fail(429, "Resource has been exhausted (e.g. check quota).", retry_after=3600)
    limited, _ = await run_turn(env, worktree, home, prompt="Hi")
    assert not limited.ok and limited.outcome == "error"
    assert limited.retry_after_seconds == 3600.0
    assert len(fake.requests) == 1  # a reset an hour away is not waited for in the CLI

    fake.fail(429, "slow down", times=1, retry_after=0.1)
    fake.script([write_file(str(worktree / "b.txt"), "b\n"), finish("Fine.")])
    retried, _ = await run_turn(env, worktree, home, prompt="Go")
    assert retried.ok, retried.error
    assert (worktree / "b.txt").read_text() == "b\n"
    assert len(fake.main_requests()) == 1 + 3  # the 429, then two scripted answers after it


async def test_missing_credential_unknown_model_and_missing_cli_fail_before_spawning(
    fake: FakeGemini, proxy: RefusingProxy, worktree: Path, home: Path
) -> None:
    env = base_env(fake.base_url, proxy)
    request = TurnRequest(provider="gemini-cli", prompt="x", worktree=str(worktree), home=str(home))
    with pytest.raises(ProviderCheckError, match="GEMINI_API_KEY"):
        ADAPTER.check(request, {k: v for k, v in env.items() if k != "GEMINI_API_KEY"})
    with pytest.raises(ProviderCheckError, match="gpt-nonsense"):
        ADAPTER.check(request.model_copy(update={"model": "gpt-nonsense"}), env, models=[MODEL])
    with pytest.raises(ProviderCheckError, match="not installed"):
        ADAPTER.check(request, {**env, "PATH": "/nonexistent"})
    ADAPTER.check(request.model_copy(update={"model": MODEL}), env, models=[MODEL])
    assert fake.requests == []

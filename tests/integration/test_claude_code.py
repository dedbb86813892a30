"""The real Claude Code CLI, run by our adapter and runner against the fake Anthropic server.

Each test gets a fresh `git init` worktree and an isolated HOME; outside traffic goes to a
recording proxy that refuses everything, so an attempt to leave loopback is seen and fails.
"""

from __future__ import annotations

import asyncio
import json
import os
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from activities.agent.providers import ADAPTERS, ProviderCheckError
from activities.agent.runner import run_cli
from orchestrator.contracts.agent import AgentEvent, McpConfig, TurnRequest, TurnResult
from tests.clis import require_cli
from tests.fakes.anthropic import FakeAnthropic, finish, run_command, serve_anthropic, write_file
from tests.helpers import free_port, wait_for
from tests.integration.cli_kit import RefusingProxy, drive, kinds, proxied_env

pytestmark = [pytest.mark.sessions, pytest.mark.slow]

API_KEY = "sk-ant-fake-0123456789abcdef"
ADAPTER = ADAPTERS["claude-code"]


@pytest.fixture
def fake() -> Iterator[FakeAnthropic]:
    require_cli("claude")
    with serve_anthropic() as server:
        yield server


def base_env(fake: FakeAnthropic, proxy: RefusingProxy) -> dict[str, str]:
    return proxied_env(proxy, ANTHROPIC_BASE_URL=fake.base_url, ANTHROPIC_API_KEY=API_KEY)


async def run_turn(
    env: dict[str, str], worktree: Path, home: Path, **fields: Any
) -> tuple[TurnResult, list[AgentEvent]]:
    return await drive(ADAPTER, env, worktree, home, secrets=[API_KEY], **fields)


async def test_scripted_turn_writes_runs_and_finishes(
    fake: FakeAnthropic, proxy: RefusingProxy, worktree: Path, home: Path
) -> None:
    target = worktree / "hello.txt"
    fake.script(
        [
            write_file(str(target), f"hello\nkey={API_KEY}\n", thinking="I should write it."),
            run_command("echo ran > ran.txt"),
            finish("All done."),
        ]
    )
    mcp = McpConfig(url=f"http://127.0.0.1:{free_port()}/mcp", bearer_token_ref="ref:1")
    env = base_env(fake, proxy)
    request = TurnRequest(
        provider="claude-code",
        prompt="Write hello.txt and run the command",
        system_prompt_append="APPENDED-POLYGENT-RULES",
        budget_usd=5,
        mcp=mcp,
        worktree=str(worktree),
        home=str(home),
        turn=3,
        attempt=1,
    )
    launch = ADAPTER.prepare(request, home, env, mcp_token="mcp-secret-token-42")
    assert all("mcp-secret-token-42" not in a for a in launch.argv)
    mcp_file = launch.files[0]
    assert stat.S_IMODE(mcp_file.stat().st_mode) == 0o600
    assert json.loads(mcp_file.read_text())["mcpServers"]["polygent"]["url"] == mcp.url

    batches: list[list[AgentEvent]] = []

    async def collect(batch: list[AgentEvent]) -> None:
        batches.append(batch)

    beats: list[int] = []
    parser = ADAPTER.parser()
    outcome = await run_cli(
        launch, worktree, parser.parse, collect, turn=3, attempt=1, heartbeat=beats.append
    )
    result = ADAPTER.finish(outcome.exit_code, outcome.events, outcome.stderr_tail)
    events = [e for b in batches for e in b]

    assert result.ok, result.error
    assert target.read_text() == f"hello\nkey={API_KEY}\n"
    assert (worktree / "ran.txt").read_text() == "ran\n"
    # Numbering: 1..n without gaps, all stamped with the turn and attempt.
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert {(e.turn, e.attempt) for e in events} == {(3, 1)}
    assert beats and beats[0] == 0
    # The event kinds, in the CLI's order.
    ks = kinds(events)
    assert ks[0] == "system" and events[0].subtype == "init"
    assert "polygent" in json.dumps(events[0].data)
    assert "thinking" in ks and "text" in ks
    calls = {e.tool_id: e for e in events if e.kind == "tool_call"}
    results = {e.tool_id: e for e in events if e.kind == "tool_result"}
    assert [c.tool_name for c in calls.values()] == ["Write", "Bash"]
    assert calls.keys() == results.keys()
    assert all(not r.is_error for r in results.values())
    assert ks[-1] == "result"
    # Totals come from the result line: 3 requests x (100 in, 42 out, 30 read, 20 written).
    assert result.usage.model_dump() == {
        "input": 300,
        "output": 126,
        "cache_read": 90,
        "cache_write": 60,
    }
    snapshots = [e for e in events if e.kind == "usage"]
    assert len(snapshots) == 3 and {e.usage.output for e in snapshots if e.usage} == {1}
    assert result.cost_usd is not None and result.cost_usd > 0
    assert result.num_turns == 3 and result.final_text == "All done."
    assert result.provider_session_id and result.provider_session_id == events[0].session_id
    # The secret never appears in events, even though the agent wrote it to a file.
    dumped = json.dumps([e.model_dump() for e in events])
    assert API_KEY not in dumped and "mcp-secret-token-42" not in dumped
    # What reached the model API, and that nothing else was contacted.
    main = fake.main_requests()
    assert len(main) == 3
    assert all("APPENDED-POLYGENT-RULES" in r.system_text for r in main)
    assert all(r.headers.get("x-api-key") == API_KEY for r in main)
    assert all(r.path.startswith("/v1/messages") for r in fake.requests)
    assert proxy.seen == []
    assert not (Path.home() / ".claude" / "projects" / str(worktree).replace("/", "-")).exists()
    assert (home / ".claude").is_dir()


async def test_resume_continues_the_session_in_the_same_worktree(
    fake: FakeAnthropic, proxy: RefusingProxy, worktree: Path, home: Path
) -> None:
    env = base_env(fake, proxy)
    fake.script([write_file(str(worktree / "a.txt"), "a\n"), finish("First done.")])
    first, _ = await run_turn(env, worktree, home, prompt="FIRST-PROMPT")
    assert first.ok and first.provider_session_id

    fake.script([finish("Second done.")])
    second, _ = await run_turn(
        env, worktree, home, prompt="SECOND-PROMPT", resume_session_id=first.provider_session_id
    )
    assert second.ok, second.error
    assert second.provider_session_id == first.provider_session_id
    assert second.final_text == "Second done."
    history = json.dumps(fake.main_requests()[-1].body["messages"])
    assert "FIRST-PROMPT" in history and "SECOND-PROMPT" in history
    assert "tool_result" in history  # the first turn's Write result was sent again


async def test_api_error_fails_the_turn_with_the_cli_message(
    fake: FakeAnthropic, proxy: RefusingProxy, worktree: Path, home: Path
) -> None:
    fake.fail(400, "the fake rejects this request")
    result, events = await run_turn(base_env(fake, proxy), worktree, home, prompt="Hi")
    assert not result.ok and result.outcome == "error"
    assert result.exit_code != 0
    assert (
        result.error and "400" in result.error and "the fake rejects this request" in result.error
    )
    assert "error" in kinds(events)


async def test_budget_stop_is_its_own_outcome(
    fake: FakeAnthropic, proxy: RefusingProxy, worktree: Path, home: Path
) -> None:
    target = worktree / "never.txt"
    fake.script([write_file(str(target), "x\n"), finish()])
    result, _ = await run_turn(
        base_env(fake, proxy), worktree, home, prompt="Write it", budget_usd=0.0001
    )
    assert not result.ok and result.outcome == "budget_exceeded"
    assert result.error and "budget" in result.error.lower()
    assert not target.exists()  # the pending tool call was not executed


async def test_missing_credential_and_unknown_model_fail_before_spawning(
    fake: FakeAnthropic, proxy: RefusingProxy, worktree: Path, home: Path
) -> None:
    env = base_env(fake, proxy)
    request = TurnRequest(
        provider="claude-code", prompt="x", worktree=str(worktree), home=str(home)
    )
    no_key = {k: v for k, v in env.items() if k != "ANTHROPIC_API_KEY"}
    with pytest.raises(ProviderCheckError, match="ANTHROPIC_API_KEY"):
        ADAPTER.check(request, no_key)
    odd = request.model_copy(update={"model": "gpt-nonsense"})
    with pytest.raises(ProviderCheckError, match="gpt-nonsense"):
        ADAPTER.check(odd, env, models=["claude-opus-5-5"])
    with pytest.raises(ProviderCheckError, match="not installed"):
        ADAPTER.check(request, {**env, "PATH": "/nonexistent"})
    ADAPTER.check(request.model_copy(update={"model": "sonnet"}), env, models=["x"])
    assert fake.requests == []


def _group(pgid: int) -> list[psutil.Process]:
    alive = []
    for p in psutil.process_iter():
        try:
            if os.getpgid(p.pid) == pgid and p.status() != psutil.STATUS_ZOMBIE:
                alive.append(p)
        except (ProcessLookupError, psutil.Error):
            pass
    return alive


async def test_cancel_kills_the_process_group_within_two_seconds(
    fake: FakeAnthropic, proxy: RefusingProxy, worktree: Path, home: Path
) -> None:
    fake.script([run_command("echo waiting && sleep 120"), finish()])
    env = base_env(fake, proxy)
    request = TurnRequest(
        provider="claude-code", prompt="Sleep", worktree=str(worktree), home=str(home)
    )
    launch = ADAPTER.prepare(request, home, env)
    pids: list[int] = []

    async def ignore(batch: list[AgentEvent]) -> None:
        pass

    task = asyncio.create_task(
        run_cli(launch, worktree, ADAPTER.parser().parse, ignore, on_spawn=pids.append)
    )
    await wait_for(lambda: pids, what="the CLI to start")
    pgid = pids[0]

    def sleeper() -> psutil.Process | None:
        try:
            kids = psutil.Process(pgid).children(recursive=True)
        except psutil.Error:
            return None
        return next((k for k in kids if k.name() == "sleep"), None)

    # Claude's Bash tool runs in a session of its own: the runner must kill it too.
    sleep = await wait_for(sleeper, timeout=60, what="the Bash tool's sleep under the CLI")
    tree = [psutil.Process(pgid), *psutil.Process(pgid).children(recursive=True)]
    started = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert time.monotonic() - started < 2.0
    assert _group(pgid) == [] and _group(sleep.pid) == []
    assert [p for p in tree if p.is_running() and p.status() != psutil.STATUS_ZOMBIE] == []


async def test_tool_allowlist_and_rate_limit_retry(
    fake: FakeAnthropic, proxy: RefusingProxy, worktree: Path, home: Path
) -> None:
    fake.fail(429, "slow down", times=1, retry_after=0)
    fake.script([write_file(str(worktree / "b.txt"), "b\n"), finish("Fine.")])
    result, _ = await run_turn(
        base_env(fake, proxy), worktree, home, prompt="Go", allowed_tools=["Read", "Write"]
    )
    assert result.ok, result.error
    assert (worktree / "b.txt").read_text() == "b\n"
    main = fake.main_requests()
    assert {"Read", "Write"} <= set(main[-1].tool_names)
    assert "Bash" not in main[-1].tool_names
    assert len(main) == 3  # the 429 was retried, then two scripted answers

"""The real OpenCode CLI, run by our adapter and runner against the fake Anthropic server.

Each test gets a fresh `git init` worktree and an isolated HOME; outside traffic goes to a
recording proxy that refuses everything, so an attempt to leave loopback is seen and fails.
The scenarios are shared with Kilo CLI (tests/integration/opencode_family_kit.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from activities.agent.providers import ADAPTERS
from activities.agent.providers.opencode import OpenCodeAdapter
from tests.clis import require_cli
from tests.fakes.anthropic import FakeAnthropic, serve_anthropic
from tests.fakes.mcp import FakeMcp, serve_mcp
from tests.integration import opencode_family_kit as kit
from tests.integration.cli_kit import RefusingProxy

pytestmark = [pytest.mark.providers, pytest.mark.slow]

ADAPTER = ADAPTERS["opencode"]
assert isinstance(ADAPTER, OpenCodeAdapter)


@pytest.fixture
def fake() -> Iterator[FakeAnthropic]:
    require_cli("opencode")
    with serve_anthropic() as server:
        yield server


@pytest.fixture
def mcp() -> Iterator[FakeMcp]:
    with serve_mcp(kit.MCP_TOKEN) as server:
        yield server


async def test_scripted_turn_writes_runs_calls_mcp_and_plans(
    fake: FakeAnthropic, mcp: FakeMcp, proxy: RefusingProxy, worktree: Path, home: Path
) -> None:
    await kit.scripted_turn(ADAPTER, fake, mcp, proxy, worktree, home)


async def test_resume_continues_the_session(
    fake: FakeAnthropic, proxy: RefusingProxy, worktree: Path, home: Path
) -> None:
    await kit.resume(ADAPTER, fake, proxy, worktree, home)


async def test_api_error_fails_the_turn_with_the_cli_message(
    fake: FakeAnthropic, proxy: RefusingProxy, worktree: Path, home: Path
) -> None:
    await kit.api_error(ADAPTER, fake, proxy, worktree, home)


async def test_connection_failure_ends_after_two_retries(
    fake: FakeAnthropic, proxy: RefusingProxy, worktree: Path, home: Path
) -> None:
    await kit.connection_failure(ADAPTER, fake, proxy, worktree, home, attempts=[1, 2, 3])


async def test_rate_limit_with_a_reset_time_returns_it(
    fake: FakeAnthropic, proxy: RefusingProxy, worktree: Path, home: Path
) -> None:
    await kit.rate_limit_with_reset_time(ADAPTER, fake, proxy, worktree, home)


async def test_tool_allowlist_holds_against_repo_config_and_short_retry(
    fake: FakeAnthropic, proxy: RefusingProxy, worktree: Path, home: Path
) -> None:
    await kit.allowlist_and_short_retry(ADAPTER, fake, proxy, worktree, home)


def test_missing_credential_model_or_cli_fail_before_spawning(
    fake: FakeAnthropic, proxy: RefusingProxy, worktree: Path, home: Path
) -> None:
    kit.checks_before_spawning(ADAPTER, fake, proxy, worktree, home)


def test_the_fake_mcp_server_refuses_a_missing_or_wrong_token(mcp: FakeMcp) -> None:
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    headers = {"Accept": "application/json, text/event-stream"}
    assert httpx.post(mcp.url, json=body, headers=headers).status_code == 401
    wrong = {**headers, "Authorization": "Bearer not-the-token"}
    assert httpx.post(mcp.url, json=body, headers=wrong).status_code == 401
    assert mcp.rejected == 2 and mcp.called() == []

"""The real Kilo CLI (an OpenCode fork), run by our adapter against the fake Anthropic server.

Each test gets a fresh `git init` worktree and an isolated HOME; outside traffic goes to a
recording proxy that refuses everything, so an attempt to leave loopback is seen and fails.
The scenarios are shared with OpenCode (tests/integration/opencode_family_kit.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from activities.agent.providers import ADAPTERS
from activities.agent.providers.kilo_cli import KiloCliAdapter
from tests.clis import require_cli
from tests.fakes.anthropic import FakeAnthropic, serve_anthropic
from tests.fakes.mcp import FakeMcp, serve_mcp
from tests.integration import opencode_family_kit as kit
from tests.integration.cli_kit import RefusingProxy

pytestmark = [pytest.mark.providers, pytest.mark.slow]

ADAPTER = ADAPTERS["kilo-cli"]
assert isinstance(ADAPTER, KiloCliAdapter)


@pytest.fixture
def fake() -> Iterator[FakeAnthropic]:
    require_cli("kilo")
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


async def test_connection_failure_ends_at_once_without_probing_outside(
    fake: FakeAnthropic, proxy: RefusingProxy, worktree: Path, home: Path
) -> None:
    await kit.connection_failure(ADAPTER, fake, proxy, worktree, home, attempts=[0])


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

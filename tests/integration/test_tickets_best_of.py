"""Best of N: two candidates (two Claude models through the real Claude Code CLI against the
fake Anthropic server) implement one ticket in their own worktrees; the developer compares
their changes side by side on the ticket's page and picks one in the browser; the other is
canceled with its cost kept on the ticket, and the pick is what merges."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import expect
from temporalio.testing import WorkflowEnvironment

from orchestrator.db import Database
from tests.browser import chromium
from tests.fakes.anthropic import FakeAnthropic, Step
from tests.helpers import wait_for
from tests.integration.sessions_kit import Remote, fake_anthropic, git_remote, session
from tests.integration.stack import running_stack
from tests.integration.test_tickets_pipeline import _setup, git
from tests.integration.tickets_kit import (
    create,
    history,
    person,
    stages_of,
    ticket_agent,
    wait_stage,
)

pytestmark = pytest.mark.tickets
LIVE = 30_000  # ms
SONNET, HAIKU = "claude-sonnet-4-5", "claude-haiku-4-5"


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeAnthropic]:
    """The ticket agent, writing which model did the work into the file."""
    with fake_anthropic(monkeypatch) as server:
        ticket_agent(server)
        plain = server.choose

        def choose(body: dict[str, Any]) -> Step:
            step = plain(body)
            if step.tool == "Write":
                content = f"by {body.get('model')}\n"
                return replace(step, tool_input={**step.tool_input, "content": content})
            return step

        server.choose = choose  # type: ignore[method-assign]
        yield server


@pytest.fixture
def remote(tmp_path: Path) -> Iterator[Remote]:
    with git_remote(tmp_path / "remote") as r:
        yield r


async def test_best_of_two_the_developer_picks_one(
    db: Database, temporal_env: WorkflowEnvironment, tmp_path: Path, fake: FakeAnthropic,
    remote: Remote,
) -> None:  # fmt: skip
    async with running_stack(db, temporal_env.client, tmp_path / "stack") as stack:
        ws, _ = await _setup(stack, remote, merge_mode="direct")
        solo = [{"provider": "claude-code", "model": SONNET}]
        r = await stack.http.post(f"/api/workspaces/{ws}/tickets",
                                  json={"title": "Solo", "best_of": solo})  # fmt: skip
        assert r.status_code == 422 and "best_of" in r.text
        bad = [{"provider": "claude-code"}, {"provider": "claude-code", "model": "gpt-5"}]
        r = await stack.http.post(f"/api/workspaces/{ws}/tickets",
                                  json={"title": "Bad", "best_of": bad})  # fmt: skip
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "best_of.1", r.text
        dev_id, dev = await person(stack, "dana", ["developer"], ws)
        _, qa = await person(stack, "quinn", ["qa"], ws)
        best_of = [{"provider": "claude-code", "model": m} for m in (SONNET, HAIKU)]
        t = await create(stack, ws, title="Greet", best_of=best_of, developer_id=dev_id,
                         force_no_qa=True, queue=True)  # fmt: skip
        tid = t["id"]
        assert t["best_of"] == best_of

        async def both_done() -> list[dict[str, Any]] | None:
            r = await stack.http.get(f"/api/tickets/{tid}/candidates")
            assert r.status_code == 200, r.text
            got: list[dict[str, Any]] = r.json()
            return got if len(got) == 2 and all(c["outcome"] == "done" for c in got) else None

        try:
            cands = await wait_for(both_done, timeout=180, interval=0.5, what="both candidates")
            assert [c["model"] for c in cands] == [SONNET, HAIKU]
            assert all(c["cost_usd"] > 0 and not c["picked"] for c in cands)
            assert (await stack.http.get(f"/api/tickets/{tid}")).json()["stage"] == "implementation"
            keep, drop = cands[1]["session_id"], cands[0]["session_id"]
            trees = {c["session_id"]: (await session(stack, c["session_id"])) for c in cands}
            assert trees[keep]["branch"] != trees[drop]["branch"]  # a worktree each

            r = await qa.post(f"/api/tickets/{tid}/pick", json={"session_id": keep})
            assert r.status_code == 403 and "tickets.approve_dev" in r.text
            r = await dev.post(f"/api/tickets/{tid}/pick", json={"session_id": "nosuch"})
            assert r.status_code == 409 and "No candidate" in r.text
            await _pick_in_the_browser(stack.url, dev, tid, keep)
            t = await wait_stage(stack, tid, "dev_approval")
            assert t["session_id"] == keep
            r = await dev.post(f"/api/tickets/{tid}/pick", json={"session_id": drop})
            assert r.status_code == 409  # picked already

            async def dropped() -> bool:
                return bool((await session(stack, drop))["status"] == "canceled")

            await wait_for(dropped, timeout=60, what="the other candidate canceled")
            assert (await dev.post(f"/api/tickets/{tid}/approve", json={})).status_code == 200
        finally:
            await dev.aclose()
            await qa.aclose()
        t = await wait_stage(stack, tid, "completed")
        assert git(remote.bare, "show", "main:PT-1.txt") == f"by {HAIKU}"
        costs = [(await session(stack, c["session_id"]))["cost_usd"] for c in cands]
        assert t["spent_usd"] == pytest.approx(sum(costs), abs=1e-6) and min(costs) > 0
        hist = await history(stack, tid)
        assert stages_of(hist) == ["queued", "implementation", "dev_approval", "completed"]
        picked = hist["transitions"][2]
        assert picked["actor_name"] == "dana"
        assert picked["note"].startswith(f"Picked claude-code ({HAIKU}) of 2 candidates.")


async def _pick_in_the_browser(url: str, dev: httpx.AsyncClient, tid: str, keep: str) -> None:
    """The developer compares the candidates' changes on the ticket's page and picks one."""
    token = str(dev.headers["Authorization"]).split()[1]
    async with chromium() as browser:
        context = await browser.new_context(viewport={"width": 390, "height": 844})
        await context.add_cookies([{"name": "polygent_at", "value": token, "url": url}])
        page = await context.new_page()
        await page.goto(f"{url}/tickets/{tid}")
        cards = page.locator("[data-candidate]")
        await expect(cards).to_have_count(2)
        for n, model in enumerate((SONNET, HAIKU)):
            await expect(cards.nth(n).locator("h3")).to_contain_text(model)
            diff = cards.nth(n).locator("[data-candidate-diff]")
            await expect(diff).to_contain_text("PT-1.txt", timeout=LIVE)
            await expect(diff).to_contain_text(f"+by {model}", timeout=LIVE)
        chosen = page.locator(f'[data-candidate="{keep}"]')
        await chosen.get_by_role("button", name="Pick this one").click()
        await expect(chosen).to_contain_text("picked", timeout=LIVE)
        await expect(page.get_by_role("button", name="Pick this one")).to_have_count(0)
        assert await page.evaluate("document.documentElement.scrollWidth") <= 390

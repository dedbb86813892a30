"""The status page in a real browser: hosts appear and change state live, without reload."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import expect
from temporalio.testing import WorkflowEnvironment

from orchestrator.db import Database
from orchestrator.roles import setup_link
from tests.browser import chromium
from tests.integration.stack import running_stack, unique_host

pytestmark = pytest.mark.foundation


async def test_status_page_is_live(
    db: Database, temporal_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    host = unique_host()
    async with (
        running_stack(
            db, temporal_env.client, tmp_path, admin=False, host_offline_after_seconds=1.5
        ) as stack,
        chromium() as browser,
    ):
        page = await browser.new_page(viewport={"width": 390, "height": 844})  # a phone's width
        page.on("console", lambda m: print("CONSOLE", m.type, m.text))
        page.on("pageerror", lambda e: print("PAGEERROR", e))
        # First run: the dashboard sends a stranger to sign in; without the setup token, refused.
        await page.goto(stack.url + "/")
        await expect(page).to_have_url(f"{stack.url}/signin?next=/")
        await expect(page.get_by_text("Local sign-in")).to_be_visible()
        await page.get_by_label("Your name").fill("Mallory")
        await page.get_by_label("Setup token").fill("guessed")
        await page.get_by_role("button", name="Sign in").click()
        await expect(page.locator("#signin-message")).to_contain_text("no administrator yet")
        # The setup link the server prints makes its user the first admin.
        link = await setup_link(stack.state)
        assert link is not None
        await page.goto(link)
        await page.get_by_label("Your name").fill("Ada")
        await page.get_by_role("button", name="Sign in").click()
        await expect(page).to_have_url(f"{stack.url}/")
        await expect(page.locator(".user")).to_have_text("Ada (admin)")
        await expect(page.locator("#live-indicator")).to_have_text("live")
        row = page.locator(f'tr[data-host="{host}"]')
        await expect(row).to_have_count(0)

        await stack.start_agent(host, "session")
        await stack.start_agent(host, "deploy")
        await expect(row.locator(f'[data-worker="{host}:session"]')).to_have_text(
            "session · online"
        )
        await expect(row.locator(f'[data-worker="{host}:deploy"]')).to_have_text("deploy · online")

        await row.get_by_role("button", name="Probe").click()
        link = row.get_by_role("link", name="run in Temporal UI")
        await expect(link).to_be_visible(timeout=30_000)
        assert "/namespaces/default/workflows/host-probe-" in (
            await link.get_attribute("href") or ""
        )
        await expect(row).to_contain_text("git 2.")
        await expect(page.locator("#runs")).to_contain_text("HostProbeWorkflow")

        await stack.stop_agent(host, "deploy")
        await expect(row.locator(f'[data-worker="{host}:deploy"]')).to_have_text(
            "deploy · offline", timeout=15_000
        )
        await page.screenshot(path=str(tmp_path / "status.png"), full_page=True)
        # The page never reloaded: the navigation count is still the first load.
        assert await page.evaluate("performance.getEntriesByType('navigation').length") == 1
        assert (
            await page.evaluate("performance.getEntriesByType('navigation')[0].type") == "navigate"
        )

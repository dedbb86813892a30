"""Debian's Chromium driven by Playwright (its own browser download needs the internet)."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from api.state import AppState
from orchestrator.roles import setup_link
from tests.helpers import IN_CI

CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
]  # fmt: skip


def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        if IN_CI:
            pytest.fail(
                "Chromium is required with CI=true (scripts/test installs Debian's package)"
            )
        pytest.skip("Chromium is not installed")
    return path


@contextlib.asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            await browser.close()


async def sign_in_first_admin(
    page: Page, state: AppState, base_url: str, name: str = "Ada"
) -> None:
    """The first-run path a person takes: open the setup link, give a name, land on /."""
    link = await setup_link(state)
    assert link is not None, "an administrator exists already"
    await page.goto(link)
    await page.get_by_label("Your name").fill(name)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page).to_have_url(f"{base_url}/")

"""Sign-in in a real browser: the state is shared across tabs, and signing out ends it."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import quote

import pytest
from playwright.async_api import expect
from temporalio.testing import WorkflowEnvironment

from orchestrator.db import Database
from orchestrator.roles import setup_link
from tests.browser import chromium
from tests.integration.stack import running_stack

pytestmark = pytest.mark.identity


async def test_tabs_share_sign_in_and_sign_out(
    db: Database, temporal_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    async with (
        running_stack(db, temporal_env.client, tmp_path, admin=False) as stack,
        chromium() as browser,
    ):
        context = await browser.new_context()
        tab1 = await context.new_page()
        link = await setup_link(stack.state)
        assert link
        await tab1.goto(link)
        await tab1.get_by_label("Your name").fill("Ada")
        await tab1.get_by_role("button", name="Sign in").click()
        await expect(tab1.locator(".user")).to_have_text("Ada (admin)")

        # A second tab is signed in already: the HttpOnly cookies are shared, nothing is asked.
        tab2 = await context.new_page()
        await tab2.goto(stack.url + "/")
        await expect(tab2.locator(".user")).to_have_text("Ada (admin)")
        await expect(tab2.locator("#live-indicator")).to_have_text("live")

        # The sign-in page resumes a live sign-in silently and goes where it was asked to,
        # but never to another site.
        await tab2.goto(stack.url + "/signin?next=/")
        await expect(tab2).to_have_url(stack.url + "/")
        for evil in ("//evil.example/x", "/\\evil.example/x", "https://evil.example/"):
            await tab2.goto(stack.url + "/signin?next=" + quote(evil))
            await expect(tab2).to_have_url(stack.url + "/")

        # Signing out in one tab signs out the other at once (BroadcastChannel).
        await tab1.get_by_role("button", name="Sign out").click()
        await expect(tab1).to_have_url(stack.url + "/signin")
        # (by the broadcast, or by its live connection noticing the ended sign-in first)
        await expect(tab2).to_have_url(re.compile(re.escape(stack.url) + r"/signin(\?next=.*)?$"))
        await expect(tab2.get_by_label("Your name")).to_be_visible()
        # And the session really ended on the server: the dashboard sends us to sign in.
        await tab2.goto(stack.url + "/")
        await expect(tab2).to_have_url(stack.url + "/signin?next=/")

"""The workspace settings page in a real browser, at a phone's width: rename a workspace
and add a secret variable through the tabs, and never see the secret again; edit the ticket
settings without losing the sync rules the form does not show as fields."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import expect
from sqlalchemy import select
from temporalio.testing import WorkflowEnvironment

from orchestrator.auth.service import Principal
from orchestrator.db import Database
from orchestrator.security.crypto import SecretBox
from orchestrator.users.models import User
from orchestrator.workspaces.schemas import WorkspaceCreate
from orchestrator.workspaces.service import WorkspaceService
from tests.browser import chromium, sign_in_first_admin
from tests.helpers import TEST_MASTER
from tests.integration.stack import running_stack

pytestmark = pytest.mark.identity
SECRET = "browser-secret-value-1"
RULE = {"label": "agent", "provider": "claude-code", "model": None, "queue": True}


async def test_edit_a_workspace_in_the_browser(
    db: Database, temporal_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    async with (
        running_stack(db, temporal_env.client, tmp_path, admin=False) as stack,
        chromium() as browser,
    ):
        page = await browser.new_page(viewport={"width": 390, "height": 844})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        await sign_in_first_admin(page, stack.state, stack.url, "Ada")

        async with db.session() as s:
            ada = (await s.scalars(select(User).where(User.display_name == "Ada"))).one()
            owner = Principal(ada.id, "Ada", None, frozenset({"admin"}), "f")
            tickets = {"source": "github", "owner": "acme", "repo": "app",
                       "auto_start": [RULE], "sync_interval_minutes": 30}  # fmt: skip
            ws = await WorkspaceService(s, SecretBox(TEST_MASTER), owner).create(
                WorkspaceCreate.model_validate(
                    {"name": "Mobile app", "git_url": "https://git.example/app.git",
                     "tickets": tickets}
                )
            )  # fmt: skip

        await page.get_by_role("link", name="Workspaces").click()
        await expect(page).to_have_url(f"{stack.url}/workspaces")
        await page.get_by_role("link", name="Mobile app").click()
        await expect(page.locator("#ws-name")).to_have_text("Mobile app")

        # General tab: rename (no git field changed, so no host is needed to check it).
        general = page.locator("#panel-general")
        await general.get_by_label("Name").fill("Mobile app v2")
        await general.get_by_role("button", name="Save").click()
        await expect(page.locator("#ws-name")).to_have_text("Mobile app v2")
        await expect(general.locator(".message")).to_have_text("Saved.")

        # Variables tab: add a secret variable; the value is never rendered.
        await page.get_by_role("tab", name="Variables").click()
        variables = page.locator("#panel-variables")
        await expect(variables).to_be_visible()
        form = variables.locator("#variable-form")
        await form.get_by_label("Name").fill("API_TOKEN")
        await form.get_by_label("Value").fill(SECRET)
        await form.get_by_label("Secret (write-only)").check()
        await form.get_by_role("button", name="Save variable").click()
        row = variables.locator('tr[data-variable="API_TOKEN"]')
        await expect(row).to_contain_text("secret")
        await expect(page).to_have_url(f"{stack.url}/workspaces/{ws.id}#variables")
        assert SECRET not in await page.content()

        # A bad name is refused by the API with a message naming the field.
        await form.get_by_label("Name").evaluate("el => el.removeAttribute('pattern')")
        await form.get_by_label("Name").fill("9BAD")
        await form.get_by_label("Value").fill("x")
        await form.get_by_role("button", name="Save variable").click()
        await expect(form.locator(".message")).to_contain_text("name")
        await page.screenshot(path=str(tmp_path / "workspace.png"), full_page=True)

        # Tickets tab: editing one field keeps every other ticket setting (sync rules too).
        await page.reload()
        await page.get_by_role("tab", name="Tickets").click()
        tickets = page.locator("#panel-tickets")
        await tickets.get_by_label("Label filters (comma-separated)").fill("bug, agent")
        await tickets.get_by_role("button", name="Save").click()
        await expect(tickets.locator(".message")).to_have_text("Saved.")
        saved = await (await page.request.get(f"{stack.url}/api/workspaces/{ws.id}")).json()
        assert saved["tickets"]["label_filters"] == ["bug", "agent"]
        assert saved["tickets"]["auto_start"] == [RULE]
        assert saved["tickets"]["sync_interval_minutes"] == 30
        await tickets.get_by_label("Auto-start rules (JSON)").first.fill("[{")
        await tickets.get_by_role("button", name="Save").click()
        await expect(tickets.locator(".message")).to_contain_text("auto_start")

        api = await page.request.get(f"{stack.url}/api/workspaces/{ws.id}/variables")
        assert api.ok and SECRET not in await api.text()
        assert (await page.request.get(f"{stack.url}/api/workspaces/{ws.id}")).ok
        assert errors == []

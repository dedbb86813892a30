"""The role matrix editor and the profile page in a real browser, at a phone's width."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import expect
from temporalio.testing import WorkflowEnvironment

from orchestrator.auth.repository import AuthRepository
from orchestrator.db import Database
from orchestrator.users.repository import RoleRepository
from orchestrator.workspaces.models import Workspace, WorkspaceMember
from tests.browser import chromium, sign_in_first_admin
from tests.integration.stack import running_stack

pytestmark = pytest.mark.identity


async def test_matrix_edit_persists_and_devices_show(
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

        await page.get_by_role("link", name="Users").click()
        await expect(page).to_have_url(f"{stack.url}/users")
        await expect(page.locator("#users tr[data-user]")).to_contain_text("Ada")
        await page.get_by_label("People and access").get_by_role("link", name="Roles").click()
        await expect(page).to_have_url(f"{stack.url}/roles")

        box = page.get_by_label("qa: hosts.manage", exact=True)
        save = page.get_by_role("button", name="Save qa")
        await expect(box).not_to_be_checked()
        await expect(save).to_be_disabled()
        await expect(page.get_by_label("admin: hosts.manage", exact=True)).to_be_disabled()
        await box.check()
        await expect(save).to_be_enabled()
        await save.click()
        await expect(page.locator("#roles-message")).to_contain_text("Saved qa")
        await expect(save).to_be_disabled()
        await page.reload()
        await expect(page.get_by_label("qa: hosts.manage", exact=True)).to_be_checked()
        async with stack.state.db.session() as s:
            assert "hosts.manage" in await RoleRepository(s).permissions_of("qa")

        # Unticking and saving persists too (the column is saved as a whole).
        await page.get_by_label("qa: hosts.manage", exact=True).uncheck()
        await page.get_by_role("button", name="Save qa").click()
        await expect(page.locator("#roles-message")).to_contain_text("Saved qa")
        await page.reload()
        await expect(page.get_by_label("qa: hosts.manage", exact=True)).not_to_be_checked()
        await page.screenshot(path=str(tmp_path / "roles.png"))

        # The profile's Devices tab marks this browser's sign-in as the current one.
        await page.get_by_role("link", name="Ada (admin)").click()
        await expect(page).to_have_url(f"{stack.url}/profile")
        current = page.locator("#devices tr", has=page.locator(".badge", has_text="this device"))
        await expect(current).to_have_count(1)
        # Personal PATs: one row per workspace Ada sees; set one, then clear it (write-only).
        async with stack.state.db.session() as s:
            ada = await AuthRepository(s).user_by_identity("local", "ada")
            assert ada is not None
            ws = Workspace(name="pat-space", git_url="https://git.invalid/r.git")
            s.add(ws)
            await s.flush()
            s.add(WorkspaceMember(workspace_id=ws.id, user_id=ada.id))
        await page.reload()
        await page.get_by_role("tab", name="Personal PATs").click()
        row = page.locator(f'tr[data-pat-workspace="{ws.id}"]')
        await expect(row.locator("[data-pat-state]")).to_have_text("not set")
        await row.get_by_label("PAT for pat-space").fill("ado-pat-0123456789")
        await row.get_by_role("button", name="Save").click()
        await expect(row.locator("[data-pat-state]")).to_have_text("set")
        assert "ado-pat-0123456789" not in await page.content()
        await row.get_by_role("button", name="Clear").click()
        await expect(row.locator("[data-pat-state]")).to_have_text("not set")
        await page.screenshot(path=str(tmp_path / "profile.png"), full_page=True)
        assert errors == []

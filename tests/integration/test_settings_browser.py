"""The settings page in a real browser at a phone's width: providers (on/off, hidden and custom
models, each session host's CLI), prices (override, reset) and budgets (spent and remaining),
then the workspace page's New session form following those settings without a restart; and
people without the permissions get neither the link nor the page."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Locator, Page, expect
from temporalio.testing import WorkflowEnvironment

from orchestrator.auth.repository import AuthRepository
from orchestrator.db import Database
from orchestrator.hosts.models import Host, HostWorker
from orchestrator.sessions.models import Session, SessionCost
from orchestrator.users.repository import UserRepository
from orchestrator.workspaces.models import Workspace, WorkspaceMember
from tests.browser import chromium, sign_in_first_admin
from tests.integration.stack import Stack, running_stack, sign_in

pytestmark = pytest.mark.providers
CLAUDE_VERSION = "2.0.14 (Claude Code)"


async def _fixtures(stack: Stack) -> tuple[str, str]:
    """A workspace that spent $12.50 this month, and a session host as its registration left
    it (the CLI versions it reported; no agent process is needed to list them)."""
    host = f"h{uuid.uuid4().hex[:10]}"
    async with stack.state.db.session() as s:
        ws = Workspace(name=f"budget-{uuid.uuid4().hex[:6]}", git_url="https://git.invalid/r.git")
        s.add_all([ws, Host(id=host, name=host)])
        await s.flush()
        s.add(HostWorker(
            host_id=host, kind="session", task_queue=f"agent-{host}",
            info={"clis": {"claude-code": CLAUDE_VERSION, "codex": None}},
        ))  # fmt: skip
        row = Session(workspace_id=ws.id, title="spent")
        s.add(row)
        await s.flush()
        s.add(SessionCost(
            session_id=row.id, workspace_id=ws.id, turn=1, message_id="turn", kind="turn",
            provider="claude-code", cost_usd=12.5,
        ))  # fmt: skip
        return ws.id, host


async def _fits(page: Page) -> None:
    """Nothing sticks out sideways at the phone's width."""
    assert await page.evaluate("document.documentElement.scrollWidth") <= 390


async def _providers_tab(page: Page, host: str) -> Locator:
    codex = page.locator('article[data-provider="codex"]')
    claude = page.locator('article[data-provider="claude-code"]')
    await expect(claude.locator(f'tr[data-host="{host}"]')).to_contain_text(CLAUDE_VERSION)
    built_in = page.locator(f'article[data-provider="polygent-code"] tr[data-host="{host}"]')
    await expect(built_in).to_contain_text("built in")
    await expect(codex.locator(f'tr[data-host="{host}"]')).to_contain_text("not installed")
    switch = codex.get_by_role("switch", name="Codex on")
    await expect(switch).not_to_be_checked()
    await switch.click()
    await expect(codex.locator(".message")).to_have_text("Saved.")
    await expect(switch).to_be_checked()
    await codex.get_by_role("button", name="Hide gpt-6.1-sol").click()
    await expect(codex.locator('li[data-model="gpt-6.1-sol"]')).to_contain_text("hidden")
    await expect(codex.get_by_role("button", name="Show gpt-6.1-sol")).to_be_visible()
    custom = codex.get_by_label("Custom model for Codex")
    await custom.fill("not a model!")
    await codex.get_by_role("button", name="Add model").click()
    await expect(codex.locator(".message.error")).to_contain_text("custom_models")
    await custom.fill("gpt-5-proxy")
    await codex.get_by_role("button", name="Add model").click()
    await expect(codex.locator('li[data-model="gpt-5-proxy"]')).to_contain_text("custom")
    await expect(codex.locator(".message")).to_have_text("Saved.")
    return codex


async def _prices_tab(page: Page, stack: Stack) -> None:
    await page.get_by_role("tab", name="Prices").click()
    form = page.locator("[data-price-form]")
    o3 = page.locator('tr[data-price="o3*"]')
    await expect(o3).to_contain_text("built in")
    await o3.get_by_role("button", name="Edit o3*").click()
    await expect(form.get_by_label("Model id or pattern")).to_have_value("o3*")
    await form.get_by_label("Output", exact=True).fill("9.5")
    await form.get_by_role("button", name="Save price").click()
    await expect(form.locator(".message")).to_have_text("Saved the price of o3*.")
    await expect(o3).to_contain_text("override")
    await expect(o3).to_contain_text("$9.5")
    await form.get_by_label("Model id or pattern").fill("gpt-5-proxy")
    await form.get_by_label("Input", exact=True).fill("1")
    await form.get_by_label("Output", exact=True).fill("2")
    await form.get_by_label("Cache read").fill("")
    await form.get_by_label("Cache write").fill("")
    await form.get_by_role("button", name="Save price").click()
    await expect(page.locator('tr[data-price="gpt-5-proxy"]')).to_contain_text("override")
    await _fits(page)
    await o3.get_by_role("button", name="Reset o3*").click()
    await expect(o3).to_contain_text("built in")
    await expect(o3.get_by_role("button", name="Reset o3*")).to_have_count(0)
    prices = {p["model"]: p for p in (await stack.http.get("/api/settings/prices")).json()}
    assert prices["o3*"]["default"] is True and prices["o3*"]["output"] == 8
    assert prices["gpt-5-proxy"] == {
        "model": "gpt-5-proxy", "default": False, "input": 1.0, "output": 2.0,
        "cache_read": 0.0, "cache_write": 0.0,
    }  # fmt: skip


async def _budgets_tab(page: Page, ws_id: str) -> None:
    await page.get_by_role("tab", name="Budgets").click()
    glob = page.locator('article[data-budget="global"]')
    await expect(glob).to_contain_text("No budget.")
    await glob.get_by_label("Monthly USD").fill("0")
    await glob.get_by_role("button", name="Set budget").click()
    await expect(glob.locator(".message.error")).to_contain_text("monthly_usd")
    await glob.get_by_label("Monthly USD").fill("100")
    await glob.get_by_label("Warn at %").fill("10")
    await glob.get_by_role("button", name="Set budget").click()
    spent = re.compile(r"^Spent \$12\.50 · Remaining \$87\.50 in \d{4}-\d{2}$")
    await expect(glob.locator(".spent")).to_have_text(spent)
    await expect(glob.locator(".limit")).to_have_text("$100.00 a month · warn at 10% · blocking")
    await expect(glob.locator(".bar")).to_have_class(re.compile(r"\bwarn\b"))
    space = page.locator(f'article[data-budget="{ws_id}"]')
    await space.get_by_label("Monthly USD").fill("10")
    await space.get_by_label("Blocking").uncheck()
    await space.get_by_role("button", name="Set budget").click()
    await expect(space.locator(".spent")).to_contain_text("Remaining $0.00")
    await expect(space.locator(".limit")).to_contain_text("not blocking")
    await expect(space.locator(".bar")).to_have_class(re.compile(r"\bover\b"))
    await _fits(page)
    await space.get_by_role("button", name="Remove budget").click()
    await expect(space).to_contain_text("No budget.")


async def test_settings_page_drives_providers_prices_budgets_and_the_session_form(
    db: Database, temporal_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    async with (
        running_stack(db, temporal_env.client, tmp_path, admin=False) as stack,
        chromium() as browser,
    ):
        page = await browser.new_page(viewport={"width": 390, "height": 844})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("dialog", lambda d: d.accept())
        await sign_in_first_admin(page, stack.state, stack.url, "Ada")
        cookies = {c["name"]: c["value"] for c in await page.context.cookies()}
        stack.http.headers["Authorization"] = f"Bearer {cookies['polygent_at']}"
        ws_id, host = await _fixtures(stack)

        await page.get_by_role("link", name="Settings").click()
        await expect(page).to_have_url(re.compile(r"/settings#providers$"))
        await _providers_tab(page, host)
        await _fits(page)
        await page.screenshot(path=str(tmp_path / "providers.png"), full_page=True)
        await _prices_tab(page, stack)
        await page.screenshot(path=str(tmp_path / "prices.png"), full_page=True)
        await _budgets_tab(page, ws_id)
        await page.screenshot(path=str(tmp_path / "budgets.png"), full_page=True)

        # The New session form offers what the settings say: Codex with its custom model and
        # without the hidden one; turned off, it is gone the next time the form opens.
        await page.goto(f"{stack.url}/workspaces/{ws_id}")
        toggle = page.locator("#sessions").get_by_role("button", name="New session")
        form = page.locator("#new-session")
        provider = form.locator("select[name=provider]")
        await toggle.click()
        await expect(provider.locator("option")).to_have_text(
            ["Claude Code", "Polygent Code", "Codex"]
        )
        await expect(provider).to_have_value("claude-code")
        await provider.select_option("codex")
        options = form.locator("datalist[data-models] option")
        await expect(options).to_have_count(4)
        assert await options.evaluate_all("ns => ns.map((n) => n.value)") == [
            "gpt-5.5", "gpt-5.6-sol", "gpt-6-astra", "gpt-5-proxy",
        ]  # fmt: skip
        await expect(form.get_by_label("Model")).to_have_attribute("list", "new-session-models")
        r = await stack.http.patch("/api/settings/providers/codex", json={"enabled": False})
        assert r.status_code == 200
        await toggle.click()
        await toggle.click()
        await expect(provider.locator("option")).to_have_text(["Claude Code", "Polygent Code"])
        await expect(provider).to_have_value("claude-code")
        submit = form.get_by_role("button", name="Start session")
        await expect(submit).to_be_enabled()
        for pid in ("claude-code", "polygent-code"):
            r = await stack.http.patch(f"/api/settings/providers/{pid}", json={"enabled": False})
            assert r.status_code == 200
        await toggle.click()
        await toggle.click()
        await expect(form.locator("[data-no-providers]")).to_be_visible()
        await expect(submit).to_be_disabled()
        await page.screenshot(path=str(tmp_path / "no-providers.png"), full_page=True)
        assert errors == []


async def _person(stack: Stack, role: str, ws_id: str) -> str:
    """An access token for a workspace member holding only the built-in `role`."""
    name = f"p{uuid.uuid4().hex[:8]}"
    token = await sign_in(stack.state, name)
    async with stack.state.db.session() as s:
        user = await AuthRepository(s).user_by_identity("local", name)
        assert user is not None
        await UserRepository(s).set_roles(user.id, [role])
        s.add(WorkspaceMember(workspace_id=ws_id, user_id=user.id))
    return token


async def test_settings_page_and_link_follow_the_permissions(
    db: Database, temporal_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    async with running_stack(db, temporal_env.client, tmp_path) as stack:
        ws_id, _ = await _fixtures(stack)
        viewer = await _person(stack, "viewer", ws_id)  # neither settings.* nor budgets.*
        developer = await _person(stack, "developer", ws_id)  # budgets.view only

        async def get(token: str, path: str) -> httpx.Response:
            async with httpx.AsyncClient(base_url=stack.url, cookies={"polygent_at": token}) as c:
                return await c.get(path)

        r = await get(viewer, "/workspaces")
        assert r.status_code == 200 and 'href="/settings"' not in r.text
        r = await get(viewer, "/settings")
        assert r.status_code == 403 and "Not allowed" in r.text

        r = await get(developer, "/workspaces")
        assert r.status_code == 200 and 'href="/settings"' in r.text
        r = await get(developer, "/settings")
        assert r.status_code == 200
        assert 'id="tab-budgets"' in r.text and 'id="tab-providers"' not in r.text
        assert "data-manage-budgets" not in r.text and "data-manage-settings" not in r.text
        assert ws_id in r.text  # the budgets tab lists the workspaces the person is in

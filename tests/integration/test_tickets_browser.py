"""The tickets dashboard in a real browser at a phone's width, against the real stack: a real
session agent running the real Claude Code CLI on the fake Anthropic server and a real git
remote. A ticket made with the board's form (Force No QA, queued at once) moves across the
board live (Queued → Implementation → Developer Approval); its page shows the history, links
and a comment with an attachment; a viewer sees no Approve button and the API refuses them;
the developer's approval in the browser takes it to Completed (Direct Merge) without a
reload; the board filters; the queue view lists a blocked queued ticket and each host's room.
"""

from __future__ import annotations

import dataclasses
import re
import subprocess
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, FilePayload, Locator, Page, expect
from temporalio.testing import WorkflowEnvironment

from orchestrator.auth.repository import AuthRepository
from orchestrator.db import Database
from orchestrator.users.repository import UserRepository
from tests.browser import chromium, sign_in_first_admin
from tests.fakes.anthropic import FakeAnthropic, Step
from tests.integration.sessions_kit import Remote, add_agent, add_workspace, fake_anthropic
from tests.integration.sessions_kit import git_remote as make_remote
from tests.integration.stack import UI, Stack, running_stack, sign_in
from tests.integration.tickets_kit import create, ticket, ticket_agent, wait_stage

pytestmark = pytest.mark.tickets
TURN = 90_000  # ms: a ticket's first turn (a fresh clone and worktree, the real CLI)
LIVE = 30_000  # ms: a change the page learns from the live socket (or its 5 s poll)


@pytest.fixture
def gate() -> threading.Event:
    """Holds the fake model's answers until set, so Implementation lasts until the test has
    seen it on the board."""
    return threading.Event()


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch, gate: threading.Event) -> Iterator[FakeAnthropic]:
    with fake_anthropic(monkeypatch) as server:
        ticket_agent(server)
        choose = server.choose

        def gated(body: dict[str, Any]) -> Step:
            return dataclasses.replace(choose(body), gate=gate)

        server.choose = gated  # type: ignore[method-assign]
        yield server


@pytest.fixture
def remote(tmp_path: Path) -> Iterator[Remote]:
    with make_remote(tmp_path / "remote") as r:
        yield r


async def _fits(page: Page) -> None:
    """Nothing sticks out sideways at the phone's width."""
    assert await page.evaluate("document.documentElement.scrollWidth") <= 390


async def _viewer(stack: Stack, browser: Browser, ws: str) -> tuple[Page, httpx.AsyncClient]:
    """A workspace member holding only the viewer role: a signed-in page and an API client."""
    token = await sign_in(stack.state, "vera")
    async with stack.state.db.session() as s:
        user = await AuthRepository(s).user_by_identity("local", "vera")
        role = await AuthRepository(s).role_by_name("viewer")
        assert user is not None and role is not None
        await UserRepository(s).set_roles(user.id, [role.id])
        uid = user.id
    r = await stack.http.put(f"/api/workspaces/{ws}/members/{uid}")
    assert r.status_code == 204, r.text
    context = await browser.new_context(viewport={"width": 390, "height": 844})
    await context.add_cookies([{"name": "polygent_at", "value": token, "url": stack.url}])
    client = httpx.AsyncClient(
        base_url=stack.url, timeout=60, headers={"Authorization": f"Bearer {token}"}
    )
    return await context.new_page(), client


async def test_the_tickets_dashboard_in_the_browser(
    db: Database, temporal_env: WorkflowEnvironment, tmp_path: Path, fake: FakeAnthropic,
    remote: Remote, gate: threading.Event,
) -> None:  # fmt: skip
    async with (
        running_stack(db, temporal_env.client, tmp_path / "stack", admin=False) as stack,
        chromium() as browser,
    ):
        page = await browser.new_page(viewport={"width": 390, "height": 844})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("dialog", lambda d: d.accept())
        await sign_in_first_admin(page, stack.state, stack.url, "Ada")
        cookies = {c["name"]: c["value"] for c in await page.context.cookies()}
        stack.http.headers["Authorization"] = f"Bearer {cookies['polygent_at']}"
        ws = await add_workspace(stack.state.db, remote)
        host = await add_agent(stack)
        r = await stack.http.put(f"/api/workspaces/{ws}/tickets-config",
                                 json={"key_prefix": "PT", "merge_mode": "direct"})  # fmt: skip
        assert r.status_code == 200, r.text
        # A queued ticket that cannot start: its blocker stays Pending.
        blocker = await create(stack, ws, title="Decide the wording")
        blocked = await create(stack, ws, title="Waits for the wording", queue=True,
                               blocker_ids=[blocker["id"]])  # fmt: skip
        await wait_stage(stack, blocked["id"], "queued")

        # The board: reached from the workspace page; the form makes a ticket and queues it.
        await page.goto(f"{stack.url}/workspaces/{ws}")
        await page.locator("[data-tickets-link]").click()
        await expect(page).to_have_url(f"{stack.url}/workspaces/{ws}/tickets")
        board = page.locator("[data-board]")

        def in_column(column: str, t: str) -> Locator:
            return board.locator(f'[data-column={column}] [data-ticket="{t}"]')

        await expect(in_column("queued", blocked["id"])).to_contain_text("PT-2")
        await page.evaluate("window.stayed = true")  # gone if the page reloads
        await page.get_by_role("button", name="New ticket").click()
        form = page.locator("#new-ticket")
        await form.get_by_label("Title").fill("Add the greeting")
        await form.get_by_label("Description").fill("Write the file.")
        await form.locator("select[name=priority]").select_option("high")
        await form.get_by_label("Tags").fill("ui, backend")
        await form.get_by_label("Budget").fill("50")
        await form.get_by_label("Force No QA").check()
        await form.get_by_label("Queue now").check()
        await form.get_by_role("button", name="Create ticket").click()
        await expect(form.locator("[data-form-message]")).to_have_text(
            "Created PT-3 and queued it."
        )
        card = board.locator(".card", has_text="PT-3")
        await expect(card).to_contain_text("Add the greeting")
        await expect(card.locator(".badge.tag")).to_have_text(["ui", "backend"])
        await expect(card.locator(".prio-high")).to_have_text("High")
        tid = await card.get_attribute("data-ticket")
        assert tid
        # It moves live: into Implementation (held there by the gate), then on.
        await expect(in_column("implementation", tid)).to_be_visible(timeout=LIVE)
        await _fits(page)
        gate.set()
        await expect(in_column("dev_approval", tid)).to_be_visible(timeout=TURN)
        await expect(in_column("implementation", tid)).to_have_count(0)
        assert await page.evaluate("window.stayed") is True

        # The ticket's page: stage, history, links, the Approve button for this admin.
        await card.locator("a.card-title").click()
        await expect(page).to_have_url(f"{stack.url}/tickets/{tid}")
        stage = page.locator("[data-field=stage]")
        await expect(stage).to_have_text("Developer Approval")
        t = await ticket(stack, tid)
        body = page.locator("[data-ticket-body]")
        await expect(body.locator(".history")).to_contain_text("Implementation")
        first = body.locator(".round[data-round='0'] .iteration[data-iteration='1']")
        await expect(first).to_contain_text("Developer Approval")
        session_link = body.get_by_role("link", name=re.compile("^Session: "))
        await expect(session_link).to_have_attribute("href", f"/sessions/{t['session_id']}")
        await expect(body.get_by_role("link", name="Open in Temporal UI")).to_have_attribute(
            "href", re.compile(rf"^{UI}/namespaces/.+WorkflowId%3D%22ticket-{tid}%22$")
        )
        await expect(body.locator(".cost")).to_contain_text("of $50.00 budget")
        await page.evaluate("window.stayed = true")
        comment = page.locator("[data-comment-form]")
        await comment.get_by_label("Comment").fill("Looks <b>right</b> to me.")
        await comment.locator("input[type=file]").set_input_files(
            FilePayload(name="notes.txt", mimeType="text/plain", buffer=b"some notes\n")
        )
        await comment.get_by_role("button", name="Add comment").click()
        shown = body.locator(".comment").last
        await expect(shown).to_contain_text("Looks <b>right</b> to me.", timeout=LIVE)
        await expect(shown.get_by_role("link", name="notes.txt")).to_be_visible()
        assert await shown.locator("b").count() == 0
        await _fits(page)
        await page.screenshot(path=str(tmp_path / "ticket.png"), full_page=True)

        # A viewer may look but not decide: no Approve button, and the API says 403.
        viewer, viewer_api = await _viewer(stack, browser, ws)
        try:
            await viewer.goto(f"{stack.url}/tickets/{tid}")
            await expect(viewer.locator("[data-field=stage]")).to_have_text("Developer Approval")
            await expect(viewer.get_by_role("button", name="Approve")).to_have_count(0)
            await expect(viewer.locator("[data-comment-form]")).to_have_count(0)
            r = await viewer_api.post(f"/api/tickets/{tid}/approve", json={})
            assert r.status_code == 403 and "tickets.approve_dev" in r.text
        finally:
            await viewer_api.aclose()
            await viewer.context.close()

        # The developer's approval: Direct Merge, then Completed, seen without a reload.
        await page.get_by_role("button", name="Approve").click()
        await expect(stage).to_have_text("Completed", timeout=TURN)
        await expect(page.get_by_role("button", name="Approve")).to_have_count(0)
        await expect(body.locator(".history li").last).to_contain_text("by Ada")
        assert await page.evaluate("window.stayed") is True
        shown_file = subprocess.run(
            ["git", "show", "main:PT-3.txt"], cwd=remote.bare, check=True, capture_output=True,
            text=True,
        ).stdout  # fmt: skip
        assert shown_file == "PT-3\n"

        # Back on the board: Completed; the filter narrows the cards.
        await page.goto(f"{stack.url}/workspaces/{ws}/tickets")
        await expect(in_column("completed", tid)).to_be_visible()
        search = page.get_by_role("searchbox", name="Search")
        await search.fill("greeting")
        await expect(board.locator(".card")).to_have_count(1)
        await search.fill("")
        await page.locator("[data-board-filter] select[name=priority]").select_option("normal")
        await expect(board.locator(".card")).to_have_count(2)
        await expect(board.locator(f'[data-ticket="{tid}"]')).to_have_count(0)
        await _fits(page)
        await page.screenshot(path=str(tmp_path / "board.png"), full_page=True)
        await page.set_viewport_size({"width": 1280, "height": 900})
        await page.screenshot(path=str(tmp_path / "board-wide.png"), full_page=True)
        await page.set_viewport_size({"width": 390, "height": 844})

        # The queue: the blocked ticket, then a low-priority one waiting for its hour (set
        # twelve hours away), each marked; the host's room with nothing in flight.
        hour = (datetime.now(UTC).hour + 12) % 24
        r = await stack.http.put("/api/settings/tickets", json={"low_priority_hour": hour})
        assert r.status_code == 200, r.text
        low = await create(stack, ws, title="Tidy up", priority="low", queue=True)
        await wait_stage(stack, low["id"], "queued")
        await page.goto(f"{stack.url}/queue")
        waiting = page.locator(f'[data-queued-ticket="{low["id"]}"]')
        await expect(waiting).to_contain_text("Low Priority Hour")
        at = re.compile(rf"execution hour \(.+ {hour:02d}:00 UTC\)")
        await expect(waiting).to_contain_text(at)
        queued = page.locator(f'[data-queued-ticket="{blocked["id"]}"]')
        await expect(queued).to_contain_text("PT-2")
        await expect(queued).to_contain_text("Blocked by PT-1")
        host_box = page.locator(f'[data-host="{host}"]')
        await expect(host_box).to_contain_text("0 of 2 tickets in flight")
        await expect(host_box.locator(".next")).to_contain_text("PT-2")
        await _fits(page)
        r = await stack.http.get("/api/tickets/queue")
        assert r.status_code == 200, r.text
        assert [(q["key"], q["state"]) for q in r.json()["queued"]] == [
            ("PT-2", "blocked"), ("PT-4", "low_priority_hour"),
        ]  # fmt: skip
        await page.screenshot(path=str(tmp_path / "queue.png"), full_page=True)
        assert errors == []

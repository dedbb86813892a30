"""Sessions in a real browser at a phone's width, against a real session agent running the real
Claude Code CLI on the fake Anthropic server: start a session from the workspace page's form,
watch its transcript arrive live (tool calls paired with their results, the todo list, the
final text with untrusted markup shown as text), edit and stage a file from the side panel,
lose the live socket while a second message (with an @-mention and an attachment) is
answered and get that turn once after the reconnect, then cancel a stalled turn and see the
session become Canceled."""

from __future__ import annotations

import asyncio
import re
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import FilePayload, Page, WebSocketRoute, expect
from temporalio.testing import WorkflowEnvironment

from orchestrator.auth.models import Role
from orchestrator.auth.repository import AuthRepository
from orchestrator.db import Database
from orchestrator.sessions.models import Session
from orchestrator.users.repository import RoleRepository, UserRepository
from orchestrator.workspaces.models import Workspace, WorkspaceMember
from tests.browser import chromium, sign_in_first_admin
from tests.fakes.anthropic import finish, run_command, todo
from tests.helpers import wait_for
from tests.integration.sessions_kit import (
    add_agent,
    add_workspace,
    fake_anthropic,
    git_remote,
    start,
    wait_status,
)
from tests.integration.stack import UI, Stack, running_stack, sign_in

pytestmark = pytest.mark.sessions
TURN = 90_000  # ms: a turn of the real CLI, the first one with a fresh clone and worktree


async def status_is(page: Page, label: str) -> None:
    await expect(page.locator("[data-field=status]")).to_have_text(label, timeout=TURN)


async def test_a_session_in_the_browser(
    db: Database,
    temporal_env: WorkflowEnvironment,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with fake_anthropic(monkeypatch) as fake, git_remote(tmp_path / "remote") as remote:
        async with (
            running_stack(db, temporal_env.client, tmp_path, admin=False) as stack,
            chromium() as browser,
        ):
            page = await browser.new_page(viewport={"width": 390, "height": 844})
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("dialog", lambda d: d.accept())
            sockets: list[tuple[WebSocketRoute, WebSocketRoute]] = []
            passing = asyncio.Event()
            passing.set()

            async def through(ws: WebSocketRoute) -> None:
                """The page's live socket, passed through (so the test can drop it) or, while
                `passing` is clear, refused at once (so the page keeps retrying)."""
                if passing.is_set():
                    sockets.append((ws, ws.connect_to_server()))
                else:
                    await ws.close(code=4000, reason="held by the test")

            await page.route_web_socket(re.compile(r"/ws$"), through)
            await sign_in_first_admin(page, stack.state, stack.url, "Ada")
            cookies = {c["name"]: c["value"] for c in await page.context.cookies()}
            stack.http.headers["Authorization"] = f"Bearer {cookies['polygent_at']}"
            ws_id = await add_workspace(stack.state.db, remote)
            await add_agent(stack)
            fake.script(
                [
                    todo(["Write the plan", "Check it"]),
                    run_command("echo from-the-agent"),
                    finish("All **done** here. <b>raw</b>"),
                ]
            )

            # The workspace page lists no session yet; the form starts one and opens it.
            await page.goto(f"{stack.url}/workspaces/{ws_id}")
            sessions = page.locator("#sessions")
            await expect(sessions.locator("[data-session-rows]")).to_contain_text("No sessions")
            form = sessions.locator("#new-session")
            await expect(form).to_be_hidden()
            await sessions.get_by_role("button", name="New session").click()
            await form.locator("select[name=mode]").select_option("chat")
            await expect(form.get_by_label("Update Tests")).to_be_hidden()
            await form.locator("select[name=mode]").select_option("develop")
            await form.get_by_label("Title").fill("Browser session")
            await form.get_by_label("Update Tests").check()
            await form.get_by_label("First message").fill("Plan the work")
            await form.get_by_role("button", name="Start session").click()
            await expect(page).to_have_url(re.compile(r"/sessions/\w+$"), timeout=30_000)
            sid = page.url.rsplit("/", 1)[1]
            await expect(page.locator("h1")).to_have_text("Browser session")
            await page.evaluate("window.stayed = true")  # gone if the page reloads

            # The turn arrives live: the message, each tool call paired with its result (this
            # CLI refuses TodoWrite: error styling), the todo list in the sidebar, and the
            # final text with the agent's markup shown as text.
            transcript = page.locator("[data-transcript]")
            await expect(transcript.locator(".msg.user")).to_contain_text("Plan the work")
            bash = transcript.locator("details.tool.done", has_text="Bash: echo from-the-agent")
            await expect(bash).to_have_count(1, timeout=TURN)
            await expect(bash).not_to_have_class(re.compile("failed"))
            await bash.locator("summary").click()
            await expect(bash.locator(".tool-result")).to_have_text("from-the-agent")
            refused = transcript.locator("details.tool.done.failed")
            await expect(refused.locator("summary")).to_have_text("TodoWrite")
            await expect(page.locator("[data-todos]")).to_contain_text("Write the plan")
            answer = transcript.locator(".msg.agent").last
            await expect(answer).to_contain_text("All done here. <b>raw</b>", timeout=TURN)
            await expect(answer.locator("strong")).to_have_text("done")
            assert await answer.locator("b").count() == 0
            await expect(answer.locator(".usage")).to_contain_text("in")
            await status_is(page, "Waiting")
            await expect(page.locator("[data-field=host_online]")).to_have_text("online")
            await expect(page.locator("[data-presence]")).to_have_text("Ada")
            temporal = page.get_by_role("link", name="Open in Temporal UI")
            await expect(temporal).to_have_attribute(
                "href",
                re.compile(
                    rf"^{UI}/namespaces/.+/workflows\?query=WorkflowId%3D%22session-{sid}%22$"
                ),
            )

            # Seen on a visible page, the transcript is marked read up to its last event.
            async def read_up() -> dict[str, Any] | None:
                r = await page.request.get(f"{stack.url}/api/sessions/{sid}")
                body: dict[str, Any] = await r.json() if r.ok else {}
                return body if body and body["read_cursor"] == body["last_cursor"] > 0 else None

            await wait_for(read_up, what="the read cursor reaches the last event")  # type: ignore[arg-type]

            # The side panel sits below the transcript at this width.
            main = await page.locator(".main-col").bounding_box()
            side = await page.locator(".side-col").bounding_box()
            assert main and side and side["y"] >= main["y"] + main["height"]

            # Files: open README.md, edit and save it; Git: it shows as changed, then staged.
            panel = page.locator("[data-panel-root]")
            await panel.get_by_role("button", name="README.md").click()
            content = panel.locator("[data-file-content]")
            await expect(content).to_have_value("hello\n")
            await content.fill("hello from the browser\n")
            await panel.get_by_role("button", name="Save file").click()
            await expect(panel.locator("[data-file-message]")).to_have_text("Saved.")
            await panel.get_by_role("tab", name="Git").click()
            row = panel.locator("[data-git-files] li", has_text="README.md")
            await expect(row.locator("code.flags")).to_have_text(" M")
            await row.get_by_role("button", name="README.md").click()
            await expect(panel.locator("pre.diff .add")).to_contain_text(
                ["+hello from the browser"]
            )
            await row.get_by_role("button", name="Stage").click()
            await expect(row.get_by_role("button", name="Unstage")).to_be_visible()

            # The live socket drops and stays down while a second message's whole turn runs;
            # once it may reconnect, the page resubscribes from its last cursor and shows the
            # turn, each event once.
            fake.script([finish("Second answer.", thinking="Pondering <i>this</i>.")])
            passing.clear()
            page_side, server_side = sockets[-1]
            await page_side.close(code=4000, reason="dropped by the test")
            await server_side.close()
            await expect(page.locator("#live-indicator")).to_have_text("offline")
            composer = page.locator("[data-composer]")
            text = composer.get_by_label("Message")
            await text.fill("And now? ")
            await text.press_sequentially("@READ")
            await expect(page.locator("#mention-list li")).to_have_text(["README.md"])
            await page.locator("#mention-list li").first.click()
            await expect(text).to_have_value("And now? @README.md ")
            attach = composer.locator("[data-attach]")
            big = 10 * 1024 * 1024 + 1
            await attach.set_input_files(
                FilePayload(name="big.bin", mimeType="application/octet-stream", buffer=bytes(big))
            )
            await expect(composer.locator(".message")).to_have_text("big.bin is larger than 10 MB.")
            await attach.set_input_files(
                FilePayload(name="notes.txt", mimeType="text/plain", buffer=b"some notes\n")
            )
            await expect(composer.locator("[data-attachments]")).to_contain_text("notes.txt")
            await composer.get_by_role("button", name="Send").click()
            await expect(text).to_have_value("")
            await expect(composer.locator("[data-attachments] li")).to_have_count(0)
            await wait_status(stack, sid, "waiting", turns=2)
            assert "Second answer." not in await transcript.inner_text()
            passing.set()
            second = transcript.locator(".msg.user").last
            await expect(second).to_contain_text("And now? @README.md", timeout=30_000)
            await expect(second.locator(".attachments")).to_have_text("notes.txt")
            await expect(transcript.locator(".msg.agent .md").last).to_have_text(
                "Second answer.", timeout=30_000
            )
            await status_is(page, "Waiting")
            await expect(page.locator("#live-indicator")).to_have_text("live")
            thinking = transcript.locator("details.thinking").last
            await expect(thinking).to_contain_text("Pondering <i>this</i>.")
            assert await thinking.locator("i").count() == 0
            cursors = await transcript.locator("[data-cursor]").evaluate_all(
                "nodes => nodes.map((n) => Number(n.dataset.cursor))"
            )
            assert len(cursors) == len(set(cursors)), "an event was shown twice"
            r = await stack.http.get(f"/api/sessions/{sid}/events")
            users = [e for e in r.json()["events"] if e["kind"] == "user"]
            await expect(transcript.locator(".msg.user")).to_have_count(len(users))

            # A stalled turn is canceled from the page; the session ends Canceled.
            fake.script([finish("Never sent.", delay=120)])
            await text.fill("Take your time")
            await composer.get_by_role("button", name="Send").click()
            await status_is(page, "In progress")
            await composer.get_by_role("button", name="Cancel").click()
            await status_is(page, "Canceled")
            await expect(composer.get_by_role("button", name="Send")).to_be_disabled()
            await expect(transcript).to_contain_text("Status: Canceled")
            await expect(transcript).not_to_contain_text("Never sent.")
            assert await page.evaluate("window.stayed") is True
            await page.screenshot(path=str(tmp_path / "session.png"), full_page=True)
            # On a wide screen the panel sits beside the transcript.
            await page.set_viewport_size({"width": 1280, "height": 900})
            main = await page.locator(".main-col").bounding_box()
            side = await page.locator(".side-col").bounding_box()
            assert main and side and side["x"] >= main["x"] + main["width"]
            await page.screenshot(path=str(tmp_path / "session-wide.png"), full_page=True)

            # Back on the workspace page the list shows it, read and canceled.
            await page.goto(f"{stack.url}/workspaces/{ws_id}")
            listed = sessions.locator(f'tr[data-session="{sid}"]')
            await expect(listed).to_contain_text("Browser session")
            await expect(listed).to_contain_text("Canceled")
            # A session started elsewhere shows up without a reload, with its unread badge.
            await start(stack, ws_id, mode="chat", title="Started elsewhere")
            other = sessions.locator("tr", has_text="Started elsewhere")
            await expect(other.locator(".unread")).to_contain_text("new", timeout=15_000)
            await page.screenshot(path=str(tmp_path / "workspace.png"), full_page=True)
            assert errors == []


async def _person(stack: Stack, perms: list[str]) -> tuple[str, str]:
    """A signed-in person holding exactly `perms`: (user id, access token)."""
    name = f"p{uuid.uuid4().hex[:8]}"
    token = await sign_in(stack.state, name)
    async with stack.state.db.session() as s:
        user = await AuthRepository(s).user_by_identity("local", name)
        assert user is not None
        role = await RoleRepository(s).add(Role(name=f"r-{name}"))
        await RoleRepository(s).set_permissions(role.id, perms)
        await UserRepository(s).set_roles(user.id, [role.id])
        return user.id, token


async def test_the_session_page_shows_only_what_its_viewer_may_see(
    db: Database, temporal_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    async with running_stack(db, temporal_env.client, tmp_path) as stack:
        owner, owner_token = await _person(stack, ["sessions.view_own", "sessions.edit"])
        peer, peer_token = await _person(stack, ["sessions.view_own"])
        watcher, watcher_token = await _person(stack, ["sessions.view_all"])
        _, stranger_token = await _person(stack, ["sessions.view_all"])  # not a member
        async with stack.state.db.session() as s:
            ws = Workspace(name=f"pg-{uuid.uuid4().hex[:8]}", git_url="https://git.invalid/r.git")
            s.add(ws)
            await s.flush()
            s.add_all(
                WorkspaceMember(workspace_id=ws.id, user_id=u) for u in (owner, peer, watcher)
            )
            row = Session(workspace_id=ws.id, created_by=owner, title="<script>alert(1)</script>")
            s.add(row)
            await s.flush()
            sid = row.id

        async def page_as(token: str | None, path: str = f"/sessions/{sid}") -> httpx.Response:
            cookies = {"polygent_at": token} if token else {}
            async with httpx.AsyncClient(base_url=stack.url, cookies=cookies) as c:
                return await c.get(path)

        mine = await page_as(owner_token)
        assert mine.status_code == 200
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in mine.text
        assert "<script>alert(1)" not in mine.text
        assert "data-can-edit" in mine.text and "data-can-merge" not in mine.text
        watched = await page_as(watcher_token)  # may read, may not write: no composer
        assert watched.status_code == 200 and "data-can-edit" not in watched.text
        assert (await page_as(peer_token)).status_code == 403  # someone else's, view_own only
        for token, path in (
            (stranger_token, f"/sessions/{sid}"),
            (owner_token, "/sessions/nosuch"),
        ):
            missing = await page_as(token, path)
            assert missing.status_code == 404 and "No such session" in missing.text
        stranger = await page_as(None)
        assert stranger.status_code == 303
        assert stranger.headers["location"] == f"/signin?next=/sessions/{sid}"

"""SessionWorkflow end to end: the API starts a session, a real session agent runs the real
Claude Code CLI against the fake Anthropic server in a worktree of a real git remote."""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from temporalio.testing import WorkflowEnvironment

from orchestrator.contracts.sessions import SessionView
from orchestrator.db import Database
from tests.fakes.anthropic import FakeAnthropic, finish, run_command, todo, write_file
from tests.helpers import wait_for
from tests.integration.sessions_kit import (
    API_KEY,
    PAT,
    Remote,
    add_agent,
    add_workspace,
    events,
    fake_anthropic,
    git_remote,
    session,
    start,
    turn_done,
    wait_status,
    worktree_of,
)
from tests.integration.stack import running_stack

pytestmark = pytest.mark.sessions


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeAnthropic]:
    with fake_anthropic(monkeypatch) as server:
        yield server


@pytest.fixture
def remote(tmp_path: Path) -> Iterator[Remote]:
    with git_remote(tmp_path / "remote") as r:
        yield r


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout.strip()


async def test_develop_session_runs_turns_records_costs_and_cleans_up(
    db: Database, temporal_env: WorkflowEnvironment, tmp_path: Path, fake: FakeAnthropic,
    remote: Remote,
) -> None:  # fmt: skip
    async with running_stack(db, temporal_env.client, tmp_path / "stack") as stack:
        host = await add_agent(stack)
        ws_id = await add_workspace(
            stack.state.db, remote, prompt_develop="Always answer in haiku."
        )
        fake.script([
            todo(["Write hello"]),
            write_file("hello.txt", "hello\n"),
            run_command("cat hello.txt"),
            finish("All done."),
        ])  # fmt: skip
        created = await start(
            stack, ws_id, mode="develop", message="Write hello.txt", base_branch="dev",
            toggles={"edge_cases": True},
        )  # fmt: skip
        sid = created["id"]
        assert created["branch"] == f"polygent/{sid[:8]}" and created["base_branch"] == "dev"
        assert created["temporal_url"].endswith(
            f"/workflows?query=WorkflowId%3D%22session-{sid}%22"
        )
        evs = await turn_done(stack, sid, 1)
        row = await wait_status(stack, sid, "waiting", turns=1)
        assert row["host_id"] == host and row["host_online"] is True

        kinds = [e["kind"] for e in evs]
        user = next(e for e in evs if e["kind"] == "user")
        assert user["data"]["text"] == "Write hello.txt" and user["attempt"] == 0
        assert {"todo", "tool_call", "tool_result", "text", "result"} <= set(kinds)
        assert kinds.index("user") < kinds.index("tool_call")
        statuses = [e["data"]["status"] for e in evs if e["data"].get("subtype") == "status"]
        assert statuses[-2:] == ["in_progress", "waiting"]
        cursors = [e["cursor"] for e in evs]
        assert cursors == sorted(set(cursors))

        # The CLI got the workspace prompt for Develop and the toggle's instructions.
        main = fake.main_requests()
        assert "Always answer in haiku." in main[0].system_text
        assert "Edge Cases:" in str(main[0].body["messages"])
        wt = worktree_of(stack, host, ws_id, sid)
        assert (wt / "hello.txt").read_text() == "hello\n"
        assert git(wt, "rev-parse", "--abbrev-ref", "HEAD") == f"polygent/{sid[:8]}"

        # Cost audit: one row per model message plus the turn's row; totals on the session.
        r = await stack.http.get(f"/api/sessions/{sid}/costs")
        costs = r.json()
        messages = [c for c in costs["items"] if c["kind"] == "message"]
        turn_rows = [c for c in costs["items"] if c["kind"] == "turn"]
        assert len(messages) == len(main) and len(turn_rows) == 1
        assert all(c["input_tokens"] > 0 and c["output_tokens"] > 0 for c in messages)
        assert turn_rows[0]["cost_usd"] and costs["total_usd"] == pytest.approx(
            turn_rows[0]["cost_usd"]
        )
        assert row["cost_usd"] == pytest.approx(costs["total_usd"])
        assert row["input_tokens"] == turn_rows[0]["input_tokens"] > 0

        # The secret never shows: not in events, costs or the session.
        for text in (str(evs), r.text, str(row)):
            assert API_KEY not in text and PAT not in text

        # A second message resumes the same provider conversation.
        fake.script([finish("Second answer.")])
        r = await stack.http.post(f"/api/sessions/{sid}/messages", json={"text": "And now?"})
        assert r.status_code == 202, r.text
        evs = await turn_done(stack, sid, 2)
        assert any(e["kind"] == "text" and e["data"].get("text") == "Second answer." for e in evs)
        assert len(fake.main_requests()[-1].body["messages"]) > 1  # the history came back

        # Complete: Done, hooks aside, and a Develop worktree is removed (work kept at a ref).
        (wt / "scratch.txt").write_text("uncommitted\n")
        r = await stack.http.post(f"/api/sessions/{sid}/complete")
        assert r.status_code == 200, r.text
        await wait_status(stack, sid, "done")
        await wait_for(lambda: not wt.exists(), what="the Develop worktree is removed")
        bare = wt.parent.parent / "repo.git"
        refs = git(bare, "for-each-ref", "--format=%(refname)", f"refs/polygent/sessions/{sid}")
        assert refs, "the uncommitted work was checkpointed"
        r = await stack.http.post(f"/api/sessions/{sid}/messages", json={"text": "late"})
        assert r.status_code == 409 and "done" in r.json()["detail"]


async def test_cancel_kills_the_running_turn_at_once(
    db: Database, temporal_env: WorkflowEnvironment, tmp_path: Path, fake: FakeAnthropic,
    remote: Remote,
) -> None:  # fmt: skip
    async with running_stack(db, temporal_env.client, tmp_path / "stack") as stack:
        host = await add_agent(stack)
        ws_id = await add_workspace(stack.state.db, remote)
        marker = f"sleep 96.{uuid.uuid4().int % 10**6}"
        fake.script([run_command(f"echo waiting && {marker}"), finish("never")])
        sid = (await start(stack, ws_id, mode="chat", message="Wait"))["id"]
        wt = worktree_of(stack, host, ws_id, sid)

        def tree() -> list[int]:
            found = []
            for p in psutil.process_iter(["cmdline", "cwd"]):
                line = " ".join(p.info["cmdline"] or [])
                if marker in line or p.info["cwd"] == str(wt):
                    found.append(p.pid)
            return found

        await wait_for(lambda: bool(tree()), timeout=90, what="the scripted command runs")
        assert (await session(stack, sid))["status"] == "in_progress"
        began = time.monotonic()
        r = await stack.http.post(f"/api/sessions/{sid}/cancel")
        assert r.status_code == 200, r.text
        await wait_for(lambda: not tree(), timeout=10, what="the turn's processes die")
        print(f"cancel to dead process tree: {time.monotonic() - began:.2f} s")
        await wait_status(stack, sid, "canceled")
        assert wt.is_dir(), "a Chat worktree persists until it is disposed"
        r = await stack.http.post(f"/api/sessions/{sid}/cancel")
        assert r.status_code == 409

        # Disposing of it removes the worktree and hides the session.
        r = await stack.http.delete(f"/api/sessions/{sid}")
        assert r.status_code == 204, r.text
        await wait_for(lambda: not wt.exists(), what="the disposed worktree is removed")
        assert (await stack.http.get(f"/api/sessions/{sid}")).status_code == 404


def _last_user_text(body: dict[str, Any]) -> str:
    for message in reversed(body["messages"]):
        if message["role"] != "user":
            continue
        content = message["content"]
        if isinstance(content, str):
            return content
        texts = [b.get("text", "") for b in content if b.get("type") == "text"]
        if texts:
            return texts[-1]
    return ""


async def test_auto_mode_continues_until_the_agent_says_done_then_review_and_verify(
    db: Database, temporal_env: WorkflowEnvironment, tmp_path: Path, fake: FakeAnthropic,
    remote: Remote,
) -> None:  # fmt: skip
    continues: list[str] = []

    def choose(body: dict[str, Any]) -> Any:
        text = _last_user_text(body)
        if text.startswith("Continue with the task"):
            continues.append(text)
            return finish("Finished.\n<polygent:done/>" if len(continues) >= 2 else "Part two.")
        if text.startswith("Code Review pass"):
            return finish("Reviewed.")
        if text.startswith("Verification pass"):
            return finish("Verified.")
        return finish("Part one.")

    fake.choose = choose  # type: ignore[method-assign]
    async with running_stack(db, temporal_env.client, tmp_path / "stack") as stack:
        await add_agent(stack)
        ws_id = await add_workspace(stack.state.db, remote)
        created = await start(
            stack, ws_id, mode="develop", dev_mode="auto", auto_turn_limit=5,
            message="Build it", toggles={"code_review": True, "verification": True},
        )  # fmt: skip
        sid = created["id"]
        evs = await turn_done(stack, sid, 5)
        texts = [e["data"]["text"] for e in evs if e["kind"] == "text"]
        assert texts == ["Part one.", "Part two.", "Finished.\n<polygent:done/>", "Reviewed.",
                         "Verified."]  # fmt: skip
        row = await wait_status(stack, sid, "waiting", turns=5)
        assert row["dev_mode"] == "auto" and row["toggles"]["code_review"] is True

        # The limit stops Auto mode: switch to Manual, ask, then switch back with limit 1.
        continues.clear()
        r = await stack.http.patch(f"/api/sessions/{sid}", json={"auto_turn_limit": 1})
        assert r.status_code == 200 and r.json()["auto_turn_limit"] == 1
        r = await stack.http.post(f"/api/sessions/{sid}/messages", json={"text": "More"})
        evs = await turn_done(stack, sid, 7)
        notes = [e["data"]["text"] for e in evs if e["data"].get("subtype") == "auto_limit"]
        assert notes == ["Auto mode stopped after 1 turns (the turn limit)."]

        # Reset context: the next turn starts a fresh conversation (no history sent).
        r = await stack.http.post(f"/api/sessions/{sid}/reset")
        assert r.status_code == 200, r.text
        r = await stack.http.patch(f"/api/sessions/{sid}", json={"dev_mode": "manual"})
        r = await stack.http.post(f"/api/sessions/{sid}/messages", json={"text": "Fresh"})
        evs = await turn_done(stack, sid, 8)
        assert any(e["data"].get("subtype") == "reset" for e in evs)
        first, last = fake.main_requests()[0], fake.main_requests()[-1]
        assert len(last.body["messages"]) == len(first.body["messages"])  # no history


async def test_bad_requests_and_attachments(
    db: Database, temporal_env: WorkflowEnvironment, tmp_path: Path, fake: FakeAnthropic,
    remote: Remote,
) -> None:  # fmt: skip
    async with running_stack(db, temporal_env.client, tmp_path / "stack") as stack:
        host = await add_agent(stack)
        ws_id = await add_workspace(stack.state.db, remote)
        for body, field in (
            ({"mode": "nope"}, "mode"),
            ({"base_branch": "bad..name"}, "base_branch"),
            ({"toggles": {"unknown": True}}, "toggles"),
            ({"auto_turn_limit": 0}, "auto_turn_limit"),
            ({"provider": "no-such"}, "provider"),
            ({"model": "gpt-4o"}, "model"),
        ):
            r = await stack.http.post(f"/api/workspaces/{ws_id}/sessions", json=body)
            assert r.status_code == 422, (body, r.text)
            assert field in r.text
        r = await stack.http.post("/api/workspaces/nope/sessions", json={})
        assert r.status_code == 404

        fake.script([finish("Seen.")])
        sid = (await start(stack, ws_id, mode="chat"))["id"]
        big = b"x" * (10 * 1024 * 1024 + 1)
        r = await stack.http.post(f"/api/sessions/{sid}/attachments",
                                  files={"file": ("big.bin", big)})  # fmt: skip
        assert r.status_code == 413
        r = await stack.http.post(f"/api/sessions/{sid}/attachments",
                                  files={"file": ("../notes.txt", b"remember me")})  # fmt: skip
        assert r.status_code == 201, r.text
        att = r.json()
        r = await stack.http.post(f"/api/sessions/{sid}/messages",
                                  json={"text": "Read it", "attachment_ids": ["nope"]})  # fmt: skip
        assert r.status_code == 422 and "attachment_ids" in r.text
        r = await stack.http.post(
            f"/api/sessions/{sid}/messages",
            json={"text": "Read it", "attachment_ids": [att["id"]], "request_id": "r1"},
        )
        assert r.status_code == 202, r.text
        again = await stack.http.post(
            f"/api/sessions/{sid}/messages",
            json={"text": "Read it", "attachment_ids": [att["id"]], "request_id": "r1"},
        )
        assert again.status_code == 202
        await turn_done(stack, sid, 1)
        wt = worktree_of(stack, host, ws_id, sid)
        stored = wt / ".polygent" / "attachments" / att["id"] / "notes.txt"
        assert stored.read_bytes() == b"remember me"
        assert git(wt, "status", "--porcelain") == "", "attachments stay out of git"
        assert ".polygent/attachments/" in str(fake.main_requests()[0].body["messages"])
        users = [e for e in await events(stack, sid) if e["kind"] == "user"]
        assert len(users) == 1, "the repeated request_id queued nothing new"

        # Unread markers: everything is unread until marked.
        listing = (await stack.http.get(f"/api/workspaces/{ws_id}/sessions")).json()
        item = next(i for i in listing["items"] if i["id"] == sid)
        assert item["unread"] > 0 and listing["total"] >= 1
        r = await stack.http.post(f"/api/sessions/{sid}/read", json={"cursor": item["last_cursor"]})
        assert r.status_code == 204
        item = await session(stack, sid)
        assert item["unread"] == 0 and item["read_cursor"] == item["last_cursor"]


async def test_host_choice_honours_capacity_allowlist_and_provider(
    db: Database, temporal_env: WorkflowEnvironment, tmp_path: Path, fake: FakeAnthropic,
    remote: Remote, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    async with running_stack(db, temporal_env.client, tmp_path / "stack") as stack:
        host = await add_agent(stack)
        ws_id = await add_workspace(stack.state.db, remote)
        other_ws = await add_workspace(stack.state.db, remote)
        r = await stack.http.patch(
            f"/api/hosts/{host}",
            json={"max_concurrent_sessions": 1, "workspace_allowlist": [ws_id]},
        )
        assert r.status_code == 200 and r.json()["max_concurrent_sessions"] == 1, r.text
        r = await stack.http.patch(f"/api/hosts/{host}", json={"max_concurrent_sessions": 0})
        assert r.status_code == 422 and "max_concurrent_sessions" in r.text

        fake.script([finish("First.")])
        first = (await start(stack, ws_id, mode="chat", message="One"))["id"]
        await turn_done(stack, first, 1)
        # The host is full (a Chat session holds its slot) and does not serve `other_ws`.
        second = (await start(stack, ws_id, mode="chat", message="Two"))["id"]
        barred = (await start(stack, other_ws, mode="chat", message="Three"))["id"]

        async def waiting_note(sid: str, words: str) -> bool:
            evs = await events(stack, sid)
            return any(
                e["data"].get("subtype") == "waiting_for_host" and words in e["data"]["text"]
                for e in evs
            )

        await wait_for(lambda: waiting_note(second, "is full (1 sessions)"), what="full host")
        await wait_for(lambda: waiting_note(barred, "does not serve this workspace"),
                       what="allowlist")  # fmt: skip
        assert (await session(stack, second))["host_id"] is None

        # The first session ends: its slot frees and the waiting session is placed and runs.
        assert (await stack.http.post(f"/api/sessions/{first}/cancel")).status_code == 200
        await turn_done(stack, second, 1, timeout=60)
        assert (await session(stack, second))["host_id"] == host
        assert (await session(stack, barred))["host_id"] is None


async def test_a_missing_credential_is_reported_before_anything_runs(
    db: Database, temporal_env: WorkflowEnvironment, tmp_path: Path, fake: FakeAnthropic,
    remote: Remote,
) -> None:  # fmt: skip
    async with running_stack(db, temporal_env.client, tmp_path / "stack") as stack:
        await add_agent(stack)
        ws_id = await add_workspace(stack.state.db, remote)
        r = await stack.http.delete(f"/api/workspaces/{ws_id}/variables/ANTHROPIC_API_KEY")
        assert r.status_code == 204, r.text
        sid = (await start(stack, ws_id, mode="chat", message="Hello"))["id"]
        evs = await turn_done(stack, sid, 1)
        errors = [e["data"]["text"] for e in evs if e["kind"] == "error"]
        assert errors and "needs a credential" in errors[0], evs
        assert fake.main_requests() == [], "nothing was spawned"
        assert (await session(stack, sid))["status"] == "waiting"


async def test_a_long_conversation_continues_as_new_with_nothing_lost(
    db: Database, temporal_env: WorkflowEnvironment, tmp_path: Path, fake: FakeAnthropic,
    remote: Remote,
) -> None:  # fmt: skip
    client = temporal_env.client
    async with running_stack(db, client, tmp_path / "stack", session_turns_per_run=2) as stack:
        await add_agent(stack)
        ws_id = await add_workspace(stack.state.db, remote)
        fake.script([finish("Noted.")])
        sid = (await start(stack, ws_id, mode="chat", message="one"))["id"]
        for turn, text in ((1, None), (2, "two"), (3, "three")):
            if text:
                r = await stack.http.post(f"/api/sessions/{sid}/messages", json={"text": text})
                assert r.status_code == 202, r.text
            await turn_done(stack, sid, turn)
        runs = [
            wf.status.name
            async for wf in client.list_workflows(f"WorkflowId = 'session-{sid}'")
        ]  # fmt: skip
        assert sorted(runs) == ["CONTINUED_AS_NEW", "RUNNING"], runs
        # The third turn still resumed the provider's conversation from before the new run.
        third = fake.main_requests()[-1].body["messages"]
        assert "two" in str(third) and "one" in str(third)
        view = await stack.state.temporal.get_workflow_handle(f"session-{sid}").query(
            "view", result_type=SessionView
        )
        assert view.turn == 3 and view.status == "waiting"


async def test_an_api_error_fails_the_turn_with_the_clis_own_message(
    db: Database, temporal_env: WorkflowEnvironment, tmp_path: Path, fake: FakeAnthropic,
    remote: Remote,
) -> None:  # fmt: skip
    async with running_stack(db, temporal_env.client, tmp_path / "stack") as stack:
        await add_agent(stack)
        ws_id = await add_workspace(stack.state.db, remote)
        fake.fail(400, "prompt is too long: 250000 tokens > 200000 maximum")
        sid = (await start(stack, ws_id, mode="chat", message="Hello"))["id"]
        evs = await turn_done(stack, sid, 1)
        errors = [e["data"]["text"] for e in evs if e["kind"] == "error" and e["attempt"] == 0]
        assert errors and "prompt is too long" in errors[-1].lower(), [
            (e["kind"], e["attempt"], e["data"]) for e in evs
        ]
        row = await session(stack, sid)
        assert row["status"] == "waiting" and row["turns"] == 1
        # The session goes on: the next message runs normally.
        fake.failure = None
        fake.script([finish("Fine now.")])
        r = await stack.http.post(f"/api/sessions/{sid}/messages", json={"text": "Again"})
        assert r.status_code == 202
        evs = await turn_done(stack, sid, 2)
        assert any(e["kind"] == "text" and e["data"].get("text") == "Fine now." for e in evs)

"""Provider settings, the price table and budgets, through the API with a real session agent
and the real Claude Code CLI (fake Anthropic server): changes apply without a restart."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from temporalio.testing import WorkflowEnvironment

from orchestrator.audit.models import AuditEntry
from orchestrator.contracts.sessions import TurnRecord
from orchestrator.db import Database
from orchestrator.security.crypto import SecretBox
from orchestrator.sessions.control import SessionControl
from orchestrator.sessions.models import Session
from tests.fakes.anthropic import FakeAnthropic, finish, write_file
from tests.helpers import TEST_MASTER, wait_for
from tests.integration.sessions_kit import (
    Remote,
    add_agent,
    add_workspace,
    events,
    fake_anthropic,
    git_remote,
    start,
    turn_done,
    wait_status,
)
from tests.integration.stack import running_stack, sign_in

pytestmark = pytest.mark.providers


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeAnthropic]:
    with fake_anthropic(monkeypatch) as server:
        yield server


@pytest.fixture
def remote(tmp_path: Path) -> Iterator[Remote]:
    with git_remote(tmp_path / "remote") as r:
        yield r


async def test_provider_switches_and_models_apply_at_once(
    db: Database, temporal_env: WorkflowEnvironment, tmp_path: Path, fake: FakeAnthropic,
    remote: Remote,
) -> None:  # fmt: skip
    async with running_stack(db, temporal_env.client, tmp_path / "stack") as stack:
        host = await add_agent(stack)
        ws_id = await add_workspace(stack.state.db, remote)
        on = [p["id"] for p in (await stack.http.get("/api/providers")).json()]
        assert on == ["claude-code", "polygent-code"]
        listed = {p["id"]: p for p in (await stack.http.get("/api/settings/providers")).json()}
        assert len(listed) == 7 and listed["codex"]["enabled"] is False
        assert listed["claude-code"]["hosts"][host], "the host reported its Claude Code version"
        assert listed["polygent-code"]["hosts"][host] == "built in"

        fake.script([finish("Hi.")])
        running = (await start(stack, ws_id, mode="chat", message="Hello"))["id"]
        await turn_done(stack, running, 1)

        r = await stack.http.patch("/api/settings/providers/claude-code", json={"enabled": False})
        assert r.status_code == 200 and r.json()["enabled"] is False
        r = await stack.http.post(f"/api/workspaces/{ws_id}/sessions", json={"mode": "chat"})
        assert r.status_code == 422 and "provider" in r.text and "turned off" in r.text
        # The session that was running goes on.
        fake.script([finish("Still here.")])
        r = await stack.http.post(f"/api/sessions/{running}/messages", json={"text": "Again"})
        assert r.status_code == 202
        evs = await turn_done(stack, running, 2)
        assert any(e["data"].get("text") == "Still here." for e in evs)

        r = await stack.http.patch(
            "/api/settings/providers/claude-code",
            json={"enabled": True, "hidden_models": ["opus"], "custom_models": ["my-proxy-model"]},
        )
        assert "opus" not in r.json()["models"] and "my-proxy-model" in r.json()["models"]
        bad = await stack.http.post(f"/api/workspaces/{ws_id}/sessions", json={"model": "opus"})
        assert bad.status_code == 422 and "model" in bad.text
        ok = await stack.http.post(
            f"/api/workspaces/{ws_id}/sessions", json={"model": "my-proxy-model"}
        )
        assert ok.status_code == 201, ok.text
        assert (await stack.http.patch("/api/settings/providers/nope", json={})).status_code == 404
        r = await stack.http.patch("/api/settings/providers/codex", json={"custom_models": ["a b"]})
        assert r.status_code == 422 and "custom_models" in r.text
        dev = await sign_in(stack.state, "dev")
        r = await stack.http.patch(
            "/api/settings/providers/codex", json={"enabled": True},
            headers={"Authorization": f"Bearer {dev}"},
        )  # fmt: skip
        assert r.status_code == 403


async def test_prices_give_a_cost_to_providers_that_report_none(
    db: Database, temporal_env: WorkflowEnvironment, tmp_path: Path, remote: Remote
) -> None:
    async with running_stack(db, temporal_env.client, tmp_path / "stack") as stack:
        ws_id = await add_workspace(stack.state.db, remote)
        prices = {p["model"]: p for p in (await stack.http.get("/api/settings/prices")).json()}
        assert prices["gpt-5*"]["default"] is True and prices["gpt-5*"]["input"] > 0
        r = await stack.http.put(
            "/api/settings/prices", params={"model": "gpt-5"},
            json={"input": 2, "output": 20, "cache_read": 0.5, "cache_write": 0},
        )  # fmt: skip
        assert r.status_code == 200 and r.json()["default"] is False
        r = await stack.http.put("/api/settings/prices", params={"model": "x"}, json={"input": -1})
        assert r.status_code == 422
        async with stack.state.db.session() as s:
            row = Session(workspace_id=ws_id, provider="codex", model="gpt-5", title="priced")
            s.add(row)
            await s.commit()
            control = SessionControl(s, SecretBox(TEST_MASTER))
            await control.record_turn(
                TurnRecord(session_id=row.id, turn=1, ok=True, input_tokens=1_000_000,
                           output_tokens=100_000, cache_read_tokens=1_000_000)
            )  # fmt: skip
            await s.commit()
        costs = (await stack.http.get(f"/api/sessions/{row.id}/costs")).json()
        assert costs["total_usd"] == pytest.approx(2 + 2 + 0.5)  # never $0 for real work
        r = await stack.http.delete("/api/settings/prices", params={"model": "gpt-5"})
        assert r.status_code == 204
        r = await stack.http.delete("/api/settings/prices", params={"model": "gpt-5"})
        assert r.status_code == 404


async def test_budgets_stop_a_run_midway_and_block_the_next_one(
    db: Database, temporal_env: WorkflowEnvironment, tmp_path: Path, fake: FakeAnthropic,
    remote: Remote,
) -> None:  # fmt: skip
    async with running_stack(db, temporal_env.client, tmp_path / "stack") as stack:
        await add_agent(stack)
        ws_id = await add_workspace(stack.state.db, remote)
        r = await stack.http.put(f"/api/workspaces/{ws_id}/budget", json={"monthly_usd": 0.002})
        assert r.status_code == 200 and r.json()["remaining_usd"] == 0.002
        assert (
            await stack.http.put("/api/budgets/global", json={"monthly_usd": 0})
        ).status_code == 422

        # Every model message costs about $0.005 at the default price: the first one crosses.
        fake.script([write_file("a.txt", "a\n"), write_file("b.txt", "b\n"), finish("Done.")])
        sid = (await start(stack, ws_id, mode="chat", message="Write two files"))["id"]
        await wait_status(stack, sid, "canceled", timeout=90)
        evs = await events(stack, sid)
        notes = [e["data"]["text"] for e in evs if e["data"].get("subtype") == "budget"]
        assert notes and "budget" in notes[0] and "canceled" in notes[0]
        assert len(fake.main_requests()) < 3, "the run was stopped before its end"

        budgets = (await stack.http.get("/api/budgets")).json()
        assert budgets[0]["spent_usd"] > 0.002 and budgets[0]["remaining_usd"] == 0

        async def alerted() -> bool:
            async with stack.state.db.session() as s:
                actions = set(await s.scalars(select(AuditEntry.action)))
            return "budget.exceeded" in actions

        await wait_for(alerted, what="the budget breach is audited")

        # The next session is stopped before the agent runs at all.
        before = len(fake.main_requests())
        sid = (await start(stack, ws_id, mode="chat", message="More"))["id"]
        await wait_status(stack, sid, "canceled", timeout=60)
        assert len(fake.main_requests()) == before
        notes = [e for e in await events(stack, sid) if e["data"].get("subtype") == "budget"]
        assert notes and "is spent" in notes[0]["data"]["text"]

        # The people who manage budgets (here the admin) were told, and the session's owner
        # learned that their sessions were stopped; opening one marks it read.
        inbox = (await stack.http.get("/api/notifications")).json()
        kinds = [n["kind"] for n in inbox["items"]]
        assert kinds.count("budget.exceeded") == 1, kinds  # once a month, not per batch
        assert kinds.count("session.budget") == 2 and inbox["unread"] == len(kinds)
        stopped = next(n for n in inbox["items"] if n["kind"] == "session.budget")
        assert stopped["link"].startswith("/sessions/") and "budget" in stopped["body"]
        opened = (await stack.http.get(f"/api/notifications/{stopped['id']}")).json()
        assert opened["read_at"] is not None
        assert (await stack.http.get("/api/notifications")).json()["unread"] == len(kinds) - 1


async def test_spend_beside_a_running_turn_stops_it(
    db: Database, temporal_env: WorkflowEnvironment, tmp_path: Path, fake: FakeAnthropic,
    remote: Remote,
) -> None:  # fmt: skip
    """Spend counts every running turn of the workspace, so sessions side by side cannot each
    spend the whole remainder: a turn started with plenty of headroom stops at its next usage
    once other work has spent the budget (its own per-turn cap alone would let it finish)."""
    async with running_stack(db, temporal_env.client, tmp_path / "stack") as stack:
        await add_agent(stack)
        ws_id = await add_workspace(stack.state.db, remote)
        r = await stack.http.put(f"/api/workspaces/{ws_id}/budget", json={"monthly_usd": 1.0})
        assert r.status_code == 200
        held, third = threading.Event(), threading.Event()
        fake.script(  # the third call waits too, so the CLI cannot race past the stop
            [write_file("a.txt", "a\n"), write_file("b.txt", "b\n", gate=held)]
            + [write_file("c.txt", "c\n", gate=third)]
            + [write_file(f"{n}.txt", f"{n}\n") for n in "def"]
            + [finish("Done.")]
        )
        sid = (await start(stack, ws_id, mode="chat", message="Write six files"))["id"]
        await wait_for(
            lambda: len(fake.main_requests()) >= 2, timeout=90, what="the second model call waits"
        )
        async with stack.state.db.session() as s:  # another session of the workspace spends it
            other = Session(workspace_id=ws_id, provider="codex", model="gpt-5", title="beside")
            s.add(other)
            await s.commit()
            await SessionControl(s, SecretBox(TEST_MASTER)).record_turn(
                TurnRecord(session_id=other.id, turn=1, ok=True, cost_usd=1.25)
            )
            await s.commit()
        held.set()
        try:
            await wait_status(stack, sid, "canceled", timeout=90)
        finally:
            third.set()
        assert len(fake.main_requests()) <= 3, "the turn stopped at the usage after the spend"
        notes = [e["data"]["text"] for e in await events(stack, sid)
                 if e["data"].get("subtype") == "budget"]  # fmt: skip
        assert notes and "is spent" in notes[0] and "canceled" in notes[0]
        status = (await stack.http.get("/api/budgets")).json()[0]
        assert status["spent_usd"] > 1.25 and status["remaining_usd"] == 0  # running turn counted

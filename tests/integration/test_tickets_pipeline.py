"""The ticket pipeline end to end: the API, the orchestrator worker, a real session agent
running the real Claude Code CLI against the fake Anthropic server, and a real git remote.

QA First with a QA rejection round trip and Direct Merge; Merge First with a pull request;
each approval override; the ticket's budget; merge conflicts; permission refusals.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from orchestrator.db import Database
from tests.fakes.anthropic import FakeAnthropic
from tests.integration.sessions_kit import (
    Remote,
    add_agent,
    add_workspace,
    events,
    fake_anthropic,
    git_remote,
    session,
    wait_status,
)
from tests.integration.stack import Stack, running_stack
from tests.integration.tickets_kit import (
    act,
    create,
    history,
    person,
    stages_of,
    ticket,
    ticket_agent,
    wait_stage,
)

pytestmark = pytest.mark.tickets


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeAnthropic]:
    with fake_anthropic(monkeypatch) as server:
        ticket_agent(server)
        yield server


@pytest.fixture
def remote(tmp_path: Path) -> Iterator[Remote]:
    with git_remote(tmp_path / "remote") as r:
        yield r


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout.strip()


async def _setup(stack: Stack, remote: Remote, **config: Any) -> tuple[str, str]:
    host = await add_agent(stack)
    ws = await add_workspace(stack.state.db, remote)
    r = await stack.http.put(f"/api/workspaces/{ws}/tickets-config",
                             json={"key_prefix": "PT", **config})  # fmt: skip
    assert r.status_code == 200, r.text
    return ws, host


async def test_qa_first_with_a_qa_rejection_round_then_direct_merge(
    db: Database, temporal_env: WorkflowEnvironment, tmp_path: Path, fake: FakeAnthropic,
    remote: Remote,
) -> None:  # fmt: skip
    async with running_stack(db, temporal_env.client, tmp_path / "stack") as stack:
        ws, host = await _setup(stack, remote, merge_mode="direct")
        dev_id, dev = await person(stack, "dana", ["developer"], ws)
        qa_id, qa = await person(stack, "quinn", ["qa"], ws)
        t = await create(stack, ws, title="Add the greeting", description="Write the file.",
                         developer_id=dev_id, qa_id=qa_id, budget_usd=50)  # fmt: skip
        tid = t["id"]
        up = await stack.http.post(
            f"/api/tickets/{tid}/attachments", files={"file": ("spec.md", b"# Spec", "text/md")}
        )
        assert up.status_code == 201, up.text
        await act(stack, tid, "queue")
        t = await wait_stage(stack, tid, "dev_approval")
        assert t["host_id"] == host and t["iteration"] == 1 and t["qa_round"] == 0
        sess = await session(stack, t["session_id"])
        assert sess["mode"] == "develop" and sess["dev_mode"] == "auto"
        assert sess["host_id"] == host and sess["title"] == "PT-1: Add the greeting"
        first = next(e for e in await events(stack, t["session_id"]) if e["kind"] == "user")
        assert first["data"]["text"].startswith("PT-1: Add the greeting\n\nWrite the file.")
        assert [a["name"] for a in first["data"]["attachments"]] == ["spec.md"]

        try:
            # QA may not give the developer's approval, nor the developer QA's.
            r = await qa.post(f"/api/tickets/{tid}/approve", json={})
            assert r.status_code == 403 and "tickets.approve_dev" in r.text
            r = await dev.post(f"/api/tickets/{tid}/approve", json={"request_id": "dev-1"})
            assert r.status_code == 200, r.text
            t = await wait_stage(stack, tid, "qa_approval")
            r = await dev.post(f"/api/tickets/{tid}/approve", json={})
            assert r.status_code == 403 and "tickets.approve_qa" in r.text
            r = await dev.post(f"/api/tickets/{tid}/skip-to-merge")
            assert r.status_code == 403  # developers do not hold tickets.skip_to_merge
            r = await qa.post(f"/api/tickets/{tid}/reject", json={"feedback": " "})
            assert r.status_code == 422 and r.json()["errors"][0]["field"] == "feedback"

            # The QA rejection: a new iteration and QA round, the feedback as the next message.
            shot = await qa.post(
                f"/api/tickets/{tid}/attachments", files={"file": ("shot.png", b"png", "image/png")}
            )
            feedback = {"feedback": "say hello world", "attachment_ids": [shot.json()["id"]]}
            r = await qa.post(f"/api/tickets/{tid}/reject", json=feedback)
            assert r.status_code == 200, r.text
            t = r.json()
            assert (t["stage"], t["iteration"], t["qa_round"]) == ("implementation", 2, 1)
            t = await wait_stage(stack, tid, "dev_approval")
            users = [e for e in await events(stack, t["session_id"]) if e["kind"] == "user"]
            assert len(users) == 2 and "say hello world" in users[1]["data"]["text"]
            assert users[1]["data"]["author"] == "quinn"
            assert [a["name"] for a in users[1]["data"]["attachments"]] == ["shot.png"]

            assert (await dev.post(f"/api/tickets/{tid}/approve", json={})).status_code == 200
            await wait_stage(stack, tid, "qa_approval")
            assert (await qa.post(f"/api/tickets/{tid}/approve", json={})).status_code == 200
        finally:
            await dev.aclose()
            await qa.aclose()
        t = await wait_stage(stack, tid, "completed")
        assert t["ended_at"] and t["spent_usd"] > 0

        # Direct Merge: the remote's starter branch has the work of both iterations.
        assert git(remote.bare, "show", "main:PT-1.txt") == "PT-1 say hello world"
        await wait_status(stack, t["session_id"], "done")
        hist = await history(stack, tid)
        assert stages_of(hist) == [
            "queued", "implementation", "dev_approval", "qa_approval", "implementation",
            "dev_approval", "qa_approval", "completed",
        ]  # fmt: skip
        by = [(x["to_stage"], x["actor_name"]) for x in hist["transitions"]]
        assert by[3] == ("qa_approval", "dana") and by[4] == ("implementation", "quinn")
        assert by[-1] == ("completed", "quinn")
        assert hist["transitions"][4]["note"] == "say hello world"
        rounds = [
            (r["qa_round"], [i["iteration"] for i in r["iterations"]]) for r in hist["rounds"]
        ]
        assert rounds == [(0, [1]), (1, [2])]


async def test_overrides_merge_first_and_a_merge_conflict(
    db: Database, temporal_env: WorkflowEnvironment, tmp_path: Path, fake: FakeAnthropic,
    remote: Remote,
) -> None:  # fmt: skip
    async with running_stack(db, temporal_env.client, tmp_path / "stack") as stack:
        ws, host = await _setup(stack, remote, merge_mode="direct")
        r = await stack.http.patch(f"/api/hosts/{host}", json={"max_concurrent_tickets": 10})
        assert r.status_code == 200, r.text
        kinds: dict[str, dict[str, Any]] = {
            "no_dev": {"force_no_dev": True},
            "no_qa": {"force_no_qa": True},
            "neither": {"force_no_dev": True, "force_no_qa": True},
            "skip": {"skip_to_merge": True},
            "manual_skip": {},
            "same_a": {"force_no_dev": True, "force_no_qa": True, "title": "First [same]"},
            "same_b": {"force_no_dev": True, "force_no_qa": True, "title": "Second [same]"},
            "broke": {"budget_usd": 0.0001},
        }
        made = {
            k: await create(stack, ws, queue=True, **{"title": k, **v}) for k, v in kinds.items()
        }
        ids = {k: t["id"] for k, t in made.items()}
        # Beside them, a workspace that works Merge First with pull requests.
        mf_ws = await add_workspace(stack.state.db, remote)
        r = await stack.http.put(f"/api/workspaces/{mf_ws}/tickets-config",
                                 json={"key_prefix": "MF", "lifecycle": "merge_first"})  # fmt: skip
        assert r.status_code == 200, r.text
        mf = (await create(stack, mf_ws, title="Branch work", queue=True))["id"]

        await wait_stage(stack, ids["no_dev"], "qa_approval")
        await wait_stage(stack, ids["no_qa"], "dev_approval")
        await wait_stage(stack, ids["manual_skip"], "dev_approval")
        for k in ("neither", "skip"):
            await wait_stage(stack, ids[k], "completed")
        # The ticket's own budget is always enforced: its session stops, the ticket fails.
        broke = await wait_stage(stack, ids["broke"], "failed")
        assert "budget" in (broke["failure"] or "") and broke["spent_usd"] > 0.0001
        assert (await session(stack, broke["session_id"]))["status"] == "canceled"
        # Two branches write the same file: the first merges, the second conflicts.
        same = [await wait_stage(stack, ids[k], "completed", "merge_conflicts")
                for k in ("same_a", "same_b")]  # fmt: skip
        won, lost = sorted(same, key=lambda x: x["stage"] != "completed")
        assert (won["stage"], lost["stage"]) == ("completed", "merge_conflicts")
        assert "same.txt" in (lost["failure"] or "")

        # Merge First: the pull request's branch is on the remote before QA looks at it.
        await wait_stage(stack, mf, "dev_approval")
        await act(stack, mf, "approve")
        t = await wait_stage(stack, mf, "qa_approval")
        branch = (await session(stack, t["session_id"]))["branch"]
        assert git(remote.bare, "show", f"{branch}:MF-1.txt") == "MF-1"
        assert (await stack.http.post(f"/api/tickets/{mf}/pr-merged")).status_code == 409
        await act(stack, mf, "approve")
        await wait_stage(stack, mf, "pull_request")
        await act(stack, mf, "pr-merged")

        await act(stack, ids["no_dev"], "approve")
        await act(stack, ids["no_qa"], "approve")
        await act(stack, ids["manual_skip"], "skip-to-merge")
        for k in ("no_dev", "no_qa", "manual_skip"):
            await wait_stage(stack, ids[k], "completed")
        await wait_stage(stack, mf, "completed")
        assert stages_of(await history(stack, mf)) == [
            "queued", "implementation", "dev_approval", "qa_approval", "pull_request",
            "completed",
        ]  # fmt: skip
        expect = {
            "no_dev": ["queued", "implementation", "qa_approval", "completed"],
            "no_qa": ["queued", "implementation", "dev_approval", "completed"],
            "neither": ["queued", "implementation", "completed"],
            "skip": ["queued", "implementation", "completed"],
            "manual_skip": ["queued", "implementation", "dev_approval", "completed"],
        }
        for k, stages in expect.items():
            assert stages_of(await history(stack, ids[k])) == stages, k
            key = made[k]["key"]
            assert git(remote.bare, "show", f"main:{key}.txt") == key
        assert git(remote.bare, "show", "main:same.txt") == won["key"]
        skipped = (await history(stack, ids["manual_skip"]))["transitions"][-1]
        assert skipped["actor_type"] == "user" and skipped["note"].startswith("Skipped to merge")
        assert (await ticket(stack, ids["skip"]))["skip_to_merge"] is True

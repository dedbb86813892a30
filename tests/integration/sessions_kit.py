"""Shared set-up for session tests: a workspace bound to a real git remote (behind a token),
its Anthropic key as a secret workspace variable, a session agent, and API helpers."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from orchestrator.base import new_id
from orchestrator.db import Database
from orchestrator.security.crypto import SecretBox
from orchestrator.workspaces.models import Workspace, WorkspaceVariable
from orchestrator.workspaces.sealed import git_pat_aad, variable_aad
from tests.clis import cli_path, require_cli
from tests.fakes.anthropic import FakeAnthropic, serve_anthropic
from tests.fakes.git_http import make_repo, serve_git
from tests.helpers import TEST_MASTER, wait_for
from tests.integration.stack import Stack, unique_host

API_KEY = "sk-ant-session-7d2c9e41f0"
PAT = "ghp_sessionpat_51c0a9d3e7"
FINISHED = ("done", "canceled")


@dataclass
class Remote:
    url: str
    bare: Path
    seen: list[str]


@contextlib.contextmanager
def fake_anthropic(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeAnthropic]:
    """The agent runs in this process: the CLI's PATH and base URL come from our environment."""
    require_cli("claude")
    with serve_anthropic() as server:
        monkeypatch.setenv("PATH", cli_path())
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.base_url)
        monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
        monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
        yield server


@contextlib.contextmanager
def git_remote(root: Path) -> Iterator[Remote]:
    name = f"repo-{uuid.uuid4().hex[:6]}.git"
    bare = make_repo(root, name, ["main", "dev"])
    with serve_git(root, PAT) as (base, seen):
        yield Remote(url=f"{base}/{name}", bare=bare, seen=seen)


async def add_workspace(db: Database, remote: Remote, **prompts: str) -> str:
    """A workspace on the remote with its token and the Anthropic key as a secret variable."""
    box = SecretBox(TEST_MASTER)
    async with db.session() as s:
        ws = Workspace(
            id=new_id(), name=f"ws-{uuid.uuid4().hex[:8]}", git_url=remote.url,
            default_branch="main", **prompts,
        )  # fmt: skip
        ws.git_pat = box.encrypt(PAT, git_pat_aad(ws))
        s.add(ws)
        await s.flush()
        var = WorkspaceVariable(id=new_id(), workspace_id=ws.id, name="ANTHROPIC_API_KEY",
                                secret=True)  # fmt: skip
        var.value = box.encrypt(API_KEY, variable_aad(var))
        s.add(var)
        await s.commit()
        return ws.id


async def add_agent(stack: Stack, host: str | None = None) -> str:
    host = host or unique_host()
    await stack.start_agent(host, "session")

    async def online() -> bool:
        w = await stack.worker(host, "session")
        return bool(w and w["online"])

    await wait_for(online, what="the session agent registers")
    return host


async def start(stack: Stack, ws_id: str, **body: Any) -> dict[str, Any]:
    r = await stack.http.post(f"/api/workspaces/{ws_id}/sessions", json=body)
    assert r.status_code == 201, r.text
    data: dict[str, Any] = r.json()
    return data


async def session(stack: Stack, sid: str) -> dict[str, Any]:
    r = await stack.http.get(f"/api/sessions/{sid}")
    assert r.status_code == 200, r.text
    data: dict[str, Any] = r.json()
    return data


async def events(stack: Stack, sid: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    after = 0
    while True:
        r = await stack.http.get(f"/api/sessions/{sid}/events", params={"after": after})
        assert r.status_code == 200, r.text
        page = r.json()
        out.extend(page["events"])
        if not page["events"]:
            return out
        after = page["next_cursor"]


async def wait_status(
    stack: Stack, sid: str, *statuses: str, turns: int = 0, timeout: float = 90
) -> dict[str, Any]:
    """Wait until the session is in one of `statuses` with at least `turns` turns done."""

    async def check() -> dict[str, Any] | None:
        row = await session(stack, sid)
        return row if row["status"] in statuses and row["turns"] >= turns else None

    return await wait_for(check, timeout=timeout, interval=0.2,
                          what=f"session {sid} reaches {statuses} after {turns} turns")  # fmt: skip


async def turn_done(stack: Stack, sid: str, turn: int, timeout: float = 90) -> list[dict[str, Any]]:
    """The transcript once turn `turn` has ended (its status went back to waiting, or ended)."""

    async def check() -> list[dict[str, Any]] | None:
        evs = await events(stack, sid)
        ended = [
            e for e in evs
            if e["turn"] == turn and e["kind"] == "system"
            and e["data"].get("subtype") == "status"
            and e["data"].get("status") in ("waiting", *FINISHED)
        ]  # fmt: skip
        return evs if ended else None

    return await wait_for(check, timeout=timeout, interval=0.2, what=f"turn {turn} ends")


def worktree_of(stack: Stack, host: str, ws_id: str, sid: str) -> Path:
    """Where WorktreeActivities keeps a session's worktree on an in-process agent."""
    root = stack.tmp / host / "session" / "workspaces" / ws_id / "worktrees" / sid
    return root

"""Worktrees through a real session agent, and the hourly cleanup schedule that removes orphans."""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import BaseModel
from temporalio import workflow
from temporalio.client import ScheduleActionExecutionStartWorkflow, ScheduleHandle
from temporalio.common import RetryPolicy
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from orchestrator.contracts.worktrees import CleanupResult, PreparedWorktree, PrepareWorktreeInput
from orchestrator.db import Database
from orchestrator.queues import agent_queue
from orchestrator.schedules import ensure_worktree_cleanup
from orchestrator.secrets.service import SecretRefService
from orchestrator.security.crypto import SecretBox
from orchestrator.sessions.models import Session
from orchestrator.workspaces.models import Workspace
from tests.fakes.git_http import make_repo, serve_git
from tests.helpers import TEST_MASTER, wait_for
from tests.integration.stack import Stack, running_stack, unique_host

pytestmark = pytest.mark.sessions

PAT = "pat-cleanup-51d0"
TEST_QUEUE = "test-worktrees"


class PrepareOnHost(BaseModel):
    host: str
    inp: PrepareWorktreeInput


@workflow.defn(name="TestPrepareOnHost", sandboxed=False)
class PrepareOnHostWorkflow:
    """What a session workflow will do: prepare on the chosen host's own queue."""

    @workflow.run
    async def run(self, req: PrepareOnHost) -> PreparedWorktree:
        answer: PreparedWorktree = await workflow.execute_activity(
            "worktree.prepare",
            req.inp,
            result_type=PreparedWorktree,
            task_queue=agent_queue(req.host),
            schedule_to_start_timeout=timedelta(seconds=10),
            start_to_close_timeout=timedelta(seconds=60),
            heartbeat_timeout=timedelta(seconds=30),
            retry_policy=RetryPolicy(maximum_attempts=1),
        )
        return answer


async def prepare(stack: Stack, host: str, ws: Workspace, wid: str) -> PreparedWorktree:
    async with stack.state.db.session() as s:
        ref = await SecretRefService(s, SecretBox(TEST_MASTER)).mint(
            "git.fetch", PAT, workspace_id=ws.id
        )
    inp = PrepareWorktreeInput(
        workspace_id=ws.id, git_url=ws.git_url, base_branch="main",
        new_branch=f"polygent/{wid}", worktree_id=wid, secret_ref=ref,
    )  # fmt: skip
    assert stack.state.temporal is not None
    return await stack.state.temporal.execute_workflow(
        PrepareOnHostWorkflow.run, PrepareOnHost(host=host, inp=inp),
        id=f"test-prepare-{uuid.uuid4().hex[:8]}", task_queue=TEST_QUEUE,
    )  # fmt: skip


def backdate(path: Path, hours: float = 2) -> None:
    """Make a worktree look untouched for `hours` (its directory and its git admin files)."""
    gitdir = Path((path / ".git").read_text().split(":", 1)[1].strip())
    stamp = time.time() - hours * 3600
    for p in (path, gitdir / "index", gitdir / "HEAD", gitdir / "logs" / "HEAD"):
        if p.exists():
            os.utime(p, (stamp, stamp))


async def test_cleanup_removes_only_old_orphans(
    db: Database, temporal_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    client = temporal_env.client
    remote_root = tmp_path / "remote"
    make_repo(remote_root, "proj.git")
    async with (
        running_stack(db, client, tmp_path) as stack,
        Worker(client, task_queue=TEST_QUEUE, workflows=[PrepareOnHostWorkflow]),
    ):
        host = unique_host()
        await stack.start_agent(host, "session")
        await wait_for(lambda: stack.worker(host, "session"), what="the agent registers")
        with serve_git(remote_root, PAT) as (base, seen):
            async with db.session() as s:
                ws = Workspace(name=f"ws-{uuid.uuid4().hex[:6]}", git_url=f"{base}/proj.git")
                s.add(ws)
                await s.flush()
                rows = {
                    name: Session(workspace_id=ws.id, mode=mode, status=status)
                    for name, mode, status in [
                        ("active", "develop", "running"),
                        ("done", "develop", "done"),
                        ("chat", "chat", "done"),
                    ]
                }
                s.add_all(rows.values())
                await s.flush()
                ids = {name: row.id for name, row in rows.items()}
            ids["fresh"] = "fresh-orphan"  # no session row, but younger than the grace period
            made = {name: await prepare(stack, host, ws, wid) for name, wid in ids.items()}
            assert made["active"].cloned and not made["done"].cloned
            assert all(PAT not in h for h in seen)  # sent base64-encoded in a header only
        Path(made["done"].path, "unsaved.txt").write_text("unsaved\n")
        for name in ("active", "done", "chat"):
            backdate(Path(made[name].path))

        handle = await ensure_worktree_cleanup(client)
        try:
            await ensure_worktree_cleanup(client)  # a second start only updates it
            spec = (await handle.describe()).schedule.spec
            assert [i.every for i in spec.intervals] == [timedelta(hours=1)]
            await handle.trigger()
            described = await wait_for(
                lambda: _recent_run(handle), what="the schedule starts a cleanup"
            )
            result = await client.get_workflow_handle(described, result_type=CleanupResult).result()
        finally:
            with contextlib.suppress(Exception):
                await handle.delete()

        assert result.errors == []
        assert result.removed == [f"{host}:{ws.id}/{ids['done']}"]
        assert result.kept == 3
        assert not Path(made["done"].path).exists()
        for name in ("active", "chat", "fresh"):
            assert Path(made[name].path).is_dir(), name
        bare = Path(made["done"].path).parent.parent / "repo.git"
        ref = f"refs/polygent/sessions/{ids['done']}/checkpoint-1"
        shown = subprocess.run(
            ["git", "show", f"{ref}:unsaved.txt"], cwd=bare, capture_output=True, text=True
        )
        assert shown.stdout == "unsaved\n", shown.stderr


async def _recent_run(handle: ScheduleHandle) -> str | None:
    actions = (await handle.describe()).info.recent_actions
    action = actions[-1].action if actions else None
    return action.workflow_id if isinstance(action, ScheduleActionExecutionStartWorkflow) else None

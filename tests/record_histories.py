"""Record workflow histories for the replay tests: `python -m tests.record_histories`."""

from __future__ import annotations

import asyncio
import json
import subprocess
import tempfile
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from orchestrator.contracts.git import GitCheckInput, GitCheckRequest
from orchestrator.db import Database
from orchestrator.migrate import upgrade
from orchestrator.queues import ORCHESTRATOR_QUEUE, SEARCH_ATTRIBUTE_KEYS
from orchestrator.temporal import data_converter
from tests.helpers import TEST_PAYLOAD_KEYS, binary, wait_for
from tests.integration.stack import running_stack
from tests.replay import HISTORIES
from workflows.git_check import GitCheckWorkflow
from workflows.worktree_cleanup import WorktreeCleanupWorkflow


async def _record(stack, host: str, name: str) -> None:  # type: ignore[no-untyped-def]
    started = (await stack.http.post(f"/api/hosts/{host}/probe")).json()
    handle = stack.state.temporal.get_workflow_handle(started["workflow_id"])
    await handle.result()
    history = await handle.fetch_history()
    out = {"workflow_id": started["workflow_id"], "history": json.loads(history.to_json())}
    (HISTORIES / f"{name}.json").write_text(json.dumps(out, indent=1) + "\n")
    print(f"recorded {name}")


async def _record_git_check(stack, tmp: Path) -> None:  # type: ignore[no-untyped-def]
    """A git check whose first host is gone (schedule-to-start) and whose second answers."""
    bare = tmp / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(bare)], check=True)
    req = GitCheckRequest(
        check=GitCheckInput(git_url=str(bare), branch="main"),
        hosts=["gone-host", "recorder"],
        schedule_to_start_seconds=2,
    )
    wid = "git-check-recorded"
    handle = await stack.state.temporal.start_workflow(
        GitCheckWorkflow.run, req, id=wid, task_queue=ORCHESTRATOR_QUEUE
    )
    outcome = await handle.result()
    assert outcome.host_id == "recorder" and outcome.result is not None, outcome
    history = await handle.fetch_history()
    out = {"workflow_id": wid, "history": json.loads(history.to_json())}
    (HISTORIES / "git_check_second_host.json").write_text(json.dumps(out, indent=1) + "\n")
    print("recorded git_check_second_host")


async def _record_worktree_cleanup(stack, tmp: Path) -> None:  # type: ignore[no-untyped-def]
    """One host with a worktree a running session wants and an old orphan, which goes."""
    import contextlib
    import os
    import time

    from temporalio.testing import ActivityEnvironment

    from activities.agent.worktrees import WorktreeActivities
    from orchestrator.contracts.worktrees import CleanupInput, PrepareWorktreeInput
    from orchestrator.sessions.models import Session
    from orchestrator.workspaces.models import Workspace
    from tests.fakes.git_http import make_repo, serve_git

    make_repo(tmp / "wt-remote", "proj.git")
    acts = WorktreeActivities(tmp / "recorder" / "session", contextlib.nullcontext)  # type: ignore[arg-type]
    with serve_git(tmp / "wt-remote", None) as (base, _):
        async with stack.state.db.session() as s:
            ws = Workspace(name="recorded", git_url=f"{base}/proj.git")
            s.add(ws)
            await s.flush()
            live = Session(workspace_id=ws.id, mode="develop", status="running")
            s.add(live)
            await s.flush()
        for wid in (live.id, "orphan"):
            inp = PrepareWorktreeInput(
                workspace_id=ws.id, git_url=ws.git_url, base_branch="main",
                new_branch=f"polygent/{wid}", worktree_id=wid,
            )  # fmt: skip
            made = await ActivityEnvironment().run(acts.prepare, inp)
            old = time.time() - 7200
            gitdir = Path(made.path).parent.parent / "repo.git" / "worktrees" / wid
            for path in (
                Path(made.path),
                gitdir / "index",
                gitdir / "HEAD",
                gitdir / "logs" / "HEAD",
            ):
                if path.exists():
                    os.utime(path, (old, old))
    wid = "worktree-cleanup-recorded"
    handle = await stack.state.temporal.start_workflow(
        WorktreeCleanupWorkflow.run, CleanupInput(), id=wid, task_queue=ORCHESTRATOR_QUEUE
    )
    result = await handle.result()
    assert len(result.removed) == 1 and result.kept == 1 and not result.errors, result
    history = await handle.fetch_history()
    out = {"workflow_id": wid, "history": json.loads(history.to_json())}
    (HISTORIES / "worktree_cleanup_one_orphan.json").write_text(json.dumps(out, indent=1) + "\n")
    print("recorded worktree_cleanup_one_orphan")


async def main() -> None:
    env = await WorkflowEnvironment.start_local(
        namespace="default", data_converter=data_converter(TEST_PAYLOAD_KEYS),
        search_attributes=list(SEARCH_ATTRIBUTE_KEYS), dev_server_existing_path=binary("temporal"),
    )  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/r.db"
        await upgrade(url)
        db = Database(url)
        async with running_stack(db, env.client, Path(tmp)) as stack:
            await stack.start_agent("recorder", "session")
            await stack.start_agent("recorder", "deploy")
            await wait_for(lambda: stack.worker("recorder", "deploy"))
            await wait_for(lambda: stack.worker("recorder", "session"))
            await _record(stack, "recorder", "host_probe_ok")
            await stack.stop_agent("recorder", "deploy")
            await _record(stack, "recorder", "host_probe_deploy_offline")
            await _record_git_check(stack, Path(tmp))
            await _record_worktree_cleanup(stack, Path(tmp))
        await db.dispose()
    await env.shutdown()


if __name__ == "__main__":
    asyncio.run(main())

"""Record workflow histories for the replay tests: `python -m tests.record_histories`."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from temporalio.testing import WorkflowEnvironment

from orchestrator.contracts.git import GitCheckInput, GitCheckRequest
from orchestrator.db import Database
from orchestrator.migrate import upgrade
from orchestrator.queues import ORCHESTRATOR_QUEUE, SEARCH_ATTRIBUTE_KEYS
from orchestrator.temporal import data_converter
from tests.fakes.github_issues import serve_github_issues
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


async def _record_host_call(stack) -> None:  # type: ignore[no-untyped-def]
    """A host call the recorder's session agent answers, and one to a host that is gone."""
    from orchestrator.contracts.session_panel import HostCall
    from workflows.host_call import HostCallWorkflow

    for name, host in (("host_call_ok", "recorder"), ("host_call_offline", "gone-host")):
        wid = f"session-recorded-panel-{name}"
        call = HostCall(
            host_id=host, activity="worktree.list", payload={}, schedule_to_start_seconds=2
        )
        handle = await stack.state.temporal.start_workflow(
            HostCallWorkflow.run, call, id=wid, task_queue=ORCHESTRATOR_QUEUE
        )
        outcome = await handle.result()
        assert outcome.offline == (host == "gone-host"), outcome
        history = await handle.fetch_history()
        out = {"workflow_id": wid, "history": json.loads(history.to_json())}
        (HISTORIES / f"{name}.json").write_text(json.dumps(out, indent=1) + "\n")
        print(f"recorded {name}")


async def _record_session(stack, tmp: Path) -> None:  # type: ignore[no-untyped-def]
    """A Develop session: one turn of the real Claude Code CLI (fake Anthropic), then Done."""
    import os

    from tests.clis import cli_path
    from tests.fakes.anthropic import finish, serve_anthropic, write_file
    from tests.integration.sessions_kit import add_workspace, git_remote

    with serve_anthropic() as fake, git_remote(tmp / "session-remote") as remote:
        os.environ.update(PATH=cli_path(), ANTHROPIC_BASE_URL=fake.base_url,
                          NO_PROXY="127.0.0.1,localhost")  # fmt: skip
        fake.script([write_file("hello.txt", "hello\n"), finish("Done.")])
        # A host that reports Claude Code installed (the other one started without it on PATH).
        await stack.start_agent("session-recorder", "session")
        await wait_for(lambda: stack.worker("session-recorder", "session"))
        ws_id = await add_workspace(stack.state.db, remote)
        created = (await stack.http.post(
            f"/api/workspaces/{ws_id}/sessions",
            json={"mode": "develop", "message": "Write hello.txt", "toggles": {"edge_cases": True}},
        )).json()  # fmt: skip
        sid = created["id"]

        async def turned() -> bool:
            row = (await stack.http.get(f"/api/sessions/{sid}")).json()
            return bool(row["turns"] == 1 and row["status"] == "waiting")

        await wait_for(turned, timeout=120)
        await stack.http.post(f"/api/sessions/{sid}/complete")
        handle = stack.state.temporal.get_workflow_handle(f"session-{sid}")
        assert await handle.result() == "done"
        history = await handle.fetch_history()
        out = {"workflow_id": f"session-{sid}", "history": json.loads(history.to_json())}
        (HISTORIES / "session_develop_done.json").write_text(json.dumps(out, indent=1) + "\n")
        print("recorded session_develop_done")


async def _record_ticket(stack, tmp: Path) -> None:  # type: ignore[no-untyped-def]
    """A ticket: queued, implemented by the real Claude Code CLI (fake Anthropic), approved by
    the developer (no QA), merged directly into the starter branch."""
    import os

    from tests.clis import cli_path
    from tests.fakes.anthropic import finish, serve_anthropic, write_file
    from tests.integration.sessions_kit import add_workspace, git_remote

    with serve_anthropic() as fake, git_remote(tmp / "ticket-remote") as remote:
        os.environ.update(PATH=cli_path(), ANTHROPIC_BASE_URL=fake.base_url,
                          NO_PROXY="127.0.0.1,localhost")  # fmt: skip
        fake.script([write_file("hello.txt", "hello\n"), finish("Done.\n<polygent:done/>")])
        if await stack.worker("ticket-recorder", "session") is None:
            await stack.start_agent("ticket-recorder", "session")
            await wait_for(lambda: stack.worker("ticket-recorder", "session"))
        ws_id = await add_workspace(stack.state.db, remote)
        await stack.http.put(f"/api/workspaces/{ws_id}/tickets-config",
                             json={"merge_mode": "direct", "key_prefix": "REC"})  # fmt: skip
        created = (await stack.http.post(
            f"/api/workspaces/{ws_id}/tickets",
            json={"title": "Write hello.txt", "queue": True, "force_no_qa": True},
        )).json()  # fmt: skip
        tid = created["id"]

        async def stage(want: str) -> bool:
            return bool((await stack.http.get(f"/api/tickets/{tid}")).json()["stage"] == want)

        await wait_for(lambda: stage("dev_approval"), timeout=120)
        await stack.http.post(f"/api/tickets/{tid}/approve", json={})
        handle = stack.state.temporal.get_workflow_handle(f"ticket-{tid}")
        assert await handle.result() == "completed"
        history = await handle.fetch_history()
        out = {"workflow_id": f"ticket-{tid}", "history": json.loads(history.to_json())}
        (HISTORIES / "ticket_dev_approved_direct_merge.json").write_text(
            json.dumps(out, indent=1) + "\n"
        )
        print("recorded ticket_dev_approved_direct_merge")


async def _record_ticket_sync(stack, tmp: Path) -> None:  # type: ignore[no-untyped-def]
    """A sync run that makes one ticket from a GitHub issue (fake GitHub), and "Create GitHub
    Issue" for a manual ticket. The worker reads POLYGENT_GITHUB_API_URL (set by main)."""
    from orchestrator.security.crypto import SecretBox
    from orchestrator.workspaces.models import Workspace
    from orchestrator.workspaces.sealed import git_pat_aad
    from tests.helpers import TEST_MASTER

    fake = RECORDING["github"]
    fake.add("Recorded issue", labels=["agent"])
    async with stack.state.db.session() as s:
        ws = Workspace(name="sync-recorded", git_url="https://example.invalid/r.git")
        s.add(ws)
        await s.flush()
        ws.git_pat = SecretBox(TEST_MASTER).encrypt("ghp_recorder", git_pat_aad(ws))
        ws_id = ws.id
    tickets = {"source": "github", "owner": "acme", "repo": "widgets",
               "label_filters": ["agent"], "sync_enabled": True}  # fmt: skip
    await stack.http.patch(f"/api/workspaces/{ws_id}", json={"tickets": tickets})
    report = (await stack.http.post(f"/api/workspaces/{ws_id}/tickets/sync")).json()
    assert len(report["created"]) == 1, report
    await stack.state.temporal.get_schedule_handle(f"ticket-sync-{ws_id}").delete()
    tid = (await stack.http.post(f"/api/workspaces/{ws_id}/tickets",
                                 json={"title": "Recorded ticket"})).json()["id"]  # fmt: skip
    link = (await stack.http.post(f"/api/tickets/{tid}/github-issue")).json()
    assert link["created"] is True, link
    for wid, name in ((f"ticket-sync-{ws_id}", "ticket_sync_one_created"),
                      (f"ticket-item-{tid}-github", "ticket_item_github_issue")):  # fmt: skip
        history = await stack.state.temporal.get_workflow_handle(wid).fetch_history()
        out = {"workflow_id": wid, "history": json.loads(history.to_json())}
        (HISTORIES / f"{name}.json").write_text(json.dumps(out, indent=1) + "\n")
        print(f"recorded {name}")


RECORDING: dict[str, Any] = {}


async def main(only: str | None = None) -> None:
    env = await WorkflowEnvironment.start_local(
        namespace="default", data_converter=data_converter(TEST_PAYLOAD_KEYS),
        search_attributes=list(SEARCH_ATTRIBUTE_KEYS), dev_server_existing_path=binary("temporal"),
    )  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/r.db"
        await upgrade(url)
        db = Database(url)
        with serve_github_issues("ghp_recorder") as github:
            os.environ["POLYGENT_GITHUB_API_URL"] = github.base_url
            RECORDING["github"] = github
            async with running_stack(db, env.client, Path(tmp)) as stack:
                if only == "ticket":
                    await _record_ticket(stack, Path(tmp))
                elif only == "sync":
                    await _record_ticket_sync(stack, Path(tmp))
                else:
                    await _record_all(stack, Path(tmp))
        await db.dispose()
    await env.shutdown()


async def _record_all(stack, tmp: Path) -> None:  # type: ignore[no-untyped-def]
    await stack.start_agent("recorder", "session")
    await stack.start_agent("recorder", "deploy")
    await wait_for(lambda: stack.worker("recorder", "deploy"))
    await wait_for(lambda: stack.worker("recorder", "session"))
    await _record(stack, "recorder", "host_probe_ok")
    await stack.stop_agent("recorder", "deploy")
    await _record(stack, "recorder", "host_probe_deploy_offline")
    await _record_git_check(stack, tmp)
    await _record_worktree_cleanup(stack, tmp)
    await _record_host_call(stack)
    await _record_session(stack, tmp)
    await _record_ticket(stack, tmp)
    await _record_ticket_sync(stack, tmp)


if __name__ == "__main__":
    import sys

    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else None))

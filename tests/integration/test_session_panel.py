"""The session panel end to end: the API, HostCallWorkflow, a real session agent with a real
worktree, and a real git remote that wants the workspace token (git http-backend)."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from sqlalchemy import select
from temporalio.testing import WorkflowEnvironment

from orchestrator.audit.models import AuditEntry
from orchestrator.contracts.session_panel import HostCall
from orchestrator.contracts.worktrees import PreparedWorktree, PrepareWorktreeInput
from orchestrator.db import Database
from orchestrator.queues import ORCHESTRATOR_QUEUE
from orchestrator.secrets.service import SecretRefService
from orchestrator.sessions.models import Session
from orchestrator.users.repository import RoleRepository, UserRepository
from orchestrator.workspaces.models import Workspace, WorkspaceMember
from orchestrator.workspaces.sealed import git_pat_aad
from tests.fakes.git_http import make_repo, serve_git
from tests.helpers import wait_for
from tests.integration.stack import Stack, running_stack, sign_in, unique_host
from workflows.host_call import HostCallWorkflow

pytestmark = pytest.mark.sessions

PAT = "pat-panel-3b9d61e0c4"
GIT_ENV = {
    **os.environ,
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@t",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@t",
}


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True, env=GIT_ENV
    ).stdout.strip()


def upstream_commit(remote: Path, tmp: Path, name: str, content: str, branch: str = "main") -> str:
    """Someone else pushes a commit to `branch` of the remote."""
    work = tmp / f"upstream-{uuid.uuid4().hex[:6]}"
    subprocess.run(["git", "clone", "-q", "-b", branch, str(remote), str(work)], check=True)
    (work / name).write_text(content)
    git(work, "add", name)
    git(work, "commit", "-q", "-m", f"upstream {name}")
    git(work, "push", "-q", "origin", f"HEAD:refs/heads/{branch}")
    return git(work, "rev-parse", "HEAD")


@dataclass
class Panel:
    stack: Stack
    host: str
    sid: str
    worktree: Path
    remote: Path
    owner: httpx.AsyncClient  # qa role: owns the session, may not merge into the starter
    viewer: httpx.AsyncClient  # a member who may see only their own sessions

    @property
    def admin(self) -> httpx.AsyncClient:
        return self.stack.http

    def url(self, tail: str) -> str:
        return f"/api/sessions/{self.sid}/{tail}"


@pytest.fixture
def remote(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    root = tmp_path / "remote"
    bare = make_repo(root, "proj.git", ["main"])
    with serve_git(root, PAT) as (base, _):
        yield f"{base}/proj.git", bare


async def _client(stack: Stack, name: str, role: str) -> tuple[httpx.AsyncClient, str]:
    """A signed-in person holding exactly `role` (new users also get the default role)."""
    token = await sign_in(stack.state, name)
    client = httpx.AsyncClient(
        base_url=stack.url, timeout=60, headers={"Authorization": f"Bearer {token}"}
    )
    user_id: str = (await client.get("/api/me")).json()["id"]
    async with stack.state.db.session() as s:
        found = await RoleRepository(s).by_name(role)
        assert found is not None
        await UserRepository(s).set_roles(user_id, [found.id])
    return client, user_id


async def prepare(stack: Stack, host: str, ws: Workspace, sid: str) -> PreparedWorktree:
    """The worktree the session workflow would prepare, through the same host call."""
    async with stack.state.db.session() as s:
        ref = await SecretRefService(s, stack.state.secrets).mint(
            "git.fetch", PAT, workspace_id=ws.id
        )
    inp = PrepareWorktreeInput(
        workspace_id=ws.id, git_url=ws.git_url, base_branch="main",
        new_branch=f"polygent/{sid}", worktree_id=sid, secret_ref=ref,
    )  # fmt: skip
    assert stack.state.temporal is not None
    outcome = await stack.state.temporal.execute_workflow(
        HostCallWorkflow.run,
        HostCall(host_id=host, activity="worktree.prepare", payload=inp.model_dump(mode="json")),
        id=f"test-prepare-{uuid.uuid4().hex[:8]}", task_queue=ORCHESTRATOR_QUEUE,
    )  # fmt: skip
    assert outcome.result is not None, outcome
    return PreparedWorktree.model_validate(outcome.result)


@pytest_asyncio.fixture
async def panel(
    db: Database, temporal_env: WorkflowEnvironment, tmp_path: Path, remote: tuple[str, Path]
) -> AsyncIterator[Panel]:
    url, bare = remote
    async with running_stack(db, temporal_env.client, tmp_path) as stack:
        host = unique_host()
        await stack.start_agent(host, "session")
        await wait_for(lambda: stack.worker(host, "session"), what="the agent registers")
        owner, owner_id = await _client(stack, "panel-owner", "qa")
        viewer, viewer_id = await _client(stack, "panel-viewer", "viewer")
        async with db.session() as s:
            ws = Workspace(name=f"panel-{uuid.uuid4().hex[:6]}", git_url=url)
            s.add(ws)
            await s.flush()
            ws.git_pat = stack.state.secrets.encrypt(PAT, git_pat_aad(ws))
            s.add_all(
                [WorkspaceMember(workspace_id=ws.id, user_id=u) for u in (owner_id, viewer_id)]
            )
            row = Session(
                workspace_id=ws.id, host_id=host, mode="develop", base_branch="main",
                created_by=owner_id, title="panel",
            )  # fmt: skip
            s.add(row)
            await s.flush()
            row.branch = f"polygent/{row.id}"
            sid = row.id
        made = await prepare(stack, host, ws, sid)
        try:
            yield Panel(stack, host, sid, Path(made.path), bare, owner, viewer)
        finally:
            await owner.aclose()
            await viewer.aclose()


def problem(r: httpx.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = r.json()
    return body


async def test_files_list_read_write_and_nothing_outside_the_worktree(
    panel: Panel, tmp_path: Path
) -> None:
    p, wt = panel, panel.worktree
    r = await p.owner.get(p.url("files"))
    assert r.status_code == 200, r.text
    assert r.json()["entries"] == [
        {"name": "README.md", "path": "README.md", "type": "file", "size": 6}
    ]
    r = await p.owner.get(p.url("files/content"), params={"path": "README.md"})
    assert r.json() == {
        "path": "README.md", "content": "hello\n", "size": 6, "binary": False, "too_large": False
    }  # fmt: skip

    r = await p.owner.put(p.url("files/content"), json={"path": "src/app.py", "content": "x = 1\n"})
    assert r.status_code == 200, r.text
    assert r.json() == {"path": "src/app.py", "size": 6, "created": True}
    assert (wt / "src" / "app.py").read_text() == "x = 1\n"
    listing = (await p.owner.get(p.url("files"), params={"path": "src"})).json()
    assert listing["path"] == "src" and [e["path"] for e in listing["entries"]] == ["src/app.py"]
    (wt / "blob.bin").write_bytes(b"\x00\x01\x02")
    r = await p.owner.get(p.url("files/content"), params={"path": "blob.bin"})
    assert r.json()["binary"] is True and r.json()["content"] == ""
    (wt / "readme-link").symlink_to("README.md")  # a link inside the worktree is fine
    r = await p.owner.get(p.url("files/content"), params={"path": "readme-link"})
    assert r.json()["content"] == "hello\n"

    # Paths that leave the worktree, lexically or through a link the agent planted.
    secret = tmp_path / "outside.txt"
    secret.write_text("host secret\n")
    (wt / "leak").symlink_to(secret)
    (wt / "leakdir").symlink_to(tmp_path)
    for path in ("../../outside.txt", "/etc/passwd", ".git/config", "src/../../x", "a\x01b"):
        body = problem(await p.owner.get(p.url("files/content"), params={"path": path}), 422)
        assert body["errors"][0]["field"] == "path", body
    for path in ("leak", "leakdir/outside.txt"):
        body = problem(await p.owner.get(p.url("files/content"), params={"path": path}), 422)
        assert "outside the worktree" in body["detail"] and "host secret" not in str(body)
    problem(await p.owner.get(p.url("files"), params={"path": "leakdir"}), 422)
    for path in ("leak", "leakdir/new.txt", "../escape.txt", ".git/hooks/pre-push"):
        r = await p.owner.put(p.url("files/content"), json={"path": path, "content": "pwned"})
        assert r.status_code == 422, (path, r.text)
    assert secret.read_text() == "host secret\n" and not (tmp_path / "new.txt").exists()
    assert not (tmp_path / "escape.txt").exists()
    problem(await p.owner.get(p.url("files/content"), params={"path": "missing.txt"}), 404)
    problem(await p.owner.get(p.url("files/content"), params={"path": "src"}), 422)

    # Who may: the viewer sees only their own sessions; outsiders do not see it at all.
    problem(await p.viewer.get(p.url("files")), 403)
    problem(await p.viewer.put(p.url("files/content"), json={"path": "a", "content": ""}), 403)
    problem(await p.owner.get("/api/sessions/nosuchsession/files"), 404)


async def test_status_diff_stage_unstage_discard_commit(panel: Panel) -> None:
    p, wt = panel, panel.worktree
    await p.owner.put(p.url("files/content"), json={"path": "README.md", "content": "changed\n"})
    await p.owner.put(p.url("files/content"), json={"path": "new/file.txt", "content": "new\n"})
    status = (await p.owner.get(p.url("git/status"))).json()
    assert status["branch"] == f"polygent/{p.sid}" and status["upstream"] == "origin/main"
    assert (status["ahead"], status["behind"]) == (0, 0)
    codes = {f["path"]: (f["index"], f["worktree"], f["staged"]) for f in status["files"]}
    assert codes == {"README.md": (" ", "M", False), "new/file.txt": ("?", "?", False)}

    diff = (await p.owner.get(p.url("git/diff"), params={"path": "README.md"})).json()["diff"]
    assert "-hello" in diff and "+changed" in diff
    diff = (await p.owner.get(p.url("git/diff"), params={"path": "new/file.txt"})).json()["diff"]
    assert "+new" in diff

    r = await p.owner.post(p.url("git/stage"), json={"paths": ["README.md", "new/file.txt"]})
    assert r.status_code == 200 and r.json()["ok"], r.text
    status = (await p.owner.get(p.url("git/status"))).json()
    assert all(f["staged"] for f in status["files"]) and len(status["files"]) == 2
    staged = await p.owner.get(p.url("git/diff"), params={"path": "README.md", "staged": "true"})
    assert "+changed" in staged.json()["diff"]
    unstaged = await p.owner.get(p.url("git/diff"), params={"path": "README.md"})
    assert unstaged.json()["diff"] == ""

    await p.owner.post(p.url("git/unstage"), json={"paths": ["new/file.txt"]})
    r = await p.owner.post(p.url("git/discard"), json={"paths": ["new/file.txt"]})
    assert r.status_code == 200, r.text
    assert not (wt / "new" / "file.txt").exists()
    problem(await p.owner.post(p.url("git/stage"), json={"paths": ["../x"]}), 422)
    problem(await p.owner.post(p.url("git/commit"), json={"message": "   "}), 422)

    r = await p.owner.post(p.url("git/commit"), json={"message": "Change the README"})
    assert r.status_code == 200 and r.json()["ok"], r.text
    assert r.json()["sha"] == git(wt, "rev-parse", "HEAD")
    assert git(wt, "log", "-1", "--format=%an|%s") == "panel-owner|Change the README"
    status = (await p.owner.get(p.url("git/status"))).json()
    assert status["files"] == [] and status["ahead"] == 1
    body = problem(await p.owner.post(p.url("git/commit"), json={"message": "again"}), 409)
    assert "Nothing is staged" in body["detail"]

    # Discarding a tracked change brings back the committed content.
    await p.owner.put(p.url("files/content"), json={"path": "README.md", "content": "oops\n"})
    await p.owner.post(p.url("git/discard"), json={"paths": ["README.md"]})
    assert (wt / "README.md").read_text() == "changed\n"
    problem(await p.viewer.post(p.url("git/commit"), json={"message": "x"}), 403)


async def _audit(p: Panel, action: str) -> list[AuditEntry]:
    async with p.stack.state.db.session() as s:
        rows = await s.scalars(select(AuditEntry).where(AuditEntry.action == action))
        return list(rows)


async def test_push_pull_and_merge_into_the_starter_branch(panel: Panel, tmp_path: Path) -> None:
    p, wt = panel, panel.worktree
    branch = f"polygent/{p.sid}"
    await p.owner.put(p.url("files/content"), json={"path": "feature.txt", "content": "f\n"})
    await p.owner.post(p.url("git/stage"), json={"paths": ["feature.txt"]})
    head = (await p.owner.post(p.url("git/commit"), json={"message": "feature"})).json()["sha"]

    r = await p.owner.post(p.url("git/push"))
    assert r.status_code == 200 and r.json()["sha"] == head, r.text
    assert git(p.remote, "rev-parse", f"refs/heads/{branch}") == head
    [pushed] = await _audit(p, "session.git_push")
    assert pushed.target_id == p.sid and pushed.details["ok"] and pushed.details["sha"] == head

    upstream = upstream_commit(p.remote, tmp_path, "upstream.txt", "u\n")
    r = await p.owner.post(p.url("git/pull"))
    assert r.status_code == 200 and r.json()["ok"], r.text
    assert (wt / "upstream.txt").read_text() == "u\n"
    assert git(wt, "merge-base", "--is-ancestor", upstream, "HEAD") == ""
    status = (await p.owner.get(p.url("git/status"))).json()
    assert status["behind"] == 0 and status["ahead"] == 2

    main_before = git(p.remote, "rev-parse", "refs/heads/main")
    body = problem(await p.owner.post(p.url("git/merge")), 403)
    assert "sessions.merge_to_starter" in body["detail"]
    assert git(p.remote, "rev-parse", "refs/heads/main") == main_before

    session_head = git(wt, "rev-parse", "HEAD")
    r = await p.admin.post(p.url("git/merge"))
    assert r.status_code == 200 and r.json()["ok"], r.text
    merged = git(p.remote, "rev-parse", "refs/heads/main")
    assert merged == r.json()["sha"]
    assert git(p.remote, "log", "-1", "--format=%P", merged).split() == [main_before, session_head]
    assert git(p.remote, "show", f"{merged}:feature.txt") == "f"
    [audited] = await _audit(p, "session.git_merge")
    assert audited.details["ok"] and audited.details["sha"] == merged
    again = await p.admin.post(p.url("git/merge"))
    assert again.status_code == 200 and "already contains" in again.json()["message"]
    assert git(p.remote, "rev-parse", "refs/heads/main") == merged

    # The token never landed on the host's disk.
    bare = wt.parent.parent / "repo.git"
    assert PAT not in (bare / "config").read_text() and PAT not in (wt / ".git").read_text()


async def test_conflicts_answer_409_with_the_files_and_change_nothing(
    panel: Panel, tmp_path: Path
) -> None:
    p, wt = panel, panel.worktree
    await p.owner.put(p.url("files/content"), json={"path": "README.md", "content": "ours\n"})
    await p.owner.post(p.url("git/stage"), json={"paths": ["README.md"]})
    await p.owner.post(p.url("git/commit"), json={"message": "ours"})
    upstream_commit(p.remote, tmp_path, "README.md", "theirs\n")
    main_before = git(p.remote, "rev-parse", "refs/heads/main")
    head_before = git(wt, "rev-parse", "HEAD")

    body = problem(await p.admin.post(p.url("git/merge")), 409)
    assert body["files"] == ["README.md"], body
    assert git(p.remote, "rev-parse", "refs/heads/main") == main_before
    [audited] = await _audit(p, "session.git_merge")
    assert not audited.details["ok"] and audited.details["conflicts"] == ["README.md"]

    body = problem(await p.owner.post(p.url("git/pull")), 409)
    assert body["files"] == ["README.md"], body
    assert git(wt, "rev-parse", "HEAD") == head_before
    assert (wt / "README.md").read_text() == "ours\n"
    assert git(wt, "status", "--porcelain") == ""

    # A bare repository configured to send the token elsewhere is refused before the push.
    bare = wt.parent.parent / "repo.git"
    git(bare, "config", "url.http://evil.invalid/.insteadOf", "http://127.0.0.1")
    body = problem(await p.owner.post(p.url("git/push")), 409)
    assert "url.http://evil.invalid/.insteadof" in body["detail"]


async def test_no_worktree_yet_is_409_and_an_offline_host_503(panel: Panel) -> None:
    p = panel
    async with p.stack.state.db.session() as s:
        row = await s.get(Session, p.sid)
        assert row is not None
        fresh = Session(
            workspace_id=row.workspace_id, mode="develop", created_by=row.created_by, title="new"
        )
        s.add(fresh)
        await s.flush()
        fresh_id = fresh.id
    body = problem(await p.owner.get(f"/api/sessions/{fresh_id}/files"), 409)
    assert "no worktree yet" in body["detail"]

    await p.stack.stop_agent(p.host, "session")
    body = problem(await p.owner.get(p.url("git/status")), 503)
    assert body["detail"] == f"Host {p.host} is offline."

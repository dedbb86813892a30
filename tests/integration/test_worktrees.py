"""worktree.* activities run directly against a real git remote (git http-backend + PAT)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import os
import socket
import subprocess
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.agent.worktrees import WorktreeActivities
from orchestrator.contracts.worktrees import (
    CheckpointInput,
    ListWorktreesInput,
    PrepareWorktreeInput,
    WorktreeKey,
)
from orchestrator.hostagent.client import SecretUnavailable
from tests.fakes.git_http import make_repo, serve_git

pytestmark = pytest.mark.sessions

PAT = "pat-7f3c9e1d2b4a"
PAT_B64 = base64.b64encode(f"x-access-token:{PAT}".encode()).decode()
GIT_ENV = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True, env=GIT_ENV
    ).stdout.strip()


@dataclass
class FakeApi:
    """Secret references redeemable once, like the real API."""

    secrets: dict[str, str] = field(default_factory=dict)
    redeemed: list[str] = field(default_factory=list)

    async def get_secret(self, ref: str) -> str:
        if ref not in self.secrets:
            raise SecretUnavailable("the secret reference expired or was already used")
        self.redeemed.append(ref)
        return self.secrets.pop(ref)

    def mint(self, ref: str) -> str:
        self.secrets[ref] = PAT
        return ref

    @contextlib.asynccontextmanager
    async def __call__(self) -> AsyncIterator[FakeApi]:
        yield self


@dataclass
class Bench:
    url: str
    remote: Path
    storage: Path
    api: FakeApi
    acts: WorktreeActivities
    argv_log: Path
    env: ActivityEnvironment

    def inp(self, wid: str, base: str = "main", **kw: str | None) -> PrepareWorktreeInput:
        kw.setdefault("secret_ref", self.api.mint(f"ref-{wid}-{len(self.api.secrets)}"))
        return PrepareWorktreeInput(
            workspace_id="ws1", git_url=self.url, base_branch=base,
            new_branch=f"polygent/{wid}", worktree_id=wid, **kw,  # type: ignore[arg-type]
        )  # fmt: skip


@pytest.fixture
def bench(tmp_path: Path) -> Iterator[Bench]:
    remote_root = tmp_path / "remote"
    remote = make_repo(remote_root, "proj.git", ["main", "dev"])
    argv_log = tmp_path / "argv.log"
    wrapper = tmp_path / "git-wrapper"
    wrapper.write_text(f'#!/bin/sh\nprintf "%s\\n" "$*" >> {argv_log}\nexec git "$@"\n')
    wrapper.chmod(0o755)
    api = FakeApi()
    with serve_git(remote_root, PAT) as (base, _seen):
        acts = WorktreeActivities(tmp_path / "storage", api, git=str(wrapper))
        yield Bench(
            f"{base}/proj.git", remote, tmp_path / "storage", api, acts, argv_log,
            ActivityEnvironment(),
        )  # fmt: skip


def push_commit(remote: Path, tmp: Path, branch: str, name: str) -> str:
    work = tmp / f"push-{name}"
    subprocess.run(["git", "clone", "-q", str(remote), str(work)], check=True, env=GIT_ENV)
    git(work, "checkout", "-q", "-B", branch)
    (work / name).write_text(name)
    git(work, "add", name)
    git(work, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", name)
    git(work, "push", "-q", "origin", f"HEAD:refs/heads/{branch}")
    return git(work, "rev-parse", "HEAD")


def all_text(root: Path) -> str:
    chunks = []
    for p in root.rglob("*"):
        if p.is_file() and not p.is_symlink():
            chunks.append(p.read_bytes().decode(errors="replace"))
    return "\n".join(chunks)


async def test_prepare_clones_once_then_fetches_and_never_stores_the_token(
    bench: Bench, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    first = await bench.env.run(bench.acts.prepare, bench.inp("s1"))
    wt = Path(first.path)
    bare = bench.storage / "workspaces" / "ws1" / "repo.git"
    assert first.cloned and first.created
    assert wt == (bench.storage / "workspaces" / "ws1" / "worktrees" / "s1").resolve()
    assert git(wt, "rev-parse", "--abbrev-ref", "HEAD") == "polygent/s1"
    assert first.head_sha == git(bench.remote, "rev-parse", "main")
    assert (wt / "README.md").read_text() == "hello\n"
    assert git(bare, "config", "core.bare") == "true"
    # remote branches live under refs/remotes/origin; refs/heads holds only session branches
    assert git(bare, "for-each-ref", "--format=%(refname)", "refs/heads") == (
        "refs/heads/polygent/s1"
    )
    assert "refs/remotes/origin/dev" in git(bare, "for-each-ref", "--format=%(refname)")
    assert "[branch" not in (bare / "config").read_text()  # no upstream: pushing is explicit

    # a retry finds the worktree and redeems nothing
    redeemed = list(bench.api.redeemed)
    again = await bench.env.run(bench.acts.prepare, bench.inp("s1"))
    assert not again.created and again.path == first.path and again.head_sha == first.head_sha
    assert bench.api.redeemed == redeemed

    # the remote moves on, and publishes a branch named like our session branch
    new_main = push_commit(bench.remote, tmp_path, "main", "second.txt")
    push_commit(bench.remote, tmp_path, "polygent/s1", "intruder.txt")
    second = await bench.env.run(bench.acts.prepare, bench.inp("s2"))
    assert not second.cloned and second.created
    assert second.head_sha == new_main
    assert git(bare, "rev-parse", "refs/heads/polygent/s1") == first.head_sha  # not clobbered
    assert not (wt / "intruder.txt").exists()
    third = await bench.env.run(bench.acts.prepare, bench.inp("s3", base="dev"))
    assert git(Path(third.path), "rev-parse", "--abbrev-ref", "HEAD") == "polygent/s3"

    argv = bench.argv_log.read_text()
    assert argv.count("init --bare") == 1 and argv.count("fetch --prune") == 3
    for secret in (PAT, PAT_B64):
        assert secret not in argv, "the token reached git's argv"
        assert secret not in (bare / "config").read_text()
        assert secret not in (wt / ".git").read_text()
        assert secret not in all_text(bench.storage), "the token was written to disk"
        assert secret not in caplog.text


async def test_wrong_token_and_missing_base_fail_clearly(bench: Bench) -> None:
    bad = bench.inp("s1")
    bench.api.secrets[bad.secret_ref or ""] = "wrong-token"
    with pytest.raises(ApplicationError) as err:
        await bench.env.run(bench.acts.prepare, bad)
    assert err.value.type == "GitFailed" and err.value.non_retryable
    assert "wrong-token" not in str(err.value)
    with pytest.raises(ApplicationError) as err:
        await bench.env.run(bench.acts.prepare, bench.inp("s1", base="nope"))
    assert err.value.type == "BaseBranchMissing"
    with pytest.raises(ApplicationError) as err:
        await bench.env.run(bench.acts.prepare, bench.inp("s1", secret_ref="used-ref"))
    assert err.value.type == "SecretUnavailable"
    assert not (bench.storage / "workspaces" / "ws1" / "worktrees" / "s1").exists()


def snapshot(wt: Path) -> dict[str, object]:
    gitdir = Path(git(wt, "rev-parse", "--absolute-git-dir"))
    return {
        "head": git(wt, "rev-parse", "HEAD"),
        "branch": git(wt, "symbolic-ref", "HEAD"),
        "index": (gitdir / "index").read_bytes(),
        "files": {
            str(p.relative_to(wt)): p.read_bytes()
            for p in wt.rglob("*")
            if p.is_file() and ".git" not in p.parts and p.name != ".git"
        },
    }


async def test_checkpoint_saves_everything_uncommitted_and_touches_nothing(bench: Bench) -> None:
    wt = Path((await bench.env.run(bench.acts.prepare, bench.inp("s1"))).path)
    key = CheckpointInput(workspace_id="ws1", worktree_id="s1", label="turn 1")
    assert await bench.env.run(bench.acts.checkpoint, key) is None  # clean: nothing to save

    (wt / "README.md").write_text("changed\n")
    (wt / "staged.txt").write_text("staged\n")
    git(wt, "add", "staged.txt")
    (wt / "new").mkdir()
    (wt / "new" / "untracked.txt").write_text("untracked\n")
    (wt / ".gitignore").write_text("*.log\n")
    (wt / "debug.log").write_text("ignored\n")
    before = snapshot(wt)
    status_before = git(wt, "status", "--porcelain")

    saved = await bench.env.run(bench.acts.checkpoint, key)
    assert saved is not None and saved.ref == "refs/polygent/sessions/s1/checkpoint-1"
    assert snapshot(wt) == before
    assert git(wt, "status", "--porcelain") == status_before
    assert git(wt, "rev-parse", saved.ref) == saved.sha
    assert git(wt, "rev-parse", f"{saved.sha}^") == before["head"]
    files = git(wt, "ls-tree", "-r", "--name-only", saved.sha).splitlines()
    assert sorted(files) == [".gitignore", "README.md", "new/untracked.txt", "staged.txt"]
    assert git(wt, "show", f"{saved.sha}:README.md") == "changed"
    assert "turn 1" in git(wt, "log", "-1", "--format=%s", saved.sha)

    (wt / "README.md").write_text("changed again\n")
    again = await bench.env.run(bench.acts.checkpoint, key)
    assert again is not None and again.ref.endswith("/checkpoint-2")


async def test_remove_checkpoints_first_and_is_idempotent(bench: Bench) -> None:
    wt = Path((await bench.env.run(bench.acts.prepare, bench.inp("s1"))).path)
    await bench.env.run(bench.acts.prepare, bench.inp("s2"))
    (wt / "work.txt").write_text("unsaved work\n")
    listed = await bench.env.run(bench.acts.list_worktrees, ListWorktreesInput())
    assert [(w.worktree_id, w.branch) for w in listed.items] == [
        ("s1", "polygent/s1"),
        ("s2", "polygent/s2"),
    ]

    key = WorktreeKey(workspace_id="ws1", worktree_id="s1")
    result = await bench.env.run(bench.acts.remove, key)
    assert result.removed and result.checkpoint is not None
    assert not wt.exists()
    bare = bench.storage / "workspaces" / "ws1" / "repo.git"
    assert git(bare, "rev-parse", result.checkpoint.ref) == result.checkpoint.sha
    assert git(bare, "show", f"{result.checkpoint.sha}:work.txt") == "unsaved work"
    assert str(wt) not in git(bare, "worktree", "list")
    assert git(bare, "rev-parse", "--verify", "refs/heads/polygent/s1")  # the branch stays

    gone = await bench.env.run(bench.acts.remove, key)
    assert not gone.removed and gone.checkpoint is None
    listed = await bench.env.run(bench.acts.list_worktrees, ListWorktreesInput(workspace_id="ws1"))
    assert [w.worktree_id for w in listed.items] == ["s2"]
    missing = WorktreeKey(workspace_id="never", worktree_id="s1")
    assert not (await bench.env.run(bench.acts.remove, missing)).removed

    # a disposed worktree can come back on its branch, with its committed history
    back = await bench.env.run(bench.acts.prepare, bench.inp("s1"))
    assert back.created and git(Path(back.path), "rev-parse", "--abbrev-ref", "HEAD") == (
        "polygent/s1"
    )


@pytest.mark.parametrize(
    ("field_name", "value", "message"),
    [
        ("worktree_id", "../x", "worktree id"),
        ("worktree_id", "..", "worktree id"),
        ("worktree_id", "a/b", "worktree id"),
        ("workspace_id", "../../etc", "workspace id"),
        ("new_branch", "main..x", "new branch"),
        ("base_branch", "-x", "base branch"),
        ("git_url", "file:///etc", "git URL"),
    ],
)
async def test_unsafe_names_are_refused(
    bench: Bench, field_name: str, value: str, message: str
) -> None:
    inp = bench.inp("s1").model_copy(update={field_name: value})
    with pytest.raises(ApplicationError) as err:
        await bench.env.run(bench.acts.prepare, inp)
    assert err.value.type == "InvalidWorktreeInput" and message in str(err.value)
    assert not (bench.storage / "workspaces" / "ws1").exists()
    assert not (bench.storage.parent / "x").exists()
    if field_name in ("worktree_id", "workspace_id"):
        key = WorktreeKey(workspace_id=inp.workspace_id, worktree_id=inp.worktree_id)
        with pytest.raises(ApplicationError, match=message):
            await bench.env.run(bench.acts.remove, key)


def git_children(port: int) -> list[str]:
    found = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            with contextlib.suppress(OSError):
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
                if f"127.0.0.1:{port}" in cmd:
                    found.append(cmd)
    return found


async def test_cancel_kills_a_hanging_fetch(tmp_path: Path) -> None:
    """A remote that accepts and never answers: the cancel must kill git, not wait for it."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    port = silent.getsockname()[1]
    beats: list[object] = []
    env = ActivityEnvironment()
    env.on_heartbeat = lambda *d: beats.append(d)
    acts = WorktreeActivities(tmp_path / "storage", FakeApi())
    inp = PrepareWorktreeInput(
        workspace_id="ws1", git_url=f"http://127.0.0.1:{port}/proj.git", base_branch="main",
        new_branch="polygent/s1", worktree_id="s1",
    )  # fmt: skip
    try:
        task = asyncio.create_task(env.run(acts.prepare, inp))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 20
        while not (beats and git_children(port)) and loop.time() < deadline:
            await asyncio.sleep(0.1)
        assert git_children(port), "git never started"
        env.cancel()
        with pytest.raises(BaseException) as err:  # CancelledError or its wrapper
            await task
        assert "Cancel" in type(err.value).__name__
        assert git_children(port) == []
    finally:
        silent.close()
    assert not list((tmp_path / "storage" / "workspaces" / "ws1").glob("repo.git"))


async def test_an_agent_cannot_redirect_the_token_through_the_shared_repo(
    bench: Bench, tmp_path: Path
) -> None:
    """A session's agent can write the bare repo's config and hooks from its worktree; the
    next fetch with the token drops redirecting keys and runs no hook."""
    first = await bench.env.run(bench.acts.prepare, bench.inp("s1"))
    wt = Path(first.path)
    trap = tmp_path / "hook-ran"
    git(wt, "config", "url.http://127.0.0.1:9/evil.git.insteadOf", bench.url)
    git(wt, "config", "http.proxy", "http://127.0.0.1:9")
    bare = bench.storage / "workspaces" / "ws1" / "repo.git"
    hook = bare / "hooks" / "reference-transaction"
    hook.write_text(f"#!/bin/sh\nenv > {trap}\n")
    hook.chmod(0o755)
    second = await bench.env.run(bench.acts.prepare, bench.inp("s2"))
    assert second.head_sha == first.head_sha
    config = (bare / "config").read_text()
    assert "insteadof" not in config.lower() and "proxy" not in config
    assert not trap.exists(), "a repository hook ran during the fetch"

"""git as a child process for the worktree activities, and the checkpoint commit.

Every call runs in its own process group with a deadline; while it runs the activity
heartbeats (that is how a cancel reaches us), and a cancel or a timeout kills the whole
group before the error propagates, so no git outlives its activity.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import re
import shutil
import signal
import tempfile
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path

from temporalio import activity

from activities.agent.git_check import git_env, redact
from orchestrator.contracts.worktrees import CHECKPOINT_NAMESPACE, Checkpoint

KILL_GRACE = 5.0
MAX_ERROR = 2000
IDENTITY = {
    "GIT_AUTHOR_NAME": "Polygent",
    "GIT_AUTHOR_EMAIL": "polygent@localhost",
    "GIT_COMMITTER_NAME": "Polygent",
    "GIT_COMMITTER_EMAIL": "polygent@localhost",
}
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class GitError(Exception):
    """git failed or timed out; the message is git's stderr without the token."""


def command_env(pat: str | None = None) -> dict[str, str]:
    """No prompts, no system or user config, only `pat` as a credential (in env, not argv)."""
    env = git_env(pat)
    env.update(IDENTITY, GIT_CONFIG_GLOBAL=os.devnull)
    return env


def _heartbeat() -> None:
    if activity.in_activity():
        activity.heartbeat()


async def _terminate(proc: asyncio.subprocess.Process) -> None:
    """SIGTERM the group, then SIGKILL after a grace period; always reap the child."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            await asyncio.wait_for(asyncio.shield(proc.wait()), KILL_GRACE)
            return
        except TimeoutError:
            continue
    await proc.wait()


async def run_git(
    git: str,
    args: Sequence[str],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 120.0,
    pat: str | None = None,
    check: bool = True,
) -> str:
    """git's stdout; GitError on a non-zero exit (when `check`) or after `timeout` seconds."""
    try:
        proc = await asyncio.create_subprocess_exec(
            git, *args, cwd=cwd, env=dict(env if env is not None else command_env()),
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, start_new_session=True,
        )  # fmt: skip
    except OSError as exc:
        raise GitError(f"git could not run on this host: {exc.strerror}") from None
    task = asyncio.ensure_future(proc.communicate())
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    try:
        while not task.done():
            left = deadline - loop.time()
            if left <= 0:
                raise TimeoutError
            await asyncio.wait({task}, timeout=min(1.0, left))
            _heartbeat()
    except BaseException as exc:
        await _terminate(proc)
        with contextlib.suppress(BaseException):
            await task
        if isinstance(exc, TimeoutError):
            raise GitError(f"git {args[0]} gave no answer within {timeout:g} s") from None
        raise
    out, err = task.result()
    if check and proc.returncode != 0:
        message = redact(err.decode(errors="replace").strip(), pat)[:MAX_ERROR]
        raise GitError(message or f"git {args[0]} exited with {proc.returncode}")
    return out.decode(errors="replace")


@contextlib.asynccontextmanager
async def file_lock(path: Path) -> AsyncIterator[None]:
    """An exclusive flock on `path` (other agent processes on this host), heartbeating."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                _heartbeat()
                await asyncio.sleep(0.1)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def _label(text: str) -> str:
    return _CONTROL.sub(" ", text).strip()[:200] or "checkpoint"


async def next_checkpoint_ref(git: str, cwd: Path, worktree_id: str) -> str:
    prefix = f"{CHECKPOINT_NAMESPACE}/{worktree_id}/"
    out = await run_git(git, ["for-each-ref", "--format=%(refname)", prefix], cwd=cwd)
    numbers = [
        int(m.group(1))
        for line in out.splitlines()
        if (m := re.fullmatch(re.escape(prefix) + r"checkpoint-(\d+)", line.strip()))
    ]
    return f"{prefix}checkpoint-{max(numbers, default=0) + 1}"


async def checkpoint(
    git: str, worktree: Path, worktree_id: str, label: str, timeout: float = 120.0
) -> Checkpoint | None:
    """Commit the whole working tree (untracked files too, ignored ones not) to a private ref.

    A throwaway index (GIT_INDEX_FILE) takes `git add -A`, so the branch, the real index and
    the files stay exactly as the agent left them; None when there is nothing uncommitted.
    """
    env = command_env()
    quiet = {**env, "GIT_OPTIONAL_LOCKS": "0"}  # status must not rewrite the real index
    status = await run_git(
        git, ["status", "--porcelain=v1", "-z", "--untracked-files=all"],
        cwd=worktree, env=quiet, timeout=timeout,
    )  # fmt: skip
    if not status.strip("\0"):
        return None
    gitdir = Path((await run_git(git, ["rev-parse", "--absolute-git-dir"], cwd=worktree)).strip())
    head = (
        await run_git(git, ["rev-parse", "--verify", "-q", "HEAD"], cwd=worktree, check=False)
    ).strip()
    with tempfile.TemporaryDirectory(prefix="checkpoint-", dir=gitdir) as tmp:
        index = Path(tmp) / "index"
        if (gitdir / "index").exists():
            shutil.copyfile(gitdir / "index", index)  # keeps stat data: add -A stays fast
        temp_env = {**env, "GIT_INDEX_FILE": str(index)}
        await run_git(git, ["add", "-A", "--", "."], cwd=worktree, env=temp_env, timeout=timeout)
        tree = (await run_git(git, ["write-tree"], cwd=worktree, env=temp_env)).strip()
    parents = ["-p", head] if head else []
    message = f"polygent checkpoint: {_label(label)}"
    sha = (
        await run_git(git, ["commit-tree", tree, *parents, "-m", message], cwd=worktree, env=env)
    ).strip()
    for _ in range(5):  # update-ref with an empty old value refuses to overwrite
        ref = await next_checkpoint_ref(git, worktree, worktree_id)
        try:
            await run_git(git, ["update-ref", ref, sha, ""], cwd=worktree, env=env)
        except GitError:
            continue
        return Checkpoint(ref=ref, sha=sha)
    raise GitError(f"could not store the checkpoint of {worktree_id}")

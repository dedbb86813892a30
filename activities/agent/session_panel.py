"""Session-agent activities `session.*` behind the session panel: files and git in a session's
worktree, on the host that holds it (no database: the API passes everything needed).

The worktree is found exactly as WorktreeActivities finds it (workspace id + session id under
the storage path). Local operations (files, status, diff, stage, commit) run without any
credential; the remote ones (push, pull, merge) live in session_remote.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import TypeVar

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.agent import session_files as files
from activities.agent.git_check import SecretSource
from activities.agent.session_git import panel_env, parse_status
from activities.agent.worktree_git import GitError, run_git
from activities.agent.worktrees import WorktreeActivities, check_branch
from orchestrator.contracts.session_panel import (
    MAX_DIFF_CHARS,
    MAX_ENTRIES,
    FileContent,
    FileListing,
    FileReadInput,
    FilesListInput,
    FileWriteInput,
    FileWritten,
    GitActionResult,
    GitCommitInput,
    GitDiff,
    GitDiffInput,
    GitPathsInput,
    GitStatus,
    GitStatusInput,
    PanelTarget,
)

T = TypeVar("T")


def _nul_list(out: str) -> list[str]:
    return [p for p in out.split("\0") if p]


class SessionPanelBase:
    """The worktree lookup and git runner the panel's activity classes share."""

    def __init__(
        self,
        storage_path: Path,
        api: Callable[[], AbstractAsyncContextManager[SecretSource]],
        git: str = "git",
        timeout: float = 120.0,
    ) -> None:
        self.worktrees = WorktreeActivities(storage_path, api, git, timeout)
        self.git = git
        self.timeout = timeout

    def _root(self, target: PanelTarget) -> tuple[Path, Path, Path]:
        """(workspace dir, bare repository, worktree) of the session; the worktree must exist."""
        ws, bare, wt = self.worktrees._worktree(target.workspace_id, target.session_id)
        if not (wt / ".git").is_file() or not (bare / "HEAD").is_file():
            raise ApplicationError(
                f"The worktree of session {target.session_id} is not on this host.",
                type="WorktreeMissing", non_retryable=True,
            )  # fmt: skip
        return ws, bare, wt

    async def _git(
        self,
        *args: str,
        cwd: Path,
        env: dict[str, str] | None = None,
        pat: str | None = None,
        timeout: float | None = None,
        check: bool = True,
    ) -> str:
        try:
            return await run_git(
                self.git, args, cwd=cwd, env=env if env is not None else panel_env(), pat=pat,
                timeout=timeout or self.timeout, check=check,
            )  # fmt: skip
        except GitError as exc:
            raise ApplicationError(str(exc), type="GitFailed", non_retryable=True) from None

    async def _sha(self, cwd: Path, rev: str) -> str | None:
        found = await self._git(
            "rev-parse", "--verify", "-q", rev + "^{commit}", cwd=cwd, check=False
        )
        return found.strip() or None


async def _in_thread(fn: Callable[..., T], *args: object) -> T:
    """A file helper off the event loop, its refusals as non-retryable activity errors."""
    try:
        return await asyncio.to_thread(fn, *args)
    except files.PathMissing as exc:
        raise ApplicationError(str(exc), type="PathNotFound", non_retryable=True) from None
    except files.PathRefused as exc:
        raise ApplicationError(str(exc), type="InvalidPath", non_retryable=True) from None


class SessionPanelActivities(SessionPanelBase):
    """Files, status, diff, stage, unstage, discard and commit."""

    # -- files -------------------------------------------------------------------------------

    @activity.defn(name="session.files_list")
    async def files_list(self, inp: FilesListInput) -> FileListing:
        _, _, wt = self._root(inp)
        return await _in_thread(files.list_dir, wt, inp.path)

    @activity.defn(name="session.file_read")
    async def file_read(self, inp: FileReadInput) -> FileContent:
        _, _, wt = self._root(inp)
        return await _in_thread(files.read_file, wt, inp.path)

    @activity.defn(name="session.file_write")
    async def file_write(self, inp: FileWriteInput) -> FileWritten:
        _, _, wt = self._root(inp)
        written = await _in_thread(files.write_file, wt, inp.path, inp.content)
        activity.logger.info(
            "Session %s: wrote %s (%d bytes).", inp.session_id, inp.path, written.size
        )
        return written

    # -- status and diff -----------------------------------------------------------------------

    @activity.defn(name="session.git_status")
    async def git_status(self, inp: GitStatusInput) -> GitStatus:
        _, _, wt = self._root(inp)
        quiet = {**panel_env(), "GIT_OPTIONAL_LOCKS": "0"}  # reading must not rewrite the index
        out = await self._git(
            "status", "--porcelain=v1", "-z", "--untracked-files=all", cwd=wt, env=quiet
        )
        listed, truncated = parse_status(out, MAX_ENTRIES)
        branch = await self._git("symbolic-ref", "--short", "-q", "HEAD", cwd=wt, check=False)
        status = GitStatus(branch=branch.strip() or None, files=listed, truncated=truncated)
        if inp.base_branch:
            upstream = f"origin/{check_branch(inp.base_branch, 'base branch')}"
            if await self._sha(wt, f"refs/remotes/{upstream}"):
                counts = await self._git(
                    "rev-list", "--left-right", "--count", f"refs/remotes/{upstream}...HEAD",
                    cwd=wt, env=quiet,
                )  # fmt: skip
                behind, ahead = (int(n) for n in counts.split())
                status = status.model_copy(
                    update={"upstream": upstream, "ahead": ahead, "behind": behind}
                )
        return status

    async def _untracked(self, wt: Path, paths: list[str]) -> list[str]:
        out = await self._git(
            "ls-files", "--others", "--exclude-standard", "-z", "--", *paths, cwd=wt
        )
        return _nul_list(out)

    @activity.defn(name="session.git_diff")
    async def git_diff(self, inp: GitDiffInput) -> GitDiff:
        _, _, wt = self._root(inp)
        flags = ["--no-color", "--no-ext-diff", "--no-textconv"]
        if inp.staged:
            out = await self._git("diff", "--cached", *flags, "--", inp.path, cwd=wt)
        elif inp.path in await self._untracked(wt, [inp.path]):
            # A new file: against nothing. A symlink shows as its target's name, not content.
            out = await self._git(
                "diff", "--no-index", *flags, "--", "/dev/null", inp.path, cwd=wt, check=False
            )
        else:
            out = await self._git("diff", *flags, "--", inp.path, cwd=wt)
        truncated = len(out) > MAX_DIFF_CHARS
        return GitDiff(path=inp.path, diff=out[:MAX_DIFF_CHARS], truncated=truncated)

    # -- stage, unstage, discard, commit ---------------------------------------------------------

    @activity.defn(name="session.git_stage")
    async def git_stage(self, inp: GitPathsInput) -> GitActionResult:
        _, _, wt = self._root(inp)
        await self._git("add", "--all", "--", *inp.paths, cwd=wt)
        return GitActionResult(ok=True, message=f"Staged {len(inp.paths)} path(s).")

    @activity.defn(name="session.git_unstage")
    async def git_unstage(self, inp: GitPathsInput) -> GitActionResult:
        _, _, wt = self._root(inp)
        await self._git("restore", "--staged", "--", *inp.paths, cwd=wt)
        return GitActionResult(ok=True, message=f"Unstaged {len(inp.paths)} path(s).")

    @activity.defn(name="session.git_discard")
    async def git_discard(self, inp: GitPathsInput) -> GitActionResult:
        """Working-tree changes go back to the index (staged changes stay); untracked files
        are deleted."""
        _, _, wt = self._root(inp)
        untracked = await self._untracked(wt, inp.paths)
        tracked = _nul_list(await self._git("ls-files", "-z", "--", *inp.paths, cwd=wt))
        if untracked:
            await self._git("clean", "--force", "--quiet", "--", *untracked, cwd=wt)
        if tracked:
            await self._git("restore", "--worktree", "--", *tracked, cwd=wt)
        if not untracked and not tracked:
            return GitActionResult(ok=False, message="None of these paths has changes git knows.")
        return GitActionResult(
            ok=True,
            message=f"Discarded changes to {len(tracked)} tracked and "
            f"deleted {len(untracked)} untracked file(s).",
        )

    @activity.defn(name="session.git_commit")
    async def git_commit(self, inp: GitCommitInput) -> GitActionResult:
        _, _, wt = self._root(inp)
        if not (await self._git("diff", "--cached", "--name-only", "-z", cwd=wt)).strip("\0"):
            return GitActionResult(ok=False, message="Nothing is staged: stage changes first.")
        await self._git(
            "commit", "--no-verify", "--quiet", "--cleanup=whitespace", "-m", inp.message,
            cwd=wt, env=panel_env(author=inp.author),
        )  # fmt: skip
        sha = await self._sha(wt, "HEAD")
        activity.logger.info("Session %s: committed %s.", inp.session_id, sha)
        return GitActionResult(ok=True, message="Committed.", sha=sha)

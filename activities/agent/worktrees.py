"""Session-agent activities `worktree.*`: one bare clone per workspace, one worktree per session.

Layout under the agent's storage path:
    workspaces/<workspace_id>/repo.git              bare; remote branches in refs/remotes/origin/*
    workspaces/<workspace_id>/worktrees/<id>        one per session, on its own branch
    workspaces/<workspace_id>/.lock                 flock: one git writer per workspace per host

The bare repository is made with `init --bare` + `remote add` + `fetch`, not `clone --bare`:
a bare clone mirrors remote branches into refs/heads/*, where session branches live, so a
later fetch could clobber them. Here fetches only ever write refs/remotes/origin/*.
The token is redeemed from a secret reference and reaches git only via the environment.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from pathlib import Path

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.agent.git_check import SecretSource
from activities.agent.session_git import risky_config
from activities.agent.worktree_git import GitError, command_env, file_lock, run_git
from activities.agent.worktree_git import checkpoint as commit_checkpoint
from orchestrator.contracts.worktrees import (
    Checkpoint,
    CheckpointInput,
    HostWorktree,
    HostWorktrees,
    ListWorktreesInput,
    PreparedWorktree,
    PrepareWorktreeInput,
    RemoveResult,
    WorktreeKey,
)
from orchestrator.hostagent.client import AgentRejected, SecretUnavailable
from orchestrator.workspaces import validation

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
REFSPEC = "+refs/heads/*:refs/remotes/origin/*"


def invalid(message: str) -> ApplicationError:
    return ApplicationError(message, type="InvalidWorktreeInput", non_retryable=True)


def check_id(value: str, what: str) -> str:
    if not _ID.match(value) or ".." in value:
        raise invalid(
            f"The {what} {value!r} must be 1-128 letters, digits, '.', '_' or '-' "
            "(no '..', no '/')."
        )
    return value


def check_branch(value: str, what: str) -> str:
    problem = validation.branch_problem(value)
    if problem:
        raise invalid(f"The {what} {value!r} {problem}.")
    return value


def _entries(porcelain: str) -> dict[Path, dict[str, str]]:
    """`git worktree list --porcelain -z` as {resolved path: {"HEAD": sha, "branch": name}}."""
    found: dict[Path, dict[str, str]] = {}
    current: dict[str, str] | None = None
    for field in porcelain.split("\0"):
        if not field:
            current = None
            continue
        key, _, value = field.partition(" ")
        if key == "worktree":
            current = found.setdefault(Path(value).resolve(), {})
        elif current is not None and key in ("HEAD", "branch"):
            current[key] = value.removeprefix("refs/heads/") if key == "branch" else value
    return found


def _mtime(*paths: Path) -> datetime:
    stamps = [p.stat().st_mtime for p in paths if p.exists()]
    return datetime.fromtimestamp(max(stamps, default=0.0), UTC)


class WorktreeActivities:
    """Built once per agent with its storage path and a factory for its API client."""

    def __init__(
        self,
        storage_path: Path,
        api: Callable[[], AbstractAsyncContextManager[SecretSource]],
        git: str = "git",
        timeout: float = 120.0,
    ) -> None:
        self.root = Path(storage_path).resolve() / "workspaces"
        self.api = api
        self.git = git
        self.timeout = timeout
        self._locks: dict[str, asyncio.Lock] = {}

    # -- paths and locks -------------------------------------------------------------------

    def _inside(self, path: Path) -> Path:
        resolved = path.resolve()
        if not resolved.is_relative_to(self.root):
            raise invalid(f"The path {path} leaves the storage directory.")
        return resolved

    def _workspace(self, workspace_id: str) -> Path:
        return self._inside(self.root / check_id(workspace_id, "workspace id"))

    def _worktree(self, workspace_id: str, worktree_id: str) -> tuple[Path, Path, Path]:
        ws = self._workspace(workspace_id)
        wt = self._inside(ws / "worktrees" / check_id(worktree_id, "worktree id"))
        return ws, ws / "repo.git", wt

    @contextlib.asynccontextmanager
    async def _locked(self, ws: Path) -> AsyncIterator[None]:
        """One git writer per workspace: an asyncio lock here, a file lock across processes."""
        async with self._locks.setdefault(str(ws), asyncio.Lock()), file_lock(ws / ".lock"):
            yield

    async def _git(
        self,
        *args: str,
        cwd: Path,
        env: dict[str, str] | None = None,
        pat: str | None = None,
        timeout: float | None = None,
    ) -> str:
        try:
            return await run_git(
                self.git, args, cwd=cwd, env=env, pat=pat, timeout=timeout or self.timeout
            )
        except GitError as exc:
            raise ApplicationError(str(exc), type="GitFailed", non_retryable=True) from None

    async def _registered(self, bare: Path) -> dict[Path, dict[str, str]]:
        if not (bare / "HEAD").exists():
            return {}
        return _entries(await self._git("worktree", "list", "--porcelain", "-z", cwd=bare))

    # -- prepare -----------------------------------------------------------------------------

    async def _secret(self, ref: str | None) -> str | None:
        if not ref:
            return None
        try:
            async with self.api() as api:
                return await api.get_secret(ref)
        except (SecretUnavailable, AgentRejected) as exc:
            raise ApplicationError(
                f"The git token could not be fetched: {exc}.",
                type="SecretUnavailable",
                non_retryable=True,
            ) from None

    async def _sync(self, ws: Path, bare: Path, url: str, pat: str | None, timeout: float) -> bool:
        """Fetch into the bare repository, making it first if needed; True when it was made."""
        env = command_env(pat)
        fetch = ["fetch", "--prune", "--quiet", "origin", REFSPEC]
        made = not (bare / "HEAD").exists()
        target = bare
        if made:
            for stale in ws.glob(".repo.git.tmp-*"):  # a previous attempt died half way
                shutil.rmtree(stale, ignore_errors=True)
            target = ws / f".repo.git.tmp-{uuid.uuid4().hex[:8]}"
            await self._git("init", "--bare", "--quiet", str(target), cwd=ws)
            await self._git("remote", "add", "origin", url, cwd=target)
        else:
            await self._git("remote", "set-url", "origin", url, cwd=target)
            # Agents can write the shared bare repo's config from their worktrees: drop any key
            # that could redirect or proxy the token before it is handed to git.
            for key in await risky_config(self.git, target):
                await self._git("config", "--local", "--unset-all", key, cwd=target)
        await self._git(*fetch, cwd=target, env=env, pat=pat, timeout=timeout)
        if made:
            target.rename(bare)  # the bare repository appears only once it is complete
        return made

    @activity.defn(name="worktree.prepare")
    async def prepare(self, inp: PrepareWorktreeInput) -> PreparedWorktree:
        ws, bare, wt = self._worktree(inp.workspace_id, inp.worktree_id)
        check_branch(inp.base_branch, "base branch")
        check_branch(inp.new_branch, "new branch")
        try:
            url = validation.git_url(inp.git_url)
        except ValueError as exc:
            raise invalid(f"The git URL {exc}.") from None
        async with self._locked(ws):
            entry = (await self._registered(bare)).get(wt)
            if entry is not None and wt.is_dir():
                if entry.get("branch") != inp.new_branch:
                    raise ApplicationError(
                        f"The worktree {inp.worktree_id} exists on branch "
                        f"{entry.get('branch')!r}, not {inp.new_branch!r}.",
                        type="WorktreeConflict", non_retryable=True,
                    )  # fmt: skip
                return PreparedWorktree(
                    path=str(wt), branch=inp.new_branch, head_sha=entry["HEAD"], created=False
                )
            pat = await self._secret(inp.secret_ref)
            made = await self._sync(ws, bare, url, pat, inp.timeout_seconds)
            base = f"refs/remotes/origin/{inp.base_branch}"
            found = await run_git(
                self.git, ["rev-parse", "--verify", "-q", base + "^{commit}"], cwd=bare,
                check=False,
            )  # fmt: skip
            if not found.strip():
                raise ApplicationError(
                    f"The base branch {inp.base_branch} does not exist in {url}.",
                    type="BaseBranchMissing", non_retryable=True,
                )  # fmt: skip
            await self._git("worktree", "prune", cwd=bare)
            if wt.exists():
                if any(wt.iterdir()):
                    raise ApplicationError(
                        f"{wt} exists but is not a worktree git knows; remove it by hand.",
                        type="WorktreeConflict", non_retryable=True,
                    )  # fmt: skip
                wt.rmdir()
            wt.parent.mkdir(parents=True, exist_ok=True)
            has_branch = await run_git(
                self.git, ["rev-parse", "--verify", "-q", f"refs/heads/{inp.new_branch}"],
                cwd=bare, check=False,
            )  # fmt: skip
            if has_branch.strip():  # a disposed worktree's branch comes back as it was
                await self._git("worktree", "add", "--", str(wt), inp.new_branch, cwd=bare)
            else:
                await self._git(
                    "worktree", "add", "--no-track", "-b", inp.new_branch, "--", str(wt), base,
                    cwd=bare,
                )  # fmt: skip
            head = (await self._git("rev-parse", "HEAD", cwd=wt)).strip()
        activity.logger.info(
            "Worktree %s of workspace %s is on %s (%s).",
            inp.worktree_id, inp.workspace_id, inp.new_branch,
            "new bare clone" if made else "fetched",
        )  # fmt: skip
        return PreparedWorktree(path=str(wt), branch=inp.new_branch, head_sha=head, cloned=made)

    # -- checkpoint, remove, list --------------------------------------------------------------

    async def _checkpoint(self, bare: Path, wt: Path, wid: str, label: str) -> Checkpoint | None:
        if wt not in await self._registered(bare) or not wt.is_dir():
            return None
        try:
            return await commit_checkpoint(self.git, wt, wid, label, self.timeout)
        except GitError as exc:
            raise ApplicationError(str(exc), type="GitFailed") from None

    @activity.defn(name="worktree.checkpoint")
    async def checkpoint(self, inp: CheckpointInput) -> Checkpoint | None:
        ws, bare, wt = self._worktree(inp.workspace_id, inp.worktree_id)
        async with self._locked(ws):
            return await self._checkpoint(bare, wt, inp.worktree_id, inp.label)

    @activity.defn(name="worktree.remove")
    async def remove(self, inp: WorktreeKey) -> RemoveResult:
        ws, bare, wt = self._worktree(inp.workspace_id, inp.worktree_id)
        if not ws.exists():
            return RemoveResult(removed=False)
        async with self._locked(ws):
            saved = await self._checkpoint(bare, wt, inp.worktree_id, "before removal")
            registered = wt in await self._registered(bare)
            if registered:
                await self._git("worktree", "remove", "--force", "--", str(wt), cwd=bare)
            removed = registered or wt.exists()
            if wt.exists():  # a directory git does not know: nothing of it can be saved
                activity.logger.warning("Removing %s, which git did not know as a worktree.", wt)
                shutil.rmtree(wt)
            if (bare / "HEAD").exists():
                await self._git("worktree", "prune", cwd=bare)
        activity.logger.info(
            "Worktree %s of workspace %s: %s.", inp.worktree_id, inp.workspace_id,
            "removed" if removed else "already gone",
        )  # fmt: skip
        return RemoveResult(removed=removed, checkpoint=saved)

    @activity.defn(name="worktree.list")
    async def list_worktrees(self, inp: ListWorktreesInput) -> HostWorktrees:
        if inp.workspace_id is not None:
            spaces = [self._workspace(inp.workspace_id)]
        elif self.root.is_dir():
            spaces = sorted(p for p in self.root.iterdir() if p.is_dir() and _ID.match(p.name))
        else:
            spaces = []
        items: list[HostWorktree] = []
        for ws in spaces:
            folder = ws / "worktrees"
            if not folder.is_dir():
                continue
            registered = await self._registered(ws / "repo.git")
            for wt in sorted(p for p in folder.iterdir() if p.is_dir()):
                entry = registered.get(wt.resolve(), {})
                gitdir = ws / "repo.git" / "worktrees" / wt.name
                items.append(
                    HostWorktree(
                        workspace_id=ws.name,
                        worktree_id=wt.name,
                        path=str(wt),
                        branch=entry.get("branch"),
                        head_sha=entry.get("HEAD"),
                        modified_at=_mtime(
                            wt, gitdir / "index", gitdir / "HEAD", gitdir / "logs" / "HEAD"
                        ),
                    )
                )
        return HostWorktrees(items=items)

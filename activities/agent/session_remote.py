"""Session-agent activities that talk to the remote: push the session branch, pull the starter
branch into it, merge it into the starter branch.

Each holds the workspace's lock (one git writer per bare repository, as for worktree.prepare),
redeems the token from its secret reference, and gives it to `fetch`/`push` only, through the
environment (session_git.panel_env). A merge into the starter branch is tested with
`merge-tree --write-tree` first: on conflicts nothing is written or pushed. The merge commit
is made with `commit-tree` (two parents) without touching any worktree, and pushed without
force, so a starter branch that moved meanwhile refuses it instead of losing commits.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.agent.session_git import panel_env, parse_merge_tree, rejected, risky_config
from activities.agent.session_panel import SessionPanelBase
from activities.agent.worktree_git import GitError, run_git
from activities.agent.worktrees import REFSPEC, check_branch, invalid
from orchestrator.contracts.session_panel import GitActionResult, GitRemoteInput
from orchestrator.workspaces import validation


class SessionRemoteActivities(SessionPanelBase):
    """Push, pull and merge; the token only ever in the environment of fetch and push."""

    @contextlib.asynccontextmanager
    async def _remote(self, inp: GitRemoteInput) -> AsyncIterator[tuple[Path, Path, str | None]]:
        """Under the workspace lock: (bare, worktree, token), origin pointing at the URL."""
        ws, bare, wt = self._root(inp)
        check_branch(inp.branch, "branch")
        check_branch(inp.base_branch, "base branch")
        try:
            url = validation.git_url(inp.git_url)
        except ValueError as exc:
            raise invalid(f"The git URL {exc}.") from None
        async with self.worktrees._locked(ws):
            risky = await risky_config(self.git, bare)
            if risky:
                raise ApplicationError(
                    f"The host's repository config sets {', '.join(risky)}, which could send "
                    "the token elsewhere; remove them from the bare repository's config.",
                    type="UnsafeRepositoryConfig", non_retryable=True,
                )  # fmt: skip
            pat = await self.worktrees._secret(inp.secret_ref)
            await self._git("remote", "set-url", "origin", url, cwd=bare)
            yield bare, wt, pat

    async def _fetch(self, bare: Path, pat: str | None, inp: GitRemoteInput) -> None:
        await self._git(
            "fetch", "--prune", "--quiet", "origin", REFSPEC,
            cwd=bare, env=panel_env(pat), pat=pat, timeout=inp.timeout_seconds,
        )  # fmt: skip

    async def _push(self, bare: Path, pat: str | None, inp: GitRemoteInput, spec: str) -> bool:
        """Push `spec` without force; False when the remote refused a non-fast-forward."""
        try:
            await run_git(
                self.git, ["push", "--no-verify", "--quiet", "origin", spec], cwd=bare,
                env=panel_env(pat), pat=pat, timeout=inp.timeout_seconds,
            )  # fmt: skip
        except GitError as exc:
            if rejected(exc):
                return False
            raise ApplicationError(str(exc), type="GitFailed", non_retryable=True) from None
        return True

    async def _base(self, cwd: Path, inp: GitRemoteInput) -> str:
        sha = await self._sha(cwd, f"refs/remotes/origin/{inp.base_branch}")
        if sha is None:
            raise ApplicationError(
                f"The starter branch {inp.base_branch} does not exist on the remote.",
                type="BaseBranchMissing", non_retryable=True,
            )  # fmt: skip
        return sha

    async def _is_ancestor(self, cwd: Path, older: str, newer: str) -> bool:
        try:
            await run_git(
                self.git, ["merge-base", "--is-ancestor", older, newer], cwd=cwd, env=panel_env()
            )
        except GitError:
            return False
        return True

    async def _merge_tree(self, cwd: Path, ours: str, theirs: str) -> tuple[str, list[str]]:
        out = await self._git(
            "merge-tree", "--write-tree", "--name-only", "--no-messages", "-z", ours, theirs,
            cwd=cwd, check=False,
        )  # fmt: skip
        try:
            return parse_merge_tree(out)
        except GitError as exc:
            raise ApplicationError(str(exc), type="GitFailed", non_retryable=True) from None

    # -- push ------------------------------------------------------------------------------------

    @activity.defn(name="session.git_push")
    async def git_push(self, inp: GitRemoteInput) -> GitActionResult:
        async with self._remote(inp) as (bare, _, pat):
            head = await self._sha(bare, f"refs/heads/{inp.branch}")
            if head is None:
                raise invalid(f"The session branch {inp.branch} does not exist on this host.")
            ref = f"refs/heads/{inp.branch}"
            if not await self._push(bare, pat, inp, f"{ref}:{ref}"):
                return GitActionResult(
                    ok=False,
                    message=f"The remote branch {inp.branch} has commits this one lacks.",
                )
        activity.logger.info("Session %s: pushed %s at %s.", inp.session_id, inp.branch, head)
        return GitActionResult(ok=True, message=f"Pushed {inp.branch}.", sha=head)

    # -- pull from the starter branch ------------------------------------------------------------

    @activity.defn(name="session.git_pull")
    async def git_pull(self, inp: GitRemoteInput) -> GitActionResult:
        """Merge the starter branch (freshly fetched) into the session's worktree."""
        async with self._remote(inp) as (bare, wt, pat):
            await self._fetch(bare, pat, inp)
            theirs = await self._base(wt, inp)
            if await self._is_ancestor(wt, theirs, "HEAD"):
                return GitActionResult(
                    ok=True, message=f"Already up to date with {inp.base_branch}.",
                    sha=await self._sha(wt, "HEAD"),
                )  # fmt: skip
            _, conflicts = await self._merge_tree(wt, "HEAD", theirs)
            if conflicts:
                return GitActionResult(
                    ok=False, files=conflicts,
                    message=f"Merging {inp.base_branch} would conflict; nothing was changed.",
                )  # fmt: skip
            return await self._merge_into_worktree(wt, inp, theirs)

    async def _merge_into_worktree(
        self, wt: Path, inp: GitRemoteInput, theirs: str
    ) -> GitActionResult:
        message = f"Merge {inp.base_branch} into {inp.branch}"
        try:
            await run_git(
                self.git, ["merge", "--no-edit", "--no-verify", "-m", message, theirs],
                cwd=wt, env=panel_env(author=inp.author), timeout=inp.timeout_seconds,
            )  # fmt: skip
        except GitError as exc:
            unmerged = await self._git("diff", "--name-only", "--diff-filter=U", "-z", cwd=wt)
            if await self._sha(wt, "MERGE_HEAD"):
                await self._git("merge", "--abort", cwd=wt)
            files = sorted({p for p in unmerged.split("\0") if p})
            why = "conflicts" if files else f"git refused: {exc}"
            return GitActionResult(
                ok=False, files=files, message=f"Merging {inp.base_branch} failed ({why})."
            )
        sha = await self._sha(wt, "HEAD")
        activity.logger.info("Session %s: merged %s at %s.", inp.session_id, inp.base_branch, sha)
        return GitActionResult(ok=True, message=f"Merged {inp.base_branch}.", sha=sha)

    # -- merge into the starter branch -----------------------------------------------------------

    @activity.defn(name="session.git_merge")
    async def git_merge(self, inp: GitRemoteInput) -> GitActionResult:
        """Merge the session branch's last commit into the starter branch on the remote."""
        async with self._remote(inp) as (bare, _, pat):
            await self._fetch(bare, pat, inp)
            base = await self._base(bare, inp)
            head = await self._sha(bare, f"refs/heads/{inp.branch}")
            if head is None:
                raise invalid(f"The session branch {inp.branch} does not exist on this host.")
            if await self._is_ancestor(bare, head, base):
                return GitActionResult(
                    ok=True, sha=base,
                    message=f"{inp.base_branch} already contains {inp.branch}; nothing to push.",
                )  # fmt: skip
            tree, conflicts = await self._merge_tree(bare, base, head)
            if conflicts:
                return GitActionResult(
                    ok=False, files=conflicts,
                    message=f"{inp.branch} conflicts with {inp.base_branch}; nothing was pushed.",
                )  # fmt: skip
            message = f"Merge branch '{inp.branch}' into {inp.base_branch}"
            parents = ["-p", base, "-p", head]
            made = await self._git(
                "commit-tree", tree, *parents, "-m", message, cwd=bare,
                env=panel_env(author=inp.author),
            )  # fmt: skip
            merge = made.strip()
            if not await self._push(bare, pat, inp, f"{merge}:refs/heads/{inp.base_branch}"):
                return GitActionResult(
                    ok=False,
                    message=f"{inp.base_branch} moved on while merging; nothing was pushed, "
                    "try again.",
                )
        activity.logger.info(
            "Session %s: merged %s into %s as %s.", inp.session_id, inp.branch, inp.base_branch,
            merge,
        )  # fmt: skip
        return GitActionResult(
            ok=True, sha=merge, message=f"Merged {inp.branch} into {inp.base_branch}."
        )

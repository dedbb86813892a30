"""Models that cross Temporal for worktrees on session hosts (pure pydantic, sandbox-safe).

They carry a secret *reference*, never a token: the host redeems it just before git fetches.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

CHECKPOINT_NAMESPACE = "refs/polygent/sessions"


class PrepareWorktreeInput(BaseModel):
    """A worktree `worktree_id` (e.g. the session id) on `new_branch`, cut from `base_branch`."""

    workspace_id: str
    git_url: str
    base_branch: str
    new_branch: str
    worktree_id: str
    secret_ref: str | None = None
    timeout_seconds: float = 600.0


class PreparedWorktree(BaseModel):
    """`cloned`: this call made the host's bare clone (else it fetched into the existing one);
    `created`: this call added the worktree (False when a retry found it already there)."""

    path: str
    branch: str
    head_sha: str
    cloned: bool = False
    created: bool = True


class WorktreeKey(BaseModel):
    workspace_id: str
    worktree_id: str


class CheckpointInput(BaseModel):
    workspace_id: str
    worktree_id: str
    label: str = "checkpoint"


class Checkpoint(BaseModel):
    """A commit of the whole working tree at a private ref; the branch is left alone."""

    ref: str
    sha: str


class RemoveResult(BaseModel):
    removed: bool
    checkpoint: Checkpoint | None = None


class ListWorktreesInput(BaseModel):
    workspace_id: str | None = None


class HostWorktree(BaseModel):
    """A worktree directory on a host; `branch` is None when git no longer knows it."""

    workspace_id: str
    worktree_id: str
    path: str
    branch: str | None = None
    head_sha: str | None = None
    modified_at: datetime


class HostWorktrees(BaseModel):
    items: list[HostWorktree] = Field(default_factory=list)


class CleanupInput(BaseModel):
    """Orphans younger than `grace_seconds` stay: their session row may not be written yet."""

    grace_seconds: float = 3600.0
    schedule_to_start_seconds: float = 10.0


class CleanupPlan(BaseModel):
    """The online session hosts, and the worktree ids some session still wants."""

    hosts: list[str] = Field(default_factory=list)
    wanted: list[str] = Field(default_factory=list)


class CleanupResult(BaseModel):
    removed: list[str] = Field(default_factory=list)  # "<host>:<workspace>/<worktree>"
    kept: int = 0
    errors: list[str] = Field(default_factory=list)

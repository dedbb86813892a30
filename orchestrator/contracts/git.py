"""Models that cross Temporal for the git remote check (pure pydantic, safe inside workflows).

They carry a secret *reference*, never a token: the host redeems the reference through the
API just before it runs git.
"""

from __future__ import annotations

from pydantic import BaseModel, Field


class GitCheckInput(BaseModel):
    """What the session agent checks with `git ls-remote`."""

    git_url: str
    branch: str
    secret_ref: str | None = None
    timeout_seconds: float = 30.0


class GitCheckResult(BaseModel):
    """`ok`: git reached the repository; `branch_found`: the branch exists there.

    `error` is git's stderr with the token removed, for the person who typed the URL.
    `ran` is False when the host could not run git at all (no token, no git binary): then
    the answer says nothing about the URL.
    """

    ok: bool
    branch_found: bool = False
    error: str | None = None
    ran: bool = True


class GitCheckRequest(BaseModel):
    """The workflow's input: the check, and the online session hosts to try in order."""

    check: GitCheckInput
    hosts: list[str] = Field(min_length=1)
    schedule_to_start_seconds: float = 5.0


class GitCheckOutcome(BaseModel):
    """The host that ran the check and its result, or why no host ran it."""

    host_id: str | None = None
    result: GitCheckResult | None = None
    error: str | None = None

"""The seam for pull requests: a provider opens one for a ticket's pushed branch.

GitHub and Azure DevOps come later; `none` opens nothing (the branch is pushed, and someone
marks the ticket merged with POST /api/tickets/{id}/pr-merged). Providers must be idempotent:
a retried activity must find the pull request it opened before instead of opening another.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from orchestrator.contracts.tickets import PullRequestResult


@dataclass(frozen=True)
class PullRequestRequest:
    """What a provider needs: where from and to, and the words (from the ticket and the
    session's summary)."""

    workspace_id: str
    git_url: str
    branch: str
    base_branch: str
    title: str
    body: str


class PullRequestProvider(Protocol):
    name: str

    async def open(self, req: PullRequestRequest) -> PullRequestResult: ...


class NoPullRequests:
    """Opens nothing: the pushed branch is the pull request's stand-in."""

    name = "none"

    async def open(self, req: PullRequestRequest) -> PullRequestResult:
        return PullRequestResult()


def provider_for(workspace_source: str) -> PullRequestProvider:
    """The provider a workspace uses (only `none` exists yet)."""
    return NoPullRequests()

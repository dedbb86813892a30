"""The seam for pull requests: a provider opens one for a ticket's pushed branch and says
later whether it was merged, closed or has conflicts.

The workspace's ticket source decides the provider: `github` (GitHubTickets owner/repo),
`tfs` (Azure DevOps: TfsTickets organization_url/project/repository), else `none`, which opens
nothing (someone marks the ticket with POST /api/tickets/{id}/pr-merged or pr-closed).
Providers are idempotent: a retried activity finds the pull request it opened before instead
of opening another. The token is the workspace's git_pat, decrypted here, in the activity,
and never handed to Temporal.
"""

from __future__ import annotations

from typing import Protocol

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from orchestrator.config import ServerSettings
from orchestrator.contracts.tickets import (
    PullRequestResult,
    PullRequestStatus,
    PullRequestStatusInput,
)
from orchestrator.logs import REDACTOR
from orchestrator.security.crypto import SecretBox, SecretDecryptError
from orchestrator.tickets.azure_devops import AzureDevOpsPullRequests
from orchestrator.tickets.github import GitHubPullRequests
from orchestrator.tickets.models import Ticket
from orchestrator.tickets.pr_common import (
    PullRequestRefused,
    PullRequestRequest,
    PullRequestUnavailable,
)
from orchestrator.tickets.repository import TicketRepository
from orchestrator.workspaces.models import Workspace
from orchestrator.workspaces.repository import WorkspaceRepository
from orchestrator.workspaces.schemas import TICKETS, GitHubTickets, TfsTickets
from orchestrator.workspaces.sealed import git_pat_aad

__all__ = [
    "NoPullRequests",
    "PullRequestProvider",
    "PullRequestRefused",
    "PullRequestRequest",
    "PullRequestUnavailable",
    "TicketPullRequests",
    "provider_for",
    "pull_request_body",
]  # fmt: skip
MAX_SUMMARY = 4000


class PullRequestProvider(Protocol):
    name: str

    async def open(self, req: PullRequestRequest) -> PullRequestResult: ...

    async def status(self, number: int) -> PullRequestStatus: ...


class NoPullRequests:
    """Opens nothing: the pushed branch is the pull request's stand-in."""

    name = "none"

    async def open(self, req: PullRequestRequest) -> PullRequestResult:
        return PullRequestResult()

    async def status(self, number: int) -> PullRequestStatus:
        return PullRequestStatus(state="open")


def provider_for(ws: Workspace, token: str | None, settings: ServerSettings) -> PullRequestProvider:
    """The provider the workspace's ticket settings name (`none` for any other source)."""
    if ws.ticket_source not in ("github", "tfs"):
        return NoPullRequests()
    try:
        config = TICKETS.validate_python({**(ws.ticket_settings or {}), "source": ws.ticket_source})
    except ValidationError:
        raise PullRequestRefused(
            f"The workspace's {ws.ticket_source} ticket settings are incomplete; save them again."
        ) from None
    if not token:
        raise PullRequestRefused(
            "The workspace has no git token (git_pat) to open pull requests with."
        )
    if isinstance(config, GitHubTickets):
        return GitHubPullRequests(settings.github_api_url, config.owner, config.repo, token)
    assert isinstance(config, TfsTickets)
    repository = config.repository or config.project
    return AzureDevOpsPullRequests(config.organization_url, config.project, repository, token)


def pull_request_body(t: Ticket, summary: str) -> str:
    """The ticket (key, title, description) and what the session said it did."""
    parts = [f"**{t.key}: {t.title}**"]
    if t.description.strip():
        parts.append(t.description.strip())
    if summary.strip():
        parts.append("## Summary\n\n" + summary.strip()[-MAX_SUMMARY:])
    parts.append(f"_Opened by Polygent for ticket {t.key}._")
    return "\n\n".join(parts)


class TicketPullRequests:
    """Open and track a ticket's pull request; one unit of work per call."""

    def __init__(self, db: AsyncSession, box: SecretBox, settings: ServerSettings) -> None:
        self.db = db
        self.repo = TicketRepository(db)
        self.box = box
        self.settings = settings

    def _token(self, ws: Workspace) -> str | None:
        if not ws.git_pat:
            return None
        try:
            pat = self.box.decrypt(ws.git_pat, git_pat_aad(ws))
        except SecretDecryptError:
            raise PullRequestRefused(
                "The workspace's git token cannot be decrypted (was the key changed?); "
                "set git_pat again."
            ) from None
        REDACTOR.add(pat)
        return pat

    async def _ticket(self, ticket_id: str) -> tuple[Ticket, Workspace]:
        t = await self.repo.get(ticket_id)
        ws = await WorkspaceRepository(self.db).get(t.workspace_id) if t else None
        if t is None or ws is None:
            raise LookupError(ticket_id)
        return t, ws

    async def open(self, ticket_id: str, summary: str) -> PullRequestResult:
        """Open (or find) the pull request of the ticket's pushed branch; record it."""
        t, ws = await self._ticket(ticket_id)
        row = await self.repo.session_of(ticket_id)
        if row is None:
            raise LookupError(ticket_id)
        provider = provider_for(ws, self._token(ws), self.settings)
        req = PullRequestRequest(
            workspace_id=ws.id, git_url=ws.git_url, branch=row.branch or "",
            base_branch=row.base_branch or ws.default_branch, title=f"{t.key}: {t.title}",
            body=pull_request_body(t, summary),
        )  # fmt: skip
        result = await provider.open(req)
        if result.url or result.number is not None:
            t.pr_url, t.pr_number = result.url, result.number
            t.pr_provider = result.provider
            await self.db.commit()
        return result

    async def status(self, inp: PullRequestStatusInput) -> PullRequestStatus:
        """Ask the provider that opened the pull request how it stands."""
        _, ws = await self._ticket(inp.ticket_id)
        if inp.provider == "none":
            return PullRequestStatus(state="open")
        if ws.ticket_source != inp.provider:
            raise PullRequestRefused(
                f"The workspace's ticket source is now {ws.ticket_source}, so its "
                f"{inp.provider} pull request can no longer be tracked."
            )
        return await provider_for(ws, self._token(ws), self.settings).status(inp.number)

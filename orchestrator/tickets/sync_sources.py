"""What ticket sync reads of a workspace: its item settings, the source they name (with
the workspace's token), the auto-start rule of an item, and what a stage writes back."""

from __future__ import annotations

from orchestrator.config import ServerSettings
from orchestrator.logs import REDACTOR
from orchestrator.security.crypto import SecretBox
from orchestrator.tickets.models import Ticket
from orchestrator.tickets.sync_azure import AzureWorkItems
from orchestrator.tickets.sync_common import ExternalItem, ItemSource, TicketSummary, tags_of
from orchestrator.tickets.sync_github import GitHubIssues, event_of
from orchestrator.workspaces.models import Workspace
from orchestrator.workspaces.schemas import TICKETS, AutoStartRule, GitHubTickets, TfsTickets
from orchestrator.workspaces.sealed import git_pat_aad

ItemSettings = GitHubTickets | TfsTickets


class WorkspaceGone(LookupError):
    """The workspace was deleted: its schedule should go too."""


class SyncNotConfigured(Exception):
    """The workspace takes no tickets from GitHub or Azure DevOps (or sync is off)."""


def item_settings(ws: Workspace) -> ItemSettings | None:
    cfg = TICKETS.validate_python({**(ws.ticket_settings or {}), "source": ws.ticket_source})
    return cfg if isinstance(cfg, GitHubTickets | TfsTickets) else None


def rule_for(cfg: ItemSettings, tags: list[str]) -> AutoStartRule | None:
    """The first auto-start rule naming one of the item's labels (tags)."""
    have = {t.casefold() for t in tags}
    return next((r for r in cfg.auto_start if tags_of([r.label])[0].casefold() in have), None)


def target_for(cfg: ItemSettings, stage: str) -> str | None:
    """What a ticket stage writes to its item (None: nothing)."""
    if isinstance(cfg, GitHubTickets):
        return event_of(stage)
    return cfg.status_map.get(stage)  # type: ignore[call-overload, no-any-return]


def oldest_first(item: ExternalItem) -> tuple[int, str]:
    """Issue and work item numbers grow: older items get the smaller ticket numbers."""
    return (len(item.external_id), item.external_id)


def summary(t: Ticket) -> TicketSummary:
    return TicketSummary(
        ticket_id=t.id, key=t.key, title=t.title, description=t.description,
        priority=t.priority, tags=list(t.tags or []), failure=t.failure,
    )  # fmt: skip


def open_source(
    ws: Workspace, cfg: ItemSettings, box: SecretBox, settings: ServerSettings
) -> ItemSource:
    """The workspace's source, with its token (known to the redactor from here on)."""
    token = None
    if ws.git_pat:
        token = box.decrypt(ws.git_pat, git_pat_aad(ws))
        REDACTOR.add(token)
    if isinstance(cfg, GitHubTickets):
        return GitHubIssues(settings.github_api_url, cfg.owner, cfg.repo, token, cfg.label_filters)
    return AzureWorkItems(
        cfg.organization_url, cfg.project, token, cfg.area_path, cfg.tags,
        dict(cfg.default_fields),
    )  # fmt: skip

"""Models of ticket sync that cross Temporal (pure pydantic, safe inside workflows)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

SyncSource = Literal["github", "tfs"]
SYNC_ACTOR_NAME = "sync"


def sync_workflow_id(workspace_id: str) -> str:
    return f"ticket-sync-{workspace_id}"


def item_workflow_id(ticket_id: str, source: SyncSource) -> str:
    return f"ticket-item-{ticket_id}-{source}"


class SyncInput(BaseModel):
    workspace_id: str


class SyncReport(BaseModel):
    """What one run did, by ticket key; `errors` are refusals worth a person's look (an
    item that could not be read or written, a rule naming a provider that is turned off).
    Passing failures (5xx, rate limits) are retried instead."""

    source: Literal["none", "github", "tfs"] = "none"
    created: list[str] = Field(default_factory=list)
    started: list[str] = Field(default_factory=list)  # committed earlier, started now
    updated: list[str] = Field(default_factory=list)
    canceled: list[str] = Field(default_factory=list)
    written_back: list[str] = Field(default_factory=list)
    errors: list[str] = Field(default_factory=list)


class CreateItemInput(BaseModel):
    """Create the GitHub issue or Azure DevOps Bug of a ticket and link it."""

    ticket_id: str
    source: SyncSource


class ItemLink(BaseModel):
    """The item a ticket is linked to; `created` is False when the link existed already."""

    ticket_id: str
    source: SyncSource
    external_id: str
    url: str | None = None
    created: bool = False

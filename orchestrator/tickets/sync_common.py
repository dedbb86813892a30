"""What both item sources of ticket sync (GitHub Issues, Azure DevOps work items) share: the
item as sync sees it, the ticket as a source writes it, and the two kinds of failure.

A refusal (bad token, no access, no such repository) is for good: the run reports it and
carries on with other work. Anything else (5xx, 429, a connection error) is for now: the
run raises it and Temporal retries the activity, which is safe because every step of a run
is idempotent.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from typing import Protocol

import httpx

from orchestrator.tickets.rest_answers import judge

TIMEOUT = httpx.Timeout(20.0, connect=10.0)
MAX_TAGS = 30
_NOT_TAG = re.compile(r"[^\w .:/+#-]")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_BREAK = re.compile(r"<\s*(br|/p|/div|/li|/h[1-6])\s*/?\s*>", re.I)
_TAG = re.compile(r"<[^>]+>")


@dataclass(frozen=True)
class ExternalItem:
    """An issue or work item: what a ticket is made from, and whether it is closed."""

    external_id: str
    title: str
    body: str = ""
    tags: list[str] = field(default_factory=list)
    priority: str = "normal"
    closed: bool = False
    url: str | None = None
    state: str = ""  # as the source names it (open, closed; Active, Resolved, ...)


@dataclass(frozen=True)
class TicketSummary:
    """What a source writes about a ticket (comments, a new item); `marker` finds it again
    after a lost answer."""

    ticket_id: str
    key: str
    title: str
    description: str
    priority: str
    tags: list[str]
    failure: str | None = None

    @property
    def marker(self) -> str:
        return f"polygent-ticket:{self.ticket_id}"


class SourceRefused(Exception):
    """The source refused for good; the message is one sentence for people."""


class SourceUnavailable(Exception):
    """The source could not answer now: worth trying again."""


class ItemSource(Protocol):
    name: str

    async def list_items(self) -> list[ExternalItem]: ...

    async def get_items(self, ids: list[str]) -> dict[str, ExternalItem | None]: ...

    async def write_back(self, external_id: str, target: str, t: TicketSummary) -> None: ...

    async def create(self, t: TicketSummary) -> ExternalItem: ...


def check(resp: httpx.Response, provider: str, what: str) -> None:
    """Nothing for a success; SourceUnavailable for a passing failure; else SourceRefused
    with a sentence naming the cause (`what`: "list issues")."""
    verdict, sentence = judge(resp, provider, what, "nothing")
    if verdict == "again":
        raise SourceUnavailable(sentence)
    if verdict == "refused":
        raise SourceRefused(sentence)


async def send(
    http: httpx.AsyncClient, method: str, url: str, provider: str, what: str, **kw: object
) -> httpx.Response:
    """One request; a connection failure is passing like a 5xx."""
    try:
        resp = await http.request(method, url, **kw)  # type: ignore[arg-type]
    except httpx.HTTPError as exc:
        raise SourceUnavailable(f"{provider} could not be reached to {what}: {exc}.") from None
    check(resp, provider, what)
    return resp


def clean(text: str) -> str:
    """Text a ticket can hold on both databases (no NUL or other control characters)."""
    return _CONTROL.sub("", text)


def tags_of(labels: list[str]) -> list[str]:
    """Labels as ticket tags: characters tags do not take become "-", at most 30."""
    out: list[str] = []
    for label in labels:
        tag = _NOT_TAG.sub("-", label).strip()[:50].strip()
        if tag and tag not in out:
            out.append(tag)
    return out[:MAX_TAGS]


def html_text(value: str) -> str:
    """A work item's HTML field as plain text (line breaks kept)."""
    text = html.unescape(_TAG.sub("", _BREAK.sub("\n", value)))
    return re.sub(r"\n{3,}", "\n\n", text).strip()

"""What every pull request provider shares: the request, the two kinds of failure, and how an
HTTP answer becomes one of them.

A refusal (bad token, no access, no such repository, an invalid request) is for good: the
activity raises a non-retryable error and the ticket fails with the sentence. Anything else
(5xx, 429, a connection error) is for now: the activity raises it and Temporal retries.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from orchestrator.tickets.rest_answers import judge

TIMEOUT = httpx.Timeout(20.0, connect=10.0)  # well inside the control activity's 30 s


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


class PullRequestRefused(Exception):
    """The provider refused for good; the message is one sentence for people."""


class PullRequestUnavailable(Exception):
    """The provider could not answer now (5xx, rate limit): worth trying again."""


def raise_for(resp: httpx.Response, provider: str, what: str) -> None:
    """Nothing for a success; PullRequestUnavailable for a passing failure; otherwise
    PullRequestRefused with a sentence naming the cause (`what`: "open a pull request")."""
    verdict, sentence = judge(resp, provider, what, "no such repository or pull request")
    if verdict == "again":
        raise PullRequestUnavailable(sentence)
    if verdict == "refused":
        raise PullRequestRefused(sentence)

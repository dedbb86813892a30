"""What every pull request provider shares: the request, the two kinds of failure, and how an
HTTP answer becomes one of them.

A refusal (bad token, no access, no such repository, an invalid request) is for good: the
activity raises a non-retryable error and the ticket fails with the sentence. Anything else
(5xx, 429, a connection error) is for now: the activity raises it and Temporal retries.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from orchestrator.logs import REDACTOR

TIMEOUT = httpx.Timeout(20.0, connect=10.0)  # well inside the control activity's 30 s
MAX_DETAIL = 300


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


def detail(resp: httpx.Response) -> str:
    """The provider's own words about an error (GitHub: message and errors; Azure DevOps:
    message), short and without secrets."""
    try:
        body = resp.json()
    except ValueError:
        return ""
    if not isinstance(body, dict):
        return ""
    parts = [str(body.get("message") or "")]
    for err in body.get("errors") or []:
        if isinstance(err, dict) and err.get("message"):
            parts.append(str(err["message"]))
    text = " ".join(p.strip() for p in parts if p and p.strip())
    return REDACTOR.redact(text)[:MAX_DETAIL]


def raise_for(resp: httpx.Response, provider: str, what: str) -> None:
    """Nothing for a success; PullRequestUnavailable for a passing failure; otherwise
    PullRequestRefused with a sentence naming the cause (`what`: "open a pull request")."""
    code = resp.status_code
    if resp.is_success and "text/html" not in resp.headers.get("content-type", ""):
        return
    said = detail(resp)
    said = f": {said}" if said else "."
    if code >= 500 or code == 429 or _rate_limited(resp):
        raise PullRequestUnavailable(f"{provider} answered {code} when asked to {what}{said}")
    if code in (401, 203) or resp.is_success:  # Azure DevOps answers a bad PAT with a page
        raise PullRequestRefused(
            f"{provider} did not accept the workspace's git token when asked to {what} "
            f"({code}); set a valid git_pat on the workspace."
        )
    if code == 403:
        raise PullRequestRefused(
            f"The workspace's git token may not {what} on {provider} (403){said}"
        )
    if code == 404:
        raise PullRequestRefused(
            f"{provider} found no such repository or pull request when asked to {what} "
            "(404); check the workspace's ticket settings and that its git token can see "
            "the repository."
        )
    raise PullRequestRefused(f"{provider} refused to {what} ({code}){said}")


def _rate_limited(resp: httpx.Response) -> bool:
    """GitHub's primary rate limit answers 403 with no requests remaining."""
    return resp.status_code == 403 and resp.headers.get("x-ratelimit-remaining") == "0"

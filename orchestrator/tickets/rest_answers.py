"""How an answer of GitHub or Azure DevOps is judged, for pull requests and ticket sync alike:
fine, a passing failure (5xx, 429, a spent rate limit: try again), or a refusal for good (bad
token, no access, nothing there, an invalid request) with one sentence for people."""

from __future__ import annotations

from typing import Literal

import httpx

from orchestrator.logs import REDACTOR

MAX_DETAIL = 300
Verdict = Literal["ok", "again", "refused"]


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
    parts += [str(e["message"]) for e in body.get("errors") or []
              if isinstance(e, dict) and e.get("message")]  # fmt: skip
    return REDACTOR.redact(" ".join(p.strip() for p in parts if p.strip()))[:MAX_DETAIL]


def rate_limited(resp: httpx.Response) -> bool:
    """GitHub's primary rate limit answers 403 with no requests remaining."""
    return resp.status_code == 403 and resp.headers.get("x-ratelimit-remaining") == "0"


def judge(resp: httpx.Response, provider: str, what: str, missing: str) -> tuple[Verdict, str]:
    """The verdict and its sentence (`what`: "open a pull request"; `missing`: what a 404
    means here, e.g. "no such repository or pull request")."""
    code = resp.status_code
    if resp.is_success and "text/html" not in resp.headers.get("content-type", ""):
        return "ok", ""
    said = detail(resp)
    said = f": {said}" if said else "."
    if code >= 500 or code == 429 or rate_limited(resp):
        return "again", f"{provider} answered {code} when asked to {what}{said}"
    if code in (401, 203) or resp.is_success:  # Azure DevOps answers a bad PAT with a page
        return "refused", (
            f"{provider} did not accept the workspace's git token when asked to {what} "
            f"({code}); set a valid git_pat on the workspace."
        )
    if code == 403:
        return "refused", f"The workspace's git token may not {what} on {provider} (403){said}"
    if code == 404:
        return "refused", (
            f"{provider} found {missing} when asked to {what} (404); check the workspace's "
            "ticket settings and that its git token can see it."
        )
    return "refused", f"{provider} refused to {what} ({code}){said}"

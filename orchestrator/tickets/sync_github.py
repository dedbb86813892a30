"""GitHub Issues as a ticket source (REST API, the workspace's PAT as Bearer).

Listing takes every issue with the workspace's labels (open and closed, pull requests left
out); one issue is read by number (404/410: deleted). Writing back comments on start,
completion and failure and closes the issue on completion; each comment carries a hidden
marker, and a comment whose marker is there already is not posted again, so a retried run
writes nothing twice. "Create GitHub Issue" looks for its marker among the newest issues
before creating, for the same reason.
"""

from __future__ import annotations

from typing import Any

import httpx

from orchestrator.tickets.sync_common import (
    TIMEOUT,
    ExternalItem,
    SourceRefused,
    SourceUnavailable,
    TicketSummary,
    check,
    clean,
    send,
    tags_of,
)

API_VERSION = "2022-11-28"
NAME = "GitHub"
PER_PAGE = 100
MAX_PAGES = 50  # 5,000 issues a run
MAX_BODY = 65_000
PRIORITY_LABELS = {"priority: high": "high", "priority: low": "low"}
EVENTS = {
    "started": "{key} has started: an agent is working on it.",
    "completed": "{key} is completed.",
    "failed": "{key} failed: {failure}",
}


def event_of(stage: str) -> str | None:
    """What a ticket stage means for its issue: started, completed, failed (else nothing)."""
    if stage in ("implementation", "dev_approval", "qa_approval", "pull_request"):
        return "started"
    if stage == "completed":
        return "completed"
    if stage in ("failed", "merge_conflicts"):
        return "failed"
    return None


class GitHubIssues:
    name = "github"

    def __init__(
        self, api_url: str, owner: str, repo: str, token: str | None, labels: list[str]
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.repo_path = f"/repos/{owner}/{repo}"
        self.labels = labels
        self._token = token

    def _client(self) -> httpx.AsyncClient:
        headers = {
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": API_VERSION,
            "User-Agent": "Polygent",
        }
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        return httpx.AsyncClient(base_url=self.api_url, headers=headers, timeout=TIMEOUT)

    async def _pages(self, http: httpx.AsyncClient, path: str, what: str,
                     params: dict[str, str]) -> list[dict[str, Any]]:  # fmt: skip
        out: list[dict[str, Any]] = []
        for page in range(1, MAX_PAGES + 1):
            q = {**params, "per_page": str(PER_PAGE), "page": str(page)}
            r = await send(http, "GET", path, NAME, what, params=q)
            batch = r.json()
            if not isinstance(batch, list):
                raise SourceRefused(f"{NAME} answered {what} with no list.")
            out.extend(x for x in batch if isinstance(x, dict))
            if len(batch) < PER_PAGE:
                break
        return out

    def _item(self, issue: dict[str, Any]) -> ExternalItem:
        labels = [str(lb.get("name") if isinstance(lb, dict) else lb)
                  for lb in issue.get("labels") or []]  # fmt: skip
        priority = next(
            (p for lb in labels if (p := PRIORITY_LABELS.get(lb.strip().lower()))), "normal"
        )
        return ExternalItem(
            external_id=str(issue["number"]), title=clean(str(issue.get("title") or "")),
            body=clean(str(issue.get("body") or "")), tags=tags_of(labels), priority=priority,
            closed=issue.get("state") == "closed", url=issue.get("html_url"),
        )  # fmt: skip

    async def list_items(self) -> list[ExternalItem]:
        params = {"state": "all"}
        if self.labels:
            params["labels"] = ",".join(self.labels)
        async with self._client() as http:
            issues = await self._pages(http, f"{self.repo_path}/issues", "list issues", params)
        return [self._item(i) for i in issues if "pull_request" not in i]

    async def get_items(self, ids: list[str]) -> dict[str, ExternalItem | None]:
        out: dict[str, ExternalItem | None] = {}
        async with self._client() as http:
            for number in ids:
                what = f"read issue #{number}"
                try:
                    r = await http.get(f"{self.repo_path}/issues/{number}")
                except httpx.HTTPError as exc:
                    raise SourceUnavailable(
                        f"{NAME} could not be reached to {what}: {exc}."
                    ) from None
                if r.status_code in (404, 410):
                    out[number] = None  # deleted (or transferred away)
                    continue
                check(r, NAME, what)
                issue = r.json()
                out[number] = None if "pull_request" in issue else self._item(issue)
        return out

    async def write_back(self, external_id: str, target: str, t: TicketSummary) -> None:
        """Comment the event (once, by its marker); close the issue on completion."""
        issue = f"{self.repo_path}/issues/{external_id}"
        marker = f"<!-- {t.marker}:{target} -->"
        text = EVENTS[target].format(key=t.key, failure=(t.failure or "no details")[:1000])
        async with self._client() as http:
            said = await self._pages(http, f"{issue}/comments", f"read the comments of "
                                     f"issue #{external_id}", {})  # fmt: skip
            if not any(marker in str(c.get("body") or "") for c in said):
                await send(http, "POST", f"{issue}/comments", NAME,
                           f"comment on issue #{external_id}",
                           json={"body": f"{text}\n\n{marker}"})  # fmt: skip
            if target == "completed":
                await send(http, "PATCH", issue, NAME, f"close issue #{external_id}",
                           json={"state": "closed", "state_reason": "completed"})  # fmt: skip

    async def create(self, t: TicketSummary) -> ExternalItem:
        """The issue of the ticket: found by its marker among the newest issues (an earlier
        try whose answer was lost), else created."""
        marker = f"<!-- {t.marker} -->"
        async with self._client() as http:
            r = await send(http, "GET", f"{self.repo_path}/issues", NAME, "list issues",
                           params={"state": "all", "sort": "created", "direction": "desc",
                                   "per_page": str(PER_PAGE)})  # fmt: skip
            found = [i for i in r.json() if isinstance(i, dict) and "pull_request" not in i
                     and marker in str(i.get("body") or "")]  # fmt: skip
            if found:
                return self._item(min(found, key=lambda i: int(i["number"])))
            labels = list(t.tags)
            labels += [lb for lb, p in PRIORITY_LABELS.items() if p == t.priority]
            body = f"{t.description}"[: MAX_BODY - 200] + f"\n\n{t.key} on Polygent.\n{marker}"
            r = await send(http, "POST", f"{self.repo_path}/issues", NAME, "create an issue",
                           json={"title": t.title[:256], "body": body.strip(),
                                 "labels": labels})  # fmt: skip
            return self._item(r.json())

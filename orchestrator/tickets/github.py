"""GitHub pull requests for tickets (REST API, a fine-grained or classic PAT as Bearer).

Opening is idempotent, because a retried activity must not open a second pull request: look
for an open one from the branch first, and when the create says one exists already (422),
look again. Tracking reads the pull request: merged, closed, or "dirty" (conflicts).
"""

from __future__ import annotations

from typing import Any

import httpx

from orchestrator.contracts.tickets import PullRequestResult, PullRequestStatus
from orchestrator.tickets.pr_common import (
    TIMEOUT,
    PullRequestRefused,
    PullRequestRequest,
    raise_for,
)

API_VERSION = "2022-11-28"
MAX_TITLE = 256
MAX_BODY = 65_000  # GitHub's limit is 65,536 characters
NAME = "GitHub"


class GitHubPullRequests:
    name = "github"

    def __init__(self, api_url: str, owner: str, repo: str, token: str) -> None:
        self.api_url = api_url.rstrip("/")
        self.owner = owner
        self.repo = repo
        self._token = token

    def _client(self) -> httpx.AsyncClient:
        headers = {
            "Authorization": f"Bearer {self._token}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": API_VERSION,
            "User-Agent": "Polygent",
        }
        return httpx.AsyncClient(base_url=self.api_url, headers=headers, timeout=TIMEOUT)

    @property
    def _pulls(self) -> str:
        return f"/repos/{self.owner}/{self.repo}/pulls"

    async def open(self, req: PullRequestRequest) -> PullRequestResult:
        async with self._client() as http:
            found = await self._find(http, req.branch)
            if found is not None:
                return found
            body = {
                "title": req.title[:MAX_TITLE], "head": req.branch, "base": req.base_branch,
                "body": req.body[:MAX_BODY],
            }  # fmt: skip
            r = await http.post(self._pulls, json=body)
            if r.status_code == 422 and "already exists" in r.text:
                # Opened meanwhile (an earlier try whose answer was lost): that one it is.
                found = await self._find(http, req.branch)
                if found is not None:
                    return found
            raise_for(r, NAME, "open a pull request")
            return self._result(r.json())

    async def _find(self, http: httpx.AsyncClient, branch: str) -> PullRequestResult | None:
        """The open pull request from `branch`, if any (closed ones belong to earlier
        rounds: a branch pushed again after one was closed gets a new pull request)."""
        params = {"head": f"{self.owner}:{branch}", "state": "all", "per_page": "100"}
        r = await http.get(self._pulls, params=params)
        raise_for(r, NAME, "list pull requests")
        pulls = [
            p for p in r.json()
            if p.get("state") == "open" and (p.get("head") or {}).get("ref") == branch
        ]  # fmt: skip
        if not pulls:
            return None
        return self._result(max(pulls, key=lambda p: int(p["number"])))

    def _result(self, pull: dict[str, Any]) -> PullRequestResult:
        return PullRequestResult(
            url=pull.get("html_url"), number=int(pull["number"]), provider=self.name
        )

    async def status(self, number: int) -> PullRequestStatus:
        async with self._client() as http:
            r = await http.get(f"{self._pulls}/{number}")
        raise_for(r, NAME, f"read pull request #{number}")
        pull = r.json()
        if not isinstance(pull, dict):
            raise PullRequestRefused(f"{NAME} answered pull request #{number} with no object.")
        if pull.get("merged") or pull.get("merged_at"):
            return PullRequestStatus(state="merged", detail=f"#{number} was merged.")
        if pull.get("state") == "closed":
            return PullRequestStatus(state="closed", detail=f"#{number} was closed unmerged.")
        if pull.get("mergeable_state") == "dirty" or pull.get("mergeable") is False:
            base = (pull.get("base") or {}).get("ref") or "its base branch"
            return PullRequestStatus(
                state="conflicts", detail=f"#{number} has conflicts with {base}."
            )
        return PullRequestStatus(state="open")

"""Azure DevOps (and TFS) pull requests for tickets (Git REST API 7.1, Basic auth with an
empty user name and the PAT).

Opening is idempotent like GitHub's: search the active pull requests from the branch first,
and when the create says one exists already (409, TF401179), search again. Tracking reads the
pull request: completed (merged), abandoned (closed), or mergeStatus "conflicts".
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx

from orchestrator.contracts.tickets import PullRequestResult, PullRequestStatus
from orchestrator.tickets.pr_common import (
    TIMEOUT,
    PullRequestRefused,
    PullRequestRequest,
    raise_for,
)

API_VERSION = "7.1"
MAX_TITLE = 400
MAX_DESCRIPTION = 4000  # Azure DevOps refuses longer descriptions
NAME = "Azure DevOps"


def ref(branch: str) -> str:
    return branch if branch.startswith("refs/") else f"refs/heads/{branch}"


class AzureDevOpsPullRequests:
    name = "tfs"

    def __init__(self, organization_url: str, project: str, repository: str, token: str) -> None:
        org = organization_url.rstrip("/")
        self.project_url = f"{org}/{quote(project, safe='')}"
        self.repository = repository
        self._token = token

    @property
    def _pulls(self) -> str:
        repo = quote(self.repository, safe="")
        return f"{self.project_url}/_apis/git/repositories/{repo}/pullrequests"

    def _client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            auth=httpx.BasicAuth("", self._token), timeout=TIMEOUT,
            headers={"Accept": "application/json", "User-Agent": "Polygent"},
        )  # fmt: skip

    async def open(self, req: PullRequestRequest) -> PullRequestResult:
        async with self._client() as http:
            found = await self._find(http, req.branch)
            if found is not None:
                return found
            body = {
                "sourceRefName": ref(req.branch), "targetRefName": ref(req.base_branch),
                "title": req.title[:MAX_TITLE], "description": req.body[:MAX_DESCRIPTION],
            }  # fmt: skip
            r = await http.post(self._pulls, params={"api-version": API_VERSION}, json=body)
            if r.status_code == 409 and "TF401179" in r.text:
                # Opened meanwhile (an earlier try whose answer was lost): that one it is.
                found = await self._find(http, req.branch)
                if found is not None:
                    return found
            raise_for(r, NAME, "open a pull request")
            return self._result(r.json())

    async def _find(self, http: httpx.AsyncClient, branch: str) -> PullRequestResult | None:
        """The active pull request from `branch`, if any."""
        params = {
            "searchCriteria.sourceRefName": ref(branch), "searchCriteria.status": "all",
            "api-version": API_VERSION,
        }  # fmt: skip
        r = await http.get(self._pulls, params=params)
        raise_for(r, NAME, "list pull requests")
        pulls = [
            p for p in (r.json().get("value") or [])
            if p.get("status") == "active" and p.get("sourceRefName") == ref(branch)
        ]  # fmt: skip
        if not pulls:
            return None
        return self._result(max(pulls, key=lambda p: int(p["pullRequestId"])))

    def _result(self, pull: dict[str, Any]) -> PullRequestResult:
        number = int(pull["pullRequestId"])
        repo = quote(self.repository, safe="")
        url = f"{self.project_url}/_git/{repo}/pullrequest/{number}"
        return PullRequestResult(url=url, number=number, provider=self.name)

    async def status(self, number: int) -> PullRequestStatus:
        async with self._client() as http:
            r = await http.get(f"{self._pulls}/{number}", params={"api-version": API_VERSION})
        raise_for(r, NAME, f"read pull request {number}")
        pull = r.json()
        if not isinstance(pull, dict):
            raise PullRequestRefused(f"{NAME} answered pull request {number} with no object.")
        status = pull.get("status")
        if status == "completed":
            return PullRequestStatus(state="merged", detail=f"{number} was completed.")
        if status == "abandoned":
            return PullRequestStatus(state="closed", detail=f"{number} was abandoned.")
        if pull.get("mergeStatus") == "conflicts":
            target = str(pull.get("targetRefName") or "its target branch")
            target = target.removeprefix("refs/heads/")
            return PullRequestStatus(
                state="conflicts", detail=f"{number} has conflicts with {target}."
            )
        return PullRequestStatus(state="open")

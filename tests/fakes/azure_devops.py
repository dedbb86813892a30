"""A fake Azure DevOps Services REST API (Git pull requests, api-version 7.1, on the real
paths and payloads).

`serve_azure_devops(token, org="acme", repos=[("Alpha", "Alpha")])` yields a
`FakeAzureDevOps`; the workspace's `organization_url` is `fake.organization_url`. Requests
need Basic auth with any user name and the PAT as password, else 401; unknown projects or
repositories are 404 (TF401019), a missing api-version 400. Tests complete, abandon or mark
conflicts on pull requests and read the recorded requests. Work item endpoints (ticket sync)
can be added the same way: `self.route(...)`.
"""

from __future__ import annotations

import base64
import contextlib
import hmac
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from tests.fakes.rest import FakeRestApi, Reply, Request, serve

PULLS = r"/(?P<org>[^/]+)/(?P<project>[^/]+)/_apis/git/repositories/(?P<repo>[^/]+)/pullrequests"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class FakePullRequest:
    project: str
    repository: str
    id: int
    title: str
    description: str
    source: str  # refs/heads/...
    target: str
    status: str = "active"  # active | completed | abandoned
    merge_status: str = "succeeded"  # succeeded | conflicts | queued ...
    created: str = field(default_factory=_now)
    closed: str | None = None


def _error(status: int, type_key: str, message: str) -> Reply:
    return Reply(status, {"$id": "1", "innerException": None, "message": message,
                          "typeName": f"Microsoft.TeamFoundation.Git.Server.{type_key}",
                          "typeKey": type_key, "errorCode": 0, "eventId": 3000})  # fmt: skip


class FakeAzureDevOps(FakeRestApi):
    def __init__(self, token: str, org: str, repos: Iterable[tuple[str, str]]) -> None:
        super().__init__()
        self.token = token
        self.org = org
        self.repos = {(p.lower(), r.lower()) for p, r in repos}
        self.prs: list[FakePullRequest] = []
        self.route("GET", PULLS, self._list)
        self.route("POST", PULLS, self._create)
        self.route("GET", f"{PULLS}/(?P<id>\\d+)", self._get)

    @property
    def organization_url(self) -> str:
        return f"{self.base_url}/{self.org}"

    # -- what tests use -------------------------------------------------------------------

    def pull(self, pr_id: int) -> FakePullRequest:
        with self.lock:
            return next(p for p in self.prs if p.id == pr_id)

    def complete(self, pr_id: int) -> None:
        with self.lock:
            p = self.pull(pr_id)
            p.status, p.closed = "completed", _now()

    def abandon(self, pr_id: int) -> None:
        with self.lock:
            p = self.pull(pr_id)
            p.status, p.closed = "abandoned", _now()

    def conflict(self, pr_id: int) -> None:
        with self.lock:
            self.pull(pr_id).merge_status = "conflicts"

    # -- the API --------------------------------------------------------------------------

    def authorized(self, req: Request) -> bool:
        scheme, _, value = req.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            _, _, password = base64.b64decode(value).decode().partition(":")
        except ValueError:
            return False
        return hmac.compare_digest(password.encode(), self.token.encode())

    def unauthorized(self, req: Request) -> Reply:
        return Reply(401, None, {"WWW-Authenticate": 'Basic realm="https://dev.azure.com/"'})

    def not_found(self, req: Request) -> Reply:
        return _error(
            404, "GitRepositoryNotFoundException",
            "TF401019: The Git repository with name or identifier does not exist or you do not "
            "have permissions for the operation you are attempting.",
        )  # fmt: skip

    def _scope(self, req: Request) -> tuple[str, str] | Reply:
        if req.query.get("api-version") is None:
            return _error(400, "VssVersionNotSpecifiedException",
                          "No api-version was supplied for the request.")  # fmt: skip
        project, repo = unquote(req.params["project"]), unquote(req.params["repo"])
        if req.params["org"] != self.org or (project.lower(), repo.lower()) not in self.repos:
            return self.not_found(req)
        return project, repo

    def _json(self, p: FakePullRequest) -> dict[str, Any]:
        api = f"{self.organization_url}/{p.project}/_apis/git/repositories/{p.repository}"
        return {
            "pullRequestId": p.id, "codeReviewId": p.id, "status": p.status,
            "title": p.title, "description": p.description, "sourceRefName": p.source,
            "targetRefName": p.target, "mergeStatus": p.merge_status, "isDraft": False,
            "creationDate": p.created, "closedDate": p.closed,
            "url": f"{api}/pullRequests/{p.id}",
            "repository": {"id": f"repo-{p.repository}", "name": p.repository, "url": api,
                           "project": {"name": p.project, "state": "wellFormed"}},
        }  # fmt: skip

    def _list(self, req: Request) -> Reply:
        scope = self._scope(req)
        if isinstance(scope, Reply):
            return scope
        source = req.query.get("searchCriteria.sourceRefName")
        status = req.query.get("searchCriteria.status", "active")
        out = [
            self._json(p) for p in sorted(self.prs, key=lambda x: -x.id)
            if (p.project.lower(), p.repository.lower()) == (scope[0].lower(), scope[1].lower())
            and (source is None or p.source == source) and status in ("all", p.status)
        ]  # fmt: skip
        return Reply(200, {"value": out, "count": len(out)})

    def _create(self, req: Request) -> Reply:
        scope = self._scope(req)
        if isinstance(scope, Reply):
            return scope
        body = req.body if isinstance(req.body, dict) else {}
        for name in ("sourceRefName", "targetRefName", "title"):
            if not str(body.get(name) or "").strip():
                return _error(400, "InvalidArgumentValueException",
                              f"The value specified for {name} is not valid.")  # fmt: skip
        if len(str(body.get("description") or "")) > 4000:
            return _error(400, "InvalidArgumentValueException",
                          "The description can be at most 4000 characters.")  # fmt: skip
        if any(p.source == body["sourceRefName"] and p.target == body["targetRefName"]
               and p.status == "active" for p in self.prs):  # fmt: skip
            return _error(409, "GitPullRequestExistsException",
                          "TF401179: An active pull request for the source and target branch "
                          "already exists.")  # fmt: skip
        p = FakePullRequest(
            project=scope[0], repository=scope[1], id=len(self.prs) + 1, title=body["title"],
            description=str(body.get("description") or ""), source=body["sourceRefName"],
            target=body["targetRefName"],
        )  # fmt: skip
        self.prs.append(p)
        return Reply(201, self._json(p))

    def _get(self, req: Request) -> Reply:
        scope = self._scope(req)
        if isinstance(scope, Reply):
            return scope
        p = next((p for p in self.prs if p.id == int(req.params["id"])), None)
        return self.not_found(req) if p is None else Reply(200, self._json(p))


@contextlib.contextmanager
def serve_azure_devops(
    token: str, org: str = "acme", repos: Iterable[tuple[str, str]] = (("Alpha", "Alpha"),)
) -> Iterator[FakeAzureDevOps]:
    api = FakeAzureDevOps(token, org, repos)
    with serve(api):
        yield api

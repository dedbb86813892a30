"""A fake GitHub REST API for issues (ticket sync), on the real paths and payloads.

`serve_github_issues(token, repos=[("acme", "widgets")])` yields a `FakeGitHubIssues` on a
free loopback port: point `github_api_url` at `base_url`. Requests need `Authorization:
Bearer <token>`, else 401 "Bad credentials"; unknown repositories are 404. The issues list
filters by state and labels (all of them), pages by `per_page`/`page`, and, like GitHub's,
also lists pull requests (with a `pull_request` key). A deleted issue answers 410. Tests add,
close, relabel and delete issues, read comments, and inject faults (`fail_next`, `fail_after`
from tests/fakes/rest.py).
"""

from __future__ import annotations

import contextlib
import hmac
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tests.fakes.rest import FakeRestApi, Reply, Request, serve

REPO = r"/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)"
ISSUE = REPO + r"/issues/(?P<number>\d+)"
DOCS = "https://docs.github.com/rest/issues"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class FakeIssue:
    owner: str
    repo: str
    number: int
    title: str
    body: str = ""
    labels: list[str] = field(default_factory=list)
    state: str = "open"  # open | closed
    state_reason: str | None = None
    pull_request: bool = False
    deleted: bool = False
    comments: list[dict[str, Any]] = field(default_factory=list)
    created_at: str = field(default_factory=_now)
    closed_at: str | None = None


class FakeGitHubIssues(FakeRestApi):
    def __init__(self, token: str, repos: Iterable[tuple[str, str]]) -> None:
        super().__init__()
        self.token = token
        self.repos = {(o.lower(), r.lower()) for o, r in repos}
        self.issues: list[FakeIssue] = []
        self._comment_ids = 0
        self.route("GET", f"{REPO}/issues", self._list)
        self.route("POST", f"{REPO}/issues", self._create)
        self.route("GET", ISSUE, self._get)
        self.route("PATCH", ISSUE, self._patch)
        self.route("GET", f"{ISSUE}/comments", self._comments)
        self.route("POST", f"{ISSUE}/comments", self._comment)

    # -- what tests use -------------------------------------------------------------------

    def add(
        self, title: str, body: str = "", labels: Iterable[str] = (), *, state: str = "open",
        pull_request: bool = False, repo: tuple[str, str] = ("acme", "widgets"),
    ) -> int:  # fmt: skip
        with self.lock:
            number = 1 + max((i.number for i in self.issues), default=0)
            self.issues.append(FakeIssue(repo[0], repo[1], number, title, body, list(labels),
                                         state, pull_request=pull_request))  # fmt: skip
            return number

    def issue(self, number: int) -> FakeIssue:
        with self.lock:
            return next(i for i in self.issues if i.number == number)

    def close(self, number: int, reason: str = "completed") -> None:
        with self.lock:
            i = self.issue(number)
            i.state, i.state_reason, i.closed_at = "closed", reason, _now()

    def delete(self, number: int) -> None:
        with self.lock:
            self.issue(number).deleted = True

    def set_labels(self, number: int, labels: Iterable[str]) -> None:
        with self.lock:
            self.issue(number).labels = list(labels)

    def edit(self, number: int, **values: Any) -> None:
        with self.lock:
            i = self.issue(number)
            for k, v in values.items():
                setattr(i, k, v)

    # -- the API --------------------------------------------------------------------------

    def authorized(self, req: Request) -> bool:
        scheme, _, value = req.headers.get("authorization", "").partition(" ")
        return scheme.lower() in ("bearer", "token") and hmac.compare_digest(
            value.encode(), self.token.encode()
        )

    def unauthorized(self, req: Request) -> Reply:
        return Reply(401, {"message": "Bad credentials", "documentation_url": DOCS,
                           "status": "401"})  # fmt: skip

    def not_found(self, req: Request) -> Reply:
        return Reply(404, {"message": "Not Found", "documentation_url": DOCS, "status": "404"})

    def _known(self, req: Request) -> bool:
        return (req.params["owner"].lower(), req.params["repo"].lower()) in self.repos

    def _in_repo(self, req: Request) -> list[FakeIssue]:
        o, r = req.params["owner"].lower(), req.params["repo"].lower()
        return [i for i in self.issues if (i.owner.lower(), i.repo.lower()) == (o, r)]

    def _find(self, req: Request) -> FakeIssue | None:
        number = int(req.params["number"])
        return next((i for i in self._in_repo(req) if i.number == number), None)

    def _json(self, i: FakeIssue) -> dict[str, Any]:
        kind = "pull" if i.pull_request else "issues"
        html = f"https://github.test/{i.owner}/{i.repo}/{kind}/{i.number}"
        out: dict[str, Any] = {
            "url": f"{self.base_url}/repos/{i.owner}/{i.repo}/issues/{i.number}",
            "id": 5000 + i.number, "number": i.number, "title": i.title, "body": i.body or None,
            "state": i.state, "state_reason": i.state_reason, "html_url": html,
            "labels": [{"id": 100 + n, "name": lb, "color": "ededed"}
                       for n, lb in enumerate(i.labels)],
            "user": {"login": "octocat", "id": 1}, "comments": len(i.comments),
            "created_at": i.created_at, "updated_at": i.closed_at or i.created_at,
            "closed_at": i.closed_at,
        }  # fmt: skip
        if i.pull_request:
            out["pull_request"] = {"url": html, "html_url": html}
        return out

    @staticmethod
    def _page(req: Request, items: list[Any]) -> list[Any]:
        per_page = min(int(req.query.get("per_page", "30")), 100)
        page = max(int(req.query.get("page", "1")), 1)
        return items[(page - 1) * per_page : page * per_page]

    def _list(self, req: Request) -> Reply:
        if not self._known(req):
            return self.not_found(req)
        state = req.query.get("state", "open")
        wanted = {lb.strip().lower() for lb in req.query.get("labels", "").split(",") if lb}
        found = [
            i for i in self._in_repo(req)
            if not i.deleted and (state == "all" or i.state == state)
            and wanted <= {lb.lower() for lb in i.labels}
        ]  # fmt: skip
        found.sort(key=lambda i: i.number, reverse=req.query.get("direction", "desc") == "desc")
        return Reply(200, [self._json(i) for i in self._page(req, found)])

    def _get(self, req: Request) -> Reply:
        if not self._known(req):
            return self.not_found(req)
        i = self._find(req)
        if i is None:
            return self.not_found(req)
        if i.deleted:
            return Reply(410, {"message": "This issue was deleted", "documentation_url": DOCS,
                               "status": "410"})  # fmt: skip
        return Reply(200, self._json(i))

    def _invalid(self, field_name: str) -> Reply:
        return Reply(422, {"message": "Validation Failed", "documentation_url": DOCS,
                           "errors": [{"resource": "Issue", "field": field_name,
                                       "code": "invalid"}], "status": "422"})  # fmt: skip

    def _create(self, req: Request) -> Reply:
        if not self._known(req):
            return self.not_found(req)
        body = req.body if isinstance(req.body, dict) else {}
        if not isinstance(body.get("title"), str) or not body["title"].strip():
            return self._invalid("title")
        labels = body.get("labels") or []
        if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
            return self._invalid("labels")
        number = self.add(body["title"], str(body.get("body") or ""), labels,
                          repo=(req.params["owner"], req.params["repo"]))  # fmt: skip
        i = self.issue(number)
        return Reply(201, self._json(i), {"Location": self._json(i)["url"]})

    def _patch(self, req: Request) -> Reply:
        i = self._find(req) if self._known(req) else None
        if i is None or i.deleted:
            return self.not_found(req)
        body = req.body if isinstance(req.body, dict) else {}
        if "state" in body:
            if body["state"] not in ("open", "closed"):
                return self._invalid("state")
            i.state = body["state"]
            i.closed_at = _now() if i.state == "closed" else None
            i.state_reason = body.get("state_reason") if i.state == "closed" else "reopened"
        for name in ("title", "body"):
            if isinstance(body.get(name), str):
                setattr(i, name, body[name])
        return Reply(200, self._json(i))

    def _comments(self, req: Request) -> Reply:
        i = self._find(req) if self._known(req) else None
        if i is None or i.deleted:
            return self.not_found(req)
        return Reply(200, self._page(req, list(i.comments)))

    def _comment(self, req: Request) -> Reply:
        i = self._find(req) if self._known(req) else None
        if i is None or i.deleted:
            return self.not_found(req)
        body = req.body if isinstance(req.body, dict) else {}
        if not isinstance(body.get("body"), str) or not body["body"]:
            return self._invalid("body")
        self._comment_ids += 1
        c = {"id": 9000 + self._comment_ids, "body": body["body"], "created_at": _now(),
             "user": {"login": "polygent-bot", "id": 2}}  # fmt: skip
        i.comments.append(c)
        return Reply(201, c)


@contextlib.contextmanager
def serve_github_issues(
    token: str, repos: Iterable[tuple[str, str]] = (("acme", "widgets"),)
) -> Iterator[FakeGitHubIssues]:
    api = FakeGitHubIssues(token, repos)
    with serve(api):
        yield api

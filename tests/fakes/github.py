"""A fake GitHub REST API (the pull request endpoints, on the real paths and payloads).

`serve_github(token, repos=[("acme", "widgets")])` yields a `FakeGitHub` on a free loopback
port: point `github_api_url` at `base_url`. Requests need `Authorization: Bearer <token>`
(or `token <token>`), else 401 "Bad credentials"; unknown repositories are 404 like private
ones. Tests mark pull requests merged, closed or conflicting, and read the recorded requests.
Issues endpoints (ticket sync) can be added the same way: `self.route(...)`.
"""

from __future__ import annotations

import contextlib
import hmac
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tests.fakes.rest import FakeRestApi, Reply, Request, serve

REPO = r"/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)"
DOCS = "https://docs.github.com/rest"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class FakePull:
    owner: str
    repo: str
    number: int
    title: str
    head: str
    base: str
    body: str
    state: str = "open"  # open | closed
    merged: bool = False
    mergeable: bool | None = True
    mergeable_state: str = "clean"  # clean | dirty | unknown | blocked ...
    created_at: str = field(default_factory=_now)
    merged_at: str | None = None
    closed_at: str | None = None


class FakeGitHub(FakeRestApi):
    def __init__(
        self, token: str, repos: Iterable[tuple[str, str]],
        branch_exists: Callable[[str], bool] | None = None,
    ) -> None:  # fmt: skip
        super().__init__()
        self.token = token
        self.repos = {(o.lower(), r.lower()) for o, r in repos}
        self.branch_exists = branch_exists
        self.pulls: dict[tuple[str, str], list[FakePull]] = {}
        self.route("GET", f"{REPO}/pulls", self._list)
        self.route("POST", f"{REPO}/pulls", self._create)
        self.route("GET", f"{REPO}/pulls/(?P<number>\\d+)", self._get)

    # -- what tests use -------------------------------------------------------------------

    def all_pulls(self) -> list[FakePull]:
        with self.lock:
            return [p for ps in self.pulls.values() for p in ps]

    def pull(self, number: int) -> FakePull:
        return next(p for p in self.all_pulls() if p.number == number)

    def merge(self, number: int) -> None:
        with self.lock:
            p = self.pull(number)
            p.state, p.merged, p.merged_at = "closed", True, _now()
            p.closed_at = p.merged_at

    def close(self, number: int) -> None:
        with self.lock:
            p = self.pull(number)
            p.state, p.closed_at = "closed", _now()

    def conflict(self, number: int) -> None:
        with self.lock:
            p = self.pull(number)
            p.mergeable, p.mergeable_state = False, "dirty"

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

    def _repo(self, req: Request) -> tuple[str, str] | None:
        key = (req.params["owner"].lower(), req.params["repo"].lower())
        return key if key in self.repos else None

    def _json(self, p: FakePull, full: bool) -> dict[str, Any]:
        """A pull request as GitHub shows it (the list leaves out the merge fields)."""
        api = f"{self.base_url}/repos/{p.owner}/{p.repo}/pulls/{p.number}"
        out: dict[str, Any] = {
            "url": api, "id": 1000 + p.number, "number": p.number, "state": p.state,
            "html_url": f"https://github.test/{p.owner}/{p.repo}/pull/{p.number}",
            "title": p.title, "body": p.body, "created_at": p.created_at,
            "updated_at": p.merged_at or p.closed_at or p.created_at, "closed_at": p.closed_at,
            "merged_at": p.merged_at, "draft": False,
            "head": {"label": f"{p.owner}:{p.head}", "ref": p.head, "sha": "1" * 40},
            "base": {"label": f"{p.owner}:{p.base}", "ref": p.base, "sha": "2" * 40},
        }  # fmt: skip
        if full:
            mergeable = None if p.state == "closed" else p.mergeable
            state = "unknown" if p.state == "closed" else p.mergeable_state
            out.update(merged=p.merged, mergeable=mergeable, mergeable_state=state,
                       commits=1, changed_files=1)  # fmt: skip
        return out

    def _list(self, req: Request) -> Reply:
        key = self._repo(req)
        if key is None:
            return self.not_found(req)
        state = req.query.get("state", "open")
        head = req.query.get("head")
        out = []
        for p in sorted(self.pulls.get(key, []), key=lambda x: -x.number):
            if state != "all" and p.state != state:
                continue
            if head is not None and head.lower() != f"{p.owner}:{p.head}".lower():
                continue
            out.append(self._json(p, full=False))
        return Reply(200, out)

    def _invalid(self, field_name: str, code: str = "missing_field") -> Reply:
        return Reply(422, {"message": "Validation Failed", "documentation_url": DOCS,
                           "errors": [{"resource": "PullRequest", "field": field_name,
                                       "code": code}], "status": "422"})  # fmt: skip

    def _create(self, req: Request) -> Reply:
        key = self._repo(req)
        if key is None:
            return self.not_found(req)
        body = req.body if isinstance(req.body, dict) else {}
        for name in ("title", "head", "base"):
            if not isinstance(body.get(name), str) or not body[name]:
                return self._invalid(name)
        head = str(body["head"]).split(":")[-1]
        if self.branch_exists is not None and not self.branch_exists(head):
            return self._invalid("head", "invalid")
        pulls = self.pulls.setdefault(key, [])
        if any(p.head == head and p.base == body["base"] and p.state == "open" for p in pulls):
            message = f"A pull request already exists for {key[0]}:{head}."
            return Reply(422, {"message": "Validation Failed", "documentation_url": DOCS,
                               "errors": [{"resource": "PullRequest", "code": "custom",
                                           "message": message}], "status": "422"})  # fmt: skip
        number = 1 + max((p.number for ps in self.pulls.values() for p in ps), default=0)
        p = FakePull(owner=req.params["owner"], repo=req.params["repo"], number=number,
                     title=body["title"], head=head, base=body["base"],
                     body=str(body.get("body") or ""))  # fmt: skip
        pulls.append(p)
        return Reply(
            201,
            self._json(p, full=True),
            {"Location": f"{self.base_url}/repos/{p.owner}/{p.repo}/pulls/{number}"},
        )

    def _get(self, req: Request) -> Reply:
        key = self._repo(req)
        number = int(req.params["number"])
        p = next((p for p in self.pulls.get(key, []) if p.number == number), None) if key else None
        return self.not_found(req) if p is None else Reply(200, self._json(p, full=True))


@contextlib.contextmanager
def serve_github(
    token: str, repos: Iterable[tuple[str, str]] = (("acme", "widgets"),),
    branch_exists: Callable[[str], bool] | None = None,
) -> Iterator[FakeGitHub]:  # fmt: skip
    api = FakeGitHub(token, repos, branch_exists)
    with serve(api):
        yield api

"""A fake Azure DevOps Work Item Tracking REST API (api-version 7.1) for ticket sync, on the
real paths and payloads: WIQL queries, reading work items in batches (a deleted item is a
null entry with `errorPolicy=Omit`), JSON Patch updates and creating a `$Bug`.

`serve_azure_work_items(token, org="acme", projects=["Alpha"])` yields a
`FakeAzureWorkItems`; the workspace's `organization_url` is `fake.organization_url`.
Requests need Basic auth with any user name and the PAT as password, else 401. The WIQL
parser knows the clauses sync writes (`=`, `UNDER`, `CONTAINS`, `NOT IN`, joined by AND);
anything else is a 400 like a query the server cannot parse. Tests add Bugs, change their
state, delete them, read the recorded queries and inject faults (tests/fakes/rest.py).
"""

from __future__ import annotations

import base64
import contextlib
import hmac
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from tests.fakes.rest import FakeRestApi, Reply, Request, serve

PROJECT = r"/(?P<org>[^/]+)/(?P<project>[^/]+)/_apis/wit"
STATES = ("New", "Active", "Resolved", "Closed", "Removed")
_CLAUSE = re.compile(
    r"\[(?P<field>[\w.]+)\]\s+(?P<op>=|UNDER|CONTAINS|NOT IN)\s+"
    r"(?P<value>@project|'(?:[^']|'')*'|\((?:'(?:[^']|'')*'(?:,\s*)?)+\))",
    re.I,
)
_LITERAL = re.compile(r"'((?:[^']|'')*)'")


@dataclass
class FakeWorkItem:
    id: int
    project: str
    fields: dict[str, Any]
    rev: int = 1
    deleted: bool = False

    @property
    def tags(self) -> list[str]:
        return [t.strip() for t in str(self.fields.get("System.Tags") or "").split(";")
                if t.strip()]  # fmt: skip


def _error(status: int, type_key: str, message: str) -> Reply:
    return Reply(status, {"$id": "1", "innerException": None, "message": message,
                          "typeName": f"Microsoft.TeamFoundation.WorkItemTracking.{type_key}",
                          "typeKey": type_key, "errorCode": 0, "eventId": 3200})  # fmt: skip


class FakeAzureWorkItems(FakeRestApi):
    def __init__(self, token: str, org: str, projects: Iterable[str]) -> None:
        super().__init__()
        self.token = token
        self.org = org
        self.projects = {p.lower() for p in projects}
        self.items: list[FakeWorkItem] = []
        self.queries: list[str] = []
        self.route("POST", f"{PROJECT}/wiql", self._wiql)
        self.route("GET", f"{PROJECT}/workitems", self._batch)
        self.route("PATCH", f"{PROJECT}/workitems/(?P<id>\\d+)", self._patch)
        self.route("POST", f"{PROJECT}/workitems/(?:\\$|%24)(?P<type>[^/]+)", self._create)

    @property
    def organization_url(self) -> str:
        return f"{self.base_url}/{self.org}"

    # -- what tests use -------------------------------------------------------------------

    def add_bug(
        self, title: str, *, project: str = "Alpha", tags: Iterable[str] = (),
        area_path: str | None = None, state: str = "New", priority: int = 2, steps: str = "",
        kind: str = "Bug",
    ) -> int:  # fmt: skip
        with self.lock:
            wid = 1 + max((i.id for i in self.items), default=0)
            fields: dict[str, Any] = {
                "System.Id": wid, "System.TeamProject": project, "System.WorkItemType": kind,
                "System.Title": title, "System.State": state,
                "System.AreaPath": area_path or project,
                "Microsoft.VSTS.Common.Priority": priority,
                "Microsoft.VSTS.TCM.ReproSteps": steps,
            }  # fmt: skip
            if tags:
                fields["System.Tags"] = "; ".join(tags)
            self.items.append(FakeWorkItem(wid, project, fields))
            return wid

    def item(self, wid: int) -> FakeWorkItem:
        with self.lock:
            return next(i for i in self.items if i.id == wid)

    def set_state(self, wid: int, state: str) -> None:
        with self.lock:
            self.item(wid).fields["System.State"] = state

    def delete(self, wid: int) -> None:
        with self.lock:
            self.item(wid).deleted = True

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
        return Reply(401, None, {"WWW-Authenticate": 'Basic realm="https://dev.azure.com"'})

    def not_found(self, req: Request) -> Reply:
        return _error(404, "ProjectDoesNotExistWithNameException", "The project does not exist.")

    def _project(self, req: Request) -> str | None:
        if req.params["org"] != self.org:
            return None
        name = unquote(req.params["project"])
        return name if name.lower() in self.projects else None

    def _version(self, req: Request) -> Reply | None:
        if req.query.get("api-version") != "7.1":
            return _error(400, "VssVersionOutOfRangeException", "The api-version is missing.")
        return None

    def _live(self, project: str) -> list[FakeWorkItem]:
        return [i for i in self.items if not i.deleted and i.project.lower() == project.lower()]

    def _json(self, i: FakeWorkItem, fields: list[str] | None = None) -> dict[str, Any]:
        shown = {k: v for k, v in i.fields.items() if fields is None or k in fields}
        url = f"{self.organization_url}/{i.project}/_apis/wit/workItems/{i.id}"
        return {"id": i.id, "rev": i.rev, "fields": shown, "url": url}

    # WIQL --------------------------------------------------------------------------------

    def _matches(self, i: FakeWorkItem, project: str, f: str, op: str, value: str) -> bool:
        have = i.fields.get(f)
        literals = [v.replace("''", "'") for v in _LITERAL.findall(value)]
        op = op.upper()
        if value.lower() == "@project":
            return op == "=" and str(have).lower() == project.lower()
        if op == "=":
            return str(have or "").lower() == literals[0].lower()
        if op == "NOT IN":
            return str(have or "").lower() not in {x.lower() for x in literals}
        if op == "UNDER":
            area, want = str(have or ""), literals[0]
            return area.lower() == want.lower() or area.lower().startswith(want.lower() + "\\")
        return literals[0].lower() in {t.lower() for t in i.tags}  # CONTAINS (tags)

    def _wiql(self, req: Request) -> Reply:
        project = self._project(req)
        if project is None:
            return self.not_found(req)
        if (bad := self._version(req)) is not None:
            return bad
        query = str((req.body or {}).get("query") or "") if isinstance(req.body, dict) else ""
        m = re.match(r"(?is)^SELECT \[System\.Id\] FROM WorkItems WHERE (.+?)"
                     r"(?: ORDER BY \[System\.Id\])?$", query.strip())  # fmt: skip
        clauses = list(_CLAUSE.finditer(m.group(1))) if m else []
        rest = _CLAUSE.sub("", m.group(1)) if m else "?"
        if not clauses or re.sub(r"(?i)\bAND\b", "", rest).strip():
            return _error(400, "SyntaxException", "The query could not be parsed.")
        self.queries.append(query)
        found = [i for i in self._live(project)
                 if all(self._matches(i, project, c["field"], c["op"], c["value"])
                        for c in clauses)]  # fmt: skip
        return Reply(200, {"queryType": "flat", "queryResultType": "workItem",
                           "asOf": "2026-01-01T00:00:00Z", "columns": [],
                           "workItems": [{"id": i.id, "url": self._json(i)["url"]}
                                         for i in sorted(found, key=lambda x: x.id)]})  # fmt: skip

    # work items --------------------------------------------------------------------------

    def _batch(self, req: Request) -> Reply:
        project = self._project(req)
        if project is None:
            return self.not_found(req)
        if (bad := self._version(req)) is not None:
            return bad
        ids = [int(x) for x in req.query.get("ids", "").split(",") if x.strip()]
        if not ids or len(ids) > 200:
            return _error(400, "ArgumentException", "Between 1 and 200 ids are required.")
        fields = [f for f in req.query.get("fields", "").split(",") if f] or None
        live = {i.id: i for i in self._live(project)}
        if req.query.get("errorPolicy", "").lower() != "omit" and set(ids) - set(live):
            missing = min(set(ids) - set(live))
            return _error(404, "WorkItemUnauthorizedAccessException",
                          f"TF401232: Work item {missing} does not exist.")  # fmt: skip
        value = [self._json(live[x], fields) if x in live else None for x in ids]
        return Reply(200, {"count": len(value), "value": value})

    def _apply(self, i: FakeWorkItem, ops: Any) -> Reply | None:
        if not isinstance(ops, list):
            return _error(400, "ArgumentException", "A JSON Patch document is required.")
        for op in ops:
            path = str(op.get("path") or "") if isinstance(op, dict) else ""
            if op.get("op") not in ("add", "replace") or not path.startswith("/fields/"):
                return _error(400, "ArgumentException", f"Unsupported operation {op!r}.")
            name, value = path.removeprefix("/fields/"), op.get("value")
            if name == "System.State" and value not in STATES:
                return _error(400, "RuleValidationException",
                              f"TF401320: Rule Error for field State: {value!r}.")  # fmt: skip
            i.fields[name] = value
        i.rev += 1
        return None

    def _json_patch(self, req: Request) -> Reply | None:
        if not req.headers.get("content-type", "").startswith("application/json-patch+json"):
            return _error(415, "VssRequestContentTypeNotSupportedException",
                          "Use application/json-patch+json.")  # fmt: skip
        return self._version(req)

    def _patch(self, req: Request) -> Reply:
        project = self._project(req)
        if project is None:
            return self.not_found(req)
        if (bad := self._json_patch(req)) is not None:
            return bad
        i = next((x for x in self._live(project) if x.id == int(req.params["id"])), None)
        if i is None:
            return _error(404, "WorkItemUnauthorizedAccessException",
                          f"TF401232: Work item {req.params['id']} does not exist.")  # fmt: skip
        return self._apply(i, req.body) or Reply(200, self._json(i))

    def _create(self, req: Request) -> Reply:
        project = self._project(req)
        if project is None:
            return self.not_found(req)
        if (bad := self._json_patch(req)) is not None:
            return bad
        wid = self.add_bug("", project=project, kind=unquote(req.params["type"]))
        i = self.item(wid)
        bad = self._apply(i, req.body)
        if bad is not None or not i.fields.get("System.Title"):
            self.items.remove(i)
            return bad or _error(400, "RuleValidationException", "TF401320: Title is required.")
        i.rev = 1
        return Reply(200, self._json(i))


@contextlib.contextmanager
def serve_azure_work_items(
    token: str, org: str = "acme", projects: Iterable[str] = ("Alpha",)
) -> Iterator[FakeAzureWorkItems]:
    api = FakeAzureWorkItems(token, org, projects)
    with serve(api):
        yield api

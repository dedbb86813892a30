"""Azure DevOps (and TFS) Bugs as a ticket source (Work Item Tracking REST API 7.1, Basic
auth with an empty user name and the PAT).

Listing is a WIQL query for the open Bugs under the workspace's area path carrying all its
tags, then the items themselves, 200 ids a call (a null entry is a deleted item). Closed,
Resolved and Removed count as closed. Writing back sets System.State from the workspace's
status map, unless the item is in that state already. "Create TFS Bug" looks for a Bug with
the ticket's title and marker before creating, so a lost answer creates no second Bug.
"""

from __future__ import annotations

import html
from typing import Any
from urllib.parse import quote

import httpx

from orchestrator.tickets.sync_common import (
    TIMEOUT,
    ExternalItem,
    SourceRefused,
    TicketSummary,
    clean,
    html_text,
    send,
    tags_of,
)

API_VERSION = "7.1"
NAME = "Azure DevOps"
BATCH = 200
CLOSED = ("Closed", "Resolved", "Removed")
FIELDS = (
    "System.Id", "System.Title", "System.State", "System.Tags", "System.Description",
    "Microsoft.VSTS.TCM.ReproSteps", "Microsoft.VSTS.Common.Priority",
)  # fmt: skip
PRIORITY_IN = {1: "high", 2: "normal", 3: "low", 4: "low"}
PRIORITY_OUT = {"high": 1, "normal": 2, "low": 3}
JSON_PATCH = {"Content-Type": "application/json-patch+json"}


def wiql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


class AzureWorkItems:
    name = "tfs"

    def __init__(
        self, organization_url: str, project: str, token: str | None, area_path: str = "",
        tags: list[str] | None = None, default_fields: dict[str, Any] | None = None,
    ) -> None:  # fmt: skip
        self.org = organization_url.rstrip("/")
        self.project_url = f"{self.org}/{quote(project, safe='')}"
        self.area_path = area_path
        self.tags = tags or []
        self.default_fields = default_fields or {}
        self._token = token

    def _client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            auth=httpx.BasicAuth("", self._token or ""), timeout=TIMEOUT,
            headers={"Accept": "application/json", "User-Agent": "Polygent"},
        )  # fmt: skip

    def list_query(self) -> str:
        where = [
            "[System.TeamProject] = @project", "[System.WorkItemType] = 'Bug'",
            f"[System.State] NOT IN ({', '.join(wiql_text(s) for s in CLOSED)})",
        ]  # fmt: skip
        if self.area_path:
            where.append(f"[System.AreaPath] UNDER {wiql_text(self.area_path)}")
        where += [f"[System.Tags] CONTAINS {wiql_text(tag)}" for tag in self.tags]
        # WIQL, not SQL: every value is quoted by wiql_text.
        return f"SELECT [System.Id] FROM WorkItems WHERE {' AND '.join(where)} ORDER BY [System.Id]"  # noqa: S608

    async def _wiql(self, http: httpx.AsyncClient, query: str) -> list[str]:
        r = await send(http, "POST", f"{self.project_url}/_apis/wit/wiql", NAME,
                       "query work items", params={"api-version": API_VERSION},
                       json={"query": query})  # fmt: skip
        return [str(w["id"]) for w in r.json().get("workItems") or [] if isinstance(w, dict)]

    async def _fetch(
        self, http: httpx.AsyncClient, ids: list[str]
    ) -> dict[str, ExternalItem | None]:
        out: dict[str, ExternalItem | None] = dict.fromkeys(ids)
        for i in range(0, len(ids), BATCH):
            params = {
                "ids": ",".join(ids[i : i + BATCH]), "fields": ",".join(FIELDS),
                "errorPolicy": "Omit", "api-version": API_VERSION,
            }  # fmt: skip
            r = await send(http, "GET", f"{self.project_url}/_apis/wit/workitems", NAME,
                           "read work items", params=params)  # fmt: skip
            for w in r.json().get("value") or []:
                if isinstance(w, dict) and "id" in w:  # null: deleted (errorPolicy=Omit)
                    out[str(w["id"])] = self._item(w)
        return out

    def _item(self, w: dict[str, Any]) -> ExternalItem:
        f = w.get("fields") or {}
        raw_tags = str(f.get("System.Tags") or "")
        body = str(f.get("Microsoft.VSTS.TCM.ReproSteps") or f.get("System.Description") or "")
        try:
            priority = PRIORITY_IN.get(int(f.get("Microsoft.VSTS.Common.Priority") or 2), "normal")
        except (TypeError, ValueError):
            priority = "normal"
        state = str(f.get("System.State") or "")
        return ExternalItem(
            external_id=str(w["id"]), title=clean(str(f.get("System.Title") or "")),
            body=clean(html_text(body)), priority=priority, state=state,
            tags=tags_of([t.strip() for t in raw_tags.split(";") if t.strip()]),
            closed=state.casefold() in {c.casefold() for c in CLOSED},
            url=f"{self.project_url}/_workitems/edit/{w['id']}",
        )  # fmt: skip

    async def list_items(self) -> list[ExternalItem]:
        async with self._client() as http:
            ids = await self._wiql(http, self.list_query())
            found = await self._fetch(http, ids)
        return [item for item in found.values() if item is not None]

    async def get_items(self, ids: list[str]) -> dict[str, ExternalItem | None]:
        async with self._client() as http:
            return await self._fetch(http, ids)

    async def write_back(self, external_id: str, target: str, t: TicketSummary) -> None:
        """Set the item's state (nothing when it is in that state already)."""
        async with self._client() as http:
            item = (await self._fetch(http, [external_id])).get(external_id)
            if item is None:
                raise SourceRefused(f"Work item {external_id} no longer exists.")
            if item.state == target:
                return
            ops = [{"op": "add", "path": "/fields/System.State", "value": target}]
            await send(http, "PATCH", f"{self.project_url}/_apis/wit/workitems/{external_id}",
                       NAME, f"set the state of work item {external_id}",
                       params={"api-version": API_VERSION}, json=ops,
                       headers=JSON_PATCH)  # fmt: skip

    async def create(self, t: TicketSummary) -> ExternalItem:
        """The ticket's Bug: found by title and marker (an earlier try whose answer was
        lost), else created with the workspace's default fields."""
        async with self._client() as http:
            query = (
                "SELECT [System.Id] FROM WorkItems WHERE [System.TeamProject] = @project "  # noqa: S608
                f"AND [System.WorkItemType] = 'Bug' AND [System.Title] = {wiql_text(t.title)} "
                "ORDER BY [System.Id]"
            )
            found = await self._fetch(http, await self._wiql(http, query))
            for item in found.values():
                if item is not None and t.marker in item.body:
                    return item
            steps = html.escape(t.description).replace("\n", "<br>")
            steps += f"<div><small>{html.escape(t.key)} on Polygent ({t.marker})</small></div>"
            fields: dict[str, Any] = dict(self.default_fields)
            fields.update({
                "System.Title": t.title[:255], "Microsoft.VSTS.TCM.ReproSteps": steps,
                "Microsoft.VSTS.Common.Priority": PRIORITY_OUT.get(t.priority, 2),
            })  # fmt: skip
            if self.area_path:
                fields["System.AreaPath"] = self.area_path
            tags = list(dict.fromkeys([*self.tags, *t.tags]))
            if tags:
                fields["System.Tags"] = "; ".join(tags)
            ops = [{"op": "add", "path": f"/fields/{k}", "value": v} for k, v in fields.items()]
            r = await send(http, "POST", f"{self.project_url}/_apis/wit/workitems/$Bug", NAME,
                           "create a Bug", params={"api-version": API_VERSION}, json=ops,
                           headers=JSON_PATCH)  # fmt: skip
            return self._item(r.json())

"""Notifications through the API: budget warnings reach exactly the people who manage that
budget, each person sees and acts on only their own, and each level goes out once a month."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from orchestrator.base import new_id
from orchestrator.contracts.sessions import TurnRecord
from orchestrator.db import Database
from orchestrator.security.crypto import SecretBox
from orchestrator.sessions.control import SessionControl
from orchestrator.sessions.models import Session
from orchestrator.workspaces.models import Workspace
from tests.helpers import TEST_MASTER
from tests.integration.stack import Stack, running_stack, sign_in

pytestmark = [pytest.mark.providers, pytest.mark.inbox]


async def person(stack: Stack, name: str, roles: list[str]) -> tuple[str, httpx.AsyncClient]:
    token = await sign_in(stack.state, name, roles=roles)
    client = httpx.AsyncClient(base_url=stack.url, headers={"Authorization": f"Bearer {token}"})
    me = (await client.get("/api/me")).json()
    return str(me["id"]), client


async def spend(stack: Stack, ws_id: str, usd: float) -> None:
    async with stack.state.db.session() as s:
        row = Session(workspace_id=ws_id, provider="codex", model="gpt-5", title="spender")
        s.add(row)
        await s.commit()
        await SessionControl(s, SecretBox(TEST_MASTER)).record_turn(
            TurnRecord(session_id=row.id, turn=1, ok=True, cost_usd=usd)
        )
        await s.commit()


async def inbox(client: httpx.AsyncClient, **params: Any) -> dict[str, Any]:
    r = await client.get("/api/notifications", params=params)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def test_budget_warnings_reach_the_people_responsible(
    db: Database, temporal_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    async with running_stack(db, temporal_env.client, tmp_path / "stack") as stack:
        http = stack.http
        r = await http.post(
            "/api/roles",
            json={"name": "budgeter", "permissions": ["budgets.view", "budgets.manage"]},
        )
        assert r.status_code == 201, r.text
        async with stack.state.db.session() as s:
            ws = Workspace(id=new_id(), name="billing", git_url="https://example.invalid/r.git")
            s.add(ws)
            await s.commit()
            ws_id = ws.id
        keeper_id, keeper = await person(stack, "keeper", ["budgeter"])  # member, manages
        _, outsider = await person(stack, "outsider", ["budgeter"])  # not a member
        dev_id, dev = await person(stack, "dev", ["developer"])  # member, cannot manage
        for uid in (keeper_id, dev_id):
            assert (await http.put(f"/api/workspaces/{ws_id}/members/{uid}")).status_code == 204
        r = await http.put(
            f"/api/workspaces/{ws_id}/budget", json={"monthly_usd": 10, "warn_percent": 50}
        )
        assert r.status_code == 200

        await spend(stack, ws_id, 4.0)  # 40%: below the line
        assert (await inbox(keeper))["total"] == 0
        await spend(stack, ws_id, 2.0)  # 60%: the warning
        await spend(stack, ws_id, 1.0)  # 70%: no second warning this month
        for client in (keeper, http):
            page = await inbox(client)
            assert [n["kind"] for n in page["items"]] == ["budget.warn"], page
            note = page["items"][0]
            assert note["title"] == "Workspace budget at 60%"
            assert "$6.00 of $10.00" in note["body"] and note["link"] == f"/workspaces/{ws_id}"
        for client in (outsider, dev):
            assert (await inbox(client))["total"] == 0

        # The member with budgets.view sees the workspace's budget; the outsider does not.
        assert [b["workspace_id"] for b in (await dev.get("/api/budgets")).json()] == [ws_id]
        assert (await outsider.get("/api/budgets")).json() == []

        await spend(stack, ws_id, 3.5)  # spent: the second level, once
        await spend(stack, ws_id, 1.0)
        kinds = [n["kind"] for n in (await inbox(keeper))["items"]]
        assert kinds == ["budget.exceeded", "budget.warn"]

        # Star pins to the top; dismiss hides from the inbox but keeps it in history; someone
        # else's notification is a 404 and changes nothing.
        warn = (await inbox(keeper))["items"][1]
        r = await keeper.post(f"/api/notifications/{warn['id']}/star", json={"starred": True})
        assert r.status_code == 200 and r.json()["starred"] is True
        assert (await inbox(keeper))["items"][0]["id"] == warn["id"]
        assert (await dev.post(f"/api/notifications/{warn['id']}/dismiss")).status_code == 404
        assert (await dev.get(f"/api/notifications/{warn['id']}")).status_code == 404
        r = await keeper.post(f"/api/notifications/{warn['id']}/dismiss")
        assert r.status_code == 200 and r.json()["read_at"] is not None
        page = await inbox(keeper)
        assert [n["kind"] for n in page["items"]] == ["budget.exceeded"] and page["unread"] == 1
        history = await inbox(keeper, include_dismissed=True)
        assert history["total"] == 2
        assert (await keeper.post("/api/notifications/read-all")).json()["unread"] == 0
        assert (await inbox(keeper, unread=True))["total"] == 0
        r = await keeper.post("/api/notifications/nope!/star", json={"starred": True})
        assert r.status_code == 422
        r = await keeper.post(f"/api/notifications/{warn['id']}/star", json={"starred": "x"})
        assert r.status_code == 422 and "starred" in r.text
        for client in (keeper, outsider, dev):
            await client.aclose()

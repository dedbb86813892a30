"""Tickets through the real API without a session agent: keys from the workspace's prefix
and sequence (concurrent creates never collide), the Tickets Configuration and the Low
Priority Execution Hour, 422 naming the field, filters and paging, editing only while
Pending, comments and attachments, cancel and delete, 404 for non-members, and the hosts'
Max Concurrent Tickets."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from orchestrator.db import Database
from orchestrator.hosts.models import Host
from tests.integration.stack import running_stack
from tests.integration.tickets_kit import (
    act,
    bare_workspace,
    create,
    history,
    person,
    stages_of,
    ticket,
    wait_stage,
)

pytestmark = pytest.mark.tickets


def field_of(resp: httpx.Response) -> str:
    assert resp.status_code == 422, resp.text
    return str(resp.json()["errors"][0]["field"])


async def test_keys_configuration_validation_and_listing(
    db: Database, temporal_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    async with running_stack(db, temporal_env.client, tmp_path) as stack:
        http = stack.http
        ws = await bare_workspace(stack, "Polygent Tickets")
        conf = (await http.get(f"/api/workspaces/{ws}/tickets-config")).json()
        assert conf["key_prefix"] == "PT" and conf["lifecycle"] == "qa_first"
        assert conf["merge_mode"] == "pull_request" and conf["approval_reminder_hours"] == 24
        change = {"default_ticket_budget_usd": 5, "merge_mode": "direct"}
        r = await http.put(f"/api/workspaces/{ws}/tickets-config", json=change)
        assert r.status_code == 200 and r.json()["merge_mode"] == "direct", r.text
        for bad, fld in (({"key_prefix": "p1"}, "key_prefix"), ({"lifecycle": "x"}, "lifecycle"),
                         ({"approval_reminder_hours": 0}, "approval_reminder_hours")):  # fmt: skip
            assert field_of(await http.put(f"/api/workspaces/{ws}/tickets-config", json=bad)) == fld

        first = await create(stack, ws, title="First", tags=["ui", "bug"], priority="high")
        assert first["key"] == "PT-1" and first["stage"] == "pending"
        assert first["budget_usd"] == 5 and first["temporal_url"].startswith("http://temporal-ui")
        many = await asyncio.gather(*(create(stack, ws, title=f"T{i}") for i in range(8)))
        assert sorted(int(t["key"].split("-")[1]) for t in many) == list(range(2, 10))
        await http.put(f"/api/workspaces/{ws}/tickets-config", json={"key_prefix": "ABC"})
        assert (await create(stack, ws, title="Renamed"))["key"] == "ABC-10"

        post = f"/api/workspaces/{ws}/tickets"
        cases = [
            ({"title": ""}, "title"), ({"title": "x", "priority": "urgent"}, "priority"),
            ({"title": "x", "budget_usd": -1}, "budget_usd"),
            ({"title": "x", "blocker_ids": ["nosuchticket"]}, "blocker_ids"),
            ({"title": "x", "developer_id": "nosuchuser"}, "developer_id"),
            ({"title": "x", "provider": "emacs"}, "provider"),
            ({"title": "x", "tags": ["a" * 51]}, "tags.0"), ({"title": "bad\x00"}, "title"),
        ]  # fmt: skip
        for body, fld in cases:
            assert field_of(await http.post(post, json=body)) == fld, body
        blocked = await create(stack, ws, title="Blocked", blocker_ids=[first["id"]])
        assert blocked["blocker_ids"] == [first["id"]]

        page = (await http.get(post, params={"tag": "ui"})).json()
        assert [t["key"] for t in page["items"]] == ["PT-1"]
        page = (await http.get(post, params={"priority": "high"})).json()
        assert page["total"] == 1
        page = (await http.get(post, params={"limit": 3, "offset": 3})).json()
        assert page["total"] == 11 and len(page["items"]) == 3
        assert field_of(await http.get(post, params={"stage": "done"})) == "stage"

        r = await http.get("/api/settings/tickets")
        assert r.json() == {"low_priority_hour": 2}
        assert field_of(await http.put("/api/settings/tickets", json={"low_priority_hour": 24}))
        r = await http.put("/api/settings/tickets", json={"low_priority_hour": 5})
        assert (await http.get("/api/settings/tickets")).json() == {"low_priority_hour": 5}


async def test_editing_queueing_canceling_comments_and_access(
    db: Database, temporal_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    async with running_stack(db, temporal_env.client, tmp_path) as stack:
        http = stack.http
        ws = await bare_workspace(stack, "Access Rules")
        t = await create(stack, ws, title="Draft", tags=["a"])
        r = await http.patch(f"/api/tickets/{t['id']}", json={"title": "Ready", "tags": ["b"]})
        assert r.status_code == 200 and r.json()["title"] == "Ready" and r.json()["tags"] == ["b"]
        r = await http.patch(f"/api/tickets/{t['id']}", json={"blocker_ids": [t["id"]]})
        assert field_of(r) == "blocker_ids"

        # No session host: queued, it waits (and says why in nothing but its stage).
        queued = await act(stack, t["id"], "queue")
        assert queued["stage"] == "queued" and queued["queued_at"]
        r = await http.patch(f"/api/tickets/{t['id']}", json={"title": "Late"})
        assert r.status_code == 409
        again = await http.post(f"/api/tickets/{t['id']}/queue")  # a double click: one queueing
        assert again.status_code == 200 and again.json()["stage"] == "queued"
        assert (await http.post(f"/api/tickets/{t['id']}/approve", json={})).status_code == 409
        assert (await http.delete(f"/api/tickets/{t['id']}")).status_code == 409

        # Comments with an attachment; attachments on the ticket itself are listed on it.
        up = await http.post(
            f"/api/tickets/{t['id']}/attachments",
            files={"file": ("log.txt", b"trace", "text/plain")},
        )
        assert up.status_code == 201, up.text
        aid = up.json()["id"]
        assert (await ticket(stack, t["id"]))["attachment_ids"] == [aid]
        r = await http.post(f"/api/tickets/{t['id']}/comments",
                            json={"body": "See the log.", "attachment_ids": [aid]})  # fmt: skip
        assert r.status_code == 201, r.text
        assert (await ticket(stack, t["id"]))["attachment_ids"] == []
        r = await http.post(f"/api/tickets/{t['id']}/comments",
                            json={"body": "x", "attachment_ids": ["nosuch"]})  # fmt: skip
        assert field_of(r) == "attachment_ids"
        comments = (await http.get(f"/api/tickets/{t['id']}/comments")).json()
        assert [c["body"] for c in comments] == ["See the log."]
        got = await http.get(f"/api/tickets/{t['id']}/attachments/{aid}")
        assert got.content == b"trace"

        # A member without tickets.manage may read but not change; a non-member sees nothing.
        _, viewer = await person(stack, "tviewer", ["viewer"], ws)
        _, stranger = await person(stack, "tstranger", ["developer"])
        try:
            assert (await viewer.get(f"/api/tickets/{t['id']}")).status_code == 200
            assert (await viewer.post(f"/api/tickets/{t['id']}/cancel")).status_code == 403
            assert (await stranger.get(f"/api/tickets/{t['id']}")).status_code == 404
            assert (await stranger.post(f"/api/tickets/{t['id']}/cancel")).status_code == 404
        finally:
            await viewer.aclose()
            await stranger.aclose()

        canceled = await act(stack, t["id"], "cancel")
        assert canceled["stage"] == "canceled" and canceled["ended_at"]
        assert stages_of(await history(stack, t["id"])) == ["queued", "canceled"]
        hist = await history(stack, t["id"])
        assert hist["transitions"][0]["actor_type"] == "user" and hist["transitions"][0]["actor_id"]
        assert (await http.delete(f"/api/tickets/{t['id']}")).status_code == 204
        assert (await http.get(f"/api/tickets/{t['id']}")).status_code == 404

        # Created queued at once, then deleted while Pending is impossible; a Pending one goes.
        pending = await create(stack, ws, title="Never queued")
        assert (await http.delete(f"/api/tickets/{pending['id']}")).status_code == 204
        handle = stack.state.temporal.get_workflow_handle(f"ticket-{pending['id']}")
        assert (await handle.describe()).status is not None
        direct = await create(stack, ws, title="Straight in", queue=True)
        await wait_stage(stack, direct["id"], "queued")

        # Hosts get a Max Concurrent Tickets (default 2).
        async with stack.state.db.session() as s:
            s.add(Host(id="capahost", name="capahost"))
            await s.commit()
        r = await http.patch("/api/hosts/capahost", json={"max_concurrent_tickets": 5})
        assert r.status_code == 200 and r.json()["max_concurrent_tickets"] == 5, r.text
        assert field_of(
            await http.patch("/api/hosts/capahost", json={"max_concurrent_tickets": -1})
        )

"""Ticket news on the WebSocket reaches only those who may view the ticket's workspace."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from activities.control.tickets import TicketControlActivities
from orchestrator.config import ServerSettings
from orchestrator.db import Database
from orchestrator.security.crypto import SecretBox
from orchestrator.tickets.models import Ticket
from orchestrator.workspaces.models import Workspace, WorkspaceMember
from tests.helpers import TEST_MASTER
from tests.integration.stack import running_stack
from tests.integration.test_session_events import _socket, _user

pytestmark = pytest.mark.tickets


async def test_ticket_updates_go_to_members_who_may_view_tickets(
    db: Database, temporal_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    async with running_stack(db, temporal_env.client, tmp_path) as stack:
        member, member_token = await _user(stack, ["tickets.view"])
        _, outsider_token = await _user(stack, ["tickets.view"])
        blind, blind_token = await _user(stack, [])
        admin_token = stack.http.headers["Authorization"].split()[1]
        async with stack.state.db.session() as s:
            ws = Workspace(name=f"tw-{uuid.uuid4().hex[:8]}", git_url="https://git.invalid/r.git")
            s.add(ws)
            await s.flush()
            s.add_all(WorkspaceMember(workspace_id=ws.id, user_id=u) for u in (member, blind))
            t = Ticket(workspace_id=ws.id, number=1, key="EV-1", title="News")
            s.add(t)
            await s.flush()
            tid, ws_id = t.id, ws.id
        control = TicketControlActivities(
            stack.state.db, SecretBox(TEST_MASTER), temporal_env.client,
            ServerSettings(data_dir=tmp_path), bus=stack.state.bus,
        )  # fmt: skip
        async with (
            _socket(stack, member_token) as m,
            _socket(stack, outsider_token) as o,
            _socket(stack, blind_token) as b,
            _socket(stack, admin_token) as a,
        ):
            await control._announce(tid, "queued")
            stack.state.bus.publish({"type": "marker.done"})  # every socket gets this one
            for sock in (m, a):
                got = await sock.until("the ticket news", type="ticket.updated")
                assert got == {"type": "ticket.updated", "ticket_id": tid,
                               "workspace_id": ws_id, "stage": "queued"}  # fmt: skip
            for sock in (o, b):
                await sock.until("the marker", type="marker.done")
                assert all(msg["type"] != "ticket.updated" for msg in sock.messages)

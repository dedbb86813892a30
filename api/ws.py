"""The live hub: one WebSocket per browser tab, fed by the event bus.

Platform-wide events (host.status, probe.recorded, ...) go to every socket. Session events go
only to sockets that subscribed: `{"type": "subscribe", "session_id": ..., "after": cursor}`
(access checked like `GET /api/sessions/{id}`) answers with the stored events after the
cursor, in pages, then `{"type": "subscribed", "cursor": ...}`, then live `session.events`;
`{"type": "unsubscribe", "session_id": ...}` ends them. The bus subscription is taken when the
socket opens, before any backlog is read, so an event stored meanwhile is in the backlog or
queued (or both); a cursor at or below the last one sent is dropped, so a client resuming
with its last cursor sees every event once. Subscribers also get `session.presence`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any, Literal

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from pydantic import BaseModel, Field, ValidationError

from api.auth import principal_of
from api.presence import Presence, presence_of
from api.state import AppState
from orchestrator.auth.service import Principal
from orchestrator.sessions.events import (
    MAX_INT,
    SESSION_ID,
    SessionAccessError,
    SessionEventService,
)
from orchestrator.workspaces.repository import WorkspaceRepository

router = APIRouter()
PAGE = 500
# Events stored by another process (the orchestrator worker, or an API replica) reach the
# bus of this one only through the database: subscribed sessions are re-read this often.
POLL_SECONDS = 1.0


class ClientMessage(BaseModel):
    type: Literal["subscribe", "unsubscribe"]
    session_id: str = Field(pattern=SESSION_ID)
    after: int = Field(default=0, ge=0, le=MAX_INT)


class Viewer:
    """One socket's session subscriptions, each with the last cursor sent on it."""

    def __init__(self, ws: WebSocket, state: AppState, principal: Principal) -> None:
        self.ws = ws
        self.state = state
        self.principal = principal
        self.presence: Presence = presence_of(ws.app.state)
        self.sent: dict[str, int] = {}

    async def send(self, message: dict[str, Any]) -> None:
        await self.ws.send_text(json.dumps(message, default=str))

    async def on_bus(self, event: dict[str, Any]) -> None:
        kind = str(event.get("type", ""))
        if kind.startswith("ticket."):
            if await self.may_see_tickets_of(event.get("workspace_id")):
                await self.send(event)
            return
        if not kind.startswith("session."):
            await self.send(event)
            return
        sid = event.get("session_id")
        if not isinstance(sid, str) or sid not in self.sent:
            return
        if event["type"] == "session.events":
            fresh = [e for e in event["events"] if e["cursor"] > self.sent[sid]]
            if not fresh:
                return
            self.sent[sid] = max(e["cursor"] for e in fresh)
            event = {**event, "events": fresh}
        await self.send(event)

    async def may_see_tickets_of(self, workspace_id: object) -> bool:
        """Ticket news goes to those who may view tickets in that workspace (admins: all)."""
        if not self.principal.can("tickets.view") or not isinstance(workspace_id, str):
            return False
        if self.principal.is_admin:
            return True
        async with self.state.db.session() as s:
            return await WorkspaceRepository(s).is_member(workspace_id, self.principal.user_id)

    async def on_message(self, text: str) -> None:
        try:
            msg = ClientMessage.model_validate_json(text)
        except ValidationError as exc:
            detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            await self.send({"type": "error", "status": 422, "detail": detail})
            return
        if msg.type == "unsubscribe":
            self.leave(msg.session_id)
        else:
            await self.subscribe(msg.session_id, msg.after)

    async def subscribe(self, sid: str, after: int) -> None:
        try:
            async with self.state.db.session() as s:
                await SessionEventService(s).viewable(self.principal, sid)
        except SessionAccessError as exc:
            await self.send(
                {"type": "error", "session_id": sid, "status": exc.status, "detail": str(exc)}
            )
            return
        self.sent[sid] = after
        await self.catch_up(sid)
        await self.send({"type": "subscribed", "session_id": sid, "cursor": self.sent[sid]})
        self.presence.join(sid, self, self.principal.user_id, self.principal.name)
        self.state.bus.publish(self.presence.event(sid))

    async def catch_up(self, sid: str) -> None:
        """Send every stored event after the last cursor sent, in pages."""
        while sid in self.sent:
            async with self.state.db.session() as s:
                page = await SessionEventService(s).page(sid, self.sent[sid], PAGE)
            if page.events and sid in self.sent:
                self.sent[sid] = page.next_cursor
                await self.send(
                    {"type": "session.events", "session_id": sid,
                     "events": [e.model_dump() for e in page.events]}
                )  # fmt: skip
            if len(page.events) < PAGE:
                break

    async def poll(self) -> None:
        for sid in list(self.sent):
            await self.catch_up(sid)

    def leave(self, sid: str) -> None:
        self.sent.pop(sid, None)
        if self.presence.leave(sid, self):
            self.state.bus.publish(self.presence.event(sid))

    def close(self) -> None:
        for sid in list(self.sent):
            self.leave(sid)


@router.websocket("/ws")
async def live(ws: WebSocket) -> None:
    state: AppState = ws.app.state.polygent
    await ws.accept()
    principal = await principal_of(ws, state)
    if principal is None:
        # 4401 (not an HTTP 403 at the handshake) so the page can refresh its cookie and retry.
        await ws.close(code=4401, reason="sign in first")
        return
    async with state.bus.subscribe() as queue:
        viewer = Viewer(ws, state, principal)
        inbox: asyncio.Queue[str | None] = asyncio.Queue()
        reader = asyncio.create_task(_read(ws, inbox))
        bus_get = asyncio.create_task(queue.get())
        msg_get = asyncio.create_task(inbox.get())
        tick = asyncio.create_task(asyncio.sleep(POLL_SECONDS))
        try:
            await viewer.send({"type": "hello"})
            while True:
                done, _ = await asyncio.wait(
                    {bus_get, msg_get, tick}, return_when=asyncio.FIRST_COMPLETED
                )
                if tick in done:  # in this loop, so a poll never interleaves with a bus event
                    await viewer.poll()
                    tick = asyncio.create_task(asyncio.sleep(POLL_SECONDS))
                if msg_get in done:
                    text = msg_get.result()
                    if text is None:  # the client went away
                        break
                    await viewer.on_message(text)
                    msg_get = asyncio.create_task(inbox.get())
                if bus_get in done:
                    event = bus_get.result()
                    if event is None:  # dropped as a slow subscriber: the client refetches
                        break
                    await viewer.on_bus(event)
                    bus_get = asyncio.create_task(queue.get())
        except (WebSocketDisconnect, RuntimeError, OSError):
            pass
        finally:
            viewer.close()
            for task in (reader, bus_get, msg_get, tick):
                task.cancel()
            with contextlib.suppress(Exception):
                await ws.close()


async def _read(ws: WebSocket, inbox: asyncio.Queue[str | None]) -> None:
    """Client frames into `inbox`; None once the socket closes, so it is noticed at once."""
    try:
        while True:
            message = await ws.receive()
            if message["type"] == "websocket.disconnect":
                break
            text = message.get("text")
            if text is None and message.get("bytes") is not None:
                text = message["bytes"].decode(errors="replace")
            if text is not None:
                inbox.put_nowait(text)
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        inbox.put_nowait(None)

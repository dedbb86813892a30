"""The live hub: one WebSocket per browser tab, fed by the event bus."""

from __future__ import annotations

import asyncio
import contextlib
import json

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from api.auth import principal_of
from api.state import AppState

router = APIRouter()


@router.websocket("/ws")
async def live(ws: WebSocket) -> None:
    state: AppState = ws.app.state.polygent
    await ws.accept()
    if await principal_of(ws, state) is None:
        # 4401 (not an HTTP 403 at the handshake) so the page can refresh its cookie and retry.
        await ws.close(code=4401, reason="sign in first")
        return
    async with state.bus.subscribe() as queue:
        await ws.send_text(json.dumps({"type": "hello"}))
        reader = asyncio.create_task(_drain(ws))
        try:
            while not reader.done():
                getter = asyncio.create_task(queue.get())
                done, _ = await asyncio.wait({getter, reader}, return_when=asyncio.FIRST_COMPLETED)
                if getter not in done:
                    getter.cancel()
                    break
                event = getter.result()
                if event is None:  # dropped as a slow subscriber
                    break
                await ws.send_text(json.dumps(event, default=str))
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            reader.cancel()
            with contextlib.suppress(Exception):
                await ws.close()


async def _drain(ws: WebSocket) -> None:
    """Read (and ignore) client frames so a closed socket is noticed at once."""
    with contextlib.suppress(WebSocketDisconnect, RuntimeError):
        while True:
            await ws.receive_text()

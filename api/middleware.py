"""Request logging: one sentence per request, with no query string, headers or bodies.

Query strings and headers may carry tokens, so they never reach the log.
"""

from __future__ import annotations

import logging
import time
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("polygent.requests")
QUIET_PATHS = ("/healthz", "/readyz", "/static/", "/partials/")
QUIET_SUFFIXES = ("/heartbeat",)


class RequestLogMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        request_id = uuid.uuid4().hex[:12]
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"].append((b"x-request-id", request_id.encode()))
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            path: str = scope.get("path", "")
            ms = (time.perf_counter() - start) * 1000
            quiet = path.startswith(QUIET_PATHS) or path.endswith(QUIET_SUFFIXES)
            level = logging.DEBUG if quiet and status < 400 else logging.INFO
            client = scope.get("client")
            log.log(
                level,
                "%s %s answered %d in %.1f ms.",
                scope.get("method"),
                path,
                status,
                ms,
                extra={
                    "fields": {
                        "request_id": request_id,
                        "method": scope.get("method"),
                        "path": path,
                        "status": status,
                        "duration_ms": round(ms, 1),
                        "client": client[0] if client else None,
                    }
                },
            )

"""Refuse request bodies over the configured size with 413, before reading them whole."""

from __future__ import annotations

import json
import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Uploads that may be bigger than ordinary bodies: a 10 MB file plus the multipart framing.
LARGE_BODIES = (re.compile(r"^/api/sessions/[^/]+/attachments$"),)
LARGE_BODY_BYTES = 10 * 1024 * 1024 + 64 * 1024


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.default_max = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.default_max
        if any(p.match(scope.get("path", "")) for p in LARGE_BODIES):
            limit = max(limit, LARGE_BODY_BYTES)
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > limit:
                await self._too_large(send, limit)
                return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _TooLarge
            return message

        try:
            await self.app(scope, limited, send)
        except _TooLarge:
            await self._too_large(send, limit)

    async def _too_large(self, send: Send, limit: int) -> None:
        body = json.dumps({
            "type": "about:blank", "title": "Payload Too Large", "status": 413,
            "detail": f"The body is larger than {limit} bytes.",
        }).encode()  # fmt: skip
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/problem+json")]})  # fmt: skip
        await send({"type": "http.response.body", "body": body})


class _TooLarge(Exception):
    pass

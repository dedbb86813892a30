"""A fake MCP server (the `mcp` SDK, streamable HTTP) that agent CLIs list and call.

`serve_mcp(token)` yields a `FakeMcp` on a free loopback port, served by uvicorn in a thread.
Every request must carry `Authorization: Bearer <token>` (anything else gets 401 and is
counted in `rejected`), the way the platform's own MCP server will check a session's token.
It has one tool, `polygent_ping(text)`, which answers `pong: <text>` and records each call in
`calls`, so a test can assert that the CLI both listed the tool and called it. A CLI exposes
the tool under its own name (e.g. `mcp__polygent__polygent_ping` for Claude Code); tests
script the fake model with that name.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from mcp.server import MCPServer

TOOL = "polygent_ping"
Scope = dict[str, Any]


@dataclass
class FakeMcp:
    """Shared state: the expected token, the tool calls and the requests seen."""

    token: str
    port: int = 0
    path: str = "/mcp"
    calls: list[str] = field(default_factory=list)
    methods: list[str] = field(default_factory=list)  # "POST", "GET", "DELETE" that got in
    rejected: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.path}"

    def called(self) -> list[str]:
        with self.lock:
            return list(self.calls)


def _build_server(fake: FakeMcp) -> MCPServer[Any]:
    server: MCPServer[Any] = MCPServer("polygent-fake", log_level="WARNING")

    @server.tool(name=TOOL, description="Answers pong with the text; used to test MCP wiring.")
    def polygent_ping(text: str) -> str:
        with fake.lock:
            fake.calls.append(text)
        return f"pong: {text}"

    return server


class _BearerGate:
    """ASGI middleware: 401 unless the request carries the expected bearer token."""

    def __init__(self, app: Any, fake: FakeMcp) -> None:
        self.app = app
        self.fake = fake

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode().lower(): v.decode() for k, v in scope.get("headers") or []}
        if headers.get("authorization") != f"Bearer {self.fake.token}":
            with self.fake.lock:
                self.fake.rejected += 1
            body = b'{"error":"unauthorized"}'
            await send(
                {
                    "type": "http.response.start",
                    "status": 401,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                        (b"www-authenticate", b"Bearer"),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        with self.fake.lock:
            self.fake.methods.append(str(scope.get("method")))
        await self.app(scope, receive, send)


@contextlib.contextmanager
def serve_mcp(token: str = "mcp-test-token") -> Iterator[FakeMcp]:
    """Run the fake MCP server on a free loopback port for the duration of the block."""
    fake = FakeMcp(token=token)
    app = _build_server(fake).streamable_http_app(streamable_http_path=fake.path)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    fake.port = sock.getsockname()[1]
    config = uvicorn.Config(
        _BearerGate(app, fake), log_level="warning", lifespan="on", timeout_graceful_shutdown=1
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])), daemon=True)
    thread.start()
    try:
        for _ in range(500):
            if server.started:
                break
            threading.Event().wait(0.01)
        if not server.started:
            raise RuntimeError("the fake MCP server did not start")
        yield fake
    finally:
        server.should_exit = True
        thread.join(timeout=5)
        sock.close()

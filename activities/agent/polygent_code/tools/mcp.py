"""MCP tools: the platform's own MCP server (URL + per-session bearer token) and a subagent's
extra servers, over streamable HTTP with the `mcp` SDK.

A server's tools appear as `mcp__<server>__<tool>`, the naming Claude Code uses, so the same
allowlists work for both. A server that cannot be reached is reported and left out; the turn
goes on without its tools. Connections are opened and closed in the turn's own task (the
SDK's task groups require it).
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from ..models import ToolSpec
from .base import ToolContext, ToolError, ToolResult

CONNECT_TIMEOUT = 30.0
CALL_TIMEOUT = 600.0
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


@dataclass(frozen=True)
class McpServer:
    name: str
    url: str
    token: str | None = field(default=None, repr=False)


def _text(result: Any) -> str:
    parts: list[str] = []
    for item in result.content or []:
        text = getattr(item, "text", None)
        parts.append(text if isinstance(text, str) else f"[{getattr(item, 'type', 'content')}]")
    if not parts and result.structured_content is not None:
        parts.append(json.dumps(result.structured_content))
    return "\n".join(parts) or "(no output)"


class McpTool:
    def __init__(self, server: str, name: str, description: str, schema: Any, client: Client):
        self.remote = name
        self.client = client
        full = f"mcp__{_UNSAFE.sub('_', server)}__{_UNSAFE.sub('_', name)}"[:128]
        if not isinstance(schema, dict) or schema.get("type") != "object":
            schema = {"type": "object", "properties": {}}
        self.spec = ToolSpec(full, description or f"{name} (MCP server {server})", schema)

    async def run(self, args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        try:
            result = await self.client.call_tool(
                self.remote, args, read_timeout_seconds=CALL_TIMEOUT
            )
        except Exception as exc:
            raise ToolError(f"The MCP tool {self.remote} failed: {exc}") from None
        return ToolResult(_text(result), is_error=bool(result.is_error))


class McpHub:
    """The open MCP connections of one agent run; `aclose` ends them all."""

    def __init__(self) -> None:
        self._stack = AsyncExitStack()
        self.problems: list[str] = []

    async def connect(
        self, server: McpServer, only: Collection[str] | None = None
    ) -> list[McpTool]:
        """The server's tools (those in `only`, when given), or [] with a problem noted."""
        headers = {"Authorization": f"Bearer {server.token}"} if server.token else {}
        timeout = httpx2.Timeout(CONNECT_TIMEOUT, read=CALL_TIMEOUT)
        try:
            http = await self._stack.enter_async_context(
                httpx2.AsyncClient(headers=headers, timeout=timeout)
            )
            client = await self._stack.enter_async_context(
                Client(streamable_http_client(server.url, http_client=http))
            )
            listed = await client.list_tools()
        except Exception as exc:
            self.problems.append(f"The MCP server {server.name} could not be used: {exc}")
            return []
        return [
            McpTool(server.name, t.name, t.description or "", t.input_schema, client)
            for t in listed.tools
            if not only or t.name in only
        ]

    async def aclose(self) -> None:
        try:
            await self._stack.aclose()
        except Exception as exc:  # a server gone away while closing is not the turn's problem
            self.problems.append(f"Closing the MCP connections failed: {exc}")

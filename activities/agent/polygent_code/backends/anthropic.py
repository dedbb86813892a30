"""Anthropic Messages API (`POST /v1/messages`, SSE), for claude-* models.

The system prompt, the tool list and the newest message carry cache breakpoints, so every
step of a turn reads the conversation so far from the prompt cache. Thinking blocks are sent
back with their signatures (the API requires that within a tool-use loop).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import httpx

from orchestrator.contracts.agent import Usage

from ..models import ApiError, Message, ModelReply, Part, ToolSpec
from .common import Streamed, json_data, open_stream, sse_events
from .route import Route

VERSION = "2023-06-01"
THINKING_MODELS = re.compile(r"claude-(3-7-sonnet|(opus|sonnet|haiku)-[4-9])")
THINKING_BUDGET = 4096
CACHE = {"type": "ephemeral"}
STREAM_ERRORS = {"overloaded_error": 529, "api_error": 500, "rate_limit_error": 429}


def _user_blocks(message: Message) -> list[dict[str, Any]]:
    results = [
        {"type": "tool_result", "tool_use_id": p.id, "content": p.text, "is_error": p.is_error}
        for p in message.parts
        if p.type == "tool_result"
    ]
    texts = [{"type": "text", "text": p.text} for p in message.parts if p.type == "text" and p.text]
    return results + texts  # tool results must come first


def _assistant_blocks(message: Message) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    for p in message.parts:
        if p.type == "thinking" and p.signature and p.origin == "anthropic":
            if p.name == "redacted":
                blocks.append({"type": "redacted_thinking", "data": p.signature})
            else:
                blocks.append({"type": "thinking", "thinking": p.text, "signature": p.signature})
        elif p.type == "text" and p.text:
            blocks.append({"type": "text", "text": p.text})
        elif p.type == "tool_call":
            blocks.append({"type": "tool_use", "id": p.id, "name": p.name, "input": p.input or {}})
    return blocks


def wire_messages(messages: list[Message]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for m in messages:
        blocks = _user_blocks(m) if m.role == "user" else _assistant_blocks(m)
        out.append({"role": m.role, "content": blocks or [{"type": "text", "text": "(empty)"}]})
    if out and out[-1]["content"][-1]["type"] in ("text", "tool_result"):
        out[-1]["content"][-1] = {**out[-1]["content"][-1], "cache_control": CACHE}
    return out


def _usage(data: dict[str, Any], into: Usage) -> None:
    if "input_tokens" in data:
        into.input = int(data["input_tokens"] or 0)
    if "output_tokens" in data:
        into.output = int(data["output_tokens"] or 0)
    if "cache_read_input_tokens" in data:
        into.cache_read = int(data["cache_read_input_tokens"] or 0)
    if "cache_creation_input_tokens" in data:
        into.cache_write = int(data["cache_creation_input_tokens"] or 0)


def _part(block: dict[str, Any]) -> Part:
    kind = block["type"]
    if kind == "thinking":
        return Part(type="thinking", text=block["text"], signature=block["sig"] or None,
                    origin="anthropic")  # fmt: skip
    if kind == "redacted_thinking":
        return Part(type="thinking", name="redacted", signature=block["sig"], origin="anthropic")
    if kind == "tool_use":
        raw = block["json"] or "{}"
        try:
            args = json_data(raw)
        except ApiError:
            args = {"_unparsed": raw}
        return Part(type="tool_call", id=block["id"], name=block["name"], input=args)
    return Part(type="text", text=block["text"])


class AnthropicBackend:
    name = "anthropic"

    def __init__(self, route: Route, max_tokens: int | None = None) -> None:
        self.route = route
        self.thinking = bool(THINKING_MODELS.search(route.model))
        self.max_tokens = max_tokens or (32000 if self.thinking else 8192)

    def body(self, system: str, messages: list[Message], tools: list[ToolSpec]) -> dict[str, Any]:
        wire_tools: list[dict[str, Any]] = [
            {"name": t.name, "description": t.description, "input_schema": t.schema} for t in tools
        ]
        if wire_tools:
            wire_tools[-1]["cache_control"] = CACHE
        body: dict[str, Any] = {
            "model": self.route.model,
            "max_tokens": self.max_tokens,
            "stream": True,
            "system": [{"type": "text", "text": system, "cache_control": CACHE}],
            "messages": wire_messages(messages),
        }
        if wire_tools:
            body["tools"] = wire_tools
        if self.thinking:
            body["thinking"] = {"type": "enabled", "budget_tokens": THINKING_BUDGET}
        return body

    async def stream(
        self,
        client: httpx.AsyncClient,
        system: str,
        messages: list[Message],
        tools: list[ToolSpec],
    ) -> AsyncIterator[Streamed]:
        headers = {"anthropic-version": VERSION, **self.route.headers}
        reply = ModelReply(message_id="")
        blocks: dict[int, dict[str, Any]] = {}
        body = self.body(system, messages, tools)
        async with open_stream(client, self.route.url, headers, body) as response:
            async for event, data in sse_events(response):
                obj = json_data(data)
                kind = obj.get("type") or event
                if kind == "message_start":
                    message = obj.get("message") or {}
                    reply.message_id = str(message.get("id") or "")
                    _usage(message.get("usage") or {}, reply.usage)
                elif kind == "content_block_start":
                    start = obj.get("content_block") or {}
                    blocks[int(obj.get("index", 0))] = {
                        "type": start.get("type"), "text": start.get("text") or "",
                        "json": "", "id": start.get("id"), "name": start.get("name"),
                        "sig": start.get("data") or "",
                    }  # fmt: skip
                elif kind == "content_block_delta":
                    block, delta = blocks.get(int(obj.get("index", 0))), obj.get("delta") or {}
                    if block is not None:
                        block["text"] += delta.get("text") or delta.get("thinking") or ""
                        block["json"] += delta.get("partial_json") or ""
                        block["sig"] += delta.get("signature") or ""
                elif kind == "content_block_stop":
                    block = blocks.pop(int(obj.get("index", 0)), None)
                    if block is not None:
                        part = _part(block)
                        reply.parts.append(part)
                        yield reply.message_id, part
                elif kind == "message_delta":
                    reply.stop_reason = (obj.get("delta") or {}).get("stop_reason")
                    _usage(obj.get("usage") or {}, reply.usage)
                elif kind == "error":
                    error = obj.get("error") or {}
                    etype = str(error.get("type") or "error")
                    status = STREAM_ERRORS.get(etype)
                    raise ApiError(
                        f"API error {status or ''} ({etype}): {error.get('message')}".replace(
                            "  ", " "
                        ),
                        status=status,
                        retryable=status is not None,
                    )
                elif kind == "message_stop":
                    break
        if not reply.message_id:
            raise ApiError("The model API ended the stream before the message started.")
        yield reply

"""OpenAI-compatible chat completions (`POST …/chat/completions`, SSE): OpenAI, OpenRouter,
OpenCode Zen and Kilo Gateway.

Deltas interleave text, reasoning and tool-call fragments (tool calls by `index`); a part is
handed on as soon as the stream moves past it. `stream_options.include_usage` makes the
server send a last usage chunk; `prompt_tokens` there includes cached tokens, which are
subtracted so `Usage.input` counts only the uncached ones.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx

from orchestrator.contracts.agent import Usage

from ..models import ApiError, Message, ModelReply, Part, ToolSpec
from .common import Streamed, json_data, open_stream, sse_events
from .route import Route


def wire_messages(system: str, messages: list[Message]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [{"role": "system", "content": system}]
    for m in messages:
        if m.role == "user":
            for p in m.parts:
                if p.type == "tool_result":
                    out.append({"role": "tool", "tool_call_id": p.id, "content": p.text})
            text = "\n\n".join(p.text for p in m.parts if p.type == "text" and p.text)
            if text:
                out.append({"role": "user", "content": text})
            continue
        calls = [
            {
                "id": p.id,
                "type": "function",
                "function": {"name": p.name, "arguments": json.dumps(p.input or {})},
            }
            for p in m.calls()
        ]
        entry: dict[str, Any] = {
            "role": "assistant",
            "content": m.text() or (None if calls else ""),
        }
        if calls:
            entry["tool_calls"] = calls
        out.append(entry)
    return out


def usage_of(data: dict[str, Any]) -> Usage:
    details = data.get("prompt_tokens_details") or {}
    cached = int(details.get("cached_tokens") or 0)
    written = int(details.get("cache_write_tokens") or 0)
    prompt = int(data.get("prompt_tokens") or 0)
    return Usage(
        input=max(0, prompt - cached - written),
        output=int(data.get("completion_tokens") or 0),
        cache_read=cached,
        cache_write=written,
    )


class _Pending:
    """The parts of one streamed message, handed on when the stream moves past them."""

    def __init__(self) -> None:
        self.thinking = ""
        self.text = ""
        self.calls: dict[int, dict[str, str]] = {}

    def take_thinking(self) -> list[Part]:
        done, self.thinking = self.thinking, ""
        return [Part(type="thinking", text=done)] if done else []

    def take_text(self) -> list[Part]:
        done, self.text = self.text, ""
        return [Part(type="text", text=done)] if done else []

    def take_calls(self) -> list[Part]:
        parts = []
        for _, call in sorted(self.calls.items()):
            raw = call["arguments"] or "{}"
            try:
                args = json_data(raw)
            except ApiError:
                args = {"_unparsed": raw}
            call_id = call["id"] or f"call_{uuid.uuid4().hex[:24]}"
            parts.append(Part(type="tool_call", id=call_id, name=call["name"], input=args))
        self.calls = {}
        return parts


class OpenAIChatBackend:
    name = "openai"

    def __init__(self, route: Route, max_tokens: int | None = None) -> None:
        self.route = route
        self.max_tokens = max_tokens

    def body(self, system: str, messages: list[Message], tools: list[ToolSpec]) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.route.model,
            "stream": True,
            "stream_options": {"include_usage": True},
            "messages": wire_messages(system, messages),
        }
        if tools:
            body["tools"] = [
                {
                    "type": "function",
                    "function": {"name": t.name, "description": t.description,
                                 "parameters": t.schema},
                }
                for t in tools
            ]  # fmt: skip
        if self.max_tokens:
            body["max_completion_tokens"] = self.max_tokens
        return body

    def _delta(self, delta: dict[str, Any], pending: _Pending) -> list[Part]:
        ready: list[Part] = []
        reasoning = delta.get("reasoning_content") or delta.get("reasoning")
        if isinstance(reasoning, str) and reasoning:
            pending.thinking += reasoning
        content = delta.get("content")
        if isinstance(content, str) and content:
            ready += pending.take_thinking()
            pending.text += content
        for call in delta.get("tool_calls") or []:
            ready += pending.take_thinking() + pending.take_text()
            slot = pending.calls.setdefault(
                int(call.get("index", 0)), {"id": "", "name": "", "arguments": ""}
            )
            fn = call.get("function") or {}
            slot["id"] = slot["id"] or str(call.get("id") or "")
            slot["name"] += str(fn.get("name") or "")
            slot["arguments"] += str(fn.get("arguments") or "")
        return ready

    async def stream(
        self,
        client: httpx.AsyncClient,
        system: str,
        messages: list[Message],
        tools: list[ToolSpec],
    ) -> AsyncIterator[Streamed]:
        reply = ModelReply(message_id="")
        pending = _Pending()
        body = self.body(system, messages, tools)
        async with open_stream(client, self.route.url, dict(self.route.headers), body) as response:
            async for _, data in sse_events(response):
                if data.strip() == "[DONE]":
                    break
                chunk = json_data(data)
                if isinstance(chunk.get("error"), dict):
                    error = chunk["error"]
                    raise ApiError(f"API error: {error.get('message') or error}")
                reply.message_id = reply.message_id or str(chunk.get("id") or "")
                if isinstance(chunk.get("usage"), dict):
                    reply.usage = usage_of(chunk["usage"])
                for choice in chunk.get("choices") or []:
                    for part in self._delta(choice.get("delta") or {}, pending):
                        reply.parts.append(part)
                        yield reply.message_id, part
                    if choice.get("finish_reason"):
                        reply.stop_reason = str(choice["finish_reason"])
        for part in pending.take_thinking() + pending.take_text() + pending.take_calls():
            reply.parts.append(part)
            yield reply.message_id, part
        yield reply

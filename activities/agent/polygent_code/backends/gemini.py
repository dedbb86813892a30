"""Google Gemini (`POST …/models/<id>:streamGenerateContent?alt=sse`), for gemini-* models.

Text arrives in fragments, function calls whole. Thought signatures ride on the part they came
with and are sent back on it (Gemini 3 rejects a function-call history without them). Tool
schemas are cut down to the OpenAPI subset Gemini accepts.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx

from orchestrator.contracts.agent import Usage

from ..models import ApiError, Message, ModelReply, Part, ToolSpec
from .common import Streamed, json_data, open_stream, sse_events
from .route import Route

SCHEMA_KEYS = frozenset(
    {"type", "properties", "required", "items", "enum", "description", "nullable", "format",
     "minimum", "maximum", "minItems", "maxItems", "anyOf"}
)  # fmt: skip
THINKING_MODELS = re.compile(r"gemini-(2\.5|[3-9])")


def gemini_schema(schema: Any) -> Any:
    """A JSON schema reduced to what Gemini's function declarations accept."""
    if isinstance(schema, list):
        return [gemini_schema(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key not in SCHEMA_KEYS:
            continue
        if key == "type" and isinstance(value, list):
            kinds = [v for v in value if v != "null"]
            out["type"] = kinds[0] if kinds else "string"
            if "null" in value:
                out["nullable"] = True
        elif key == "properties" and isinstance(value, dict):
            out[key] = {k: gemini_schema(v) for k, v in value.items()}
        elif key in ("items", "anyOf"):
            out[key] = gemini_schema(value)
        else:
            out[key] = value
    return out


def _signed(entry: dict[str, Any], part: Part) -> dict[str, Any]:
    if part.signature and part.origin == "gemini":
        entry["thoughtSignature"] = part.signature
    return entry


def wire_contents(messages: list[Message]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for m in messages:
        parts: list[dict[str, Any]] = []
        for p in m.parts:
            if p.type == "tool_result":
                key = "error" if p.is_error else "output"
                parts.append(
                    {"functionResponse": {"name": p.name or "tool", "response": {key: p.text}}}
                )
            elif p.type == "text" and (p.text or p.signature):
                parts.append(_signed({"text": p.text}, p))
            elif p.type == "tool_call":
                call = {"functionCall": {"name": p.name, "args": p.input or {}}}
                parts.append(_signed(call, p))
        out.append({"role": "user" if m.role == "user" else "model",
                    "parts": parts or [{"text": "(empty)"}]})  # fmt: skip
    return out


def usage_of(data: dict[str, Any]) -> Usage:
    cached = int(data.get("cachedContentTokenCount") or 0)
    prompt = int(data.get("promptTokenCount") or 0) + int(data.get("toolUsePromptTokenCount") or 0)
    return Usage(
        input=max(0, prompt - cached),
        output=int(data.get("candidatesTokenCount") or 0)
        + int(data.get("thoughtsTokenCount") or 0),
        cache_read=cached,
    )


class GeminiBackend:
    name = "gemini"

    def __init__(self, route: Route, max_tokens: int | None = None) -> None:
        self.route = route
        self.max_tokens = max_tokens

    def body(self, system: str, messages: list[Message], tools: list[ToolSpec]) -> dict[str, Any]:
        body: dict[str, Any] = {
            "contents": wire_contents(messages),
            "systemInstruction": {"parts": [{"text": system}]},
        }
        if tools:
            body["tools"] = [
                {
                    "functionDeclarations": [
                        {"name": t.name, "description": t.description,
                         "parameters": gemini_schema(t.schema)}
                        for t in tools
                    ]
                }
            ]  # fmt: skip
        config: dict[str, Any] = {}
        if THINKING_MODELS.search(self.route.model):
            config["thinkingConfig"] = {"includeThoughts": True}
        if self.max_tokens:
            config["maxOutputTokens"] = self.max_tokens
        if config:
            body["generationConfig"] = config
        return body

    async def stream(
        self,
        client: httpx.AsyncClient,
        system: str,
        messages: list[Message],
        tools: list[ToolSpec],
    ) -> AsyncIterator[Streamed]:
        reply = ModelReply(message_id="")
        pending: Part | None = None  # the text or thought being streamed
        body = self.body(system, messages, tools)
        async with open_stream(client, self.route.url, dict(self.route.headers), body) as response:
            async for _, data in sse_events(response):
                chunk = json_data(data)
                if isinstance(chunk.get("error"), dict):
                    error = chunk["error"]
                    raise ApiError(f"API error ({error.get('status')}): {error.get('message')}")
                reply.message_id = reply.message_id or str(chunk.get("responseId") or "")
                if isinstance(chunk.get("usageMetadata"), dict):
                    reply.usage = usage_of(chunk["usageMetadata"])
                for cand in (chunk.get("candidates") or [])[:1]:
                    for raw in (cand.get("content") or {}).get("parts") or []:
                        sig = raw.get("thoughtSignature")
                        if "functionCall" in raw:
                            fn = raw["functionCall"] or {}
                            ready = [pending] if pending else []
                            pending = None
                            ready.append(Part(
                                type="tool_call", id=str(fn.get("id") or "")
                                or f"call_{uuid.uuid4().hex[:24]}", name=str(fn.get("name")),
                                input=fn.get("args") or {}, signature=sig,
                                origin="gemini" if sig else None,
                            ))  # fmt: skip
                        elif "text" in raw:
                            kind = "thinking" if raw.get("thought") else "text"
                            ready = []
                            if pending is not None and pending.type != kind:
                                ready, pending = [pending], None
                            if pending is None:
                                pending = Part(type=kind, origin="gemini")
                            pending.text += str(raw.get("text") or "")
                            pending.signature = sig or pending.signature
                        else:
                            ready = []
                        for part in ready:
                            reply.parts.append(part)
                            yield reply.message_id, part
                    if cand.get("finishReason"):
                        reply.stop_reason = str(cand["finishReason"])
        if pending is not None:
            reply.parts.append(pending)
            yield reply.message_id, pending
        yield reply

"""A fake Gemini API (generativelanguage v1beta) that Gemini CLI talks to, with a scripted agent.

`serve_gemini()` yields a `FakeGemini` on a free loopback port (point the CLI at it with
`GOOGLE_GEMINI_BASE_URL`). Routes: `POST /v1beta/models/{model}:streamGenerateContent?alt=sse`
(SSE, one `data:` per chunk: text, `thought` text, then `functionCall` parts, the last chunk
with `finishReason` and `usageMetadata` incl. `cachedContentTokenCount`),
`:generateContent` (one JSON response), `:countTokens`, and `GET /v1beta/models`.
Requests asking for JSON (`generationConfig.responseJsonSchema`, e.g. the CLI's model router)
get an object matching the schema. Failures use Google's error body
`{"error":{"code","message","status","details"}}`; a rate limit carries a
`google.rpc.RetryInfo` `retryDelay` (how Gemini CLI learns the reset time) and `Retry-After`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import Any

from tests.fakes.scripted import (
    GEMINI_FAMILY_TOOLS,
    Failure,
    FakeModelServer,
    Handler,
    Recorded,
    Step,
    finish,
    run_shell,
    schema_value,
    serve,
    write_file,
)

__all__ = ["FakeGemini", "Step", "finish", "run_shell", "serve_gemini", "write_file"]

USAGE = {
    "promptTokenCount": 100,
    "candidatesTokenCount": 42,
    "totalTokenCount": 142,
    "cachedContentTokenCount": 30,
}
STATUSES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}
_ROUTE = re.compile(r"^/v1(?:beta|alpha)?/models/(?P<model>[^:/?]+):(?P<method>[A-Za-z]+)")


def error_body(status: int, message: str, retry_after: float | None = None) -> dict[str, Any]:
    details: list[dict[str, Any]] = []
    if retry_after is not None:
        details.append(
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": f"{retry_after:g}s"}
        )
    error = {
        "code": status,
        "message": message,
        "status": STATUSES.get(status, "UNKNOWN"),
        "details": details,
    }
    return {"error": error}


class FakeGemini(FakeModelServer):
    """`model_version` is reported as `modelVersion` (None: the requested model, echoed)."""

    def __init__(self, main_tools: frozenset[str] | None = GEMINI_FAMILY_TOOLS) -> None:
        super().__init__(main_tools)
        self.model_version: str | None = None

    def tool_names(self, body: dict[str, Any]) -> list[str]:
        names: list[str] = []
        for tool in body.get("tools") or []:
            for decl in (tool or {}).get("functionDeclarations") or []:
                names.append(str(decl.get("name", "")))
        return names

    def count_tool_results(self, body: dict[str, Any]) -> int:
        return sum(
            1
            for content in body.get("contents") or []
            for part in (content or {}).get("parts") or []
            if isinstance(part, dict) and "functionResponse" in part
        )

    def _parts(self, rec: Recorded) -> tuple[list[dict[str, Any]], float]:
        config = rec.body.get("generationConfig") or {}
        schema = config.get("responseJsonSchema") or config.get("responseSchema")
        if schema:
            return [{"text": json.dumps(schema_value(schema))}], 0.0
        if not rec.main:
            return [{"text": "Fake summary"}], 0.0
        step = self.choose(rec.body)
        parts: list[dict[str, Any]] = []
        if step.thinking:
            parts.append({"text": step.thinking, "thought": True})
        if step.text:
            parts.append({"text": step.text})
        if step.tool:
            call = {"name": step.tool, "args": step.tool_input, "id": self.next_id("call")}
            parts.append({"functionCall": call})
        return parts, step.delay

    def _chunks(self, parts: list[dict[str, Any]], model: str) -> Iterator[dict[str, Any]]:
        """One chunk per part (a function call in a chunk of its own, as the real API does)."""
        version = self.model_version or model
        response_id = self.next_id("resp")
        for i, part in enumerate(parts):
            candidate: dict[str, Any] = {"content": {"role": "model", "parts": [part]}, "index": 0}
            chunk: dict[str, Any] = {"candidates": [candidate], "modelVersion": version}
            if i == len(parts) - 1:
                candidate["finishReason"] = "STOP"
                chunk["usageMetadata"] = dict(USAGE)
            chunk["responseId"] = response_id
            yield chunk

    def handle(self, handler: Handler, rec: Recorded, failure: Failure | None) -> None:
        if failure is not None:
            headers = {}
            if failure.retry_after is not None:
                headers["Retry-After"] = f"{max(0, round(failure.retry_after))}"
            body = error_body(failure.status, failure.message, failure.retry_after)
            handler.send_json(failure.status, body, headers)
            return
        route = _ROUTE.match(rec.path)
        if rec.method == "GET":
            if rec.path.split("?")[0].rstrip("/").endswith("/models"):
                models = [{"name": "models/gemini-fake", "displayName": "Gemini Fake"}]
                handler.send_json(200, {"models": models})
            else:
                handler.send_json(404, error_body(404, f"no route {rec.path}"))
            return
        if route is None:
            handler.send_json(404, error_body(404, f"no route {rec.path}"))
            return
        model, method = route.group("model"), route.group("method")
        if method == "countTokens":
            handler.send_json(200, {"totalTokens": 100})
            return
        if method not in ("generateContent", "streamGenerateContent"):
            handler.send_json(404, error_body(404, f"no method {method}"))
            return
        parts, delay = self._parts(rec)
        if delay and self.closing.wait(delay):
            return
        chunks = list(self._chunks(parts, model))
        if method == "generateContent":
            merged = dict(chunks[-1])
            candidate = dict(merged["candidates"][0])
            candidate["content"] = {"role": "model", "parts": parts}
            merged["candidates"] = [candidate]
            handler.send_json(200, merged)
            return
        handler.start_sse()
        for chunk in chunks:
            handler.send_sse(json.dumps(chunk))


def serve_gemini() -> AbstractContextManager[FakeGemini]:
    """A `FakeGemini` on a free loopback port for the duration of the block."""
    return serve(FakeGemini)

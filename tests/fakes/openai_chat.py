"""A fake OpenAI-compatible Chat Completions API with a scripted agent (Qwen Code, built-ins).

`serve_openai_chat()` yields a `FakeOpenAIChat` on a free loopback port; its `base_url` ends in
`/v1` (the form `OPENAI_BASE_URL` takes). Routes: `POST …/chat/completions` and `GET …/models`,
under any prefix (OpenRouter's `/api/v1`, Zen's `/zen/v1` work too).

With `stream: true` the answer is SSE chunks as the real API sends them: a role chunk, then
`reasoning_content` deltas (thinking), `content` deltas, `tool_calls` deltas with the arguments
split over two chunks, a chunk with `finish_reason`, a usage-only chunk (`choices: []`, only
when `stream_options.include_usage` is set) and `data: [DONE]`. Without it, one
`chat.completion` object. Usage carries `prompt_tokens_details.cached_tokens`. Requests with
`response_format` of type `json_schema` get an object matching the schema. Failures use
OpenAI's error body `{"error":{"message","type","param","code"}}`; a rate limit (429) carries
`Retry-After` and `retry-after-ms`. `main_tools=None` treats any request offering tools as the
main conversation.
"""

from __future__ import annotations

import json
import time
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
    todo_write,
    write_file,
)

__all__ = [
    "FakeOpenAIChat",
    "Step",
    "finish",
    "run_shell",
    "serve_openai_chat",
    "todo_write",
    "write_file",
]

PROMPT_TOKENS = 100
COMPLETION_TOKENS = 42
CACHED_TOKENS = 30
REASONING_TOKENS = 7
ERROR_TYPES = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    404: ("invalid_request_error", "model_not_found"),
    429: ("rate_limit_exceeded", "rate_limit_exceeded"),
    500: ("server_error", None),
    503: ("server_error", None),
}


def error_body(status: int, message: str) -> dict[str, Any]:
    kind, code = ERROR_TYPES.get(status, ("api_error", None))
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


def usage(thinking: bool) -> dict[str, Any]:
    return {
        "prompt_tokens": PROMPT_TOKENS,
        "completion_tokens": COMPLETION_TOKENS,
        "total_tokens": PROMPT_TOKENS + COMPLETION_TOKENS,
        "prompt_tokens_details": {"cached_tokens": CACHED_TOKENS},
        "completion_tokens_details": {"reasoning_tokens": REASONING_TOKENS if thinking else 0},
    }


class FakeOpenAIChat(FakeModelServer):
    def __init__(self, main_tools: frozenset[str] | None = None) -> None:
        super().__init__(main_tools)
        self.models = ["fake-model"]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def tool_names(self, body: dict[str, Any]) -> list[str]:
        names = []
        for tool in body.get("tools") or []:
            function = (tool or {}).get("function") or {}
            names.append(str(function.get("name", tool.get("name", ""))))
        return names

    def count_tool_results(self, body: dict[str, Any]) -> int:
        return sum(1 for m in body.get("messages") or [] if (m or {}).get("role") == "tool")

    def _answer(self, rec: Recorded) -> tuple[Step, float]:
        response_format = rec.body.get("response_format") or {}
        if response_format.get("type") == "json_schema":
            schema = (response_format.get("json_schema") or {}).get("schema")
            return Step(text=json.dumps(schema_value(schema))), 0.0
        if response_format.get("type") == "json_object":
            return Step(text="{}"), 0.0
        if not rec.main:
            return Step(text="Fake summary"), 0.0
        step = self.choose(rec.body)
        return step, step.delay

    def handle(self, handler: Handler, rec: Recorded, failure: Failure | None) -> None:
        path = rec.path.split("?")[0].rstrip("/")
        if failure is not None and rec.method == "POST":
            headers = {}
            if failure.retry_after is not None:
                headers["Retry-After"] = f"{max(0, round(failure.retry_after))}"
                headers["retry-after-ms"] = f"{round(failure.retry_after * 1000)}"
            handler.send_json(failure.status, error_body(failure.status, failure.message), headers)
            return
        if rec.method == "GET" and path.endswith("/models"):
            data = [{"id": m, "object": "model", "owned_by": "fake"} for m in self.models]
            handler.send_json(200, {"object": "list", "data": data})
            return
        if rec.method != "POST" or not path.endswith("/chat/completions"):
            handler.send_json(404, error_body(404, f"no route {rec.method} {rec.path}"))
            return
        step, delay = self._answer(rec)
        if delay and self.closing.wait(delay):
            return
        model = str(rec.body.get("model") or "fake-model")
        call_id = self.next_id("call") if step.tool else None
        if rec.body.get("stream"):
            include = bool((rec.body.get("stream_options") or {}).get("include_usage"))
            self._stream(handler, step, model, call_id, include)
        else:
            handler.send_json(200, self._completion(step, model, call_id))

    def _completion(self, step: Step, model: str, call_id: str | None) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": step.text}
        if step.thinking:
            message["reasoning_content"] = step.thinking
        if step.tool:
            arguments = json.dumps(step.tool_input)
            function = {"name": step.tool, "arguments": arguments}
            message["tool_calls"] = [{"id": call_id, "type": "function", "function": function}]
        choice = {
            "index": 0,
            "message": message,
            "finish_reason": "tool_calls" if step.tool else "stop",
        }
        return {
            "id": self.next_id("chatcmpl"),
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [choice],
            "usage": usage(bool(step.thinking)),
        }

    def _stream(
        self, handler: Handler, step: Step, model: str, call_id: str | None, include: bool
    ) -> None:
        cid = self.next_id("chatcmpl")
        created = int(time.time())

        def chunk(delta: dict[str, Any] | None, finish_reason: str | None = None) -> str:
            choices = [] if delta is None else [
                {"index": 0, "delta": delta, "finish_reason": finish_reason}
            ]  # fmt: skip
            payload: dict[str, Any] = {
                "id": cid,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": choices,
            }
            if delta is None:
                payload["usage"] = usage(bool(step.thinking))
            return json.dumps(payload)

        handler.start_sse()
        handler.send_sse(chunk({"role": "assistant", "content": ""}))
        if step.thinking:
            handler.send_sse(chunk({"reasoning_content": step.thinking}))
        if step.text:
            handler.send_sse(chunk({"content": step.text}))
        if step.tool:
            arguments = json.dumps(step.tool_input)
            half = len(arguments) // 2
            first = {
                "index": 0,
                "id": call_id,
                "type": "function",
                "function": {"name": step.tool, "arguments": arguments[:half]},
            }
            handler.send_sse(chunk({"tool_calls": [first]}))
            rest = {"index": 0, "function": {"arguments": arguments[half:]}}
            handler.send_sse(chunk({"tool_calls": [rest]}))
        handler.send_sse(chunk({}, "tool_calls" if step.tool else "stop"))
        if include:
            handler.send_sse(chunk(None))
        handler.send_sse("[DONE]")


def serve_openai_chat(
    main_tools: frozenset[str] | None = None,
) -> AbstractContextManager[FakeOpenAIChat]:
    """A `FakeOpenAIChat` on a free loopback port for the duration of the block."""
    return serve(lambda: FakeOpenAIChat(main_tools))


QWEN_TOOLS = GEMINI_FAMILY_TOOLS  # Qwen Code is a Gemini CLI fork: the same tool names

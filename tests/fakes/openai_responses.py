"""A fake OpenAI Responses API that real CLIs (Codex) talk to, with a scripted agent.

`serve_responses()` yields a `FakeResponses` on a free loopback port. The test gives it a
script, e.g. `[apply_patch(add_file("hello.txt", "hi\\n")), exec_command("echo hi > ran.txt"),
finish("Done")]`; the server answers the main conversation (requests that offer a shell or
patch tool) step by step, choosing the step from the number of tool outputs
(`function_call_output` / `custom_tool_call_output` items) the request carries beyond those of
the first request after the script was set, so a resumed thread starts the script afresh.
Other requests (titles, summaries) get plain text. The wire format follows the real API:
`POST /v1/responses` streams SSE (`response.created`, `response.output_item.added` / deltas /
`response.output_item.done` per item, `response.completed` with usage incl. cached and
reasoning tokens), failures are `{"error": {...}}` bodies with an HTTP status (429 with
`retry-after`), and a step may fail inside the stream (`response.failed`). Every request is
recorded.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

USAGE = {"input_tokens": 100, "cached_tokens": 30, "output_tokens": 42, "reasoning_tokens": 10}
MAIN_TOOLS = frozenset({"apply_patch", "exec_command", "shell", "shell_command"})
OUTPUT_TYPES = frozenset({"function_call_output", "custom_tool_call_output", "tool_search_output"})
ERROR_TYPES = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    404: ("invalid_request_error", "model_not_found"),
    429: ("requests", "rate_limit_exceeded"),
    500: ("server_error", None),
    503: ("server_error", "server_is_overloaded"),
}


@dataclass
class Call:
    """A tool call: `function_call` (JSON arguments, optionally in a `namespace`, which is how
    Codex names MCP tools), `custom_tool_call` (freeform `input`) or a client-side
    `tool_search_call` (`search=True`, the arguments are the query)."""

    name: str
    arguments: dict[str, Any] | None = None
    input: str | None = None
    namespace: str | None = None
    search: bool = False


@dataclass
class Step:
    """One scripted answer: optional reasoning and text, then tool calls or the end of turn.

    `fail` ends the stream with `response.failed` carrying that error code and message.
    """

    text: str | None = None
    reasoning: str | None = None
    calls: list[Call] = field(default_factory=list)
    delay: float = 0.0
    fail: tuple[str, str] | None = None


def add_file(path: str, content: str) -> str:
    """A patch in Codex's apply_patch grammar that creates `path` with `content`."""
    lines = "".join(f"+{line}\n" for line in content.splitlines())
    return f"*** Begin Patch\n*** Add File: {path}\n{lines}*** End Patch"


def apply_patch(patch: str, text: str = "I'll write the file.", **kw: Any) -> Step:
    return Step(text=text, calls=[Call("apply_patch", input=patch)], **kw)


def exec_command(cmd: str, text: str = "Running the command.", **kw: Any) -> Step:
    args = {"cmd": cmd, "yield_time_ms": 10000}
    return Step(text=text, calls=[Call("exec_command", arguments=args)], **kw)


def update_plan(items: list[tuple[str, str]], text: str = "Planning.", **kw: Any) -> Step:
    plan = [{"step": s, "status": status} for s, status in items]
    return Step(text=text, calls=[Call("update_plan", arguments={"plan": plan})], **kw)


def call_tool(name: str, arguments: dict[str, Any], text: str = "Calling.", **kw: Any) -> Step:
    return Step(text=text, calls=[Call(name, arguments=arguments)], **kw)


def finish(text: str = "Done.", **kw: Any) -> Step:
    return Step(text=text, **kw)


@dataclass
class Failure:
    status: int
    message: str
    times: int | None  # None: every request
    retry_after: float | None
    fields: dict[str, Any] = field(default_factory=dict)  # merged into the error object


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]

    @property
    def tools(self) -> list[dict[str, Any]]:
        return [t for t in self.body.get("tools") or [] if isinstance(t, dict)]

    @property
    def tool_names(self) -> list[str]:
        return [str(t.get("name") or t.get("type") or "") for t in self.tools]

    @property
    def is_main(self) -> bool:
        return bool(MAIN_TOOLS & set(self.tool_names))

    @property
    def input_items(self) -> list[dict[str, Any]]:
        items = self.body.get("input")
        return [i for i in items if isinstance(i, dict)] if isinstance(items, list) else []

    def texts(self, role: str) -> str:
        """All the text of `role` messages in `input` (e.g. "developer", "user")."""
        parts: list[str] = []
        for item in self.input_items:
            if item.get("type", "message") == "message" and item.get("role") == role:
                content = item.get("content")
                if isinstance(content, str):
                    parts.append(content)
                elif isinstance(content, list):
                    parts += [str(c.get("text", "")) for c in content if isinstance(c, dict)]
        return "\n".join(parts)

    def tool_outputs(self) -> list[dict[str, Any]]:
        return [i for i in self.input_items if i.get("type") in OUTPUT_TYPES]


class FakeResponses:
    """Shared state of the server: the script, the failure mode and the request log."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.lock = threading.Lock()
        self.steps: list[Step] = [finish()]
        self.baseline: int | None = None
        self.failure: Failure | None = None
        self.closing = threading.Event()
        self.port = 0
        self._ids = 0

    @property
    def base_url(self) -> str:
        """What a client puts before `/responses` (Codex's `base_url`)."""
        return f"http://127.0.0.1:{self.port}/v1"

    def script(self, steps: list[Step]) -> None:
        with self.lock:
            self.steps = list(steps)
            self.baseline = None

    def fail(
        self,
        status: int,
        message: str,
        times: int | None = None,
        retry_after: float | None = None,
        **fields: Any,
    ) -> None:
        """Answer the next `times` POSTs (all when None) with `status` and an error body;
        `retry_after` adds the headers, `fields` (e.g. `type`, `resets_in_seconds`) go into
        the body's error object."""
        with self.lock:
            self.failure = Failure(status, message, times, retry_after, dict(fields))

    def main_requests(self) -> list[Recorded]:
        with self.lock:
            return [r for r in self.requests if r.is_main]

    def next_id(self, prefix: str) -> str:
        with self.lock:
            self._ids += 1
            return f"{prefix}_{self._ids:04d}"

    def record(self, rec: Recorded) -> Failure | None:
        with self.lock:
            self.requests.append(rec)
            failure = self.failure
            if failure is not None and failure.times is not None:
                failure.times -= 1
                if failure.times <= 0:
                    self.failure = None
            return failure

    def choose(self, rec: Recorded) -> Step:
        if not rec.is_main:
            return finish("Fake summary")
        outputs = len(rec.tool_outputs())
        with self.lock:
            if self.baseline is None:
                self.baseline = outputs
            index = outputs - self.baseline
            return self.steps[index] if 0 <= index < len(self.steps) else finish()

    def items(self, step: Step) -> list[dict[str, Any]]:
        """The output items of one answer, complete (as in `response.output_item.done`)."""
        out: list[dict[str, Any]] = []
        if step.reasoning:
            out.append(
                {
                    "type": "reasoning",
                    "id": self.next_id("rs"),
                    "summary": [{"type": "summary_text", "text": step.reasoning}],
                    "encrypted_content": "ZmFrZS1yZWFzb25pbmc=",
                }
            )
        if step.text:
            out.append(
                {
                    "type": "message",
                    "id": self.next_id("msg"),
                    "status": "completed",
                    "role": "assistant",
                    "content": [{"type": "output_text", "text": step.text, "annotations": []}],
                }
            )
        for call in step.calls:
            call_id = self.next_id("call")
            if call.search:
                out.append(
                    {
                        "type": "tool_search_call",
                        "id": self.next_id("tsc"),
                        "status": "completed",
                        "call_id": call_id,
                        "execution": "client",
                        "arguments": call.arguments or {},
                    }
                )
            elif call.input is not None:
                out.append(
                    {
                        "type": "custom_tool_call",
                        "id": self.next_id("ctc"),
                        "status": "completed",
                        "call_id": call_id,
                        "name": call.name,
                        "input": call.input,
                    }
                )
            else:
                item = {
                    "type": "function_call",
                    "id": self.next_id("fc"),
                    "status": "completed",
                    "call_id": call_id,
                    "name": call.name,
                    "arguments": json.dumps(call.arguments or {}),
                }
                if call.namespace:
                    item["namespace"] = call.namespace
                out.append(item)
        return out


def _usage() -> dict[str, Any]:
    return {
        "input_tokens": USAGE["input_tokens"],
        "input_tokens_details": {"cached_tokens": USAGE["cached_tokens"]},
        "output_tokens": USAGE["output_tokens"],
        "output_tokens_details": {"reasoning_tokens": USAGE["reasoning_tokens"]},
        "total_tokens": USAGE["input_tokens"] + USAGE["output_tokens"],
    }


def _pending(item: dict[str, Any]) -> dict[str, Any]:
    """The item as `response.output_item.added` shows it: nothing streamed yet."""
    kind = item["type"]
    if kind == "message":
        return {**item, "status": "in_progress", "content": []}
    if kind == "reasoning":
        return {**item, "summary": []}
    if kind == "function_call":
        return {**item, "status": "in_progress", "arguments": ""}
    if kind == "custom_tool_call":
        return {**item, "status": "in_progress", "input": ""}
    return item


def _deltas(index: int, item: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The streaming events between `added` and `done` for one item, one delta each."""
    kind, iid = item["type"], item["id"]
    where = {"item_id": iid, "output_index": index}
    if kind == "message":
        text = item["content"][0]["text"]
        part = {"type": "output_text", "text": "", "annotations": []}
        yield {"type": "response.content_part.added", **where, "content_index": 0, "part": part}
        yield {"type": "response.output_text.delta", **where, "content_index": 0, "delta": text}
        yield {"type": "response.output_text.done", **where, "content_index": 0, "text": text}
        done = {**part, "text": text}
        yield {"type": "response.content_part.done", **where, "content_index": 0, "part": done}
    elif kind == "reasoning":
        text = item["summary"][0]["text"]
        part = {"type": "summary_text", "text": ""}
        at = {**where, "summary_index": 0}
        yield {"type": "response.reasoning_summary_part.added", **at, "part": part}
        yield {"type": "response.reasoning_summary_text.delta", **at, "delta": text}
        yield {"type": "response.reasoning_summary_text.done", **at, "text": text}
        yield {"type": "response.reasoning_summary_part.done", **at, "part": {**part, "text": text}}
    elif kind == "function_call":
        args = item["arguments"]
        yield {"type": "response.function_call_arguments.delta", **where, "delta": args}
        yield {"type": "response.function_call_arguments.done", **where, "arguments": args}
    elif kind == "custom_tool_call":
        text = item["input"]
        yield {"type": "response.custom_tool_call_input.delta", **where, "delta": text}
        yield {"type": "response.custom_tool_call_input.done", **where, "input": text}


def sse_events(
    response_id: str, model: str, items: list[dict[str, Any]], fail: tuple[str, str] | None
) -> Iterator[dict[str, Any]]:
    """The SSE payloads of one streamed response (each carries its own `type`)."""
    base = {
        "id": response_id,
        "object": "response",
        "created_at": int(time.time()),
        "model": model,
        "output": [],
        "usage": None,
        "error": None,
    }
    yield {"type": "response.created", "response": {**base, "status": "in_progress"}}
    yield {"type": "response.in_progress", "response": {**base, "status": "in_progress"}}
    if fail is not None:
        error = {"code": fail[0], "message": fail[1]}
        yield {"type": "response.failed", "response": {**base, "status": "failed", "error": error}}
        return
    for index, item in enumerate(items):
        yield {"type": "response.output_item.added", "output_index": index, "item": _pending(item)}
        yield from _deltas(index, item)
        yield {"type": "response.output_item.done", "output_index": index, "item": item}
    done = {**base, "status": "completed", "output": items, "usage": _usage()}
    yield {"type": "response.completed", "response": done}


def error_body(status: int, message: str) -> dict[str, Any]:
    kind, code = ERROR_TYPES.get(status, ("server_error", None))
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _send_json(self, status: int, payload: dict[str, Any], headers: dict[str, str]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _headers(self) -> dict[str, str]:
        return {k.lower(): v for k, v in self.headers.items()}

    def do_GET(self) -> None:
        fake = self.server.fake
        fake.record(Recorded(self.path, self._headers(), {}))
        self._send_json(404, error_body(404, f"no route GET {self.path}"), {})

    def do_POST(self) -> None:
        fake = self.server.fake
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = {}
        rec = Recorded(self.path, self._headers(), body if isinstance(body, dict) else {})
        failure = fake.record(rec)
        headers = {"x-request-id": fake.next_id("req")}
        if failure is not None:
            if failure.retry_after is not None:
                headers["retry-after"] = f"{failure.retry_after:g}"
                headers["retry-after-ms"] = str(int(failure.retry_after * 1000))
            body = error_body(failure.status, failure.message)
            body["error"].update(failure.fields)
            self._send_json(failure.status, body, headers)
            return
        if self.path.split("?", 1)[0] != "/v1/responses":
            self._send_json(404, error_body(404, f"no route POST {self.path}"), headers)
            return
        step = fake.choose(rec)
        if step.delay and fake.closing.wait(step.delay):
            return
        model = str(rec.body.get("model") or "fake-model")
        events = list(sse_events(fake.next_id("resp"), model, fake.items(step), step.fail))
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        for seq, event in enumerate(events):
            payload = json.dumps({**event, "sequence_number": seq})
            self.wfile.write(f"event: {event['type']}\ndata: {payload}\n\n".encode())
            self.wfile.flush()
        self.close_connection = True


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeResponses


@contextlib.contextmanager
def serve_responses() -> Iterator[FakeResponses]:
    """Run the fake on a free loopback port for the duration of the block."""
    fake = FakeResponses()
    server = _Server(("127.0.0.1", 0), _Handler)
    server.fake = fake
    fake.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        fake.closing.set()
        server.shutdown()
        server.server_close()

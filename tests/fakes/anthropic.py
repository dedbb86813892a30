"""A fake Anthropic Messages API that real CLIs (Claude Code) talk to, with a scripted agent.

`serve_anthropic()` yields a `FakeAnthropic` on a free loopback port. The test gives it a script,
e.g. `[write_file(p, "hi\\n"), run_command("echo hi > ran.txt"), finish("Done")]`; the server
answers the main conversation (requests that offer the Write or Bash tool) step by step,
choosing the step from the number of `tool_result` blocks the request carries beyond those of
the first request after the script was set (so a resumed session starts the script afresh).
Other requests (titles, summaries) get plain text, or a JSON object matching the request's
schema. The wire format follows the real API: SSE when `stream` is true, JSON otherwise, and
`{"type":"error","error":{...}}` bodies for failures. Every request is recorded.
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

USAGE_START = {
    "input_tokens": 100,
    "output_tokens": 1,
    "cache_creation_input_tokens": 20,
    "cache_read_input_tokens": 30,
}
OUTPUT_TOKENS = 42
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}


@dataclass
class Step:
    """One scripted answer: optional thinking and text, then a tool call or the end of the turn."""

    text: str | None = None
    thinking: str | None = None
    tool: str | None = None
    tool_input: dict[str, Any] = field(default_factory=dict)
    delay: float = 0.0
    # Held until the test sets it: the request has arrived and waits for the test's move.
    gate: threading.Event | None = None


def write_file(path: str, content: str, text: str = "I'll write the file.", **kw: Any) -> Step:
    return Step(text=text, tool="Write", tool_input={"file_path": path, "content": content}, **kw)


def run_command(command: str, text: str = "Running the command.", **kw: Any) -> Step:
    return Step(
        text=text, tool="Bash", tool_input={"command": command, "description": "Run it"}, **kw
    )


def todo(items: list[str], **kw: Any) -> Step:
    todos = [{"content": c, "status": "pending", "activeForm": c} for c in items]
    return Step(text="Planning.", tool="TodoWrite", tool_input={"todos": todos}, **kw)


def finish(text: str = "Done.", **kw: Any) -> Step:
    return Step(text=text, **kw)


@dataclass
class Failure:
    status: int
    message: str
    times: int | None  # None: every request
    retry_after: int | None


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]

    @property
    def tool_names(self) -> list[str]:
        return [t.get("name", "") for t in self.body.get("tools") or []]

    @property
    def system_text(self) -> str:
        system = self.body.get("system") or ""
        if isinstance(system, str):
            return system
        return "\n".join(b.get("text", "") for b in system if isinstance(b, dict))

    @property
    def is_main(self) -> bool:
        return bool({"Write", "Bash", "write", "bash"} & set(self.tool_names))  # + OpenCode/Kilo


def _count_tool_results(body: dict[str, Any]) -> int:
    count = 0
    for message in body.get("messages") or []:
        content = message.get("content")
        if isinstance(content, list):
            count += sum(
                1 for b in content if isinstance(b, dict) and b.get("type") == "tool_result"
            )
    return count


def _schema_value(schema: dict[str, Any]) -> Any:
    """A value that conforms to a (simple) JSON schema, for title/summary requests."""
    kind = schema.get("type")
    if "enum" in schema:
        return schema["enum"][0]
    if kind == "object" or "properties" in schema:
        props = schema.get("properties") or {}
        return {k: _schema_value(v) for k, v in props.items()}
    if kind == "array":
        return []
    if kind in ("integer", "number"):
        return 1
    if kind == "boolean":
        return True
    return "Fake title"


class FakeAnthropic:
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
        return f"http://127.0.0.1:{self.port}"

    def script(self, steps: list[Step]) -> None:
        with self.lock:
            self.steps = list(steps)
            self.baseline = None

    def fail(
        self, status: int, message: str, times: int | None = None, retry_after: int | None = None
    ) -> None:
        with self.lock:
            self.failure = Failure(status, message, times, retry_after)

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

    def choose(self, body: dict[str, Any]) -> Step:
        results = _count_tool_results(body)
        with self.lock:
            if self.baseline is None:
                self.baseline = results
            index = results - self.baseline
            return self.steps[index] if 0 <= index < len(self.steps) else finish()

    def blocks(
        self, rec: Recorded
    ) -> tuple[list[dict[str, Any]], str, float, threading.Event | None]:
        """The content blocks, stop reason, delay and gate for this request."""
        output = (rec.body.get("output_config") or {}).get("format") or {}
        if isinstance(output, dict) and output.get("schema"):
            text = json.dumps(_schema_value(output["schema"]))
            return [{"type": "text", "text": text}], "end_turn", 0.0, None
        if not rec.is_main:
            return [{"type": "text", "text": "Fake summary"}], "end_turn", 0.0, None
        step = self.choose(rec.body)
        blocks: list[dict[str, Any]] = []
        if step.thinking:
            sig = "ZmFrZXNpZw=="
            blocks.append({"type": "thinking", "thinking": step.thinking, "signature": sig})
        if step.text:
            blocks.append({"type": "text", "text": step.text})
        if step.tool:
            blocks.append(
                {
                    "type": "tool_use",
                    "id": self.next_id("toolu"),
                    "name": step.tool,
                    "input": step.tool_input,
                }
            )
        return blocks, "tool_use" if step.tool else "end_turn", step.delay, step.gate


def _sse_events(
    message_id: str, model: str, blocks: list[dict[str, Any]], stop: str
) -> Iterator[tuple[str, dict[str, Any]]]:
    start = {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": dict(USAGE_START),
    }
    yield "message_start", {"type": "message_start", "message": start}
    for i, block in enumerate(blocks):
        kind = block["type"]
        if kind == "text":
            first: dict[str, Any] = {"type": "text", "text": ""}
            deltas = [{"type": "text_delta", "text": block["text"]}]
        elif kind == "thinking":
            first = {"type": "thinking", "thinking": "", "signature": ""}
            deltas = [
                {"type": "thinking_delta", "thinking": block["thinking"]},
                {"type": "signature_delta", "signature": block["signature"]},
            ]
        else:
            first = {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}
            deltas = [{"type": "input_json_delta", "partial_json": json.dumps(block["input"])}]
        yield (
            "content_block_start",
            {"type": "content_block_start", "index": i, "content_block": first},
        )
        for delta in deltas:
            yield "content_block_delta", {"type": "content_block_delta", "index": i, "delta": delta}
        yield "content_block_stop", {"type": "content_block_stop", "index": i}
    yield (
        "message_delta",
        {
            "type": "message_delta",
            "delta": {"stop_reason": stop, "stop_sequence": None},
            "usage": {"output_tokens": OUTPUT_TOKENS},
        },
    )
    yield "message_stop", {"type": "message_stop"}


class _Handler(BaseHTTPRequestHandler):
    server: _Server

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

    def do_GET(self) -> None:
        fake = self.server.fake
        fake.record(Recorded(self.path, {k.lower(): v for k, v in self.headers.items()}, {}))
        self._send_json(404, _error(404, "not found"), {})

    def do_POST(self) -> None:
        fake = self.server.fake
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            body = {}
        rec = Recorded(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
        failure = fake.record(rec)
        if failure is not None:
            headers = {"request-id": fake.next_id("req")}
            if failure.retry_after is not None:
                headers["retry-after"] = str(failure.retry_after)
                headers["retry-after-ms"] = str(failure.retry_after * 1000)
            self._send_json(failure.status, _error(failure.status, failure.message), headers)
            return
        if not self.path.startswith("/v1/messages"):
            self._send_json(404, _error(404, f"no route {self.path}"), {})
            return
        blocks, stop, delay, gate = fake.blocks(rec)
        if delay and fake.closing.wait(delay):
            return
        while gate is not None and not gate.wait(0.05):
            if fake.closing.is_set():
                return
        message_id = fake.next_id("msg")
        model = str(body.get("model") or "fake-model")
        if not body.get("stream"):
            usage = dict(USAGE_START, output_tokens=OUTPUT_TOKENS)
            message = {
                "id": message_id,
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": blocks,
                "stop_reason": stop,
                "stop_sequence": None,
                "usage": usage,
            }
            self._send_json(200, message, {})
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        for event, data in _sse_events(message_id, model, blocks, stop):
            self.wfile.write(f"event: {event}\ndata: {json.dumps(data)}\n\n".encode())
            self.wfile.flush()


def _error(status: int, message: str) -> dict[str, Any]:
    kind = ERROR_TYPES.get(status, "api_error")
    return {"type": "error", "error": {"type": kind, "message": message}}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeAnthropic


@contextlib.contextmanager
def serve_anthropic() -> Iterator[FakeAnthropic]:
    """Run the fake on a free loopback port for the duration of the block."""
    fake = FakeAnthropic()
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
        time.sleep(0)

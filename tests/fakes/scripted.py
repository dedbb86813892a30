"""What the scripted fake model servers share: the script, failures, the request log, serving.

The script is a list of `Step`s (the same type as `tests.fakes.anthropic`, so one script can be
played by every protocol). A server answers the *main* conversation (a request that offers one
of `main_tools`, or any tools when `main_tools` is None) step by step: the step is chosen by how
many tool results the request carries beyond those of the first main request after the script
was set, so a resumed session starts the script afresh. Other requests get plain text, or JSON
that matches the schema they ask for. Failures answer every request (or the next `times`) with
an HTTP status, optionally with a retry delay in the protocol's own way.
"""

from __future__ import annotations

import contextlib
import json
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar

from tests.fakes.anthropic import Step, finish

__all__ = [
    "GEMINI_FAMILY_TOOLS",
    "Failure",
    "FakeModelServer",
    "Recorded",
    "Step",
    "finish",
    "run_shell",
    "schema_value",
    "serve",
    "todo_write",
    "write_file",
]


@dataclass
class Failure:
    status: int
    message: str
    times: int | None  # None: every request
    retry_after: float | None  # seconds


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    tool_names: list[str]
    main: bool


def schema_value(schema: Any) -> Any:
    """A value that conforms to a (simple) JSON schema, for routers, titles and summaries."""
    if not isinstance(schema, dict):
        return "Fake"
    kind = schema.get("type")
    kind = str(kind).lower() if isinstance(kind, str) else kind
    if "enum" in schema:
        return schema["enum"][0]
    if kind == "object" or "properties" in schema:
        props = schema.get("properties") or {}
        return {k: schema_value(v) for k, v in props.items()}
    if kind == "array":
        return []
    if kind in ("integer", "number"):
        return 1
    if kind == "boolean":
        return True
    return "Fake title"


class FakeModelServer:
    """Shared state of one fake: the script, the failure mode and the request log.

    Subclasses say how a request lists its tools and counts its tool results, and serve the
    protocol in `handle`.
    """

    def __init__(self, main_tools: frozenset[str] | None) -> None:
        self.main_tools = main_tools
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
        self,
        status: int,
        message: str,
        times: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        with self.lock:
            self.failure = Failure(status, message, times, retry_after)

    def main_requests(self) -> list[Recorded]:
        with self.lock:
            return [r for r in self.requests if r.main]

    def next_id(self, prefix: str) -> str:
        with self.lock:
            self._ids += 1
            return f"{prefix}_{self._ids:04d}"

    def tool_names(self, body: dict[str, Any]) -> list[str]:
        raise NotImplementedError

    def count_tool_results(self, body: dict[str, Any]) -> int:
        raise NotImplementedError

    def is_main(self, names: list[str]) -> bool:
        if self.main_tools is None:
            return bool(names)
        return bool(self.main_tools & set(names))

    def record(
        self, method: str, path: str, headers: dict[str, str], body: dict[str, Any]
    ) -> tuple[Recorded, Failure | None]:
        names = self.tool_names(body) if method == "POST" else []
        rec = Recorded(method, path, headers, body, names, self.is_main(names))
        with self.lock:
            self.requests.append(rec)
            failure = self.failure
            if failure is not None and failure.times is not None:
                failure.times -= 1
                if failure.times <= 0:
                    self.failure = None
            return rec, failure

    def choose(self, body: dict[str, Any]) -> Step:
        results = self.count_tool_results(body)
        with self.lock:
            if self.baseline is None:
                self.baseline = results
            index = results - self.baseline
            return self.steps[index] if 0 <= index < len(self.steps) else finish()

    def handle(self, handler: Handler, rec: Recorded, failure: Failure | None) -> None:
        raise NotImplementedError


class Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def start_sse(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.close_connection = True
        self.end_headers()

    def send_sse(self, data: str, event: str | None = None) -> None:
        head = f"event: {event}\n" if event else ""
        self.wfile.write(f"{head}data: {data}\n\n".encode())
        self.wfile.flush()

    def _serve(self, method: str) -> None:
        fake = self.server.fake
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = {}
        headers = {k.lower(): v for k, v in self.headers.items()}
        body = body if isinstance(body, dict) else {}
        rec, failure = fake.record(method, self.path, headers, body)
        fake.handle(self, rec, failure)

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeModelServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up (a killed CLI, a retry) is not the test's failure."""
        exc = sys.exc_info()[1]
        if not isinstance(exc, ConnectionError):
            super().handle_error(request, client_address)


F = TypeVar("F", bound=FakeModelServer)


@contextlib.contextmanager
def serve(factory: Callable[[], F]) -> Iterator[F]:
    """Run a fake on a free loopback port for the duration of the block."""
    fake = factory()
    server = _Server(("127.0.0.1", 0), Handler)
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


def write_file(path: str, content: str, text: str = "I'll write the file.", **kw: Any) -> Step:
    """The Gemini CLI family's write tool (Gemini CLI, Qwen Code)."""
    return Step(
        text=text, tool="write_file", tool_input={"file_path": path, "content": content}, **kw
    )


def run_shell(command: str, text: str = "Running the command.", **kw: Any) -> Step:
    """The Gemini CLI family's shell tool (Gemini CLI, Qwen Code)."""
    tool_input = {"command": command, "description": "Run it", "is_background": False}
    return Step(text=text, tool="run_shell_command", tool_input=tool_input, **kw)


def todo_write(items: list[str], **kw: Any) -> Step:
    """Qwen Code's todo tool."""
    todos = [{"id": str(i + 1), "content": c, "status": "pending"} for i, c in enumerate(items)]
    return Step(text="Planning.", tool="todo_write", tool_input={"todos": todos}, **kw)


GEMINI_FAMILY_TOOLS = frozenset({"write_file", "run_shell_command", "replace", "edit"})

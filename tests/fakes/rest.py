"""The base of the fake REST providers (GitHub, Azure DevOps): a threaded loopback HTTP server
with a route table, request recording, an auth check and injected failures.

A provider fake subclasses `FakeRestApi`, registers `(method, path regex) → handler` routes
(more can be added later: issues, work items), and answers `Reply`s. Every request is recorded
(with its headers, for auth and API version assertions). `fail_next(...)` answers the next
matching request with an error without handling it; `fail_after(...)` handles it (so a pull
request is stored) and then answers the error, as a proxy losing the answer would.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: Any
    params: dict[str, str] = field(default_factory=dict)  # the route's named groups


@dataclass
class Reply:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[Request], Reply]


@dataclass
class _Fault:
    method: str
    pattern: re.Pattern[str]
    status: int
    after: bool  # handle the request first, then answer the error
    body: Any = None


class FakeRestApi:
    """Routes, records, auth and faults; subclasses add the provider's routes and data."""

    def __init__(self) -> None:
        self.base_url = ""
        self.requests: list[Request] = []
        self.lock = threading.RLock()
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self._faults: list[_Fault] = []

    # -- to override ----------------------------------------------------------------------

    def authorized(self, req: Request) -> bool:
        return True

    def unauthorized(self, req: Request) -> Reply:
        return Reply(401, {"message": "Unauthorized"})

    def not_found(self, req: Request) -> Reply:
        return Reply(404, {"message": "Not Found"})

    # -- set-up ---------------------------------------------------------------------------

    def route(self, method: str, pattern: str, handler: Handler) -> None:
        self._routes.append((method, re.compile(f"^{pattern}$"), handler))

    def fail_next(self, method: str, pattern: str, status: int = 502, body: Any = None) -> None:
        """Answer the next matching request `status` (and `body`) without handling it."""
        with self.lock:
            self._faults.append(_Fault(method, re.compile(f"^{pattern}$"), status, False, body))

    def fail_after(self, method: str, pattern: str, status: int = 502, body: Any = None) -> None:
        """Handle the next matching request, then answer `status` instead of its reply."""
        with self.lock:
            self._faults.append(_Fault(method, re.compile(f"^{pattern}$"), status, True, body))

    def seen(self, method: str, pattern: str) -> list[Request]:
        rx = re.compile(f"^{pattern}$")
        with self.lock:
            return [r for r in self.requests if r.method == method and rx.match(r.path)]

    # -- serving --------------------------------------------------------------------------

    def handle(self, req: Request) -> Reply:
        with self.lock:
            self.requests.append(req)
            if not self.authorized(req):
                return self.unauthorized(req)
            fault = next(
                (f for f in self._faults if f.method == req.method and f.pattern.match(req.path)),
                None,
            )
            if fault is not None:
                self._faults.remove(fault)
                if not fault.after:
                    return _error(fault)
            for method, rx, handler in self._routes:
                m = rx.match(req.path)
                if m and method == req.method:
                    req.params = m.groupdict()
                    reply = handler(req)
                    return _error(fault) if fault is not None else reply
            return self.not_found(req)


def _error(fault: _Fault) -> Reply:
    return Reply(fault.status, fault.body if fault.body is not None else {"message": "Error"})


class _Handler(BaseHTTPRequestHandler):
    api: FakeRestApi

    def _serve(self) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode(errors="replace")
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        headers = {k.lower(): v for k, v in self.headers.items()}
        reply = self.api.handle(Request(self.command, parts.path, query, headers, body))
        data = b"" if reply.body is None else json.dumps(reply.body).encode()
        self.send_response(reply.status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def serve(api: FakeRestApi) -> Iterator[str]:
    """Serve `api` on a free loopback port; yields (and sets) its base URL."""
    handler = type("Handler", (_Handler,), {"api": api})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    api.base_url = f"http://127.0.0.1:{server.server_port}"
    try:
        yield api.base_url
    finally:
        server.shutdown()
        server.server_close()

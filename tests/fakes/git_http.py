"""A real git remote over smart HTTP: `git http-backend` (CGI) behind a Basic-auth check.

`serve_git(root, pat)` serves every bare repository under `root` on a free loopback port;
requests must carry `Authorization: Basic base64(<any user>:<pat>)` (or none at all when
`pat` is None). The CGI bridge is small on purpose: one request, one `git http-backend`.
"""

from __future__ import annotations

import base64
import contextlib
import hmac
import os
import subprocess
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

StartResponse = Callable[..., Any]


def _authorized(header: str, pat: str | None) -> bool:
    if pat is None:
        return True
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        _, _, password = base64.b64decode(value).decode().partition(":")
    except ValueError:
        return False
    return hmac.compare_digest(password.encode(), pat.encode())


def git_backend(root: Path, pat: str | None, seen: list[str]) -> Callable[..., Iterable[bytes]]:
    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        seen.append(environ.get("HTTP_AUTHORIZATION", ""))
        if not _authorized(environ.get("HTTP_AUTHORIZATION", ""), pat):
            start_response(
                "401 Unauthorized",
                [("WWW-Authenticate", 'Basic realm="git"'), ("Content-Type", "text/plain")],
            )
            return [b"authentication required\n"]
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "GIT_PROJECT_ROOT": str(root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "REQUEST_METHOD": environ["REQUEST_METHOD"],
            "PATH_INFO": environ.get("PATH_INFO", ""),
            "QUERY_STRING": environ.get("QUERY_STRING", ""),
            "CONTENT_TYPE": environ.get("CONTENT_TYPE", ""),
            "CONTENT_LENGTH": str(len(body)),
            "REMOTE_USER": "git",
            "REMOTE_ADDR": environ.get("REMOTE_ADDR", "127.0.0.1"),
            "GIT_PROTOCOL": environ.get("HTTP_GIT_PROTOCOL", ""),
            "HTTP_GIT_PROTOCOL": environ.get("HTTP_GIT_PROTOCOL", ""),
        }
        out = subprocess.run(
            ["git", "http-backend"], input=body, env=env, capture_output=True, check=False
        ).stdout
        head, _, payload = out.partition(b"\r\n\r\n")
        if not _:
            head, _, payload = out.partition(b"\n\n")
        status = "200 OK"
        headers = []
        for line in head.decode().splitlines():
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = value.strip()
            elif name:
                headers.append((name.strip(), value.strip()))
        start_response(status, headers)
        return [payload]

    return app


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def serve_git(root: Path, pat: str | None) -> Iterator[tuple[str, list[str]]]:
    """Yields the base URL and the Authorization headers seen (for assertions)."""
    seen: list[str] = []
    server = make_server(
        "127.0.0.1", 0, git_backend(root, pat, seen), server_class=_Server,
        handler_class=_QuietHandler,
    )  # fmt: skip
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", seen
    finally:
        server.shutdown()
        server.server_close()


def make_repo(root: Path, name: str, branches: Iterable[str] = ("main",)) -> Path:
    """A bare repository `root/name` with one commit on each branch."""
    work = root / f"{name}-work"
    bare = root / name
    run = lambda *a: subprocess.run(  # noqa: E731
        ["git", *a], cwd=work, check=True, capture_output=True,
        env={**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
             "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"},
    )  # fmt: skip
    work.mkdir(parents=True)
    branches = list(branches)
    run("init", "-q", "-b", branches[0])
    (work / "README.md").write_text("hello\n")
    run("add", "README.md")
    run("commit", "-q", "-m", "first")
    for b in branches[1:]:
        run("branch", b)
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(bare)], check=True)
    return bare

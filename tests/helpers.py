"""Shared test utilities: ports, condition waits, a served API, a fixed test keyring."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from orchestrator.security.keys import PURPOSE_PAYLOADS, Keyring, b64e

# Fixed so that recorded workflow histories (tests/histories) replay with the same key.
TEST_MASTER = Keyring.parse(f"test1:{b64e(bytes(range(32)))}")
TEST_PAYLOAD_KEYS = TEST_MASTER.derive(PURPOSE_PAYLOADS)
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
VENV_BIN = Path(sys.executable).parent

T = TypeVar("T")


def binary(name: str) -> str:
    beside = VENV_BIN / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        raise RuntimeError(f"{name} is not installed; run the test command from the README")
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def wait_for(
    check: Callable[[], Awaitable[T | None]] | Callable[[], T | None],
    timeout: float = 30.0,
    interval: float = 0.1,
    what: str = "condition",
) -> T:
    """Poll `check` until it returns something truthy; fail with `what` after `timeout`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last: object = None
    while True:
        try:
            result = check()
            if asyncio.iscoroutine(result) or isinstance(result, Awaitable):
                result = await result
            if result:
                return result  # type: ignore[return-value]
            last = result
        except AssertionError as exc:
            last = exc
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what} (last: {last!r})")
        await asyncio.sleep(interval)


@contextlib.asynccontextmanager
async def served(app: object, port: int | None = None) -> AsyncIterator[str]:
    """Serve an ASGI app with uvicorn on a free loopback port; yields its base URL."""
    import uvicorn

    from orchestrator.roles import _Server

    port = port or free_port()
    server = _Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on")  # type: ignore[arg-type]
    )
    task = asyncio.create_task(server.serve())
    await wait_for(lambda: server.started or task.done(), what="uvicorn to start")
    if task.done():
        task.result()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task

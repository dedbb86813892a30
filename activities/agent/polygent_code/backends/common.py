"""What the three model APIs share: SSE reading, error bodies, reset times and retries.

A transient failure (connection refused, 5xx, overloaded, a short rate limit) is retried here
with backoff, but only before the reply has started to stream: a half-shown message is never
shown twice. A rate limit whose reset is further away than `max_wait` is not slept on: it
becomes an `ApiError` carrying `retry_after`, so the workflow can sleep durably instead.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from ..models import ApiError, ModelReply, Part

RETRYABLE = frozenset({408, 409, 429, 500, 502, 503, 504, 529})
ERROR_BODY_MAX = 64 * 1024
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
Streamed = tuple[str, Part] | ModelReply  # (message id, a finished part), then the reply


@dataclass(frozen=True)
class RetryPolicy:
    retries: int = 4
    base: float = 1.0  # seconds, doubled per retry
    max_wait: float = 30.0  # longer rate-limit waits go back to the workflow

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> RetryPolicy:
        def num(name: str, default: float) -> float:
            try:
                return max(0.0, float(env.get(name, default)))
            except ValueError:
                return default

        return cls(
            retries=int(num("POLYGENT_CODE_MAX_RETRIES", cls.retries)),
            base=num("POLYGENT_CODE_RETRY_BASE_SECONDS", cls.base),
            max_wait=num("POLYGENT_CODE_MAX_RETRY_WAIT", cls.max_wait),
        )


async def sse_events(response: httpx.Response) -> AsyncIterator[tuple[str, str]]:
    """(event name, data) pairs of a text/event-stream body."""
    event, data = "", list[str]()
    async for line in response.aiter_lines():
        if not line:
            if data:
                yield event, "\n".join(data)
            event, data = "", []
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "event":
            event = value
        elif name == "data":
            data.append(value)
    if data:
        yield event, "\n".join(data)


def json_data(data: str) -> dict[str, Any]:
    try:
        value = json.loads(data)
    except ValueError:
        raise ApiError(f"The model API sent an unreadable event: {data[:200]}") from None
    if not isinstance(value, dict):
        raise ApiError(f"The model API sent an unexpected event: {data[:200]}")
    return value


def _seconds(value: str) -> float | None:
    """A Go/Google style duration ("1.5s", "6m0s", "20ms") in seconds."""
    parts = _DURATION.findall(value.strip())
    if not parts:
        return None
    scale = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
    return sum(float(n) * scale[unit] for n, unit in parts)


def _until(stamp: str) -> float | None:
    try:
        when = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def retry_after_of(headers: Mapping[str, str], body: Any) -> float | None:
    """The reset time an error response names: Retry-After(-ms), Gemini's RetryInfo, or the
    providers' rate-limit reset headers."""
    if (ms := headers.get("retry-after-ms")) is not None:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    if (value := headers.get("retry-after")) is not None:
        try:
            return max(0.0, float(value))
        except ValueError:
            try:
                when = parsedate_to_datetime(value)
                return max(0.0, (when - datetime.now(UTC)).total_seconds())
            except (TypeError, ValueError):
                pass
    error = body.get("error") if isinstance(body, dict) else None
    details = error.get("details") if isinstance(error, dict) else None
    for item in details if isinstance(details, list) else []:
        if isinstance(item, dict) and str(item.get("@type", "")).endswith("RetryInfo"):
            found = _seconds(str(item.get("retryDelay", "")))
            if found is not None:
                return found
    resets: list[float] = []
    for name, value in headers.items():
        lower = name.lower()
        if lower.startswith("x-ratelimit-reset"):
            found = _seconds(value)
        elif lower.startswith("anthropic-ratelimit-") and lower.endswith("-reset"):
            found = _until(value)
        else:
            continue
        if found is not None:
            resets.append(found)
    return max(resets) if resets else None


def _message_of(body: Any, text: str) -> tuple[str, str | None]:
    """The human message and the error type of an error body of any of the three APIs."""
    if isinstance(body, list) and body and isinstance(body[0], dict):
        body = body[0]  # Gemini sometimes wraps the error in a list
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        kind = error.get("type") or error.get("status") or error.get("code")
        return str(error.get("message") or text), None if kind is None else str(kind)
    if isinstance(error, str):
        return error, None
    if isinstance(body, dict) and body.get("message"):
        return str(body["message"]), None
    return text.strip()[:500] or "no details", None


async def error_from(response: httpx.Response) -> ApiError:
    raw = b""
    async for chunk in response.aiter_bytes():
        raw += chunk
        if len(raw) > ERROR_BODY_MAX:
            break
    text = raw[:ERROR_BODY_MAX].decode(errors="replace")
    try:
        body: Any = json.loads(text)
    except ValueError:
        body = None
    message, kind = _message_of(body, text)
    status = response.status_code
    label = f"API error {status}" + (f" ({kind})" if kind else "")
    return ApiError(
        f"{label}: {message}",
        status=status,
        retry_after=retry_after_of(response.headers, body),
        retryable=status in RETRYABLE,
    )


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


@asynccontextmanager
async def open_stream(
    client: httpx.AsyncClient, url: str, headers: dict[str, str], body: dict[str, Any]
) -> AsyncIterator[httpx.Response]:
    """POST `body` and yield the streaming response; failures become `ApiError`s."""
    try:
        async with client.stream("POST", url, headers=headers, json=body) as response:
            if response.status_code >= 400:
                raise await error_from(response)
            yield response
    except httpx.TimeoutException:
        message = f"The model API at {origin(url)} did not answer in time."
        raise ApiError(message, retryable=True) from None
    except httpx.TransportError as exc:
        raise ApiError(
            f"Could not reach the model API at {origin(url)}: {exc or type(exc).__name__}.",
            retryable=True,
        ) from None


async def with_retries(
    make: Callable[[], AsyncIterator[Streamed]],
    policy: RetryPolicy,
    on_retry: Callable[[ApiError, float], Awaitable[None]],
) -> AsyncIterator[Streamed]:
    """Items of `make()`, retried on a transient failure before the first item."""
    attempt = 0
    while True:
        started = False
        try:
            async for item in make():
                started = True
                yield item
            return
        except ApiError as exc:
            if started or not exc.retryable or attempt >= policy.retries:
                raise
            wait = exc.retry_after if exc.retry_after is not None else policy.base * 2**attempt
            if wait > policy.max_wait:
                raise
            attempt += 1
            await on_retry(exc, wait)
            await asyncio.sleep(wait)

"""Model API backends of the built-in agent; the model id picks one (see `route`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

import httpx

from ..models import Message, ToolSpec
from .anthropic import AnthropicBackend
from .common import RetryPolicy, Streamed, with_retries
from .gemini import GeminiBackend
from .openai_chat import OpenAIChatBackend
from .route import Route, RouteError, resolve


class Backend(Protocol):
    name: str
    route: Route

    def stream(
        self, client: httpx.AsyncClient, system: str, messages: list[Message], tools: list[ToolSpec]
    ) -> AsyncIterator[Streamed]:
        """Each finished part as it completes, then the whole `ModelReply`."""
        ...


def backend_for(route: Route, max_tokens: int | None = None) -> Backend:
    if route.kind == "anthropic":
        return AnthropicBackend(route, max_tokens)
    if route.kind == "gemini":
        return GeminiBackend(route, max_tokens)
    return OpenAIChatBackend(route, max_tokens)


__all__ = [
    "Backend",
    "RetryPolicy",
    "Route",
    "RouteError",
    "Streamed",
    "backend_for",
    "resolve",
    "with_retries",
]

"""Provider adapters by name; a new provider plugs in here without touching the workflow."""

from __future__ import annotations

from .base import Launch, ProviderAdapter, ProviderCheckError, StreamParser
from .claude_code import ClaudeCodeAdapter

ADAPTERS: dict[str, ProviderAdapter] = {
    "claude-code": ClaudeCodeAdapter(),
}


def adapter_for(provider: str) -> ProviderAdapter:
    """The adapter for `provider`, or a `ProviderCheckError` naming the unknown provider."""
    try:
        return ADAPTERS[provider]
    except KeyError:
        raise ProviderCheckError(f"Unknown provider {provider!r}.") from None


__all__ = [
    "ADAPTERS",
    "ClaudeCodeAdapter",
    "Launch",
    "ProviderAdapter",
    "ProviderCheckError",
    "StreamParser",
    "adapter_for",
]

"""Provider adapters by name; a new provider plugs in here without touching the workflow."""

from __future__ import annotations

from activities.agent.polygent_code.adapter import PolygentCodeAdapter

from .base import Launch, ProviderAdapter, ProviderCheckError, StreamParser
from .claude_code import ClaudeCodeAdapter
from .codex import CodexAdapter
from .gemini_cli import GeminiCliAdapter
from .kilo_cli import KiloCliAdapter
from .opencode import OpenCodeAdapter
from .qwen_code import QwenCodeAdapter

ADAPTERS: dict[str, ProviderAdapter] = {
    "claude-code": ClaudeCodeAdapter(),
    "codex": CodexAdapter(),
    "polygent-code": PolygentCodeAdapter(),
    "gemini-cli": GeminiCliAdapter(),
    "qwen-code": QwenCodeAdapter(),
    "opencode": OpenCodeAdapter(),
    "kilo-cli": KiloCliAdapter(),
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

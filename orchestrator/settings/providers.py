"""The seven providers the product names: how each is run, its models, and its defaults.

Only Claude Code and Polygent Code are on until an administrator turns another one on. A
provider's models are its catalog plus the administrator's custom models, minus the hidden
ones; Claude Code also takes any full `claude-…` id.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

CLAUDE_ALIASES = ("default", "opus", "sonnet", "haiku", "opusplan")
CLAUDE_ID = re.compile(r"^claude-[a-z0-9][a-z0-9.-]*(\[1m\])?$")


@dataclass(frozen=True)
class ProviderInfo:
    id: str
    name: str
    cli: str | None  # the executable a host must have; None for the built-in agent
    enabled_by_default: bool
    models: tuple[str, ...]
    reports_usd: bool  # False: cost comes from tokens times the price table

    @property
    def price_model(self) -> str:
        """The model to price a turn by when neither the session nor the CLI named one."""
        return next((m for m in self.models if "-" in m), self.models[0])


PROVIDERS: dict[str, ProviderInfo] = {
    p.id: p
    for p in (
        ProviderInfo(
            "claude-code", "Claude Code", "claude", True,
            (*CLAUDE_ALIASES, "claude-opus-4-1", "claude-sonnet-4-5", "claude-haiku-4-5"),
            True,
        ),
        ProviderInfo(
            "polygent-code", "Polygent Code", None, True,
            ("claude-sonnet-4-5", "claude-opus-4-1", "claude-haiku-4-5", "gpt-5", "gpt-5-mini",
             "gemini-2.5-pro", "gemini-2.5-flash", "openrouter/anthropic/claude-sonnet-4.5",
             "opencode-zen/grok-code", "kilo/x-ai/grok-code-fast-1"),
            True,
        ),
        ProviderInfo(
            "gemini-cli", "Gemini CLI", "gemini", False,
            ("gemini-2.5-pro", "gemini-2.5-flash", "gemini-2.5-flash-lite"), False,
        ),
        ProviderInfo(
            "opencode", "OpenCode", "opencode", False,
            ("anthropic/claude-sonnet-4-5", "openai/gpt-5", "opencode/grok-code"), True,
        ),
        ProviderInfo(
            "kilo-cli", "Kilo CLI", "kilo", False,
            ("anthropic/claude-sonnet-4-5", "openai/gpt-5", "kilo/x-ai/grok-code-fast-1"), True,
        ),
        # What `codex debug models` lists in the pinned 0.169: an unknown slug still runs, but
        # on fallback metadata without the apply_patch tool.
        ProviderInfo(
            "codex", "Codex", "codex", False,
            ("gpt-5.5", "gpt-5.6-sol", "gpt-6-astra", "gpt-6.1-sol"), False,
        ),
        ProviderInfo(
            "qwen-code", "Qwen Code", "qwen", False, ("qwen3-coder-plus", "coder-model"), False
        ),
    )
}  # fmt: skip
PROVIDER_IDS = tuple(PROVIDERS)


def visible_models(provider: str, hidden: list[str], custom: list[str]) -> list[str]:
    info = PROVIDERS[provider]
    return [m for m in dict.fromkeys([*info.models, *custom]) if m not in hidden]


def model_problem(provider: str, model: str, visible: list[str]) -> str | None:
    """Why `model` cannot run on `provider` (unknown or hidden), or None when it can."""
    if model in visible:
        return None
    if provider == "claude-code" and CLAUDE_ID.match(model):
        return None
    shown = ", ".join(visible[:8]) or "none"
    return f"{PROVIDERS[provider].name} has no model {model!r} (available: {shown})."

"""Which API, endpoint and credential a model id means.

`claude-*` → Anthropic Messages; `gpt-*`, `o1…o9*`, `chatgpt-*`, `codex-*` → OpenAI chat
completions; `gemini-*` → Google Gemini. Gateways are named by a prefix: `openrouter/<id>`,
`opencode-zen/<id>` and `kilo/<id>` (the last two work without a key; a key raises their
limits). `anthropic/`, `openai/` and `google/` prefixes are accepted too. Every base URL can be
overridden from the environment, which is how tests point the agent at fake servers.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import quote

Kind = Literal["anthropic", "openai", "gemini"]
MODEL_ID = re.compile(r"^[A-Za-z0-9._:/@+-]{1,200}$")
OPENAI_MODEL = re.compile(r"^(gpt-|chatgpt-|codex-|o[1-9])")


class RouteError(Exception):
    """The model cannot be used: unknown family or a missing credential (one sentence)."""


@dataclass(frozen=True)
class Gateway:
    label: str
    base_var: str
    base: str
    key_var: str
    key_required: bool


GATEWAYS = {
    "openrouter": Gateway(
        "OpenRouter", "POLYGENT_OPENROUTER_BASE_URL", "https://openrouter.ai/api/v1",
        "OPENROUTER_API_KEY", True,
    ),
    "opencode-zen": Gateway(
        "OpenCode Zen", "POLYGENT_ZEN_BASE_URL", "https://opencode.ai/zen/v1", "ZEN_API_KEY", False
    ),
    "kilo": Gateway(
        "Kilo Gateway", "POLYGENT_KILO_BASE_URL", "https://api.kilo.ai/api/gateway",
        "KILO_API_KEY", False,
    ),
}  # fmt: skip


@dataclass(frozen=True)
class Route:
    kind: Kind
    model: str  # the id the API knows
    url: str  # the full streaming endpoint
    label: str
    headers: dict[str, str] = field(default_factory=dict, repr=False)
    secret: str | None = field(default=None, repr=False)


def _base(env: Mapping[str, str], names: tuple[str, ...], default: str) -> str:
    for name in names:
        if env.get(name):
            return env[name].rstrip("/")
    return default


def _auth(kind: Kind, key: str) -> dict[str, str]:
    if kind == "anthropic":
        return {"x-api-key": key}
    if kind == "gemini":
        return {"x-goog-api-key": key}
    return {"Authorization": f"Bearer {key}"}


def _kind_of(model: str) -> Kind | None:
    if model.startswith("claude-"):
        return "anthropic"
    if model.startswith("gemini-"):
        return "gemini"
    if OPENAI_MODEL.match(model):
        return "openai"
    return None


def _gemini_url(base: str, model: str) -> str:
    return f"{base}/models/{quote(model, safe='')}:streamGenerateContent?alt=sse"


def _gateway(gw: Gateway, model: str, env: Mapping[str, str], name: str) -> Route:
    key = env.get(gw.key_var) or None
    if gw.key_required and not key:
        raise RouteError(f"{gw.label} models need a credential: set {gw.key_var}.")
    base = _base(env, (gw.base_var,), gw.base)
    kind: Kind = "openai"
    if name == "opencode-zen":  # Zen serves Claude and Gemini models in their own protocols
        kind = _kind_of(model) or "openai"
    if kind == "anthropic":
        url = f"{base}/messages"
    elif kind == "gemini":
        url = _gemini_url(base, model)
    else:
        url = f"{base}/chat/completions"
    return Route(kind, model, url, gw.label, _auth(kind, key) if key else {}, key)


def resolve(model: str, env: Mapping[str, str]) -> Route:
    """The route of `model`, or a `RouteError` naming what is missing."""
    if not MODEL_ID.match(model):
        raise RouteError(f"Polygent Code does not know the model {model!r}.")
    prefix, _, rest = model.partition("/")
    if rest and prefix in GATEWAYS:
        return _gateway(GATEWAYS[prefix], rest, env, prefix)
    if rest and prefix in ("anthropic", "openai", "google"):
        model = rest
    kind = _kind_of(model)
    if kind == "anthropic":
        base = _base(env, ("POLYGENT_ANTHROPIC_BASE_URL", "ANTHROPIC_BASE_URL"),
                     "https://api.anthropic.com")  # fmt: skip
        url = f"{base}/v1/messages"
        if env.get("ANTHROPIC_API_KEY"):
            key = env["ANTHROPIC_API_KEY"]
            return Route(kind, model, url, "Anthropic", {"x-api-key": key}, key)
        if env.get("ANTHROPIC_AUTH_TOKEN"):
            key = env["ANTHROPIC_AUTH_TOKEN"]
            return Route(kind, model, url, "Anthropic", {"Authorization": f"Bearer {key}"}, key)
        raise RouteError("Anthropic models need a credential: set ANTHROPIC_API_KEY.")
    if kind == "openai":
        base = _base(env, ("POLYGENT_OPENAI_BASE_URL", "OPENAI_BASE_URL"),
                     "https://api.openai.com/v1")  # fmt: skip
        openai_key = env.get("OPENAI_API_KEY")
        if not openai_key:
            raise RouteError("OpenAI models need a credential: set OPENAI_API_KEY.")
        url = f"{base}/chat/completions"
        return Route(kind, model, url, "OpenAI", _auth(kind, openai_key), openai_key)
    if kind == "gemini":
        base = _base(
            env, ("POLYGENT_GEMINI_BASE_URL", "GOOGLE_GEMINI_BASE_URL", "GEMINI_BASE_URL"),
            "https://generativelanguage.googleapis.com",
        )  # fmt: skip
        gemini_key = env.get("GEMINI_API_KEY") or env.get("GOOGLE_API_KEY")
        if not gemini_key:
            raise RouteError("Gemini models need a credential: set GEMINI_API_KEY.")
        url = _gemini_url(f"{base}/v1beta", model)
        return Route(kind, model, url, "Google Gemini", _auth(kind, gemini_key), gemini_key)
    raise RouteError(
        f"Polygent Code does not know the model {model!r} (use claude-*, gpt-*, o*, gemini-*, "
        "or openrouter/…, opencode-zen/…, kilo/…)."
    )

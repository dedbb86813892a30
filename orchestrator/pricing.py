"""Prices per model, and the cost of a usage record, for providers that report no USD.

Prices are USD per million tokens, kept apart for input, output, cache reads and cache
writes (providers price them apart). A table maps a model id or a pattern ending in `*` to
a price; the most specific pattern wins. The defaults below are list prices at the time of
writing; administrators edit the table in settings (`PUT /api/settings/prices`), so a price
change never needs a release. Pure functions: safe inside workflows and on hosts.
"""

from __future__ import annotations

from collections.abc import Mapping

from orchestrator.contracts.agent import ModelPrice, Usage

MILLION = 1_000_000
__all__ = ["DEFAULT_PRICES", "ModelPrice", "cost_of", "price_for", "usage_cost"]


def _p(i: float, o: float, cr: float | None = None, cw: float | None = None) -> ModelPrice:
    return ModelPrice(
        input=i,
        output=o,
        cache_read=i / 10 if cr is None else cr,
        cache_write=i * 1.25 if cw is None else cw,
    )


DEFAULT_PRICES: dict[str, ModelPrice] = {
    # Anthropic
    "claude-opus-*": _p(15, 75),
    "claude-sonnet-*": _p(3, 15),
    "claude-haiku-*": _p(1, 5),
    "claude-3-5-haiku*": _p(0.8, 4),
    # OpenAI
    "gpt-5*": _p(1.25, 10, 0.125, 0),
    # No list price was known here for the gpt-6 family: priced like gpt-5 until an
    # administrator sets the real one (Settings → Prices), so its work never records $0.
    "gpt-6*": _p(1.25, 10, 0.125, 0),
    "gpt-5-mini*": _p(0.25, 2, 0.025, 0),
    "gpt-4.1*": _p(2, 8, 0.5, 0),
    "gpt-4o*": _p(2.5, 10, 1.25, 0),
    "o3*": _p(2, 8, 0.5, 0),
    "o4-mini*": _p(1.1, 4.4, 0.275, 0),
    "codex-*": _p(1.25, 10, 0.125, 0),
    # Google
    "gemini-2.5-pro*": _p(1.25, 10, 0.31, 0),
    "gemini-2.5-flash*": _p(0.3, 2.5, 0.075, 0),
    "gemini-*": _p(1.25, 10, 0.31, 0),
    # Alibaba
    "qwen3-coder*": _p(1, 5, 0.1, 0),
    "qwen*": _p(1, 5, 0.1, 0),
    "coder-model": _p(1, 5, 0.1, 0),
}


def price_for(model: str | None, prices: Mapping[str, ModelPrice]) -> ModelPrice | None:
    """The exact entry for `model`, else the longest matching `prefix*` pattern."""
    if not model:
        return None
    name = model.rsplit("/", 1)[-1]  # "openrouter/anthropic/claude-sonnet-4" → "claude-sonnet-4"
    for key in (model, name):
        if key in prices:
            return prices[key]
    best: tuple[int, ModelPrice] | None = None
    for pattern, price in prices.items():
        prefix = pattern[:-1]
        matches = pattern.endswith("*") and (model.startswith(prefix) or name.startswith(prefix))
        if matches and (best is None or len(pattern) > best[0]):
            best = (len(pattern), price)
    return best[1] if best else None


def usage_cost(usage: Usage, price: ModelPrice) -> float:
    total = (
        usage.input * price.input
        + usage.output * price.output
        + usage.cache_read * price.cache_read
        + usage.cache_write * price.cache_write
    )
    return round(total / MILLION, 8)


def cost_of(
    model: str | None, usage: Usage, prices: Mapping[str, ModelPrice] | None = None
) -> float | None:
    """USD for `usage` on `model`, or None when no price is known for it."""
    price = price_for(model, DEFAULT_PRICES if prices is None else prices)
    return None if price is None else usage_cost(usage, price)

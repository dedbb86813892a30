"""The reset time a CLI's rate-limit message names, for CLIs that only pass on the API's text.

Gemini CLI turns a Google `RetryInfo` into "Suggested retry after 3600s." and keeps the API's
"Please retry in 38.2s."; Qwen Code fails fast on "quota exceeded … will reset at <time>"
and keeps the provider's own wording; OpenAI-style APIs say "Please try again in 1m30s".
The workflow sleeps until the reset time instead of failing the session, so a wait is only
reported for a message that is a rate limit (or quota/capacity error) in the first place.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

_RATE_LIMIT = re.compile(
    r"\b429\b|rate[ _-]?limit|quota|RESOURCE_EXHAUSTED|too many requests|capacity|overloaded"
    r"|suggested retry",
    re.IGNORECASE,
)
_UNITS = r"(?:milliseconds?|ms|seconds?|secs?|s|minutes?|mins?|m|hours?|hrs?|h)(?![a-z])"
_DURATION = r"((?:\d+(?:\.\d+)?\s*" + _UNITS + r"\s*)+)"
_IN = re.compile(
    r"(?:retry|try again|reset[s]?|available again)\s+(?:after|in)\s+" + _DURATION, re.IGNORECASE
)
_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([a-z]+)", re.IGNORECASE)
_AT = re.compile(
    r"(?:reset[s]?|retry|try again)\s+(?:at|after)\s+"
    r"(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?\s*(?:Z|UTC|[+-]\d{2}:?\d{2})?)",
    re.IGNORECASE,
)


def _unit(name: str) -> float:
    name = name.lower()
    if name.startswith("ms") or name.startswith("milli"):
        return 0.001
    if name.startswith("h"):
        return 3600.0
    if name.startswith("m"):
        return 60.0
    return 1.0


def _instant(text: str) -> datetime | None:
    cleaned = re.sub(r"\s*(?:Z|UTC)$", "+00:00", text.strip(), flags=re.IGNORECASE)
    try:
        when = datetime.fromisoformat(cleaned.replace(" ", "T", 1))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def retry_after_seconds(message: str | None, now: datetime | None = None) -> float | None:
    """Seconds until the rate limit in `message` resets, or None (not a rate limit, no time)."""
    if not message or not _RATE_LIMIT.search(message):
        return None
    found = _IN.search(message)
    if found:
        return sum(float(n) * _unit(u) for n, u in _PART.findall(found.group(1)))
    at = _AT.search(message)
    when = _instant(at.group(1)) if at else None
    if when is None:
        return None
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())

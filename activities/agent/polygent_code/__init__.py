"""Polygent Code: the built-in agent, an agent loop that runs inside the session agent and
calls the model APIs itself (Anthropic Messages, OpenAI-compatible chat, Google Gemini)."""

from __future__ import annotations

# The adapter registry imports our adapter: load it first, whichever module is imported first.
import activities.agent.providers  # noqa: F401

from .adapter import DEFAULT_MODEL, InProcessLaunch, PolygentCodeAdapter

__all__ = ["DEFAULT_MODEL", "InProcessLaunch", "PolygentCodeAdapter"]

"""The provider adapter interface: how one coding-agent CLI is checked, launched and read.

The workflow and the runner only speak `TurnRequest`, `Launch`, `AgentEvent` and `TurnResult`;
each CLI's flags, config files and stream format stay inside its adapter, so a new provider is
one module plus one entry in `ADAPTERS` (see `activities.agent.providers`).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from orchestrator.contracts.agent import AgentEvent, TurnRequest, TurnResult


class ProviderCheckError(Exception):
    """The turn cannot start (missing credential, unknown model, CLI not installed).

    Raised before anything is spawned; the message is one sentence for the user.
    """


@dataclass(frozen=True)
class Launch:
    """The command of one turn: argv, the complete child environment, files written under HOME."""

    argv: list[str]
    env: dict[str, str]
    files: list[Path] = field(default_factory=list)
    secrets: list[str] = field(default_factory=list)  # values the runner must redact


class StreamParser(Protocol):
    """Turns stdout lines into events for one turn (parsers may keep state, e.g. dedupe ids)."""

    def parse(self, line: str) -> list[AgentEvent]:
        """Never raises: a line it cannot read becomes a `raw` event."""
        ...


class ProviderAdapter(Protocol):
    name: str

    def check(
        self, request: TurnRequest, env: Mapping[str, str], models: Collection[str] | None = None
    ) -> None:
        """Raise `ProviderCheckError` when the turn cannot run; `models`: the known model ids."""
        ...

    def prepare(
        self,
        request: TurnRequest,
        home: Path,
        env: Mapping[str, str],
        mcp_token: str | None = None,
    ) -> Launch:
        """Write config files under the isolated `home` and build the command."""
        ...

    def parser(self) -> StreamParser: ...

    def finish(
        self, exit_code: int, events: Sequence[AgentEvent], stderr_tail: str = ""
    ) -> TurnResult:
        """The turn's outcome from the exit code and the last events (the result line)."""
        ...


def raw_event(line: str) -> AgentEvent:
    return AgentEvent(kind="raw", raw=line)


def parse_json_object(line: str) -> dict[str, object] | None:
    """The line as a JSON object, or None when it is not one (so it is kept as a raw event)."""
    try:
        value = json.loads(line)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def find_executable(name: str, env: Mapping[str, str]) -> str | None:
    """`name` resolved on the child's PATH (not ours), as the spawn will resolve it."""
    import shutil

    return shutil.which(name, path=env.get("PATH", ""))

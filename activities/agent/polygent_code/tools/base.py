"""What every tool of the built-in agent shares: its result, its context, argument checks
and the rule that file tools stay inside the worktree."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from orchestrator.contracts.agent import AgentEvent, TodoItem

from ..models import ToolSpec

RunSubagent = Callable[[str, str, str], Awaitable[str]]  # (subagent_type, prompt, tool_id)


class ToolError(Exception):
    """The call cannot be done; the message goes back to the model as an error result."""


@dataclass
class ToolResult:
    content: str
    is_error: bool = False
    events: list[AgentEvent] = field(default_factory=list)  # shown before the result


@dataclass
class ToolContext:
    worktree: Path  # resolved
    env: dict[str, str]  # the environment of commands (no model credentials)
    tool_id: str = ""
    todos: list[TodoItem] = field(default_factory=list)
    run_subagent: RunSubagent | None = None


class Tool(Protocol):
    spec: ToolSpec

    async def run(self, args: dict[str, Any], ctx: ToolContext) -> ToolResult: ...


def schema(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": required}


def text_arg(args: dict[str, Any], name: str, required: bool = True, empty: bool = False) -> str:
    value = args.get(name)
    if value is None:
        if required:
            raise ToolError(f"The parameter {name!r} is required.")
        return ""
    if not isinstance(value, str):
        raise ToolError(f"The parameter {name!r} must be a string.")
    if required and not empty and not value:
        raise ToolError(f"The parameter {name!r} must not be empty.")
    return value


def int_arg(args: dict[str, Any], name: str, default: int, low: int, high: int) -> int:
    value = args.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ToolError(f"The parameter {name!r} must be a number.")
    if not low <= value <= high:
        raise ToolError(f"The parameter {name!r} must be between {low} and {high}.")
    return int(value)


def bool_arg(args: dict[str, Any], name: str) -> bool:
    value = args.get(name, False)
    if not isinstance(value, bool):
        raise ToolError(f"The parameter {name!r} must be true or false.")
    return value


def confine(root: Path, path: str) -> Path:
    """`path` (absolute, or relative to the worktree) resolved, symlinks followed; refused
    when it leaves the worktree."""
    if not path or "\0" in path:
        raise ToolError("A valid path is required.")
    given = Path(path)
    resolved = (given if given.is_absolute() else root / given).resolve()
    if resolved != root and not resolved.is_relative_to(root):
        raise ToolError(
            f"{path} is outside the working directory {root}; only files inside it can be used."
        )
    return resolved


def shown(root: Path, path: Path) -> str:
    """A path as the model sees it: relative to the worktree when inside it."""
    try:
        return str(path.relative_to(root)) or "."
    except ValueError:
        return str(path)

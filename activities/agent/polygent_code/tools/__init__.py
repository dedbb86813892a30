"""The built-in agent's tools, and which of them a turn or a subagent gets."""

from __future__ import annotations

from collections.abc import Collection

from orchestrator.contracts.agent import SubagentSpec

from .base import RunSubagent, Tool, ToolContext, ToolError, ToolResult, confine
from .files import EditTool, ReadTool, WriteTool
from .search import GlobTool, GrepTool
from .shell import BashTool
from .task import TaskTool
from .todo import TodoWriteTool
from .web import WebFetchTool

BUILTIN_NAMES = ("Read", "Write", "Edit", "Bash", "Glob", "Grep", "WebFetch", "TodoWrite", "Task")
SUBAGENT_DEFAULT = ("Read", "Write", "Edit", "Bash", "Glob", "Grep", "WebFetch")


def allowed(name: str, allow: Collection[str] | None) -> bool:
    """Whether `allow` (None: everything) lets `name` through; `mcp__x` and `mcp__x__*`
    entries allow every tool of MCP server x."""
    if allow is None:
        return True
    if name in allow:
        return True
    return any(
        name.startswith(a.removesuffix("*").rstrip("_") + "__")
        for a in allow
        if a.startswith("mcp__")
    )


def build_tools(
    names: Collection[str] | None,
    bash: BashTool,
    subagents: dict[str, SubagentSpec] | None = None,
) -> dict[str, Tool]:
    """The built-in tools named by `names` (None: all); Task only when `subagents` is given."""
    tools: dict[str, Tool] = {
        "Read": ReadTool(),
        "Write": WriteTool(),
        "Edit": EditTool(),
        "Bash": bash,
        "Glob": GlobTool(),
        "Grep": GrepTool(),
        "WebFetch": WebFetchTool(),
        "TodoWrite": TodoWriteTool(),
    }
    if subagents:
        tools["Task"] = TaskTool(subagents)
    return {n: t for n, t in tools.items() if allowed(n, names)}


__all__ = [
    "BUILTIN_NAMES",
    "SUBAGENT_DEFAULT",
    "BashTool",
    "RunSubagent",
    "Tool",
    "ToolContext",
    "ToolError",
    "ToolResult",
    "allowed",
    "build_tools",
    "confine",
]

"""Subagents the Task tool can start: the built-ins `general` and `explorer`, and the custom
ones of the turn request. A built-in keeps its prompt and tools; only its model and MCP
settings can be changed, by a spec of the same name."""

from __future__ import annotations

from orchestrator.contracts.agent import SubagentSpec

READ_ONLY = ["Read", "Glob", "Grep"]
GENERAL_PROMPT = (
    "You are a subagent of a coding agent. Do the task you are given completely and on your "
    "own, using your tools, then answer with a short report of what you found or did: the "
    "parent agent sees only that final answer."
)
EXPLORER_PROMPT = (
    "You are a read-only search subagent of a coding agent. Find what you are asked for in the "
    "code base with Glob, Grep and Read (you cannot change anything), then answer with the "
    "facts, file paths and line numbers the parent agent needs: it sees only that answer."
)
BUILTIN = {
    "general": SubagentSpec(
        name="general",
        description="General-purpose agent with the full toolset for a self-contained task.",
        prompt=GENERAL_PROMPT,
    ),
    "explorer": SubagentSpec(
        name="explorer",
        description="Read-only search of the code base (Read, Glob, Grep); reports findings.",
        prompt=EXPLORER_PROMPT,
        tools=READ_ONLY,
    ),
}
FIXED = ("name", "description", "prompt", "tools", "enabled")


def available(custom: list[SubagentSpec]) -> dict[str, SubagentSpec]:
    """Name → spec of every subagent this turn may start (disabled custom ones left out)."""
    found = dict(BUILTIN)
    for spec in custom:
        if spec.name in BUILTIN:
            changes = spec.model_dump(exclude=set(FIXED))
            found[spec.name] = BUILTIN[spec.name].model_copy(update=changes)
        elif spec.enabled:
            found[spec.name] = spec
    return found


def model_of(spec: SubagentSpec, parent_model: str) -> str:
    return parent_model if spec.model in (None, "", "inherit") else str(spec.model)

"""Task: hand a self-contained job to a subagent, which runs a fresh conversation of its own
(its prompt, tools and model) and returns only its final answer."""

from __future__ import annotations

from typing import Any

from orchestrator.contracts.agent import SubagentSpec

from ..models import ToolSpec
from .base import ToolContext, ToolError, ToolResult, schema, text_arg


class TaskTool:
    def __init__(self, subagents: dict[str, SubagentSpec]) -> None:
        self.subagents = subagents
        listing = "\n".join(f"- {s.name}: {s.description}" for s in subagents.values())
        self.spec = ToolSpec(
            "Task",
            "Start a subagent on a self-contained task; it works on its own and returns its "
            f"final answer. Subagents:\n{listing}",
            schema(
                {
                    "description": {"type": "string", "description": "The task in 3-5 words."},
                    "prompt": {"type": "string", "description": "Everything it needs to know."},
                    "subagent_type": {"type": "string", "enum": sorted(subagents)},
                },
                ["prompt", "subagent_type"],
            ),
        )

    async def run(self, args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        kind = text_arg(args, "subagent_type")
        prompt = text_arg(args, "prompt")
        if kind not in self.subagents:
            raise ToolError(f"There is no subagent {kind!r}; use one of {sorted(self.subagents)}.")
        if ctx.run_subagent is None:
            raise ToolError("Subagents cannot start subagents of their own.")
        return ToolResult(await ctx.run_subagent(kind, prompt, ctx.tool_id))

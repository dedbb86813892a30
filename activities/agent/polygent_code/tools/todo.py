"""TodoWrite: the agent's plan, replaced as a whole on every call and shown as a todo event."""

from __future__ import annotations

from typing import Any

from orchestrator.contracts.agent import AgentEvent, TodoItem

from ..models import ToolSpec
from .base import ToolContext, ToolError, ToolResult, schema

STATUSES = ("pending", "in_progress", "completed")


class TodoWriteTool:
    spec = ToolSpec(
        "TodoWrite",
        "Replace your task list (use it for work with several steps; keep exactly one item "
        "in_progress while working).",
        schema(
            {
                "todos": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "content": {"type": "string"},
                            "status": {"type": "string", "enum": list(STATUSES)},
                            "activeForm": {"type": "string"},
                        },
                        "required": ["content", "status"],
                    },
                }
            },
            ["todos"],
        ),
    )

    async def run(self, args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        items = args.get("todos")
        if not isinstance(items, list):
            raise ToolError("The parameter 'todos' must be a list.")
        todos: list[TodoItem] = []
        for i, item in enumerate(items):
            if not isinstance(item, dict) or not isinstance(item.get("content"), str):
                raise ToolError(f"Todo {i + 1} needs a 'content' string.")
            status = item.get("status", "pending")
            if status not in STATUSES:
                raise ToolError(f"Todo {i + 1} has the unknown status {status!r}.")
            todos.append(TodoItem(id=str(i + 1), content=item["content"], status=status))
        ctx.todos[:] = todos
        event = AgentEvent(kind="todo", tool_id=ctx.tool_id, todos=todos, subtype="replace")
        done = sum(t.status == "completed" for t in todos)
        return ToolResult(f"The task list has {len(todos)} items ({done} done).", events=[event])

"""Claude Code's stream-json output → `AgentEvent`s (see `claude_code` for the traps)."""

from __future__ import annotations

import json
from typing import Any

from orchestrator.contracts.agent import AgentEvent, TodoItem, Usage

from .base import parse_json_object, raw_event

TODO_TOOLS = frozenset({"TodoWrite", "TaskCreate", "TaskUpdate", "TaskList"})


def _usage(data: Any) -> Usage | None:
    if not isinstance(data, dict):
        return None
    return Usage(
        input=int(data.get("input_tokens") or 0),
        output=int(data.get("output_tokens") or 0),
        cache_read=int(data.get("cache_read_input_tokens") or 0),
        cache_write=int(data.get("cache_creation_input_tokens") or 0),
    )


def _text_of(content: Any) -> str:
    """A tool result's content: a string, or a list of blocks of which the text is kept."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [b.get("text", "") for b in content if isinstance(b, dict) and "text" in b]
        return "\n".join(parts)
    return "" if content is None else json.dumps(content)


class ClaudeStreamParser:
    """Stateful per turn: dedupes snapshot usage by message id, maps tool ids to tool names."""

    def __init__(self) -> None:
        self._usage_seen: set[str] = set()
        self._tools: dict[str, str] = {}

    def parse(self, line: str) -> list[AgentEvent]:
        if not line.strip():
            return []
        obj = parse_json_object(line)
        if obj is None:
            return [raw_event(line)]
        try:
            return self._route(obj, line)
        except Exception:  # a shape we do not know must never end the turn
            return [raw_event(line)]

    def _route(self, obj: dict[str, Any], line: str) -> list[AgentEvent]:
        kind = obj.get("type")
        if kind == "assistant":
            return self._assistant(obj)
        if kind == "user":
            return self._user(obj, line)
        if kind == "result":
            return [self._result(obj)]
        if kind == "stream_event":  # token deltas (--include-partial-messages): not used
            return []
        if kind == "system" and obj.get("subtype") == "init":
            data = {k: obj.get(k) for k in ("model", "cwd", "tools", "mcp_servers")}
            data["version"] = obj.get("claude_code_version")
            return [
                AgentEvent(
                    kind="system", subtype="init", session_id=obj.get("session_id"), data=data
                )
            ]
        subtype = obj.get("subtype") if kind == "system" else kind
        return [AgentEvent(kind="system", subtype=str(subtype), raw=line)]

    def _assistant(self, obj: dict[str, Any]) -> list[AgentEvent]:
        msg = obj["message"]
        mid = msg.get("id")
        failed = msg.get("model") == "<synthetic>" or bool(obj.get("error"))
        events: list[AgentEvent] = []
        usage = _usage(msg.get("usage"))
        if usage is not None and mid and mid not in self._usage_seen and not failed:
            self._usage_seen.add(mid)
            events.append(AgentEvent(kind="usage", message_id=mid, usage=usage, subtype="snapshot"))
        for block in msg.get("content") or []:
            btype = block.get("type")
            if btype == "text":
                kind = "error" if failed else "text"
                events.append(AgentEvent(kind=kind, message_id=mid, text=block.get("text", "")))
            elif btype == "thinking":
                events.append(
                    AgentEvent(kind="thinking", message_id=mid, text=block.get("thinking", ""))
                )
            elif btype == "tool_use":
                events.extend(self._tool_use(mid, block))
            else:
                events.append(AgentEvent(kind="system", subtype=str(btype), message_id=mid))
        return events

    def _tool_use(self, mid: str | None, block: dict[str, Any]) -> list[AgentEvent]:
        name, tid, tinput = block.get("name", ""), block.get("id"), block.get("input") or {}
        if tid:
            self._tools[tid] = name
        call = AgentEvent(
            kind="tool_call", message_id=mid, tool_name=name, tool_id=tid, tool_input=tinput
        )
        if name not in TODO_TOOLS:
            return [call]
        todos: list[TodoItem] = []
        if name == "TodoWrite":
            todos = [
                TodoItem(content=str(t.get("content", "")), status=str(t.get("status", "pending")))
                for t in tinput.get("todos") or []
            ]
        elif name == "TaskCreate":
            todos = [TodoItem(content=str(tinput.get("subject", "")))]
        elif name == "TaskUpdate":
            todos = [
                TodoItem(
                    id=str(tinput.get("taskId", "")),
                    content=str(tinput.get("subject", "")),
                    status=str(tinput.get("status", "pending")),
                )
            ]
        sub = {"TodoWrite": "replace", "TaskCreate": "create", "TaskUpdate": "update"}
        todo = AgentEvent(
            kind="todo", message_id=mid, tool_id=tid, todos=todos, subtype=sub.get(name, "list")
        )
        return [call, todo]

    def _user(self, obj: dict[str, Any], line: str) -> list[AgentEvent]:
        content = (obj.get("message") or {}).get("content")
        blocks = (
            [b for b in content or [] if isinstance(b, dict)] if isinstance(content, list) else []
        )
        events = [
            AgentEvent(
                kind="tool_result",
                tool_id=b.get("tool_use_id"),
                tool_name=self._tools.get(str(b.get("tool_use_id"))),
                content=_text_of(b.get("content")),
                is_error=bool(b.get("is_error")),
            )
            for b in blocks
            if b.get("type") == "tool_result"
        ]
        return events or [AgentEvent(kind="system", subtype="user", raw=line)]

    def _result(self, obj: dict[str, Any]) -> AgentEvent:
        keys = ("num_turns", "api_error_status", "errors", "permission_denials", "terminal_reason")
        cost = obj.get("total_cost_usd")
        return AgentEvent(
            kind="result",
            subtype=obj.get("subtype"),
            is_error=bool(obj.get("is_error")),
            text=obj.get("result") if isinstance(obj.get("result"), str) else None,
            session_id=obj.get("session_id"),
            usage=_usage(obj.get("usage")),
            cost_usd=float(cost) if isinstance(cost, int | float) else None,
            data={k: obj.get(k) for k in keys if obj.get(k) is not None},
        )

"""Gemini CLI's stream-json output → `AgentEvent`s (see `gemini_cli` for the traps).

Lines: `init {session_id, model}`, `message {role, content, delta}`, `tool_use {tool_name,
tool_id, parameters}`, `tool_result {tool_id, status, output?, error?}`, `error {severity,
message}` and one `result {status, error?, stats}`. Assistant text arrives as deltas (one per
streamed chunk); consecutive deltas are joined into one `text` event, emitted when the next
other line arrives. The user's prompt is echoed back and dropped (the session already has it).
Gemini reports tokens only in the result's `stats` (per run, no per-message usage), so the
result also yields one `usage` event: the message the cost audit records for the run.
"""

from __future__ import annotations

import json
from typing import Any

from orchestrator.contracts.agent import AgentEvent, TodoItem, Usage

from .base import parse_json_object, raw_event

TODO_TOOLS = frozenset({"write_todos", "todo_write"})


def stats_usage(stats: Any) -> Usage | None:
    """`stats.input_tokens` counts cached tokens too; ours keeps them apart (priced apart)."""
    if not isinstance(stats, dict):
        return None
    prompt = int(stats.get("input_tokens") or 0)
    cached = int(stats.get("cached") or 0)
    fresh = stats.get("input")
    return Usage(
        input=int(fresh) if isinstance(fresh, int) else max(0, prompt - cached),
        output=int(stats.get("output_tokens") or 0),
        cache_read=cached,
    )


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value)


class GeminiStreamParser:
    """Stateful per turn: joins text deltas, maps tool ids to tool names."""

    def __init__(self) -> None:
        self._tools: dict[str, str] = {}
        self._pending: list[str] = []
        self._messages = 0
        self._session: str | None = None

    def parse(self, line: str) -> list[AgentEvent]:
        if not line.strip():
            return []
        obj = parse_json_object(line)
        if obj is None:
            return [*self._flush(), raw_event(line)]
        if obj.get("type") == "message" and obj.get("role") == "assistant":
            self._pending.append(_text(obj.get("content")))
            if not obj.get("delta", True):  # a whole message: nothing more will join it
                return self._flush()
            return []
        try:
            events = self._route(obj, line)
        except Exception:  # a shape we do not know must never end the turn
            events = [raw_event(line)]
        return [*self._flush(), *events]

    def _flush(self) -> list[AgentEvent]:
        if not self._pending:
            return []
        text = "".join(self._pending)
        self._pending.clear()
        self._messages += 1
        mid = f"{self._session or 'gemini'}:{self._messages}"
        return [AgentEvent(kind="text", message_id=mid, text=text)]

    def _route(self, obj: dict[str, Any], line: str) -> list[AgentEvent]:
        kind = obj.get("type")
        if kind == "init":
            self._session = obj.get("session_id")
            data = {"model": obj.get("model")}
            return [AgentEvent(kind="system", subtype="init", session_id=self._session, data=data)]
        if kind == "message":  # the prompt, echoed back
            return []
        if kind == "tool_use":
            return self._tool_use(obj)
        if kind == "tool_result":
            tid = obj.get("tool_id")
            error = obj.get("error") if isinstance(obj.get("error"), dict) else None
            failed = obj.get("status") != "success"
            content = _text(obj.get("output"))
            if failed and error:
                content = content or _text(error.get("message"))
            return [
                AgentEvent(
                    kind="tool_result", tool_id=tid, tool_name=self._tools.get(str(tid)),
                    content=content, is_error=failed,
                    data={"error_type": error.get("type")} if error else None,
                )
            ]  # fmt: skip
        if kind == "error":
            severity = str(obj.get("severity") or "error")
            text = _text(obj.get("message"))
            if severity == "error":
                return [AgentEvent(kind="error", text=text, subtype=severity)]
            return [AgentEvent(kind="system", subtype=severity, text=text)]
        if kind == "result":
            return self._result(obj)
        return [AgentEvent(kind="system", subtype=str(kind), raw=line)]

    def _tool_use(self, obj: dict[str, Any]) -> list[AgentEvent]:
        name, tid = str(obj.get("tool_name") or ""), obj.get("tool_id")
        raw = obj.get("parameters")
        params: dict[str, Any] = raw if isinstance(raw, dict) else {}
        if tid:
            self._tools[str(tid)] = name
        call = AgentEvent(kind="tool_call", tool_name=name, tool_id=tid, tool_input=params)
        if name not in TODO_TOOLS:
            return [call]
        todos = [
            TodoItem(
                content=str(t.get("description") or t.get("content") or ""),
                status=str(t.get("status") or "pending"),
                id=str(t["id"]) if t.get("id") is not None else None,
            )
            for t in params.get("todos") or []
            if isinstance(t, dict)
        ]
        return [call, AgentEvent(kind="todo", tool_id=tid, todos=todos, subtype="replace")]

    def _result(self, obj: dict[str, Any]) -> list[AgentEvent]:
        raw_stats, raw_error = obj.get("stats"), obj.get("error")
        stats: dict[str, Any] = raw_stats if isinstance(raw_stats, dict) else {}
        usage = stats_usage(stats)
        error: dict[str, Any] = raw_error if isinstance(raw_error, dict) else {}
        failed = obj.get("status") != "success"
        data: dict[str, Any] = {
            k: stats.get(k) for k in ("tool_calls", "duration_ms") if stats.get(k) is not None
        }
        models = stats.get("models")
        if isinstance(models, dict) and models:
            data["models"] = sorted(models)
        if error:
            data["error_type"] = error.get("type")
        events: list[AgentEvent] = []
        if usage is not None and (usage.input or usage.output or usage.cache_read):
            mid = f"{self._session or 'gemini'}:run:{obj.get('timestamp') or ''}"
            events.append(AgentEvent(kind="usage", message_id=mid, usage=usage, subtype="run"))
        events.append(
            AgentEvent(
                kind="result", subtype="error" if failed else "success", is_error=failed,
                text=_text(error.get("message")) if failed and error else None,
                session_id=self._session, usage=usage, data=data or None,
            )
        )  # fmt: skip
        return events

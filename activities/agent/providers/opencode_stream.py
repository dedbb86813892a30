"""OpenCode's and Kilo CLI's `run --format json` part events → `AgentEvent`s.

Every line is `{type, timestamp, sessionID, part}` (`error` lines carry `error` instead of
`part`). A `tool_use` line is written once the tool has finished, so it becomes a call and
its result together. `step_finish` carries the tokens and USD cost of one model call (the
cost is priced from the model's configured `cost`); there is no final summary line, so the
parser keeps running totals and puts them on every usage event: `finish` only sees the last
events of a turn. `retry` lines come from our retry-guard plugin (see `opencode_family`).
"""

from __future__ import annotations

import json
from typing import Any

from orchestrator.contracts.agent import AgentEvent, TodoItem, Usage

from .base import parse_json_object, raw_event

TODO_TOOL = "todowrite"
PART_TYPES = frozenset({"step_start", "text", "reasoning", "tool_use", "step_finish"})


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _tokens(data: Any) -> Usage:
    if not isinstance(data, dict):
        return Usage()
    cache = _dict(data.get("cache"))
    return Usage(
        input=int(data.get("input") or 0),
        output=int(data.get("output") or 0),
        cache_read=int(cache.get("read") or 0),
        cache_write=int(cache.get("write") or 0),
    )


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value)


def _header(headers: Any, name: str) -> str | None:
    if not isinstance(headers, dict):
        return None
    for key, value in headers.items():
        if str(key).lower() == name:
            return str(value)
    return None


def retry_after(headers: Any) -> float | None:
    """Seconds from `retry-after-ms` / `retry-after` (delta seconds only), or None."""
    for name, scale in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = _header(headers, name)
        if value is None:
            continue
        try:
            seconds = float(value) / scale
        except ValueError:
            continue
        if seconds >= 0:
            return seconds
    return None


class OpenCodeStreamParser:
    """Stateful per turn: sums tokens and cost over the steps of the run."""

    def __init__(self) -> None:
        self.total = Usage()
        self.cost = 0.0
        self.steps = 0
        self.reasoning = 0

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
        session = obj.get("sessionID") if isinstance(obj.get("sessionID"), str) else None
        if kind in PART_TYPES and not isinstance(obj.get("part"), dict):
            return [raw_event(line)]
        part = _dict(obj.get("part"))
        mid = part.get("messageID")
        if kind == "text":
            return [AgentEvent(kind="text", text=_text(part.get("text")), message_id=mid,
                               session_id=session)]  # fmt: skip
        if kind == "reasoning":
            return [AgentEvent(kind="thinking", text=_text(part.get("text")), message_id=mid,
                               session_id=session)]  # fmt: skip
        if kind == "tool_use":
            return self._tool(part, session)
        if kind == "step_finish":
            return [self._step(part, session)]
        if kind == "error":
            return [self._error(obj.get("error"), session)]
        if kind == "retry":
            return [self._retry(obj, session)]
        if kind == "step_start":
            return [AgentEvent(kind="system", subtype="step_start", message_id=mid,
                               session_id=session)]  # fmt: skip
        return [AgentEvent(kind="system", subtype=str(kind), session_id=session, raw=line)]

    def _tool(self, part: dict[str, Any], session: str | None) -> list[AgentEvent]:
        state = _dict(part.get("state"))
        name, tid, mid = str(part.get("tool") or ""), part.get("callID"), part.get("messageID")
        tool_input = _dict(state.get("input"))
        failed = state.get("status") == "error"
        output = state.get("error") if failed else state.get("output")
        events = [
            AgentEvent(kind="tool_call", message_id=mid, tool_name=name, tool_id=tid,
                       tool_input=tool_input, session_id=session),
            AgentEvent(kind="tool_result", message_id=mid, tool_name=name, tool_id=tid,
                       content=_text(output), is_error=failed, session_id=session),
        ]  # fmt: skip
        if name == TODO_TOOL and not failed:
            meta = _dict(state.get("metadata"))
            items = meta.get("todos") or tool_input.get("todos") or []
            todos = [
                TodoItem(
                    content=str(t.get("content", "")),
                    status=str(t.get("status", "pending")),
                    id=str(t["id"]) if t.get("id") is not None else None,
                )
                for t in items
                if isinstance(t, dict)
            ]
            events.append(AgentEvent(kind="todo", message_id=mid, tool_id=tid, todos=todos,
                                     subtype="replace", session_id=session))  # fmt: skip
        return events

    def _step(self, part: dict[str, Any], session: str | None) -> AgentEvent:
        usage = _tokens(part.get("tokens"))
        cost = part.get("cost")
        step_cost = float(cost) if isinstance(cost, int | float) else 0.0
        reasoning = _dict(part.get("tokens")).get("reasoning") or 0
        self.steps += 1
        self.cost += step_cost
        self.reasoning += int(reasoning)
        self.total = Usage(
            input=self.total.input + usage.input,
            output=self.total.output + usage.output,
            cache_read=self.total.cache_read + usage.cache_read,
            cache_write=self.total.cache_write + usage.cache_write,
        )
        data = {
            "reason": part.get("reason"),
            "reasoning_tokens": int(reasoning),
            "steps": self.steps,
            "total": self.total.model_dump(),
            "total_cost_usd": round(self.cost, 10),
        }
        return AgentEvent(
            kind="usage", subtype="step", message_id=part.get("messageID"), usage=usage,
            cost_usd=step_cost, session_id=session, data=data,
        )  # fmt: skip

    def _error(self, error: Any, session: str | None) -> AgentEvent:
        error = _dict(error)
        body = _dict(error.get("data"))
        name = str(error.get("name") or "Error")
        message = str(body.get("message") or name)
        status = body.get("statusCode")
        data: dict[str, Any] = {"name": name}
        if isinstance(status, int):
            data["status"] = status
            message = f"{name} {status}: {message}"
        if "isRetryable" in body:
            data["retryable"] = bool(body.get("isRetryable"))
        wait = retry_after(body.get("responseHeaders"))
        if wait is not None:
            data["retry_after_seconds"] = wait
        return AgentEvent(kind="error", text=message, session_id=session, data=data)

    def _retry(self, obj: dict[str, Any], session: str | None) -> AgentEvent:
        status = _dict(obj.get("status"))
        wait_ms = obj.get("wait_ms")
        data = {
            "attempt": status.get("attempt"),
            "wait_seconds": float(wait_ms) / 1000 if isinstance(wait_ms, int | float) else None,
            "stop": obj.get("stop"),
        }
        return AgentEvent(kind="system", subtype="retry", text=_text(status.get("message")),
                          session_id=session, data=data)  # fmt: skip

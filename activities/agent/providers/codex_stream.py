"""Codex's `exec --json` thread/item events → `AgentEvent`s (see `codex` for the traps).

Items arrive as `item.started` / `item.updated` / `item.completed {item:{id, type, ...}}`;
a tool item (command, file change, MCP call, web search, sub-agent call) becomes a
`tool_call` when it starts and a `tool_result` when it completes, keyed by the item id.
`turn.completed` carries the thread's cumulative usage: the parser subtracts the totals the
thread had before this run (read from the rollout by the adapter), so a resumed run reports
its own tokens only. While the run goes on, the parser reads the rollout's token counts after
each line and reports the run's usage so far as a snapshot under one message id (a budget
meter keeps the last snapshot per message), so a budget can stop Codex mid-run.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from orchestrator.contracts.agent import AgentEvent, TodoItem, Usage

from .base import parse_json_object, raw_event
from .codex_rollout import RolloutTail, raw_usage

TOOL_ITEMS = frozenset(
    {"command_execution", "file_change", "mcp_tool_call", "web_search", "collab_tool_call"}
)
_IN = re.compile(r"try again in\s+((?:\d+(?:\.\d+)?\s*(?:ms|h|m|s)\s*)+)", re.IGNORECASE)
_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|h|m|s)")
_AT = re.compile(
    r"try again at\s+(?:([A-Z][a-z]{2}) (\d{1,2})(?:st|nd|rd|th), (\d{4}) )?"
    r"(\d{1,2}):(\d{2}) ?([AP]M)",
    re.IGNORECASE,
)
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_MONTH_NAMES = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_MONTHS = {m: i for i, m in enumerate(_MONTH_NAMES, 1)}


def retry_after_seconds(message: str, now: datetime | None = None) -> float | None:
    """The wait a rate-limit or usage-limit message names, in seconds (None: it names none).

    Two forms reach Codex's output: the API's "Please try again in 1m30s" (kept verbatim in
    the message) and Codex's own usage-limit text "try again at 3:45 PM" / "at Nov 22nd, 2026
    3:45 PM" in the local time zone (minute resolution, so rounded up by a minute: never early).
    """
    found = _IN.search(message)
    if found:
        return sum(float(n) * _UNIT[u.lower()] for n, u in _PART.findall(found.group(1)))
    at = _AT.search(message)
    if at is None:
        return None
    local_now = (now or datetime.now()).astimezone()
    mon, day, year, hour, minute, half = at.groups()
    hour24 = int(hour) % 12 + (12 if half.upper() == "PM" else 0)
    try:
        date = local_now
        if mon:
            date = local_now.replace(year=int(year), month=_MONTHS[mon.lower()], day=int(day))
        when = date.replace(hour=hour24, minute=int(minute), second=0, microsecond=0)
    except (KeyError, ValueError):  # not a date after all
        return None
    if not mon and when < local_now - timedelta(minutes=1):
        when += timedelta(days=1)  # a time of day already past means tomorrow
    return max(0.0, (when - local_now).total_seconds() + 60.0)


def to_usage(counts: dict[str, int]) -> Usage:
    """OpenAI counts cached tokens inside `input_tokens`; ours keeps them apart (priced apart)."""
    read, write = counts["cached_input_tokens"], counts["cache_write_input_tokens"]
    return Usage(
        input=max(0, counts["input_tokens"] - read - write),
        output=counts["output_tokens"],
        cache_read=read,
        cache_write=write,
    )


def _mcp_text(result: Any) -> str:
    if not isinstance(result, dict):
        return "" if result is None else json.dumps(result)
    parts = [
        str(c.get("text", ""))
        for c in result.get("content") or []
        if isinstance(c, dict) and c.get("type") == "text"
    ]
    if parts:
        return "\n".join(parts)
    structured = result.get("structured_content")
    return json.dumps(structured) if structured is not None else ""


class CodexStreamParser:
    """Stateful per run: remembers started tool items, the last message and the thread.

    `baseline` is the thread's cumulative usage before this run (a resumed thread); `tail`
    reads the thread's rollout (None: no running usage, only the final count).
    """

    def __init__(
        self,
        baseline: dict[str, int] | None = None,
        tail: RolloutTail | None = None,
        now: Callable[[], datetime] = datetime.now,
    ) -> None:
        self._baseline = dict(baseline or {})
        self._tail = tail
        self._started: set[str] = set()
        self._last_text: str | None = None
        self._thread: str | None = None
        self._reported: dict[str, int] | None = None  # the run's usage last reported
        self._done = False
        self._now = now

    def parse(self, line: str) -> list[AgentEvent]:
        if not line.strip():
            return []
        obj = parse_json_object(line)
        if obj is None:
            return [raw_event(line), *self._poll()]
        try:
            events = self._route(obj, line)
        except Exception:  # a shape we do not know must never end the turn
            events = [raw_event(line)]
        return [*events, *self._poll()]

    def _own(self, total: dict[str, int]) -> dict[str, int]:
        return {k: max(0, v - self._baseline.get(k, 0)) for k, v in total.items()}

    def _usage_event(self, own: dict[str, int], subtype: str) -> AgentEvent:
        self._reported = own
        data = {"reasoning_tokens": own["reasoning_output_tokens"]}
        return AgentEvent(
            kind="usage",
            subtype=subtype,
            message_id=f"{self._thread}/usage",
            usage=to_usage(own),
            data=data,
        )

    def _poll(self) -> list[AgentEvent]:
        """The run's usage so far from the rollout, when it grew since the last report."""
        if self._tail is None or self._thread is None or self._done:
            return []
        try:
            total = self._tail.latest_total()
        except Exception:  # reading the rollout is best effort
            return []
        if total is None:
            return []
        own = self._own(total)
        if not any(own.values()) or own == self._reported:
            return []
        return [self._usage_event(own, "running")]

    def _route(self, obj: dict[str, Any], line: str) -> list[AgentEvent]:
        kind = obj.get("type")
        if kind == "thread.started":
            self._thread = str(obj["thread_id"])
            if self._tail is not None and self._tail.thread_id != self._thread:
                # Not the thread the adapter expected to resume: a fresh one from its start.
                self._tail = RolloutTail(self._tail.codex_home, self._thread)
                self._baseline = {}
            data = {"thread_id": self._thread, "resumed": bool(self._baseline)}
            return [AgentEvent(kind="system", subtype="init", session_id=self._thread, data=data)]
        if kind == "turn.started":
            return []
        if kind in ("item.started", "item.updated", "item.completed"):
            return self._item(str(kind).rsplit(".", 1)[1], obj["item"], line)
        if kind == "turn.completed":
            return self._completed(obj)
        if kind == "turn.failed":
            error = obj.get("error") or {}
            message = str(error.get("message") or "Codex reported a failed turn.")
            return [self._result(message)]
        if kind == "error":
            message = str(obj.get("message") or "")
            if message.startswith("Reconnecting..."):  # a retry notice, not the end of the turn
                return [AgentEvent(kind="system", subtype="retry", text=message)]
            return [AgentEvent(kind="error", text=message)]
        return [AgentEvent(kind="system", subtype=str(kind), raw=line)]

    def _item(self, phase: str, item: dict[str, Any], line: str) -> list[AgentEvent]:
        itype, iid = item.get("type"), str(item.get("id") or "")
        if itype == "todo_list":
            todos = [
                TodoItem(
                    content=str(t.get("text", "")),
                    status="completed" if t.get("completed") else "pending",
                )
                for t in item.get("items") or []
                if isinstance(t, dict)
            ]
            return [AgentEvent(kind="todo", tool_id=iid, todos=todos, subtype="replace")]
        if itype in TOOL_ITEMS:
            events: list[AgentEvent] = []
            if iid not in self._started:
                self._started.add(iid)
                events.append(self._tool_call(item))
            if phase == "completed":
                events.append(self._tool_result(item))
            return events
        if phase != "completed":
            return []
        if itype == "agent_message":
            self._last_text = str(item.get("text") or "")
            return [AgentEvent(kind="text", message_id=iid, text=self._last_text)]
        if itype == "reasoning":
            return [AgentEvent(kind="thinking", message_id=iid, text=str(item.get("text") or ""))]
        if itype == "error":  # non-fatal (config warnings, fallback model metadata)
            return [AgentEvent(kind="system", subtype="warning", text=str(item.get("message")))]
        return [AgentEvent(kind="system", subtype=f"item.{itype}", raw=line)]

    def _tool_call(self, item: dict[str, Any]) -> AgentEvent:
        itype, iid = item["type"], str(item.get("id") or "")
        name: str = itype
        tool_input: dict[str, Any]
        if itype == "command_execution":
            name, tool_input = "shell", {"command": item.get("command")}
        elif itype == "file_change":
            changes = [c for c in item.get("changes") or [] if isinstance(c, dict)]
            name = "apply_patch"
            tool_input = {"path": changes[0].get("path") if changes else None, "changes": changes}
        elif itype == "mcp_tool_call":
            name = f"mcp__{item.get('server')}__{item.get('tool')}"
            args = item.get("arguments")
            tool_input = args if isinstance(args, dict) else {"arguments": args}
        elif itype == "web_search":
            tool_input = {"query": item.get("query")}
        else:
            name = f"collab_{item.get('tool') or 'call'}"
            keys = ("prompt", "receiver_thread_ids", "model")
            tool_input = {k: item.get(k) for k in keys if item.get(k) is not None}
        return AgentEvent(kind="tool_call", tool_id=iid, tool_name=name, tool_input=tool_input)

    def _tool_result(self, item: dict[str, Any]) -> AgentEvent:
        itype, iid = item["type"], str(item.get("id") or "")
        status = item.get("status")
        failed = status in ("failed", "declined")
        data: dict[str, Any] = {"status": status}
        if itype == "command_execution":
            content = str(item.get("aggregated_output") or "")
            code = item.get("exit_code")
            data["exit_code"] = code
            failed = failed or (isinstance(code, int) and code != 0)
        elif itype == "file_change":
            changes = [c for c in item.get("changes") or [] if isinstance(c, dict)]
            content = "\n".join(f"{c.get('kind')} {c.get('path')}" for c in changes)
        elif itype == "mcp_tool_call":
            error = item.get("error")
            if isinstance(error, dict) and error.get("message"):
                failed, content = True, str(error["message"])
            else:
                content = _mcp_text(item.get("result"))
        elif itype == "web_search":
            content = json.dumps(item.get("action")) if item.get("action") else ""
        else:
            content = json.dumps(item.get("agents_states") or {})
        return AgentEvent(
            kind="tool_result",
            tool_id=iid,
            tool_name=self._tool_call(item).tool_name,
            content=content,
            is_error=failed,
            data=data,
        )

    def _completed(self, obj: dict[str, Any]) -> list[AgentEvent]:
        self._done = True
        total = raw_usage(obj.get("usage"))
        own = self._own(total)
        usage = to_usage(own)
        data = {"cumulative": total, "reasoning_tokens": own["reasoning_output_tokens"]}
        return [
            self._usage_event(own, "turn"),
            AgentEvent(
                kind="result",
                subtype="success",
                text=self._last_text,
                session_id=self._thread,
                usage=usage,
                data=data,
            ),
        ]

    def _result(self, message: str) -> AgentEvent:
        self._done = True
        data: dict[str, Any] = {}
        wait = retry_after_seconds(message, self._now())
        if wait is not None:
            data["retry_after_seconds"] = wait
        return AgentEvent(
            kind="result",
            subtype="error",
            is_error=True,
            text=message,
            session_id=self._thread,
            data=data,
        )

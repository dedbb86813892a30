"""The agent loop: ask the model, show what it says, run the tools it calls, repeat until it
answers without a tool call. One `AgentRun` per conversation (the turn's, or a subagent's).

The USD cap is native: every model message is priced as it arrives (tokens x the turn's price
table) against `budget_usd`, shared with subagents; once the spend reaches the budget the loop
stops before the next model call and does not run the tool calls of the message that crossed
it.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace

import httpx

from orchestrator.contracts.agent import AgentEvent, Usage
from orchestrator.pricing import ModelPrice, cost_of

from .backends import RetryPolicy, Route, Streamed, backend_for, with_retries
from .events import EmitFailed
from .models import ApiError, Message, ModelReply, Part
from .tools import Tool, ToolContext, ToolError, ToolResult

log = logging.getLogger(__name__)
MAX_RESULT_CHARS = 30_000
Emit = Callable[[list[AgentEvent]], Awaitable[None]]


class BudgetExceeded(Exception):
    """The turn's spend reached `budget_usd`."""


class StepLimit(Exception):
    """The loop made `max_steps` model calls without finishing."""


@dataclass
class Meter:
    """Tokens and USD of one turn, parent and subagents together, against the cap."""

    prices: Mapping[str, ModelPrice] | None
    budget: float | None
    usage: Usage = field(default_factory=Usage)
    cost: float | None = None  # None until a message could be priced
    unpriced: set[str] = field(default_factory=set)

    def add(self, model: str, usage: Usage) -> float | None:
        total = self.usage
        self.usage = Usage(
            input=total.input + usage.input,
            output=total.output + usage.output,
            cache_read=total.cache_read + usage.cache_read,
            cache_write=total.cache_write + usage.cache_write,
        )
        cost = cost_of(model, usage, self.prices)
        if cost is None:
            self.unpriced.add(model)
            return None
        self.cost = round((self.cost or 0.0) + cost, 8)
        return cost

    @property
    def exhausted(self) -> bool:
        return self.budget is not None and self.cost is not None and self.cost >= self.budget


@dataclass
class Runtime:
    """What the turn's conversations share."""

    client: httpx.AsyncClient
    policy: RetryPolicy
    meter: Meter
    max_steps: int = 200
    max_tokens: int | None = None


def _cap(text: str) -> str:
    if len(text) <= MAX_RESULT_CHARS:
        return text
    half = MAX_RESULT_CHARS // 2
    return f"{text[:half]}\n(… {len(text) - 2 * half} characters cut …)\n{text[-half:]}"


def part_event(message_id: str, part: Part) -> AgentEvent | None:
    if part.type == "text" and part.text:
        return AgentEvent(kind="text", message_id=message_id, text=part.text)
    if part.type == "thinking" and part.text:
        return AgentEvent(kind="thinking", message_id=message_id, text=part.text)
    if part.type == "tool_call":
        return AgentEvent(
            kind="tool_call", message_id=message_id, tool_name=part.name, tool_id=part.id,
            tool_input=part.input or {},
        )  # fmt: skip
    return None


class AgentRun:
    def __init__(
        self,
        *,
        model: str,
        route: Route,
        system: str,
        tools: dict[str, Tool],
        ctx: ToolContext,
        emit: Emit,
        runtime: Runtime,
    ) -> None:
        self.model = model
        self.backend = backend_for(route, runtime.max_tokens)
        self.system = system
        self.tools = tools
        self.ctx = ctx
        self.emit = emit
        self.runtime = runtime
        self.steps = 0

    async def run(self, messages: list[Message], save: Callable[[], None] = lambda: None) -> str:
        """The final answer; raises BudgetExceeded, StepLimit or ApiError."""
        meter = self.runtime.meter
        while True:
            if meter.exhausted:
                raise BudgetExceeded
            if self.steps >= self.runtime.max_steps:
                raise StepLimit
            self.steps += 1
            reply = await self._call(messages)
            messages.append(Message(role="assistant", parts=reply.parts))
            save()
            if meter.exhausted:
                raise BudgetExceeded  # the calls of this message are not run
            calls = [p for p in reply.parts if p.type == "tool_call"]
            if not calls:
                return "".join(p.text for p in reply.parts if p.type == "text")
            results = [await self._run_tool(call) for call in calls]
            messages.append(Message(role="user", parts=results))
            save()

    async def _retrying(self, exc: ApiError, wait: float) -> None:
        event = AgentEvent(
            kind="system", subtype="api_retry", text=f"{exc.message} Retrying in {wait:.1f} s.",
            data={"status": exc.status, "wait_seconds": wait},
        )  # fmt: skip
        await self.emit([event])

    async def _call(self, messages: list[Message]) -> ModelReply:
        specs = [t.spec for t in self.tools.values()]
        fallback = f"msg_{uuid.uuid4().hex[:24]}"
        reply: ModelReply | None = None

        def stream() -> AsyncIterator[Streamed]:
            return self.backend.stream(self.runtime.client, self.system, messages, specs)

        async for item in with_retries(stream, self.runtime.policy, self._retrying):
            if isinstance(item, ModelReply):
                reply = item
            elif (event := part_event(item[0] or fallback, item[1])) is not None:
                await self.emit([event])
        if reply is None:
            raise ApiError("The model API ended the stream without a message.")
        reply.message_id = reply.message_id or fallback
        cost = self.runtime.meter.add(self.model, reply.usage)
        usage = AgentEvent(
            kind="usage", message_id=reply.message_id, usage=reply.usage, cost_usd=cost,
            data={"model": self.model, "stop_reason": reply.stop_reason},
        )  # fmt: skip
        await self.emit([usage])
        return reply

    async def _run_tool(self, call: Part) -> Part:
        name = call.name or ""
        tool = self.tools.get(name)
        ctx = replace(self.ctx, tool_id=call.id or "")
        try:
            if tool is None:
                raise ToolError(f"There is no tool {name!r}; use one of {sorted(self.tools)}.")
            if call.input and "_unparsed" in call.input:
                raise ToolError("The tool input was not valid JSON.")
            result = await tool.run(call.input or {}, ctx)
        except ToolError as exc:
            result = ToolResult(str(exc), is_error=True)
        except (BudgetExceeded, ApiError, EmitFailed, asyncio.CancelledError):
            raise
        except Exception as exc:
            log.warning("The tool %s failed: %r", name, exc)
            result = ToolResult(f"The tool {name} failed: {exc}", is_error=True)
        content = _cap(result.content)
        done = AgentEvent(
            kind="tool_result", tool_id=call.id, tool_name=name, content=content,
            is_error=result.is_error,
        )  # fmt: skip
        await self.emit([*result.events, done])
        return Part(type="tool_result", id=call.id, name=name, text=content,
                    is_error=result.is_error)  # fmt: skip

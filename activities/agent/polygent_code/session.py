"""One Polygent Code turn: load the conversation, run the loop, save it, report the outcome.

Events leave through the same `on_events` callback and numbering as a CLI's (see `events`).
The turn ends with one `result` event that `PolygentCodeAdapter.finish` turns into the
`TurnResult`: success, error (API failures, with `retry_after_seconds` for a rate limit that
names its reset time) or budget_exceeded. Cancellation kills what the Bash tool started,
keeps what was saved and re-raises.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from orchestrator.contracts.agent import AgentEvent, SubagentSpec, TurnRequest
from orchestrator.pricing import DEFAULT_PRICES, ModelPrice

from .backends import RetryPolicy, RouteError, resolve
from .events import EmitFailed, EventSink
from .loop import AgentRun, BudgetExceeded, Emit, Meter, Runtime, StepLimit
from .models import ApiError, Message, Part
from .prompts import main_prompt, subagent_prompt
from .store import Conversation, ConversationStore, TurnState
from .subagents import available, model_of
from .tools import (
    SUBAGENT_DEFAULT,
    BashTool,
    Tool,
    ToolContext,
    ToolError,
    allowed,
    build_tools,
)
from .tools.mcp import McpHub, McpServer, McpTool

if TYPE_CHECKING:  # the runner imports the adapter registry, which imports us
    from activities.agent.runner import Heartbeat, OnEvents, RunOutcome

log = logging.getLogger(__name__)
OWN_MCP = "polygent"


@dataclass
class TurnSetup:
    """What `prepare` worked out for the turn, carried to `run_in_process` (never serialized)."""

    request: TurnRequest
    model: str
    env: dict[str, str] = field(repr=False)  # the turn's whole environment (credentials too)
    tool_env: dict[str, str] = field(repr=False)  # what commands get
    home: Path
    mcp_token: str | None = field(default=None, repr=False)


def _prices(request: TurnRequest, model: str) -> dict[str, ModelPrice]:
    """The turn's price table; the session model's own `price`, when given, wins."""
    prices = dict(DEFAULT_PRICES if request.prices is None else request.prices)
    if request.price is not None:
        prices[model] = request.price
    return prices


def _number(env: Mapping[str, str], name: str, default: int | None) -> int | None:
    """A positive whole number from the environment (a turn setting), else `default`."""
    try:
        value = int(env.get(name, ""))
    except ValueError:
        return default
    return value if value > 0 else default


def _tagged(emit: Emit, tag: dict[str, Any]) -> Emit:
    async def send(events: list[AgentEvent]) -> None:
        await emit([e.model_copy(update={"data": {**(e.data or {}), **tag}}) for e in events])

    return send


class Turn:
    def __init__(self, setup: TurnSetup, cwd: Path, sink: EventSink, runtime: Runtime) -> None:
        self.setup = setup
        self.request = setup.request
        self.cwd = cwd
        self.sink = sink
        self.runtime = runtime
        self.bash = BashTool()
        self.hub = McpHub()
        self.own_mcp: list[McpTool] = []
        self.subagents = available(self.request.subagents)
        self.ctx = ToolContext(worktree=cwd, env=setup.tool_env, run_subagent=self.run_subagent)

    async def tools(self) -> dict[str, Tool]:
        allow = self.request.allowed_tools
        subagents = self.subagents if allowed("Task", allow) else None
        tools = build_tools(allow, self.bash, subagents)
        if self.request.mcp is not None:
            server = McpServer(OWN_MCP, self.request.mcp.url, self.setup.mcp_token)
            self.own_mcp = [
                t for t in await self.hub.connect(server) if allowed(t.spec.name, allow)
            ]
            tools.update((t.spec.name, t) for t in self.own_mcp)
        return tools

    async def _subagent_tools(self, spec: SubagentSpec, hub: McpHub) -> dict[str, Tool]:
        names = [n for n in (spec.tools or SUBAGENT_DEFAULT) if n != "Task"]
        parent = self.request.allowed_tools
        tools = build_tools([n for n in names if allowed(n, parent)], self.bash)
        for tool in self.own_mcp:  # `mcp_tools` names our server's tools; empty: as `tools` says
            chosen = spec.mcp_tools and tool.remote in spec.mcp_tools
            if chosen or (not spec.mcp_tools and allowed(tool.spec.name, spec.tools)):
                tools[tool.spec.name] = tool
        for extra in spec.mcp_servers:
            token = self.setup.env.get(extra.bearer_token_env) if extra.bearer_token_env else None
            for tool in await hub.connect(McpServer(extra.name, extra.url, token)):
                tools[tool.spec.name] = tool
        return tools

    async def run_subagent(self, kind: str, prompt: str, tool_id: str) -> str:
        spec = self.subagents[kind]
        model = model_of(spec, self.setup.model)
        try:
            route = resolve(model, self.setup.env)
        except RouteError as exc:
            raise ToolError(f"The subagent {kind} cannot run: {exc}") from None
        emit = _tagged(self.sink.emit, {"parent_tool_id": tool_id, "subagent": kind})
        hub = McpHub()
        try:
            tools = await self._subagent_tools(spec, hub)
            for problem in hub.problems:
                await emit([AgentEvent(kind="system", subtype="mcp_error", text=problem)])
            await emit([AgentEvent(kind="system", subtype="subagent_start", text=prompt,
                                   data={"model": model, "tools": sorted(tools)})])  # fmt: skip
            run = AgentRun(
                model=model, route=route, system=subagent_prompt(spec.prompt, self.cwd),
                tools=tools, ctx=replace(self.ctx, run_subagent=None, todos=[]), emit=emit,
                runtime=self.runtime,
            )  # fmt: skip
            messages = [Message(role="user", parts=[Part(type="text", text=prompt)])]
            try:
                answer = await run.run(messages)
            except ApiError as exc:
                raise ToolError(f"The subagent {kind} stopped: {exc.message}") from None
            except StepLimit:
                raise ToolError(f"The subagent {kind} took too many steps.") from None
        finally:
            await hub.aclose()
        return answer or "(the subagent gave no answer)"


def _start(store: ConversationStore, request: TurnRequest) -> tuple[Conversation, bool]:
    """The conversation, and whether this attempt continues an unfinished turn of it."""
    convo = store.load(request.resume_session_id) or store.new()
    key = str(request.turn)
    state = convo.turns.get(key)
    if request.attempt > 1 and state is not None:
        if not state.done:
            convo.close_pending("the agent was interrupted while it ran")
        return convo, True
    convo.close_pending("the previous turn stopped before it ran")
    convo.turns[key] = TurnState(start=convo.add_prompt(request.prompt))
    return convo, False


async def run_turn(
    setup: TurnSetup,
    cwd: Path,
    on_events: OnEvents,
    *,
    turn: int = 0,
    attempt: int = 0,
    start_seq: int = 0,
    heartbeat: Heartbeat | None = None,
    heartbeat_interval: float = 1.0,
    secrets: Iterable[str] = (),
) -> RunOutcome:
    from activities.agent.runner import RunOutcome  # see TYPE_CHECKING above

    request = setup.request.model_copy(update={"turn": turn, "attempt": attempt})
    setup = replace(setup, request=request)
    env = setup.env
    store = ConversationStore(setup.home)
    convo, continuing = _start(store, request)
    state = convo.turns[str(request.turn)]
    store.save(convo)
    all_secrets = [*secrets, *([setup.mcp_token] if setup.mcp_token else [])]
    sink = EventSink(
        on_events, turn=turn, attempt=attempt, start_seq=start_seq, heartbeat=heartbeat,
        heartbeat_interval=heartbeat_interval, secrets=all_secrets,
    )  # fmt: skip
    meter = Meter(_prices(request, setup.model), request.budget_usd)
    timeout = httpx.Timeout(
        60.0, read=float(_number(env, "POLYGENT_CODE_READ_TIMEOUT", 600) or 600)
    )
    async with sink, httpx.AsyncClient(timeout=timeout) as client:
        runtime = Runtime(
            client=client, policy=RetryPolicy.from_env(env), meter=meter,
            max_steps=_number(env, "POLYGENT_CODE_MAX_STEPS", 200) or 200,
            max_tokens=_number(env, "POLYGENT_CODE_MAX_TOKENS", None),
        )  # fmt: skip
        session = Turn(setup, cwd.resolve(), sink, runtime)
        try:
            result = await _drive(session, convo, store, continuing)
            state.done, state.outcome = True, (result.data or {}).get("outcome")
            state.final_text = result.text if not result.is_error else None
            store.save(convo)
            await sink.emit([result])
        except EmitFailed as exc:
            raise exc.error from None  # as run_cli would: the callback's own exception
        finally:
            session.bash.kill_leftovers()
            await session.hub.aclose()
    ok = not result.is_error
    return RunOutcome(exit_code=0 if ok else 1, stderr_tail="", last_seq=sink.seq,
                      events=list(sink.tail))  # fmt: skip


async def _drive(
    session: Turn, convo: Conversation, store: ConversationStore, continuing: bool
) -> AgentEvent:
    """Run the loop to its end; the `result` event that describes it."""
    setup, sink, meter = session.setup, session.sink, session.runtime.meter
    state = convo.turns[str(setup.request.turn)]
    data: dict[str, Any] = {"model": setup.model}
    try:
        route = resolve(setup.model, setup.env)
    except RouteError as exc:  # `check` refuses this before a turn; kept for direct callers
        return _result(convo, meter, "error", "error_config", str(exc), data)
    tools = await session.tools()
    request = setup.request
    init = AgentEvent(
        kind="system", subtype="init", session_id=convo.id,
        data={"model": setup.model, "backend": route.label, "cwd": str(session.cwd),
              "tools": sorted(tools), "mcp_servers": [OWN_MCP] if request.mcp else [],
              "subagents": sorted(session.subagents),
              "resumed": request.resume_session_id == convo.id},
    )  # fmt: skip
    await sink.emit([init])
    if request.resume_session_id and request.resume_session_id != convo.id:
        text = (f"The conversation {request.resume_session_id} is not on this host; "
                "a new one was started.")  # fmt: skip
        await sink.emit([AgentEvent(kind="system", subtype="resume_unavailable", text=text)])
    for problem in session.hub.problems:
        await sink.emit([AgentEvent(kind="system", subtype="mcp_error", text=problem)])
    run = AgentRun(
        model=setup.model, route=route, tools=tools, ctx=session.ctx, emit=sink.emit,
        system=main_prompt(session.cwd, request.system_prompt_append), runtime=session.runtime,
    )  # fmt: skip
    outcome, subtype, text = "success", "success", ""
    try:
        if continuing and state.done:
            text, outcome = state.final_text or "", state.outcome or "success"
            subtype = "success" if outcome == "success" else "error_replayed"
        else:
            text = await run.run(convo.messages, lambda: store.save(convo))
    except BudgetExceeded:
        outcome, subtype = "budget_exceeded", "error_max_budget_usd"
        text = (f"The turn stopped: it cost ${meter.cost or 0:.4f}, which reached its "
                f"budget of ${meter.budget:g}.")  # fmt: skip
    except StepLimit:
        outcome, subtype = "error", "error_max_turns"
        text = f"The turn stopped after {run.steps} model calls without finishing."
    except ApiError as exc:
        outcome, subtype, text = "error", "error_api", exc.message
        data.update(api_error_status=exc.status, retry_after_seconds=exc.retry_after)
        await sink.emit([AgentEvent(kind="error", text=exc.message, data=dict(data))])
    data["num_turns"] = run.steps
    return _result(convo, meter, outcome, subtype, text, data)


def _result(
    convo: Conversation, meter: Meter, outcome: str, subtype: str, text: str, data: dict[str, Any]
) -> AgentEvent:
    if meter.unpriced:
        data["unpriced_models"] = sorted(meter.unpriced)
    data["outcome"] = outcome
    return AgentEvent(
        kind="result", subtype=subtype, is_error=outcome != "success", text=text,
        usage=meter.usage, cost_usd=meter.cost, session_id=convo.id, data=data,
    )  # fmt: skip

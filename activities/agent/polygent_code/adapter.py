"""Polygent Code as a provider adapter: the same check / prepare / finish as the CLIs, but
`run_in_process` instead of a spawned command (`agent.run_turn` calls it when present).

`prepare` spawns nothing: it returns a `Launch` with no argv whose `env` is what the Bash tool
gets (an allowlist, never the model credentials), carrying the turn's setup for
`run_in_process`. Credentials come from the turn's environment (host variables, workspace
secrets); a missing one, or a model no backend serves, is refused in `check`.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from activities.agent.providers.base import Launch, ProviderCheckError, raw_event
from orchestrator.contracts.agent import AgentEvent, TurnRequest, TurnResult, Usage

from .backends import RouteError, resolve
from .session import TurnSetup, run_turn

if TYPE_CHECKING:  # the runner imports the adapter registry, which imports us
    from activities.agent.runner import Heartbeat, OnEvents, RunOutcome

DEFAULT_MODEL = "claude-sonnet-4-5"
CREDENTIAL_VARS = (
    "ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "OPENAI_API_KEY", "GEMINI_API_KEY",
    "GOOGLE_API_KEY", "OPENROUTER_API_KEY", "ZEN_API_KEY", "KILO_API_KEY",
)  # fmt: skip
PASSTHROUGH_VARS = (
    "PATH", "LANG", "LC_ALL", "TZ", "TMPDIR", "HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY",
    "https_proxy", "http_proxy", "no_proxy", "SSL_CERT_FILE", "SSL_CERT_DIR",
    "NODE_EXTRA_CA_CERTS", "REQUESTS_CA_BUNDLE",
)  # fmt: skip
COMMAND_ENV = {"GIT_TERMINAL_PROMPT": "0", "PAGER": "cat", "GIT_PAGER": "cat", "TERM": "dumb"}
OUTCOMES = frozenset({"success", "error", "budget_exceeded", "canceled"})


@dataclass(frozen=True)
class InProcessLaunch(Launch):
    setup: TurnSetup | None = None


class _NoStdout:
    """Polygent Code writes no stdout; a line, should one ever come, is kept as raw."""

    def parse(self, line: str) -> list[AgentEvent]:
        return [raw_event(line)] if line.strip() else []


class PolygentCodeAdapter:
    name = "polygent-code"

    def check(
        self, request: TurnRequest, env: Mapping[str, str], models: Collection[str] | None = None
    ) -> None:
        model = request.model or DEFAULT_MODEL
        if models is not None and model not in models:
            raise ProviderCheckError(f"Polygent Code does not know the model {model!r}.")
        try:
            resolve(model, env)
        except RouteError as exc:
            raise ProviderCheckError(str(exc)) from None

    def prepare(
        self,
        request: TurnRequest,
        home: Path,
        env: Mapping[str, str],
        mcp_token: str | None = None,
    ) -> InProcessLaunch:
        tool_env = {k: env[k] for k in PASSTHROUGH_VARS if env.get(k)}
        tool_env.update(COMMAND_ENV, HOME=str(home))
        tool_env.setdefault("PATH", os.defpath)
        home.mkdir(parents=True, exist_ok=True)
        setup = TurnSetup(
            request=request, model=request.model or DEFAULT_MODEL, env=dict(env),
            tool_env=tool_env, home=home, mcp_token=mcp_token,
        )  # fmt: skip
        secrets = [env[v] for v in CREDENTIAL_VARS if env.get(v)]
        secrets += [t for t in [mcp_token] if t]
        for spec in request.subagents:  # subagents' MCP tokens come from the environment
            names = [s.bearer_token_env for s in spec.mcp_servers if s.bearer_token_env]
            secrets += [env[n] for n in names if env.get(n)]
        return InProcessLaunch(argv=[], env=tool_env, secrets=secrets, setup=setup)

    def parser(self) -> _NoStdout:
        return _NoStdout()

    async def run_in_process(
        self,
        launch: Launch,
        cwd: Path | str,
        on_events: OnEvents,
        *,
        turn: int = 0,
        attempt: int = 0,
        start_seq: int = 0,
        heartbeat: Heartbeat | None = None,
        heartbeat_interval: float = 1.0,
        secrets: Iterable[str] = (),
    ) -> RunOutcome:
        """The turn, run in this process; the same contract as `run_cli`."""
        if not isinstance(launch, InProcessLaunch) or launch.setup is None:
            raise TypeError("run_in_process needs the launch that prepare() returned")
        # `launch.env` is the setup's tool_env: the tag turn.py adds after prepare() reaches
        # every command the agent runs.
        return await run_turn(
            launch.setup, Path(cwd), on_events, turn=turn, attempt=attempt, start_seq=start_seq,
            heartbeat=heartbeat, heartbeat_interval=heartbeat_interval,
            secrets=[*launch.secrets, *secrets],
        )  # fmt: skip

    def finish(
        self, exit_code: int, events: Sequence[AgentEvent], stderr_tail: str = ""
    ) -> TurnResult:
        result = next((e for e in reversed(events) if e.kind == "result"), None)
        if result is None:
            error = next((e.text for e in reversed(events) if e.kind == "error" and e.text), None)
            return TurnResult(
                ok=False, outcome="error", exit_code=exit_code,
                error=error or "Polygent Code ended without a result.",
            )  # fmt: skip
        data = result.data or {}
        outcome = data.get("outcome")
        if outcome not in OUTCOMES:
            outcome = "error" if result.is_error else "success"
        ok = outcome == "success"
        retry = data.get("retry_after_seconds")
        turns = data.get("num_turns")
        model = data.get("model")
        return TurnResult(
            ok=ok, outcome=outcome, error=None if ok else result.text,
            provider_session_id=result.session_id, usage=result.usage or Usage(),
            cost_usd=result.cost_usd, num_turns=turns if isinstance(turns, int) else None,
            exit_code=exit_code, final_text=result.text if ok else None,
            model=model if isinstance(model, str) else None,
            retry_after_seconds=float(retry) if isinstance(retry, int | float) else None,
        )  # fmt: skip

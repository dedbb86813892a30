"""Codex (`@openai/codex`): headless `codex exec --json` runs.

Command: `codex exec --json --disable plugins --disable unbounded_connection_retries
--skip-git-repo-check [-m MODEL] [resume -- THREAD] -- PROMPT` with stdin closed. Everything
else lives in `$CODEX_HOME/config.toml`, rewritten each turn under the session's isolated HOME:
a custom model provider (the only way 0.169 honours a base URL: it ignores OPENAI_BASE_URL,
so we read that ourselves) with the API key taken from the environment by name, the sandbox
and approval policy (`exec resume` takes no `-s`), the appended system prompt as
`developer_instructions`, the `update_plan` tool (todos), analytics off, and our MCP server
with its bearer token in an environment variable (never in argv or on disk).
Traps (docs/providers): a connection failure retries forever unless
`unbounded_connection_retries` is off; top-level `error` lines are often only retry notices;
`turn.completed` usage is cumulative over the thread, so a resumed run subtracts the totals
the rollout recorded before it; a 429's Retry-After is consumed by Codex's own retries, and
only "try again in/at ..." in the final message tells us a reset time. Codex reports tokens,
never USD (cost is priced from tokens by the caller).
"""

from __future__ import annotations

import json
import os
from collections.abc import Collection, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path

from orchestrator.contracts.agent import AgentEvent, TurnRequest, TurnResult, Usage

from .base import Launch, ProviderCheckError, find_executable
from .codex_rollout import RolloutTail
from .codex_stream import CodexStreamParser

CREDENTIAL_VARS = ("OPENAI_API_KEY", "CODEX_API_KEY")
PASSTHROUGH_VARS = (
    "PATH",
    "LANG",
    "LC_ALL",
    "TZ",
    "TMPDIR",
    "HTTPS_PROXY",
    "HTTP_PROXY",
    "NO_PROXY",
    "https_proxy",
    "http_proxy",
    "no_proxy",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "CODEX_CA_CERTIFICATE",
)
DEFAULT_BASE_URL = "https://api.openai.com/v1"
# The variable's name, not a value; Codex keeps *TOKEN* variables out of the agent's shells.
MCP_TOKEN_VAR = "POLYGENT_MCP_TOKEN"  # noqa: S105
FEATURES_OFF = ("plugins", "unbounded_connection_retries")
STDERR_NOISE = ("Reading additional input from stdin", "WARNING: proceeding, even though")
# Claude-style tool names that need a writable sandbox; without any of them the turn is
# read-only (Codex has no per-tool allowlist for its built-in tools).
WRITE_TOOLS = frozenset(
    {"Write", "Edit", "MultiEdit", "NotebookEdit", "Bash", "shell", "apply_patch"}
)


def _toml(value: object) -> str:
    """A TOML value: JSON's string escapes and numbers are valid TOML; lists of those too."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value)


def _table(name: str, values: Mapping[str, object]) -> str:
    body = "".join(f"{k} = {_toml(v)}\n" for k, v in values.items())
    return f"[{name}]\n{body}" if name else body


def _last_stderr_line(stderr: str) -> str | None:
    """The last stderr line that says something (Codex prints notices on every run)."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    useful = [ln for ln in lines if not ln.startswith(STDERR_NOISE)]
    return useful[-1] if useful else None


@dataclass(frozen=True)
class _Run:
    """What `prepare` learned for the parser of the same run: the resumed thread's totals and
    a reader of its rollout positioned after them."""

    baseline: dict[str, int]
    tail: RolloutTail


# prepare() → parser() of one run, in the same task (activities run concurrently on one
# adapter, so this cannot live on the adapter).
_RUN: ContextVar[_Run | None] = ContextVar("codex_run", default=None)


class CodexAdapter:
    name = "codex"

    def __init__(
        self,
        executable: str = "codex",
        request_max_retries: int = 4,
        stream_max_retries: int = 5,
        command_network: bool = True,
    ) -> None:
        self.executable = executable
        # Codex's sandbox cuts the agent's commands off the network by default; Claude Code's
        # are not, and installing dependencies needs it, so it is on unless a host says no.
        self.command_network = command_network
        self.request_max_retries = request_max_retries
        self.stream_max_retries = stream_max_retries

    def check(
        self, request: TurnRequest, env: Mapping[str, str], models: Collection[str] | None = None
    ) -> None:
        if not any(env.get(var) for var in CREDENTIAL_VARS):
            raise ProviderCheckError("Codex needs a credential: set OPENAI_API_KEY.")
        if models is not None and request.model and request.model not in models:
            raise ProviderCheckError(f"Codex does not know the model {request.model!r}.")
        if find_executable(self.executable, env) is None:
            raise ProviderCheckError(f"Codex ({self.executable}) is not installed on this host.")

    def _config(self, request: TurnRequest, env: Mapping[str, str], key_var: str) -> str:
        writable = request.allowed_tools is None or bool(WRITE_TOOLS & set(request.allowed_tools))
        top: dict[str, object] = {}
        if request.model:
            top["model"] = request.model
        top.update(
            model_provider="polygent",
            approval_policy="never",
            sandbox_mode="workspace-write" if writable else "read-only",
            model_reasoning_summary="auto",
            check_for_update_on_startup=False,
        )
        if request.system_prompt_append:
            top["developer_instructions"] = request.system_prompt_append
        provider = {
            "name": "OpenAI (via Polygent)",
            "base_url": env.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL,
            "env_key": key_var,
            "wire_api": "responses",
            "request_max_retries": self.request_max_retries,
            "stream_max_retries": self.stream_max_retries,
        }
        parts = [
            _table("", top),
            _table("model_providers.polygent", provider),
            _table("features", dict.fromkeys(FEATURES_OFF, False)),
            _table("analytics", {"enabled": False}),
            _table("sandbox_workspace_write", {"network_access": self.command_network}),
            _table("tools.update_plan", {"enabled": True}),
        ]
        if request.mcp is not None:
            server: dict[str, object] = {
                "url": request.mcp.url,
                "bearer_token_env_var": MCP_TOKEN_VAR,
                "default_tools_approval_mode": "approve",
                "startup_timeout_sec": 20,
            }
            prefix = "mcp__polygent__"
            named = [
                t.removeprefix(prefix) for t in request.allowed_tools or [] if t.startswith(prefix)
            ]
            if named:  # an allowlist naming our MCP tools limits them to those
                server["enabled_tools"] = named
            parts.append(_table("mcp_servers.polygent", server))
        return "\n".join(parts)

    def prepare(
        self,
        request: TurnRequest,
        home: Path,
        env: Mapping[str, str],
        mcp_token: str | None = None,
    ) -> Launch:
        codex_home = home / ".codex"
        codex_home.mkdir(parents=True, exist_ok=True)
        key_var = next((v for v in CREDENTIAL_VARS if env.get(v)), CREDENTIAL_VARS[0])
        child = {k: env[k] for k in PASSTHROUGH_VARS if env.get(k)}
        child.update(HOME=str(home), CODEX_HOME=str(codex_home))
        child.setdefault("PATH", os.defpath)
        if env.get(key_var):
            child[key_var] = env[key_var]
        if mcp_token and request.mcp is not None:
            child[MCP_TOKEN_VAR] = mcp_token
        config = codex_home / "config.toml"
        fd = os.open(config, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(self._config(request, env, key_var))
        argv = [self.executable, "exec", "--json", "--skip-git-repo-check"]
        for feature in FEATURES_OFF:
            argv += ["--disable", feature]
        if request.model:
            argv += ["-m", request.model]
        thread = request.resume_session_id
        tail = RolloutTail(codex_home, thread)
        baseline = (tail.latest_total() or {}) if thread else {}
        _RUN.set(_Run(baseline, tail))
        if thread:
            argv += ["resume", "--", thread, request.prompt]
        else:
            argv += ["--", request.prompt]
        secrets = [env[v] for v in CREDENTIAL_VARS if env.get(v)]
        if mcp_token:
            secrets.append(mcp_token)
        return Launch(argv=argv, env=child, files=[config], secrets=secrets)

    def parser(self) -> CodexStreamParser:
        """The parser of the run `prepare` just built in this task (used once)."""
        run = _RUN.get()
        _RUN.set(None)
        if run is None:
            return CodexStreamParser()
        return CodexStreamParser(run.baseline, run.tail)

    def finish(
        self, exit_code: int, events: Sequence[AgentEvent], stderr_tail: str = ""
    ) -> TurnResult:
        result = next((e for e in reversed(events) if e.kind == "result"), None)
        session = next((e.session_id for e in reversed(events) if e.session_id), None)
        running = next((e.usage for e in reversed(events) if e.kind == "usage" and e.usage), None)
        last_error = next((e.text for e in reversed(events) if e.kind == "error" and e.text), None)
        stderr_line = _last_stderr_line(stderr_tail)
        fallback = f"Codex exited with code {exit_code}."
        if result is None:
            return TurnResult(
                ok=False, outcome="error", error=last_error or stderr_line or fallback,
                provider_session_id=session, exit_code=exit_code, usage=running or Usage(),
            )  # fmt: skip
        data = result.data or {}
        ok = not result.is_error and exit_code == 0
        error: str | None = None
        if not ok:  # a completed turn with a failing exit code is still a failure
            error = (result.text if result.is_error else None) or last_error or stderr_line
            error = error or fallback
        wait = data.get("retry_after_seconds")
        return TurnResult(
            ok=ok,
            outcome="success" if ok else "error",
            error=error,
            provider_session_id=result.session_id or session,
            usage=result.usage or running or Usage(),  # a failed turn: the usage seen so far
            cost_usd=None,
            exit_code=exit_code,
            final_text=result.text if ok else None,
            retry_after_seconds=float(wait) if isinstance(wait, int | float) else None,
        )

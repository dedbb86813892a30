"""Claude Code (`@anthropic-ai/claude-code`): headless stream-json turns.

Command: `claude -p <prompt> --output-format stream-json --verbose --permission-mode acceptEdits`
plus the appended system prompt, `--resume` (only valid from the same cwd), our MCP server
(`--mcp-config <file> --strict-mcp-config`), `--max-budget-usd`, `--model` and `--tools`.
The environment is built from scratch: an isolated HOME/CLAUDE_CONFIG_DIR per session, no
outside traffic besides the model API, and only the credential and proxy variables passed on.
Parser traps (docs/providers): usage on assistant lines is a snapshot (totals come from the
result line), API errors arrive as `subtype: success` with `is_error: true`, and the todo tools
changed names between versions.
"""

from __future__ import annotations

import json
import os
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

from orchestrator.contracts.agent import AgentEvent, TurnRequest, TurnResult, Usage

from .base import Launch, ProviderCheckError, find_executable
from .claude_stream import ClaudeStreamParser

CREDENTIAL_VARS = ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "CLAUDE_CODE_OAUTH_TOKEN")
PASSTHROUGH_VARS = (
    *CREDENTIAL_VARS,
    "ANTHROPIC_BASE_URL",
    "ANTHROPIC_CUSTOM_HEADERS",
    "ANTHROPIC_DEFAULT_OPUS_MODEL",
    "ANTHROPIC_DEFAULT_SONNET_MODEL",
    "ANTHROPIC_DEFAULT_HAIKU_MODEL",
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
    "NODE_EXTRA_CA_CERTS",
    "SSL_CERT_FILE",
)
QUIET_ENV = {
    "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    "DISABLE_AUTOUPDATER": "1",
    "DISABLE_TELEMETRY": "1",
    "DISABLE_ERROR_REPORTING": "1",
    "DISABLE_BUG_COMMAND": "1",
}
ALIASES = frozenset({"default", "opus", "sonnet", "haiku", "opusplan"})
BUDGET_SUBTYPE = "error_max_budget_usd"


def _amount(value: float) -> str:
    return f"{value:.6f}".rstrip("0").rstrip(".")


class ClaudeCodeAdapter:
    name = "claude-code"

    def __init__(self, executable: str = "claude") -> None:
        self.executable = executable

    def check(
        self, request: TurnRequest, env: Mapping[str, str], models: Collection[str] | None = None
    ) -> None:
        if not any(env.get(var) for var in CREDENTIAL_VARS):
            raise ProviderCheckError(
                "Claude Code needs a credential: set ANTHROPIC_API_KEY or ANTHROPIC_AUTH_TOKEN."
            )
        model = request.model
        if models is not None and model and model not in ALIASES and model not in models:
            raise ProviderCheckError(f"Claude Code does not know the model {request.model!r}.")
        if find_executable(self.executable, env) is None:
            raise ProviderCheckError(
                f"Claude Code ({self.executable}) is not installed on this host."
            )

    def prepare(
        self,
        request: TurnRequest,
        home: Path,
        env: Mapping[str, str],
        mcp_token: str | None = None,
    ) -> Launch:
        config_dir = home / ".claude"
        config_dir.mkdir(parents=True, exist_ok=True)
        child = {k: env[k] for k in PASSTHROUGH_VARS if env.get(k)}
        child.update(QUIET_ENV)
        child.update(HOME=str(home), CLAUDE_CONFIG_DIR=str(config_dir))
        child.setdefault("PATH", os.defpath)
        argv = [self.executable, "-p", request.prompt, "--output-format", "stream-json"]
        argv += ["--verbose", "--permission-mode", "acceptEdits"]
        files: list[Path] = []
        if request.model:
            argv += ["--model", request.model]
        if request.system_prompt_append:
            argv += ["--append-system-prompt", request.system_prompt_append]
        if request.resume_session_id:
            argv += ["--resume", request.resume_session_id]
        if request.budget_usd is not None:
            argv += ["--max-budget-usd", _amount(request.budget_usd)]
        if request.allowed_tools is not None:
            tools = ",".join(request.allowed_tools)
            argv += ["--tools", tools, "--allowedTools", tools]
        if request.mcp is not None:
            server: dict[str, Any] = {"type": "http", "url": request.mcp.url}
            if mcp_token:
                server["headers"] = {"Authorization": f"Bearer {mcp_token}"}
            path = home / ".polygent" / "mcp.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as fh:  # the token stays out of argv (visible in `ps`)
                json.dump({"mcpServers": {"polygent": server}}, fh)
            files.append(path)
            argv += ["--mcp-config", str(path), "--strict-mcp-config"]
        secrets = [env[v] for v in CREDENTIAL_VARS if env.get(v)]
        if mcp_token:
            secrets.append(mcp_token)
        return Launch(argv=argv, env=child, files=files, secrets=secrets)

    def parser(self) -> ClaudeStreamParser:
        return ClaudeStreamParser()

    def finish(
        self, exit_code: int, events: Sequence[AgentEvent], stderr_tail: str = ""
    ) -> TurnResult:
        result = next((e for e in reversed(events) if e.kind == "result"), None)
        session = next((e.session_id for e in reversed(events) if e.session_id), None)
        last_error = next((e.text for e in reversed(events) if e.kind == "error" and e.text), None)
        stderr_line = stderr_tail.strip().splitlines()[-1] if stderr_tail.strip() else None
        if result is None:
            message = last_error or stderr_line or f"Claude Code exited with code {exit_code}."
            return TurnResult(
                ok=False, outcome="error", error=message, provider_session_id=session,
                exit_code=exit_code,
            )  # fmt: skip
        data = result.data or {}
        ok = not result.is_error and exit_code == 0
        error: str | None = None
        if not ok:
            errors = data.get("errors")
            joined = "; ".join(str(e) for e in errors) if isinstance(errors, list) else None
            error = (
                (result.text if result.is_error else None)
                or joined
                or last_error
                or stderr_line
                or f"Claude Code exited with code {exit_code}."
            )
        outcome = "success" if ok else "error"
        if result.subtype == BUDGET_SUBTYPE:
            outcome = "budget_exceeded"
        turns = data.get("num_turns")
        return TurnResult(
            ok=ok,
            outcome=outcome,
            error=error,
            provider_session_id=result.session_id or session,
            usage=result.usage or Usage(),
            cost_usd=result.cost_usd,
            num_turns=turns if isinstance(turns, int) else None,
            exit_code=exit_code,
            final_text=result.text if ok else None,
        )

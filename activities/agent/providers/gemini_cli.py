"""Gemini CLI (`@google/gemini-cli`): headless stream-json turns.

Command: `gemini --prompt=<prompt> --output-format stream-json --approval-mode yolo --skip-trust`
plus `-m <model>` (without it the CLI's `auto` model first asks a router model) and
`--resume <session id>` (same cwd: chats are stored per project). Everything else goes into
`~/.gemini/settings.json` under the isolated HOME: API-key auth (without a selected auth type
the CLI exits 41), usage statistics and telemetry off (no outside traffic besides the model
API), no update checks, the tool allowlist (`tools.core`), our MCP server (`mcpServers` with
the bearer token in `headers`, file mode 0600, never argv) and, when asked, the attempt limit
of the CLI's own retries. The same file is also the system scope, so a host-wide
`/etc/gemini-cli/settings.json` cannot override it (e.g. turn telemetry back on); the
worktree's own `.gemini/settings.json` is not loaded in this mode (observed with 0.61).
The appended system prompt is the user-level context file `~/.gemini/GEMINI.md` (the CLI
has no append flag; `GEMINI_SYSTEM_MD` would replace its whole prompt). The endpoint comes
from `GOOGLE_GEMINI_BASE_URL`, the key from `GEMINI_API_KEY`.
Parser traps (docs/providers-gemini-qwen.md): exit codes are not the documented ones (a 400
exits 144, a quota error 173), so success is `result.status` *and* exit 0; tokens only come in
the result (no USD: `cost_usd` stays None and the platform prices the tokens); a quota error's
reset time is only in the message text ("Suggested retry after 3600s.").
"""

from __future__ import annotations

import json
import os
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

from orchestrator.contracts.agent import AgentEvent, TurnRequest, TurnResult, Usage

from .base import Launch, ProviderCheckError, find_executable
from .gemini_stream import GeminiStreamParser
from .retry_hint import retry_after_seconds

CREDENTIAL_VARS = ("GEMINI_API_KEY",)
PASSTHROUGH_VARS = (
    *CREDENTIAL_VARS,
    "GOOGLE_GEMINI_BASE_URL",
    "PATH",
    "LANG",
    "LC_ALL",
    "TZ",
    "HTTPS_PROXY",
    "HTTP_PROXY",
    "NO_PROXY",
    "https_proxy",
    "http_proxy",
    "no_proxy",
    "NODE_EXTRA_CA_CERTS",
    "SSL_CERT_FILE",
)
QUIET_ENV = {"NO_COLOR": "1"}
ALIASES = frozenset({"auto", "pro", "flash", "flash-lite"})
# Tool names of other providers (as a mode's allowlist may name them) → Gemini CLI's names.
TOOL_NAMES = {
    "Read": ("read_file", "read_many_files"),
    "Write": ("write_file",),
    "Edit": ("replace",),
    "MultiEdit": ("replace",),
    "Bash": ("run_shell_command",),
    "Glob": ("glob",),
    "Grep": ("grep_search",),
    "LS": ("list_directory",),
    "WebFetch": ("web_fetch",),
    "WebSearch": ("google_web_search",),
    "TodoWrite": ("write_todos",),
    "Task": ("invoke_agent",),
}
MCP_SERVER = "polygent"


def core_tools(allowed: Sequence[str]) -> list[str]:
    """The allowlist in Gemini CLI's names; names it does not map are taken as they are."""
    names: list[str] = []
    for tool in allowed:
        names.extend(TOOL_NAMES.get(tool, (tool,)))
    return list(dict.fromkeys(names))


def write_private(path: Path, text: str) -> None:
    """Write a file only the owner can read (it may hold the MCP token)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.chmod(path, 0o600)  # an existing file keeps its mode through O_CREAT


def last_line(stderr_tail: str) -> str | None:
    """The last stderr line worth showing (not a stack frame)."""
    lines = [s.strip() for s in stderr_tail.splitlines() if s.strip()]
    useful = [s for s in lines if not s.startswith("at ") and s not in ("}", "{")]
    return next(reversed(useful or lines), None)


class GeminiCliAdapter:
    name = "gemini-cli"

    def __init__(self, executable: str = "gemini", max_attempts: int | None = None) -> None:
        self.executable = executable
        self.max_attempts = max_attempts  # None: the CLI's own default (10)

    def check(
        self, request: TurnRequest, env: Mapping[str, str], models: Collection[str] | None = None
    ) -> None:
        if not any(env.get(var) for var in CREDENTIAL_VARS):
            raise ProviderCheckError("Gemini CLI needs a credential: set GEMINI_API_KEY.")
        model = request.model
        if models is not None and model and model not in ALIASES and model not in models:
            raise ProviderCheckError(f"Gemini CLI does not know the model {request.model!r}.")
        if find_executable(self.executable, env) is None:
            raise ProviderCheckError(
                f"Gemini CLI ({self.executable}) is not installed on this host."
            )

    def settings(self, request: TurnRequest, mcp_token: str | None) -> dict[str, Any]:
        general: dict[str, Any] = {"disableAutoUpdate": True, "disableUpdateNag": True}
        if self.max_attempts is not None:
            general["maxAttempts"] = self.max_attempts
        settings: dict[str, Any] = {
            "security": {"auth": {"selectedType": "gemini-api-key"}},
            "privacy": {"usageStatisticsEnabled": False},
            "telemetry": {"enabled": False},
            "general": general,
        }
        if request.allowed_tools is not None:
            core = core_tools(request.allowed_tools)
            if request.mcp is not None:  # an allowlist denies every other tool, MCP ones too
                core.append(f"mcp_{MCP_SERVER}_*")
            settings["tools"] = {"core": core}
        if request.mcp is not None:
            server: dict[str, Any] = {"httpUrl": request.mcp.url, "trust": True}
            if mcp_token:
                server["headers"] = {"Authorization": f"Bearer {mcp_token}"}
            settings["mcpServers"] = {MCP_SERVER: server}
        return settings

    def prepare(
        self,
        request: TurnRequest,
        home: Path,
        env: Mapping[str, str],
        mcp_token: str | None = None,
    ) -> Launch:
        config_dir = home / ".gemini"
        config_dir.mkdir(parents=True, exist_ok=True)
        tmp = home / ".tmp"  # the CLI writes error reports to the temp dir: keep them here
        tmp.mkdir(exist_ok=True)
        child = {k: env[k] for k in PASSTHROUGH_VARS if env.get(k)}
        child.update(QUIET_ENV)
        child.update(HOME=str(home), GEMINI_CLI_HOME=str(home), TMPDIR=str(tmp))
        child.setdefault("PATH", os.defpath)
        settings_file = config_dir / "settings.json"
        write_private(settings_file, json.dumps(self.settings(request, mcp_token), indent=2))
        # Also the system scope, which outranks every other: the host's own system settings
        # cannot turn telemetry back on, switch the auth or replace our MCP server.
        child["GEMINI_CLI_SYSTEM_SETTINGS_PATH"] = str(settings_file)
        files = [settings_file]
        context = config_dir / "GEMINI.md"  # user-level context: appended to the system prompt
        if request.system_prompt_append:
            write_private(context, request.system_prompt_append + "\n")
            files.append(context)
        else:
            context.unlink(missing_ok=True)
        # `--prompt=…`: a prompt that starts with "-" must not be read as a flag.
        argv = [self.executable, f"--prompt={request.prompt}", "--output-format", "stream-json"]
        argv += ["--approval-mode", "yolo", "--skip-trust"]
        if request.model:
            argv += ["-m", request.model]
        if request.resume_session_id:
            argv += ["--resume", request.resume_session_id]
        secrets = [env[v] for v in CREDENTIAL_VARS if env.get(v)]
        if mcp_token:
            secrets.append(mcp_token)
        return Launch(argv=argv, env=child, files=files, secrets=secrets)

    def parser(self) -> GeminiStreamParser:
        return GeminiStreamParser()

    def finish(
        self, exit_code: int, events: Sequence[AgentEvent], stderr_tail: str = ""
    ) -> TurnResult:
        result = next((e for e in reversed(events) if e.kind == "result"), None)
        session = next((e.session_id for e in reversed(events) if e.session_id), None)
        last_error = next((e.text for e in reversed(events) if e.kind == "error" and e.text), None)
        if result is None:
            message = (
                last_error or last_line(stderr_tail) or f"Gemini CLI exited with code {exit_code}."
            )
            return TurnResult(
                ok=False, outcome="error", error=message, provider_session_id=session,
                exit_code=exit_code, retry_after_seconds=retry_after_seconds(message),
            )  # fmt: skip
        ok = not result.is_error and exit_code == 0
        error: str | None = None
        if not ok:
            error = (
                result.text
                or last_error
                or last_line(stderr_tail)
                or f"Gemini CLI exited with code {exit_code}."
            )
        return TurnResult(
            ok=ok,
            outcome="success" if ok else "error",
            error=error,
            provider_session_id=result.session_id or session,
            usage=result.usage or Usage(),
            cost_usd=None,
            exit_code=exit_code,
            final_text=_final_text(events) if ok else None,
            retry_after_seconds=retry_after_seconds(error) if error else None,
        )


def _final_text(events: Sequence[AgentEvent]) -> str | None:
    """The assistant's text after its last tool call (the answer to the prompt)."""
    texts: list[str] = []
    for e in events:
        if e.kind in ("tool_call", "tool_result"):
            texts = []
        elif e.kind == "text" and e.text:
            texts.append(e.text)
    return "\n".join(texts) if texts else None

"""Qwen Code (`@qwen-code/qwen-code`): headless stream-json turns over an OpenAI-compatible API.

Command: `qwen --prompt=<prompt> --output-format stream-json --approval-mode yolo
--auth-type openai` plus `-m`, `--append-system-prompt` and `--resume <session id>` (sessions
are stored per project directory, so resume runs in the same worktree). The endpoint and key
come from `OPENAI_BASE_URL` (with `/v1`) and `OPENAI_API_KEY`. `~/.qwen/settings.json` under
the isolated HOME turns off usage statistics, telemetry, update checks and the background
"managed memory" sub-agent (an extra model call after turns), turns on the todo tool (off by
default in 0.24), carries the tool allowlist (`tools.core`), the retry limit when one is set
and our MCP server (`mcpServers`, bearer token in `headers`, file mode 0600, never argv). The
same file is also the system scope, which outranks the worktree's own `.qwen/settings.json`
(Qwen loads it over the user's). The prompt goes as `--prompt=…` so a prompt starting with "-"
is not read as a flag.

Qwen sends even loopback traffic through `HTTP(S)_PROXY` and ignores `NO_PROXY`, so the proxy
variables are passed on only when neither the model endpoint nor our MCP server is loopback
or listed in `NO_PROXY`.

The stream is Claude-shaped, so the parser is Claude Code's with Qwen's differences: every
content block is its own line with its own id, and only a response's last block carries its
usage (the others carry zeros, dropped); the result's usage is cumulative over a resumed
session (the run's own total is summed from its messages); `input_tokens` includes cached
tokens (ours keeps them apart); API errors arrive as assistant *text* ("[API Error: …]",
"Quota exhausted: …"); 0.15 reported a failed request as `subtype: success` with the error as
the result text (a false success, caught here); the result has no USD cost (`cost_usd` stays
None). Qwen waits out a `Retry-After` itself; a quota error that names its reset time fails
fast, and that time becomes `retry_after_seconds`.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from orchestrator.contracts.agent import AgentEvent, TodoItem, TurnRequest, TurnResult, Usage

from .base import Launch, ProviderCheckError, find_executable
from .claude_stream import ClaudeStreamParser
from .gemini_cli import last_line, write_private
from .retry_hint import retry_after_seconds

CREDENTIAL_VARS = ("OPENAI_API_KEY",)
PASSTHROUGH_VARS = (
    *CREDENTIAL_VARS,
    "OPENAI_BASE_URL",
    "OPENAI_MODEL",
    "PATH",
    "LANG",
    "LC_ALL",
    "TZ",
    "NODE_EXTRA_CA_CERTS",
    "SSL_CERT_FILE",
)
PROXY_VARS = ("HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY", "https_proxy", "http_proxy", "no_proxy")
QUIET_ENV = {"NO_COLOR": "1", "QWEN_CODE_SUPPRESS_YOLO_WARNING": "1"}
DEFAULT_BASE_URL = "https://api.openai.com/v1"
# Tool names of other providers (as a mode's allowlist may name them) → Qwen Code's names.
TOOL_NAMES = {
    "Read": ("read_file",),
    "Write": ("write_file",),
    "Edit": ("edit",),
    "MultiEdit": ("edit",),
    "Bash": ("run_shell_command",),
    "Glob": ("glob",),
    "Grep": ("grep_search",),
    "LS": ("list_directory",),
    "WebFetch": ("web_fetch",),
    "WebSearch": ("web_search",),
    "TodoWrite": ("todo_write",),
    "Task": ("agent",),
}
MCP_SERVER = "polygent"
TODO_TOOL = "todo_write"
_API_ERROR = re.compile(r"^\s*(?:\[API Error:|Quota exhausted:)")


def core_tools(allowed: Sequence[str]) -> list[str]:
    """The allowlist in Qwen Code's names; names it does not map are taken as they are."""
    names: list[str] = []
    for tool in allowed:
        names.extend(TOOL_NAMES.get(tool, (tool,)))
    return list(dict.fromkeys(names))


def bypasses_proxy(url: str, no_proxy: str) -> bool:
    """Whether `url` must not go through a proxy: loopback, or matched by `no_proxy`."""
    host = (urlsplit(url).hostname or "").lower()
    if host == "localhost":
        return True
    try:
        if ipaddress.ip_address(host).is_loopback:
            return True
    except ValueError:
        pass
    for entry in (e.strip().lower().lstrip(".") for e in no_proxy.split(",")):
        if entry == "*" or (entry and (host == entry or host.endswith("." + entry))):
            return True
    return False


def _split_cache(usage: Usage) -> Usage:
    """Qwen's `input_tokens` counts the cached ones too; ours keeps them apart."""
    return usage.model_copy(update={"input": max(0, usage.input - usage.cache_read)})


class QwenStreamParser(ClaudeStreamParser):
    """Claude Code's parser with Qwen's differences (see the module docstring).

    The result's usage covers the whole session, earlier turns included, once a session is
    resumed: the run's own total is the sum of its messages' usage, counted here.
    """

    def __init__(self) -> None:
        super().__init__()
        self._run = Usage()

    def _route(self, obj: dict[str, Any], line: str) -> list[AgentEvent]:
        events = super()._route(obj, line)
        if obj.get("type") == "system" and obj.get("subtype") == "init" and events[0].data:
            events[0].data["version"] = obj.get("qwen_code_version")
        return events

    def _assistant(self, obj: dict[str, Any]) -> list[AgentEvent]:
        events: list[AgentEvent] = []
        for e in super()._assistant(obj):
            if e.kind == "usage" and e.usage is not None:
                if not any(e.usage.model_dump().values()):
                    continue
                usage = _split_cache(e.usage)
                self._run = Usage(
                    **{k: v + getattr(usage, k) for k, v in self._run.model_dump().items()}
                )
                e = e.model_copy(update={"usage": usage, "subtype": "message"})
            elif e.kind == "text" and e.text and _API_ERROR.match(e.text):
                e = e.model_copy(update={"kind": "error"})
            events.append(e)
        return events

    def _tool_use(self, mid: str | None, block: dict[str, Any]) -> list[AgentEvent]:
        events = super()._tool_use(mid, block)
        if block.get("name") != TODO_TOOL:
            return events
        todos = [
            TodoItem(
                content=str(t.get("content", "")),
                status=str(t.get("status", "pending")),
                id=str(t["id"]) if t.get("id") is not None else None,
            )
            for t in (block.get("input") or {}).get("todos") or []
            if isinstance(t, dict)
        ]
        todo = AgentEvent(
            kind="todo", message_id=mid, tool_id=block.get("id"), todos=todos, subtype="replace"
        )
        return [*events, todo]

    def _result(self, obj: dict[str, Any]) -> AgentEvent:
        event = super()._result(obj)
        data = dict(event.data or {})
        if event.usage is not None:
            data["session_usage"] = _split_cache(event.usage).model_dump()
        update: dict[str, Any] = {"cost_usd": None, "usage": self._run, "data": data}
        error = obj.get("error")
        if event.is_error and not event.text and isinstance(error, dict):
            update["text"] = str(error.get("message") or "") or None
        if not event.is_error and event.text and _API_ERROR.match(event.text):
            update["is_error"] = True  # 0.15: a failed request reported as a success
            data["false_success"] = True
        return event.model_copy(update=update)


class QwenCodeAdapter:
    name = "qwen-code"

    def __init__(self, executable: str = "qwen", max_retries: int | None = None) -> None:
        self.executable = executable
        self.max_retries = max_retries  # of a failed model request; None: the CLI's default

    def check(
        self, request: TurnRequest, env: Mapping[str, str], models: Collection[str] | None = None
    ) -> None:
        if not any(env.get(var) for var in CREDENTIAL_VARS):
            raise ProviderCheckError(
                "Qwen Code needs a credential: set OPENAI_API_KEY (and OPENAI_BASE_URL for an "
                "OpenAI-compatible endpoint such as DashScope)."
            )
        model = request.model
        if models is not None and model and model not in models:
            raise ProviderCheckError(f"Qwen Code does not know the model {request.model!r}.")
        if find_executable(self.executable, env) is None:
            raise ProviderCheckError(
                f"Qwen Code ({self.executable}) is not installed on this host."
            )

    def settings(self, request: TurnRequest, mcp_token: str | None) -> dict[str, Any]:
        tools: dict[str, Any] = {"todoWrite": {"enabled": True}}
        if request.allowed_tools is not None:
            tools["core"] = core_tools(request.allowed_tools)
        settings: dict[str, Any] = {
            "privacy": {"usageStatisticsEnabled": False},
            "telemetry": {"enabled": False},
            "memory": {"enableManagedAutoMemory": False},
            "general": {"disableAutoUpdate": True, "disableUpdateNag": True},
            "tools": tools,
        }
        if self.max_retries is not None:
            settings["model"] = {"generationConfig": {"maxRetries": self.max_retries}}
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
        config_dir = home / ".qwen"
        config_dir.mkdir(parents=True, exist_ok=True)
        tmp = home / ".tmp"
        tmp.mkdir(exist_ok=True)
        child = {k: env[k] for k in PASSTHROUGH_VARS if env.get(k)}
        no_proxy = env.get("NO_PROXY") or env.get("no_proxy") or ""
        direct = [env.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL]
        if request.mcp is not None:
            direct.append(request.mcp.url)
        if not any(bypasses_proxy(url, no_proxy) for url in direct):
            child.update({k: env[k] for k in PROXY_VARS if env.get(k)})
        child.update(QUIET_ENV)
        child.update(HOME=str(home), TMPDIR=str(tmp))
        child.setdefault("PATH", os.defpath)
        settings_file = config_dir / "settings.json"
        write_private(settings_file, json.dumps(self.settings(request, mcp_token), indent=2))
        # Also the system scope: Qwen loads the worktree's own `.qwen/settings.json` over the
        # user's, so without this a repository could turn telemetry or the memory agent on.
        child["QWEN_CODE_SYSTEM_SETTINGS_PATH"] = str(settings_file)
        argv = [self.executable, f"--prompt={request.prompt}", "--output-format", "stream-json"]
        argv += ["--approval-mode", "yolo", "--auth-type", "openai"]
        if request.model:
            argv += ["-m", request.model]
        if request.system_prompt_append:
            argv += ["--append-system-prompt", request.system_prompt_append]
        if request.resume_session_id:
            argv += ["--resume", request.resume_session_id]
        secrets = [env[v] for v in CREDENTIAL_VARS if env.get(v)]
        if mcp_token:
            secrets.append(mcp_token)
        return Launch(argv=argv, env=child, files=[settings_file], secrets=secrets)

    def parser(self) -> QwenStreamParser:
        return QwenStreamParser()

    def finish(
        self, exit_code: int, events: Sequence[AgentEvent], stderr_tail: str = ""
    ) -> TurnResult:
        result = next((e for e in reversed(events) if e.kind == "result"), None)
        session = next((e.session_id for e in reversed(events) if e.session_id), None)
        last_error = next((e.text for e in reversed(events) if e.kind == "error" and e.text), None)
        fallback = f"Qwen Code exited with code {exit_code}."
        if result is None:
            message = last_error or last_line(stderr_tail) or fallback
            return TurnResult(
                ok=False, outcome="error", error=message, provider_session_id=session,
                exit_code=exit_code, retry_after_seconds=retry_after_seconds(message),
            )  # fmt: skip
        ok = not result.is_error and exit_code == 0
        error = None if ok else (result.text if result.is_error else None) or last_error
        error = error or (None if ok else last_line(stderr_tail) or fallback)
        turns = (result.data or {}).get("num_turns")
        return TurnResult(
            ok=ok,
            outcome="success" if ok else "error",
            error=error,
            provider_session_id=result.session_id or session,
            usage=result.usage or Usage(),
            cost_usd=None,
            num_turns=turns if isinstance(turns, int) else None,
            exit_code=exit_code,
            final_text=result.text if ok else None,
            retry_after_seconds=retry_after_seconds(error) if error else None,
        )

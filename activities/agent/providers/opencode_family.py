"""What OpenCode (`opencode-ai`) and its fork Kilo CLI (`@kilocode/cli`) share: config and outcome.

Command: `sh -c 'exec "$@" <"$POLYGENT_PROMPT_FILE"' sh <cli> run --format json --thinking
--title T --dir WORKTREE -m provider/model [--session ses_…]`. The prompt goes through stdin
because `run` wraps every argument that holds a space in quotes (and a word like `123` becomes a
number that crashes it). Everything else is the CLI's JSON config, rewritten each turn in the
isolated HOME's XDG config dir (`~/.config/<cli>/<cli>.json`):
- only the model's provider is enabled; its base URL comes from the usual variable
  (ANTHROPIC_BASE_URL, OPENAI_BASE_URL, GOOGLE_GEMINI_BASE_URL); the credential stays in the
  environment; the model is declared with the session's price (or our default table) as its
  `cost`, so every `step_finish` reports USD for it;
- `autoupdate` off, sharing off, no filesystem snapshots (we checkpoint ourselves), the
  appended system prompt as an `instructions` file, our MCP server as a `remote` entry whose
  bearer token is substituted from the environment (never written to disk or argv);
- permissions: edit and bash allowed, or only the mode's tools (the rest denied). The same
  rules go into `<CLI>_CONFIG_CONTENT`, which outranks a repository's own config, so a repo
  cannot widen what the mode allows.
Outside traffic: the CLI `npm install`s its plugin SDK into the config dir at start; a seeded
`package-lock.json` + `node_modules` makes it skip that. `run` retries rate limits and network
errors silently (up to 5 times, sleeping for the whole Retry-After; Kilo waits for an
unreachable API forever, probing outside hosts): a small plugin prints each retry as a `retry`
line and ends the run (exit 75) when the wait is long, retries pile up or the API is unreachable
(Kilo), so a reset time reaches the workflow (`retry_after_seconds`) instead of a silent sleep.
Traps (docs/providers): no terminal line (success = exit 0, no `error` event, a model step
seen), usage and cost are per step (summed by the parser), and `reasoning` needs `--thinking`.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator.contracts.agent import AgentEvent, ModelPrice, TurnRequest, TurnResult, Usage
from orchestrator.pricing import DEFAULT_PRICES, price_for

from .base import Launch, ProviderCheckError, find_executable
from .opencode_stream import OpenCodeStreamParser

SHELL = "/bin/sh"
STDIN_WRAPPER = 'exec "$@" <"$POLYGENT_PROMPT_FILE"'
PROMPT_VAR = "POLYGENT_PROMPT_FILE"
MCP_TOKEN_VAR = "POLYGENT_MCP_TOKEN"  # noqa: S105 - a variable name, not a value
MCP_SERVER = "polygent"
GUARD_EXIT = 75
GUARD_MAX_WAIT_MS = 30_000  # longer waits are the workflow's (a durable sleep), not the CLI's
GUARD_MAX_ATTEMPTS = 2  # in-CLI retries of short waits before the turn fails
_SESSION_ID = re.compile(r"^ses_[0-9A-Za-z]{1,64}$")
_MODEL = re.compile(r"^[A-Za-z0-9][\w.-]*/\S+$")
PASSTHROUGH_VARS = (
    "PATH", "LANG", "LC_ALL", "TZ", "TMPDIR", "HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY",
    "https_proxy", "http_proxy", "no_proxy", "NODE_EXTRA_CA_CERTS", "SSL_CERT_FILE",
    "SSL_CERT_DIR",
)  # fmt: skip
# provider id → (the variables that may hold its key, whether a key is required).
CREDENTIALS: dict[str, tuple[tuple[str, ...], bool]] = {
    "anthropic": (("ANTHROPIC_API_KEY",), True),
    "openai": (("OPENAI_API_KEY",), True),
    "google": (("GOOGLE_GENERATIVE_AI_API_KEY", "GEMINI_API_KEY"), True),
    "openrouter": (("OPENROUTER_API_KEY",), True),
    "opencode": (("OPENCODE_API_KEY",), False),  # OpenCode Zen: free models need no key
    "kilo": (("KILO_API_KEY",), False),  # Kilo Gateway: free models need no key
}
# provider id → (variable with a custom base URL, path the AI SDK expects after it)
BASE_URLS = {
    "anthropic": ("ANTHROPIC_BASE_URL", "/v1"),
    "openai": ("OPENAI_BASE_URL", ""),
    "google": ("GOOGLE_GEMINI_BASE_URL", "/v1beta"),
}
# Claude-style tool names (the platform's allowlists) → OpenCode permission keys.
TOOL_PERMISSIONS: dict[str, tuple[str, ...]] = {
    "Read": ("read", "list"),
    "LS": ("list",),
    "Write": ("edit",),
    "Edit": ("edit",),
    "MultiEdit": ("edit",),
    "NotebookEdit": ("edit",),
    "Bash": ("bash",),
    "Glob": ("glob",),
    "Grep": ("grep",),
    "WebFetch": ("webfetch",),
    "WebSearch": ("websearch",),
    "TodoWrite": ("todowrite", "todoread"),
    "TodoRead": ("todoread",),
    "Task": ("task",),
    "Skill": ("skill",),
}
KNOWN_PERMISSIONS = (
    "read", "list", "edit", "bash", "glob", "grep", "webfetch", "websearch", "codesearch",
    "todowrite", "todoread", "task", "skill", "lsp",
)  # fmt: skip
FULL_PERMISSIONS = {"edit": "allow", "bash": "allow", "webfetch": "allow"}
RETRY_GUARD = """\
// Written by Polygent for each turn. `run --format json` retries silently, sleeping for the
// provider's whole Retry-After (Kilo waits for the network forever): print each retry, and
// stop when the wait belongs to Polygent.
const maxWait = Number(process.env.POLYGENT_RETRY_MAX_WAIT_MS || "30000");
const maxAttempts = Number(process.env.POLYGENT_RETRY_MAX_ATTEMPTS || "2");
const report = (sessionID, status, wait, stop) => {
  const line = { type: "retry", timestamp: Date.now(), sessionID, status, wait_ms: wait, stop };
  process.stdout.write(JSON.stringify(line) + "\\n");
  if (stop) process.exit(GUARD_EXIT);
};
export const PolygentRetryGuard = async () => ({
  event: async ({ event }) => {
    const props = event?.properties ?? {};
    const status = props.status;
    if (event?.type !== "session.status") return;
    if (status?.type === "offline") {
      // Kilo: the API is unreachable; it would probe outside hosts and retry without end.
      report(props.sessionID, { ...status, type: "retry", attempt: 0 }, 0, "offline");
      return;
    }
    if (status?.type !== "retry" || !status.attempt) return;
    const wait = Math.max(0, Number(status.next) - Date.now());
    const stop = wait > maxWait ? "wait" : status.attempt > maxAttempts ? "attempts" : null;
    report(props.sessionID, status, wait, stop);
  },
});
""".replace("GUARD_EXIT", str(GUARD_EXIT))


@dataclass(frozen=True)
class FamilySpec:
    """How one member of the family differs: names, schema, quiet settings, extra config."""

    name: str  # for messages, e.g. "OpenCode"
    executable: str
    app: str  # config/data directory and file name: opencode → ~/.config/opencode/opencode.json
    schema: str
    plugin_package: str  # what the CLI would `npm install` into its config dir
    env_prefix: str
    quiet_env: dict[str, str] = field(default_factory=dict)
    disabled_providers: tuple[str, ...] = ()


def split_model(model: str) -> tuple[str, str]:
    provider, _, name = model.partition("/")
    return provider, name


def write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)


def permissions(allowed: Sequence[str] | None) -> dict[str, str]:
    """Full access, or deny-all plus the mode's tools (known keys listed, so merges keep it)."""
    if allowed is None:
        return dict(FULL_PERMISSIONS)
    keys: list[str] = []
    for tool in allowed:
        if tool.startswith("mcp__"):
            server, _, name = tool.removeprefix("mcp__").partition("__")
            keys.append(f"{server}_{name}" if name and name != "*" else f"{server}_*")
        else:
            keys.extend(TOOL_PERMISSIONS.get(tool, (tool,)))
    rules = {"*": "deny"} | {k: "deny" for k in KNOWN_PERMISSIONS}
    rules.update({k: "allow" for k in keys})
    return rules


def credential_names(provider: str) -> tuple[tuple[str, ...], bool]:
    """Where `provider`'s key may be; an unlisted provider's is `<PROVIDER>_API_KEY`, optional."""
    default = f"{re.sub(r'[^A-Z0-9]', '_', provider.upper())}_API_KEY"
    return CREDENTIALS.get(provider, ((default,), False))


def _credential(provider: str, env: Mapping[str, str]) -> tuple[str, str] | None:
    names, _ = credential_names(provider)
    return next(((n, env[n]) for n in names if env.get(n)), None)


def _model_entry(model: str, name: str, price: ModelPrice | None) -> dict[str, Any]:
    """The model's config entry; its `cost` (the session's price, else our default table) is
    what the CLI prices each step with."""
    entry: dict[str, Any] = {"name": name}
    price = price or price_for(model, DEFAULT_PRICES)
    if price is not None:
        entry["cost"] = {
            "input": price.input,
            "output": price.output,
            "cache_read": price.cache_read,
            "cache_write": price.cache_write,
        }
    return entry


class OpenCodeFamilyAdapter:
    """One adapter class for both CLIs; `spec` holds what differs."""

    name: str
    default_model = "anthropic/claude-sonnet-4-5"

    def __init__(self, spec: FamilySpec, executable: str | None = None) -> None:
        self.spec = spec
        self.executable = executable or spec.executable

    def model(self, request: TurnRequest) -> str:
        return request.model or self.default_model

    def check(
        self, request: TurnRequest, env: Mapping[str, str], models: Collection[str] | None = None
    ) -> None:
        label, model = self.spec.name, self.model(request)
        if not _MODEL.match(model):
            raise ProviderCheckError(
                f"{label} needs a model as provider/model (e.g. {self.default_model}), "
                f"not {model!r}."
            )
        if models is not None and request.model and request.model not in models:
            raise ProviderCheckError(f"{label} does not know the model {request.model!r}.")
        if request.resume_session_id and not _SESSION_ID.match(request.resume_session_id):
            raise ProviderCheckError(
                f"{request.resume_session_id!r} is not a session id of {label} (ses_…)."
            )
        provider, _ = split_model(model)
        names, required = credential_names(provider)
        if required and _credential(provider, env) is None:
            raise ProviderCheckError(
                f"{label} needs a credential for {provider}: set {' or '.join(names)}."
            )
        if find_executable(self.executable, env) is None:
            raise ProviderCheckError(f"{label} ({self.executable}) is not installed on this host.")

    def config(self, request: TurnRequest, env: Mapping[str, str], home: Path) -> dict[str, Any]:
        """The CLI's JSON config for this turn (no secret values: those stay in the env)."""
        model = self.model(request)
        provider, name = split_model(model)
        options: dict[str, Any] = {}
        if provider in BASE_URLS and env.get(BASE_URLS[provider][0]):
            var, suffix = BASE_URLS[provider]
            base = env[var].rstrip("/")
            options["baseURL"] = base if not suffix or base.endswith(suffix) else base + suffix
        entry: dict[str, Any] = {"models": {name: _model_entry(model, name, request.price)}}
        if options:
            entry["options"] = options
        config: dict[str, Any] = {
            "$schema": self.spec.schema,
            "model": model,
            "small_model": model,
            "autoupdate": False,
            "share": "disabled",
            "snapshot": False,
            "enabled_providers": [provider],
            "provider": {provider: entry},
            "permission": permissions(request.allowed_tools),
        }
        disabled = [p for p in self.spec.disabled_providers if p != provider]
        if disabled:
            config["disabled_providers"] = disabled
        if request.system_prompt_append:
            path = home / ".polygent" / "instructions.md"
            write_private(path, request.system_prompt_append)
            config["instructions"] = [str(path)]
        if request.mcp is not None:
            server: dict[str, Any] = {"type": "remote", "url": request.mcp.url, "enabled": True}
            server["oauth"] = False
            if request.mcp.bearer_token_ref:
                server["headers"] = {"Authorization": f"Bearer {{env:{MCP_TOKEN_VAR}}}"}
            config["mcp"] = {MCP_SERVER: server}
        return config

    def environment(
        self, home: Path, env: Mapping[str, str], provider: str
    ) -> tuple[dict[str, str], list[str]]:
        child = {k: env[k] for k in PASSTHROUGH_VARS if env.get(k)}
        child.setdefault("PATH", os.defpath)
        child.update(
            HOME=str(home),
            XDG_CONFIG_HOME=str(home / ".config"),
            XDG_DATA_HOME=str(home / ".local" / "share"),
            XDG_CACHE_HOME=str(home / ".cache"),
            XDG_STATE_HOME=str(home / ".local" / "state"),
        )
        prefix = self.spec.env_prefix
        for flag in ("DISABLE_MODELS_FETCH", "DISABLE_AUTOUPDATE", "DISABLE_SHARE",
                     "DISABLE_LSP_DOWNLOAD"):  # fmt: skip
            child[f"{prefix}_{flag}"] = "1"
        child.update(self.spec.quiet_env)
        child["POLYGENT_RETRY_MAX_WAIT_MS"] = str(GUARD_MAX_WAIT_MS)
        child["POLYGENT_RETRY_MAX_ATTEMPTS"] = str(GUARD_MAX_ATTEMPTS)
        secrets: list[str] = []
        found = _credential(provider, env)
        if found is not None:
            for var in credential_names(provider)[0]:
                child[var] = found[1]  # every name the CLI might read (Google has two)
            secrets.append(found[1])
        return child, secrets

    def _seed_config_dir(self, config_dir: Path, config: dict[str, Any]) -> list[Path]:
        """Write the config, the retry guard, and the lock file that stops the npm install."""
        path = config_dir / f"{self.spec.app}.json"
        write_private(path, json.dumps(config, indent=2))
        guard = config_dir / "plugin" / "polygent-retry-guard.js"
        write_private(guard, RETRY_GUARD)
        (config_dir / "node_modules").mkdir(exist_ok=True)
        lock = {"packages": {"": {"dependencies": {self.spec.plugin_package: "*"}}}}
        write_private(config_dir / "package-lock.json", json.dumps(lock))
        return [path, guard]

    def prepare(
        self,
        request: TurnRequest,
        home: Path,
        env: Mapping[str, str],
        mcp_token: str | None = None,
    ) -> Launch:
        model = self.model(request)
        provider, _ = split_model(model)
        config = self.config(request, env, home)
        config_dir = home / ".config" / self.spec.app
        files = self._seed_config_dir(config_dir, config)
        prompt = home / ".polygent" / f"prompt-{request.turn}.md"
        write_private(prompt, request.prompt)
        files.append(prompt)
        child, secrets = self.environment(home, env, provider)
        child[PROMPT_VAR] = str(prompt)
        child[f"{self.spec.env_prefix}_CONFIG_CONTENT"] = json.dumps(
            {"permission": config["permission"]}
        )
        if mcp_token:
            child[MCP_TOKEN_VAR] = mcp_token
            secrets.append(mcp_token)
        argv = [SHELL, "-c", STDIN_WRAPPER, "sh", self.executable, "run", "--format", "json"]
        argv += ["--thinking", "--title", f"Polygent turn {request.turn}"]
        argv += ["--dir", request.worktree, "--model", model]
        if request.resume_session_id:
            argv += ["--session", request.resume_session_id]
        return Launch(argv=argv, env=child, files=files, secrets=secrets)

    def parser(self) -> OpenCodeStreamParser:
        return OpenCodeStreamParser()

    def finish(
        self, exit_code: int, events: Sequence[AgentEvent], stderr_tail: str = ""
    ) -> TurnResult:
        session = next((e.session_id for e in reversed(events) if e.session_id), None)
        step = next((e for e in reversed(events) if e.kind == "usage" and e.data), None)
        data = step.data if step is not None and step.data else {}
        usage = Usage(**data["total"]) if isinstance(data.get("total"), dict) else Usage()
        cost = data.get("total_cost_usd")
        # 0 USD for real tokens means the model had no configured price: unknown, not free.
        priced = isinstance(cost, int | float) and (cost > 0 or usage == Usage())
        has_error = any(e.kind == "error" for e in events)
        ok = exit_code == 0 and not has_error and step is not None
        texts = [
            e.text for e in events if e.kind == "text" and step and e.message_id == step.message_id
        ]
        error, wait = (None, None) if ok else self._failure(exit_code, events, stderr_tail)
        return TurnResult(
            ok=ok,
            outcome="success" if ok else "error",
            error=error,
            provider_session_id=session,
            usage=usage,
            cost_usd=float(cost) if priced and isinstance(cost, int | float) else None,
            num_turns=data.get("steps") if isinstance(data.get("steps"), int) else None,
            exit_code=exit_code,
            final_text=("\n".join(t for t in texts if t) or None) if ok else None,
            retry_after_seconds=wait,
        )

    def _failure(
        self, exit_code: int, events: Sequence[AgentEvent], stderr_tail: str
    ) -> tuple[str, float | None]:
        """The error message and, for a provider's reset time, the seconds to wait."""
        retry = next((e for e in reversed(events) if e.subtype == "retry"), None)
        rdata = (retry.data or {}) if retry is not None else {}
        if exit_code == GUARD_EXIT and rdata.get("stop"):
            message = (retry.text if retry else None) or "The provider asked to retry"
            wait = rdata.get("wait_seconds")
            if rdata["stop"] == "wait" and isinstance(wait, int | float):
                return f"{message} (the provider asked to wait {wait:.0f} s)", float(wait)
            if rdata["stop"] == "offline":
                return f"{message} (the API is unreachable)", None
            return f"{message} (still failing after {rdata.get('attempt')} attempts)", None
        error = next((e for e in reversed(events) if e.kind == "error"), None)
        if error is not None:
            hint = (error.data or {}).get("retry_after_seconds")
            text = error.text or f"{self.spec.name} reported an error."
            return text, float(hint) if isinstance(hint, int | float) else None
        lines = stderr_tail.strip().splitlines()
        if exit_code != 0:
            return (lines[-1] if lines else f"{self.spec.name} exited with code {exit_code}."), None
        return f"{self.spec.name} ended without a model response.", None

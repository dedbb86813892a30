"""Session-agent activity `agent.run_turn`: one provider CLI turn in a session's worktree.

Credentials arrive as secret references and are redeemed here, into the CLI's environment
only. The CLI gets an isolated HOME per session (kept across turns so `--resume` finds its
transcript). Events are posted to the API as they come (idempotent by turn, attempt and seq,
so a lost response is simply posted again); heartbeats carry the provider session id, so a
retried attempt resumes the conversation instead of starting over. When the CLI exits, the
worktree is committed to a private ref without touching HEAD, the branch or the index. A
failed turn is a `TurnResult(ok=False)`, not an exception: the workflow decides what follows.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager
from functools import partial
from pathlib import Path
from typing import Any, Protocol

import httpx
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.agent.budget import BudgetMeter, BudgetReached
from activities.agent.providers import ProviderCheckError, adapter_for
from activities.agent.runner import run_cli
from activities.agent.worktree_git import GitError, command_env, run_git
from activities.agent.worktrees import check_id
from orchestrator.contracts.agent import AgentEvent, Attachment, TurnInput, TurnResult
from orchestrator.contracts.worktrees import CHECKPOINT_NAMESPACE
from orchestrator.hostagent.client import AgentRejected, SecretUnavailable
from orchestrator.procs import kill_tagged

_ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]{0,127}$")
POST_TRIES = 6
TURN_TAG = "POLYGENT_TURN_SESSION"  # in the CLI's environment, inherited by its tools
TURN_STATE = ".polygent-turn.json"  # in the session's HOME: the provider session of the turn
POST_BACKOFF = 0.5  # seconds, doubled per try


class TurnApi(Protocol):
    async def get_secret(self, ref: str) -> str: ...

    async def post_events(self, session_id: str, events: list[AgentEvent]) -> dict[str, Any]: ...

    async def session_environment(self, session_id: str) -> dict[str, str]: ...

    async def attachment(self, session_id: str, attachment_id: str) -> bytes: ...


def _non_retryable(message: str, kind: str) -> ApplicationError:
    return ApplicationError(message, type=kind, non_retryable=True)


def _transient(exc: Exception) -> bool:
    if isinstance(exc, httpx.HTTPStatusError):
        return exc.response.status_code == 429 or exc.response.status_code >= 500
    return isinstance(exc, httpx.TransportError)


async def post_with_retry(
    api: TurnApi, session_id: str, events: list[AgentEvent]
) -> dict[str, Any]:
    """Post one batch, retrying transient failures: re-posting stored events stores nothing.
    Returns the API's answer (`budget_stop` says a blocking budget is spent)."""
    delay = POST_BACKOFF
    for attempt in range(POST_TRIES):
        try:
            return await api.post_events(session_id, events)
        except AgentRejected as exc:
            raise _non_retryable(str(exc), "AgentRejected") from None
        except Exception as exc:
            if not _transient(exc) or attempt == POST_TRIES - 1:
                raise ApplicationError(
                    f"The session events could not be posted: {exc}", type="EventsNotPosted"
                ) from None
            activity.logger.warning("Posting events failed (%s); retrying in %.1f s.", exc, delay)
            await asyncio.sleep(delay)
            delay *= 2
    raise AssertionError("unreachable: the last try returns or raises")


def _save_provider_session(marker: Path, turn: int, provider_session_id: str) -> None:
    tmp = marker.with_suffix(".tmp")
    tmp.write_text(json.dumps({"turn": turn, "provider_session_id": provider_session_id}))
    tmp.replace(marker)


def _saved_provider_session(marker: Path, turn: int) -> str | None:
    try:
        saved = json.loads(marker.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(saved, dict) or saved.get("turn") != turn:
        return None
    value = saved.get("provider_session_id")
    return value if isinstance(value, str) and value else None


def _safe_name(name: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9._ -]", "_", Path(name).name).strip(" .")
    return cleaned[:120] or "attachment"


async def fetch_attachments(
    api: TurnApi, session_id: str, worktree: Path, attachments: list[Attachment], git: str = "git"
) -> None:
    """Put each attachment at .polygent/attachments/<id>/<name> in the worktree. The folder is
    excluded in the repository's info/exclude (not a .gitignore: some CLIs refuse to read
    gitignored files), so attachments never show in git status or a commit."""
    if not attachments:
        return
    root = worktree / ".polygent"
    root.mkdir(exist_ok=True)
    out = await run_git(git, ["rev-parse", "--git-path", "info/exclude"], cwd=worktree)
    exclude = Path(out.strip())
    exclude = exclude if exclude.is_absolute() else worktree / exclude
    lines = exclude.read_text().splitlines() if exclude.exists() else []
    if "/.polygent/" not in lines:
        exclude.parent.mkdir(parents=True, exist_ok=True)
        exclude.write_text("\n".join([*lines, "/.polygent/"]) + "\n")
    for att in attachments:
        check_id(att.id, "attachment id")
        folder = root / "attachments" / att.id
        target = folder / _safe_name(att.name)
        if target.exists():
            continue
        try:
            data = await api.attachment(session_id, att.id)
        except AgentRejected as exc:
            raise _non_retryable(str(exc), "AgentRejected") from None
        folder.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


async def session_env(api: TurnApi, session_id: str) -> dict[str, str]:
    try:
        values = await api.session_environment(session_id)
    except AgentRejected as exc:
        raise _non_retryable(str(exc), "AgentRejected") from None
    return {k: v for k, v in values.items() if _ENV_NAME.match(k)}


def _porcelain_names(status: str) -> list[str]:
    """File names from `git status --porcelain=v1 -z` (a rename's old name is skipped)."""
    names: list[str] = []
    fields = iter(status.split("\0"))
    for entry in fields:
        if len(entry) < 4:
            continue
        names.append(entry[3:])
        if entry[0] in "RC":
            next(fields, None)
    return names


async def snapshot(git: str, worktree: Path, ref: str) -> tuple[list[str], str | None]:
    """The changed files and a commit of the whole tree at `ref` (None when nothing changed).

    A throwaway index takes `git add -A`, so HEAD, the branch and the real index stay as the
    agent left them; the ref is overwritten, so a retried turn replaces its own checkpoint.
    """
    env = command_env()
    status = await run_git(
        git, ["status", "--porcelain=v1", "-z", "--untracked-files=all"],
        cwd=worktree, env={**env, "GIT_OPTIONAL_LOCKS": "0"},
    )  # fmt: skip
    names = _porcelain_names(status)
    if not names:
        return [], None
    gitdir = Path((await run_git(git, ["rev-parse", "--absolute-git-dir"], cwd=worktree)).strip())
    head = (
        await run_git(git, ["rev-parse", "--verify", "-q", "HEAD"], cwd=worktree, check=False)
    ).strip()
    with tempfile.TemporaryDirectory(prefix="turn-", dir=gitdir) as tmp:
        index = Path(tmp) / "index"
        if (gitdir / "index").exists():
            shutil.copyfile(gitdir / "index", index)
        temp_env = {**env, "GIT_INDEX_FILE": str(index)}
        await run_git(git, ["add", "-A", "--", "."], cwd=worktree, env=temp_env)
        tree = (await run_git(git, ["write-tree"], cwd=worktree, env=temp_env)).strip()
    parents = ["-p", head] if head else []
    message = f"polygent checkpoint: {ref.rsplit('/', 1)[-1]}"
    sha = (
        await run_git(git, ["commit-tree", tree, *parents, "-m", message], cwd=worktree, env=env)
    ).strip()
    await run_git(git, ["update-ref", ref, sha], cwd=worktree, env=env)
    return names, ref


class AgentTurnActivities:
    """Built once per session agent with its storage path and a factory for its API client."""

    def __init__(
        self,
        storage_path: Path,
        api_factory: Callable[[], AbstractAsyncContextManager[TurnApi]],
        git: str = "git",
        heartbeat_interval: float = 0.5,
    ) -> None:
        self.root = Path(storage_path).resolve()
        self.api = api_factory
        self.git = git
        self.heartbeat_interval = heartbeat_interval

    def _worktree(self, path: str) -> Path:
        resolved = Path(path).resolve()
        if not resolved.is_relative_to(self.root) or not resolved.is_dir():
            raise _non_retryable(
                f"The worktree {path} is not a directory inside {self.root}.", "InvalidTurnInput"
            )
        return resolved

    async def _redeem(self, api: TurnApi, refs: Mapping[str, str]) -> dict[str, str]:
        values: dict[str, str] = {}
        for name, ref in refs.items():
            if not _ENV_NAME.match(name):
                raise _non_retryable(
                    f"{name!r} is not an environment variable name.", "InvalidTurnInput"
                )
            try:
                values[name] = await api.get_secret(ref)
            except (SecretUnavailable, AgentRejected) as exc:
                raise _non_retryable(
                    f"The credential {name} could not be fetched: {exc}.", "SecretUnavailable"
                ) from None
        return values

    @activity.defn(name="agent.run_turn")
    async def run_turn(self, inp: TurnInput) -> TurnResult:
        sid = check_id(inp.session_id, "session id")
        worktree = self._worktree(inp.worktree_path)
        home = self.root / "homes" / sid
        info = activity.info()
        previous: dict[str, Any] = {}
        if info.attempt > 1 and info.heartbeat_details:
            first = info.heartbeat_details[0]
            previous = first if isinstance(first, dict) else {}
        request = inp.request.model_copy(
            update={"worktree": str(worktree), "home": str(home), "attempt": info.attempt}
        )
        if previous.get("provider_session_id") and not request.resume_session_id:
            request.resume_session_id = str(previous["provider_session_id"])
        marker = home / TURN_STATE
        if info.attempt > 1 and not request.resume_session_id:
            # The last heartbeat may not have left before the agent died: the id is on disk too.
            request.resume_session_id = _saved_provider_session(marker, request.turn)
        try:
            adapter = adapter_for(request.provider)
        except ProviderCheckError as exc:
            raise _non_retryable(str(exc), "ProviderCheckFailed") from None

        async with self.api() as api:
            credentials = await self._redeem(api, inp.credential_refs)
            variables = await session_env(api, sid) if inp.session_env else {}
            await fetch_attachments(api, sid, worktree, inp.attachments, self.git)
            mcp_token = None
            if request.mcp is not None and request.mcp.bearer_token_ref:
                mcp_token = (await self._redeem(api, {"MCP_TOKEN": request.mcp.bearer_token_ref}))[
                    "MCP_TOKEN"
                ]
            env = {**os.environ, **variables, **credentials}
            try:
                adapter.check(request, env)
            except ProviderCheckError as exc:
                raise _non_retryable(str(exc), "ProviderCheckFailed") from None
            home.mkdir(parents=True, exist_ok=True, mode=0o700)
            launch = adapter.prepare(request, home, env, mcp_token=mcp_token)
            launch.env[TURN_TAG] = sid
            stale = kill_tagged(TURN_TAG, sid)  # what a killed agent's attempt left running
            if stale:
                activity.logger.warning(
                    "Killed %d process(es) left by an earlier attempt of session %s.", stale, sid
                )

            state: dict[str, Any] = {"provider_session_id": request.resume_session_id}
            start_seq = 0
            if info.attempt > 1:
                start_seq = 1
                how = "resuming the conversation" if request.resume_session_id else "starting again"
                note = AgentEvent(
                    kind="system", subtype="interrupted", seq=1, turn=request.turn,
                    attempt=info.attempt,
                    text=f"Attempt {info.attempt - 1} of this turn was interrupted; {how}.",
                )  # fmt: skip
                await post_with_retry(api, sid, [note])

            meter = BudgetMeter(request.budget_usd, request.price)

            async def on_events(batch: list[AgentEvent]) -> None:
                for event in batch:
                    if event.session_id and event.session_id != state["provider_session_id"]:
                        state["provider_session_id"] = event.session_id
                        _save_provider_session(marker, request.turn, event.session_id)
                answer = await post_with_retry(api, sid, batch)
                meter.add(batch)  # after posting: the events that crossed it are stored
                if request.budget_gated and answer.get("budget_stop"):
                    meter.stop(str(answer["budget_stop"]))

            def heartbeat(seq: int) -> None:
                activity.heartbeat(
                    {"last_seq": seq, "provider_session_id": state["provider_session_id"]}
                )

            try:
                # The built-in agent (Polygent Code) runs in this process instead of a CLI.
                run = getattr(adapter, "run_in_process", None) or partial(
                    run_cli, parse=adapter.parser().parse
                )
                outcome = await run(
                    launch, worktree, on_events=on_events,
                    turn=request.turn, attempt=info.attempt, start_seq=start_seq,
                    heartbeat=heartbeat, heartbeat_interval=self.heartbeat_interval,
                    secrets=[*credentials.values(), *([mcp_token] if mcp_token else [])],
                )  # fmt: skip
            except BudgetReached:
                outcome = None
                activity.logger.warning("Session %s: %s", sid, meter.message)
        if outcome is None:
            result = meter.result(state["provider_session_id"])
        else:
            result = adapter.finish(outcome.exit_code, outcome.events, outcome.stderr_tail)
        ref = f"{CHECKPOINT_NAMESPACE}/{sid}/turn-{request.turn}"
        try:
            changed, saved = await snapshot(self.git, worktree, ref)
        except GitError as exc:
            activity.logger.warning("The checkpoint of session %s failed: %s", sid, exc)
            return result
        activity.logger.info(
            "Turn %s of session %s ended (ok=%s, %d files changed).",
            request.turn, sid, result.ok, len(changed),
        )  # fmt: skip
        return result.model_copy(update={"changed_files": changed, "checkpoint_ref": saved})

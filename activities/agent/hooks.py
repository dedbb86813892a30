"""Session-agent activity `agent.run_hook`: one hook script in a session's worktree.

The workspace variables (secret ones decrypted) come from the API just before the script
runs, go into its environment only; the secret ones are redacted from its output (the API
client adds them to the process redactor as it receives them). A failed run raises
a retryable `HookFailed`/`HookTimedOut` carrying the `HookRunResult` as its details, so
Temporal retries it per the hook's `retries` and the workflow can record the last attempt.
Failures that are not the script's (no worktree, the API unreachable) carry no details.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.agent.hook_process import (
    InterpreterMissing,
    command,
    run_script,
    script_file,
)
from activities.agent.worktrees import WorktreeActivities, check_id
from orchestrator.contracts.hooks import CUT, MAX_OUTPUT, HookRunResult, RunHookInput, tail
from orchestrator.hostagent.client import AgentRejected
from orchestrator.logs import REDACTOR


class HookApi(Protocol):
    async def session_environment(self, session_id: str) -> dict[str, str]:
        """The variables; the secret values are added to `REDACTOR` before this returns."""
        ...


def _now() -> datetime:
    return datetime.now(UTC)


class HookActivities:
    """Built once per session agent, beside its WorktreeActivities (which own the paths)."""

    def __init__(
        self,
        worktrees: WorktreeActivities,
        api_factory: Callable[[], AbstractAsyncContextManager[HookApi]],
        heartbeat_interval: float = 2.0,
        kill_grace: float = 2.0,
    ) -> None:
        self.worktrees = worktrees
        self.api = api_factory
        self.heartbeat_interval = heartbeat_interval
        self.kill_grace = kill_grace

    async def _environment(self, session_id: str) -> dict[str, str]:
        try:
            async with self.api() as api:
                return await api.session_environment(session_id)
        except AgentRejected as exc:
            raise ApplicationError(str(exc), type="AgentRejected", non_retryable=True) from None
        except Exception as exc:
            raise ApplicationError(
                f"The workspace variables could not be fetched: {exc}",
                type="EnvironmentUnavailable",
            ) from None

    def _failed(self, result: HookRunResult, kind: str, retry: bool = True) -> ApplicationError:
        message = result.output.strip().splitlines()[-1:] or [""]
        return ApplicationError(
            f"The hook failed ({kind}): {message[0][:300]}", result.model_dump(mode="json"),
            type=kind, non_retryable=not retry,
        )  # fmt: skip

    @activity.defn(name="agent.run_hook")
    async def run_hook(self, inp: RunHookInput) -> HookRunResult:
        sid = check_id(inp.session_id, "session id")
        _, _, worktree = self.worktrees._worktree(inp.workspace_id, sid)
        if not worktree.is_dir():
            raise ApplicationError(
                f"The session {sid} has no worktree on this host.", type="WorktreeMissing",
                non_retryable=True,
            )  # fmt: skip
        hook = inp.hook
        attempt = activity.info().attempt
        started = _now()

        def finish(ok: bool, output: str, **kw: object) -> HookRunResult:
            return HookRunResult.model_validate(
                {"ok": ok, "output": output, "attempt": attempt, "started_at": started,
                 "finished_at": _now(), **kw}
            )  # fmt: skip

        cwd = (worktree / hook.working_directory).resolve()
        if not cwd.is_relative_to(worktree) or not cwd.is_dir():
            result = finish(False, f"The working directory {hook.working_directory!r} is not "
                            "a directory inside the worktree.")  # fmt: skip
            raise self._failed(result, "WorkingDirectoryMissing", retry=False)
        variables = await self._environment(sid)  # secret values join REDACTOR on the way
        env = {
            **os.environ, **variables,
            "POLYGENT_SESSION_ID": sid, "POLYGENT_WORKSPACE_ID": inp.workspace_id,
            "POLYGENT_HOOK_EVENT": inp.event, "POLYGENT_HOOK_NAME": hook.name,
            "POLYGENT_BRANCH": inp.branch or "", "POLYGENT_WORKTREE": str(worktree),
        }  # fmt: skip
        with tempfile.TemporaryDirectory(prefix="polygent-hook-") as tmp:
            file = script_file(Path(tmp), hook.script_type, hook.script)
            try:
                argv = command(hook.script_type, hook.script, file, env.get("PATH"))
            except InterpreterMissing as exc:
                raise self._failed(finish(False, f"{exc}."), "InterpreterMissing", False) from None
            try:
                outcome = await run_script(
                    argv, cwd, env, hook.timeout_seconds, heartbeat=activity.heartbeat,
                    heartbeat_interval=self.heartbeat_interval, kill_grace=self.kill_grace,
                    keep=MAX_OUTPUT,
                )  # fmt: skip
            except OSError as exc:
                result = finish(False, f"The script could not start: {exc.strerror or exc}.")
                raise self._failed(result, "HookFailed") from None
        text = (CUT if outcome.cut else "") + outcome.output.decode(errors="replace")
        output = tail(REDACTOR.redact(text))
        if outcome.timed_out:
            output = tail(f"{output}\n[killed after {hook.timeout_seconds} s]")
        result = finish(
            outcome.exit_code == 0, output, exit_code=outcome.exit_code,
            timed_out=outcome.timed_out,
        )  # fmt: skip
        how = "ok" if result.ok else f"exit code {outcome.exit_code}"
        level = logging.INFO if result.ok else logging.WARNING
        how = "timed out" if outcome.timed_out else how
        activity.logger.log(level, "Hook %s (%s) of %s: %s.", hook.name, inp.event, sid, how)
        if not result.ok:
            raise self._failed(result, "HookTimedOut" if outcome.timed_out else "HookFailed")
        return result

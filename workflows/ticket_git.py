"""The git steps of a ticket, run on its session's host with the session panel's activities:
commit what the agent left uncommitted, then merge into the starter branch (Direct Merge) or
push the branch (Pull Request). Each remote try gets a fresh single-use token reference.

Deterministic helpers for TicketWorkflow (they only schedule activities and timers).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, TimeoutError, TimeoutType

with workflow.unsafe.imports_passed_through():
    from orchestrator.contracts.session_panel import (
        MAX_PATHS,
        Author,
        GitActionResult,
        GitCommitInput,
        GitPathsInput,
        GitRemoteInput,
        GitStatus,
        GitStatusInput,
    )
    from orchestrator.contracts.tickets import GitInputRequest
    from orchestrator.queues import agent_queue

CONTROL = timedelta(seconds=30)
CONTROL_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30)
)
OFFLINE_WAIT_SECONDS = 60
SCHEDULE_TO_START = timedelta(seconds=60)
REMOTE = timedelta(seconds=300)
LOCAL = timedelta(seconds=120)


class HostOffline(Exception):
    """The host did not take the task in time: try again once it is back."""


class GitRefused(Exception):
    """A git step failed for good (the reason is the message)."""


async def control(name: str, arg: object, out: type[Any] | None) -> Any:
    return await workflow.execute_activity(
        name, arg, result_type=out, start_to_close_timeout=CONTROL, retry_policy=CONTROL_RETRY
    )


async def on_host(
    host_id: str, name: str, arg: object, out: type[Any], timeout: timedelta, attempts: int = 3
) -> Any:
    """Run a session activity on the host; HostOffline or GitRefused when it does not."""
    try:
        return await workflow.execute_activity(
            name, arg, result_type=out, task_queue=agent_queue(host_id),
            schedule_to_start_timeout=SCHEDULE_TO_START, start_to_close_timeout=timeout,
            retry_policy=RetryPolicy(maximum_attempts=attempts),
        )  # fmt: skip
    except ActivityError as err:
        cause = err.cause
        if isinstance(cause, TimeoutError) and cause.type == TimeoutType.SCHEDULE_TO_START:
            raise HostOffline(host_id) from None
        if isinstance(cause, ApplicationError):
            raise GitRefused(cause.message) from None
        raise GitRefused(str(cause or err)) from None


async def commit_work(
    host_id: str, workspace_id: str, session_id: str, message: str, author: Author
) -> None:
    """Stage every change of the worktree (in chunks) and commit it, if there is any."""
    target = {"workspace_id": workspace_id, "session_id": session_id}
    for _ in range(20):
        status: GitStatus = await on_host(
            host_id, "session.git_status", GitStatusInput(**target), GitStatus, LOCAL
        )
        paths = [f.path for f in status.files if f.worktree not in (" ", "")]
        for i in range(0, len(paths), MAX_PATHS):
            chunk = GitPathsInput(**target, paths=paths[i : i + MAX_PATHS])
            await on_host(host_id, "session.git_stage", chunk, GitActionResult, LOCAL)
        if not status.truncated:
            break
    commit = GitCommitInput(**target, message=message, author=author)
    await on_host(host_id, "session.git_commit", commit, GitActionResult, LOCAL)


async def publish(ticket_id: str, host_id: str, activity: str, message: str) -> GitActionResult:
    """Commit the work, then merge into the starter branch (`session.git_merge`) or push the
    branch (`session.git_push`); a starter branch that moved on meanwhile is tried again."""
    inp: GitRemoteInput = await control(
        "tickets.git_input", GitInputRequest(ticket_id=ticket_id, purpose=activity),
        GitRemoteInput,
    )  # fmt: skip
    await commit_work(host_id, inp.workspace_id, inp.session_id, message, inp.author)
    result = GitActionResult(ok=False, message="Not tried.")
    for attempt in range(5):
        if attempt:
            await workflow.sleep(5)
            inp = await control(
                "tickets.git_input", GitInputRequest(ticket_id=ticket_id, purpose=activity),
                GitRemoteInput,
            )  # fmt: skip
        result = await on_host(host_id, activity, inp, GitActionResult, REMOTE, attempts=1)
        if result.ok or result.files or activity != "session.git_merge":
            break
    return result

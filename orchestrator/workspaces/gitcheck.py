"""Check a git URL, branch and token on a session host before a workspace is saved.

The API never runs git: it mints a secret reference for the token, runs GitCheckWorkflow,
which runs `git.ls_remote` on an online session host, and discards the reference afterwards
(the host deletes it on use; this covers a host that never took the task).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from datetime import timedelta

from temporalio.client import Client
from temporalio.service import RPCError

from orchestrator.contracts.git import GitCheckInput, GitCheckOutcome, GitCheckRequest
from orchestrator.db import Database
from orchestrator.hosts.repository import HostRepository
from orchestrator.queues import ORCHESTRATOR_QUEUE
from orchestrator.secrets.service import SecretRefService
from orchestrator.security.crypto import SecretBox
from orchestrator.workspaces.errors import Invalid, Unavailable
from workflows.git_check import GitCheckWorkflow

PURPOSE = "git.ls_remote"
WAIT = 60.0
AUTH_HINTS = ("could not read Username", "Authentication failed", "403", "401")


class GitChecker:
    def __init__(
        self,
        db: Database,
        box: SecretBox,
        client: Client | None,
        schedule_to_start_seconds: float,
        wait_seconds: float = WAIT,
    ) -> None:
        self.db = db
        self.box = box
        self.client = client
        self.schedule_to_start = schedule_to_start_seconds
        self.wait = wait_seconds

    async def _online_session_hosts(self) -> list[str]:
        async with self.db.session() as s:
            workers = await HostRepository(s).list_workers()
        live = [w for w in workers if w.kind == "session" and w.online]
        live.sort(key=lambda w: w.last_heartbeat_at or w.registered_at, reverse=True)
        return [w.host_id for w in live]

    async def verify(
        self, git_url: str, branch: str, pat: str | None, workspace_id: str | None = None
    ) -> None:
        """Return when git can read `branch` at `git_url` with `pat`; else raise Invalid
        naming the field (git_url, or default_branch) or Unavailable (no host, no Temporal)."""
        if self.client is None:
            raise Unavailable("Temporal is not connected yet.")
        hosts = await self._online_session_hosts()
        if not hosts:
            raise Unavailable(
                "No session host is online to check the git URL; start an agent and retry."
            )
        ref = None
        if pat:
            async with self.db.session() as s:
                ref = await SecretRefService(s, self.box).mint(
                    PURPOSE, pat, workspace_id=workspace_id
                )
        try:
            outcome = await self._run(
                GitCheckRequest(
                    check=GitCheckInput(git_url=git_url, branch=branch, secret_ref=ref),
                    hosts=hosts,
                    schedule_to_start_seconds=self.schedule_to_start,
                )
            )
        finally:
            if ref is not None:
                async with self.db.session() as s:
                    await SecretRefService(s, self.box).discard(ref)
        result = outcome.result
        if result is None or not result.ran:
            why = outcome.error if result is None else result.error
            raise Unavailable(f"The git check could not run: {why}.")
        if not result.ok:
            error = result.error or "no reason given"
            if any(hint in error for hint in AUTH_HINTS):
                error += " (the repository refused access: check the git PAT)"
            raise Invalid("git_url", f"git ls-remote failed: {error}")
        if not result.branch_found:
            raise Invalid("default_branch", f"The branch {branch} does not exist in {git_url}.")

    async def _run(self, req: GitCheckRequest) -> GitCheckOutcome:
        assert self.client is not None
        try:
            handle = await self.client.start_workflow(
                GitCheckWorkflow.run,
                req,
                id=f"git-check-{uuid.uuid4().hex[:12]}",
                task_queue=ORCHESTRATOR_QUEUE,
                execution_timeout=timedelta(seconds=self.wait + 30),
            )
        except RPCError as exc:
            raise Unavailable(f"Temporal refused the git check: {exc.message}.") from None
        try:
            return await asyncio.wait_for(handle.result(), self.wait)
        except TimeoutError:
            with contextlib.suppress(RPCError):
                await handle.terminate("the API stopped waiting")
            raise Unavailable(f"The git check gave no answer within {self.wait:g} s.") from None
        except Exception as exc:
            raise Unavailable(f"The git check failed: {exc}.") from None

"""The session panel, API side: run a `session.*` activity on the session's host and map the
answer to HTTP terms.

The API never touches a worktree: every call is one HostCallWorkflow on the host the session
runs on (`session-<id>-panel-<uuid>`). An offline host is noticed within the schedule-to-start
timeout. Remote operations get the workspace token as a single-use secret reference, minted
and committed before the call and discarded after it (the host deletes it on use; this covers
a host that never took the task). Pushes and merges are audited whatever their outcome.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any, TypeVar

from pydantic import BaseModel, Field, field_validator
from temporalio.client import Client, WorkflowFailureError
from temporalio.service import RPCError

from orchestrator.audit.repository import AuditRepository
from orchestrator.auth.service import Principal
from orchestrator.contracts.session_panel import (
    MAX_FILE_BYTES,
    MAX_MESSAGE_CHARS,
    MAX_PATHS,
    Author,
    EntryPath,
    GitActionResult,
    GitRemoteInput,
    HostCall,
    HostCallOutcome,
)
from orchestrator.db import Database
from orchestrator.queues import ORCHESTRATOR_QUEUE
from orchestrator.schemas import RequestModel
from orchestrator.secrets.service import SecretRefService
from orchestrator.security.crypto import SecretBox
from orchestrator.sessions.models import Session
from orchestrator.workspaces.errors import Invalid
from orchestrator.workspaces.repository import WorkspaceRepository
from orchestrator.workspaces.service import WorkspaceService
from workflows.host_call import HostCallWorkflow

M = TypeVar("M", bound=BaseModel)
REMOTE_SECONDS = 120.0  # one fetch or push
LOCAL_SECONDS = 60.0
AUDITED = {"session.git_push": "session.git_push", "session.git_merge": "session.git_merge"}
# What a host's refusal means for the caller; anything else is the host's trouble (503).
ERROR_STATUS = {
    "InvalidPath": 422,
    "PathNotFound": 404,
    "WorktreeMissing": 409,
    "GitFailed": 409,
    "BaseBranchMissing": 409,
    "InvalidWorktreeInput": 409,
    "UnsafeRepositoryConfig": 409,
}


class FileWriteBody(RequestModel):
    path: EntryPath
    content: str = Field(max_length=MAX_FILE_BYTES, description="UTF-8 text, at most 1 MB.")

    @field_validator("content")
    @classmethod
    def _fits(cls, value: str) -> str:
        try:
            size = len(value.encode())
        except UnicodeEncodeError:
            raise ValueError("must be valid Unicode text (no lone surrogates)") from None
        if size > MAX_FILE_BYTES:
            raise ValueError(f"must be at most {MAX_FILE_BYTES} bytes as UTF-8")
        return value


class PathsBody(RequestModel):
    paths: list[EntryPath] = Field(min_length=1, max_length=MAX_PATHS)


class CommitBody(RequestModel):
    message: str = Field(min_length=1, max_length=MAX_MESSAGE_CHARS)

    @field_validator("message")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        try:
            value.encode()
        except UnicodeEncodeError:
            raise ValueError("must be valid Unicode text (no lone surrogates)") from None
        return value


class PanelError(Exception):
    """Refused: `status` is the HTTP answer; `files` the conflicted files of a 409; `field`
    the request field a 422 is about."""

    def __init__(
        self, status: int, message: str, files: list[str] | None = None, field: str = "path"
    ) -> None:
        super().__init__(message)
        self.status = status
        self.files = files
        self.field = field


def author_of(principal: Principal) -> Author:
    name = (principal.name or "").strip()[:200] or "Polygent user"
    email = (principal.email or "").strip()[:320] or f"{principal.user_id}@users.polygent.invalid"
    return Author(name=name, email=email)


def refused(result: GitActionResult) -> GitActionResult:
    """A git action that did not happen (conflicts, nothing staged, a refused push) is a 409."""
    if not result.ok:
        raise PanelError(409, result.message, files=result.files if result.files else None)
    return result


class SessionPanel:
    def __init__(
        self, db: Database, box: SecretBox, client: Client | None, schedule_to_start: float
    ) -> None:
        self.db = db
        self.box = box
        self.client = client
        self.schedule_to_start = schedule_to_start

    async def call(
        self,
        row: Session,
        activity: str,
        payload: BaseModel,
        result_type: type[M],
        *,
        field: str = "path",
        seconds: float = LOCAL_SECONDS,
        heartbeat: float | None = None,
    ) -> M:
        """Run `activity` on the session's host; its result, or PanelError."""
        if row.host_id is None:
            raise PanelError(409, "The session has no worktree yet.")
        if self.client is None:
            raise PanelError(503, "Temporal is not connected yet.")
        call = HostCall(
            host_id=row.host_id, activity=activity, payload=payload.model_dump(mode="json"),
            schedule_to_start_seconds=self.schedule_to_start, start_to_close_seconds=seconds,
            heartbeat_seconds=heartbeat,
        )  # fmt: skip
        try:
            outcome: HostCallOutcome = await self.client.execute_workflow(
                HostCallWorkflow.run,
                call,
                id=f"session-{row.id}-panel-{uuid.uuid4().hex[:12]}",
                task_queue=ORCHESTRATOR_QUEUE,
                execution_timeout=timedelta(seconds=self.schedule_to_start + seconds + 30),
            )
        except (RPCError, WorkflowFailureError) as exc:
            raise PanelError(503, f"The call to host {row.host_id} failed: {exc}.") from None
        if outcome.offline:
            raise PanelError(503, f"Host {row.host_id} is offline.")
        if outcome.error is not None:
            status = ERROR_STATUS.get(outcome.error_type or "", 503)
            raise PanelError(status, outcome.error, field=field)
        return result_type.model_validate(outcome.result or {})

    async def remote(
        self, row: Session, principal: Principal, activity: str, ip: str | None
    ) -> GitActionResult:
        """Push, pull or merge with the workspace token (as a secret reference)."""
        if row.host_id is None:
            raise PanelError(409, "The session has no worktree yet.")
        if not row.branch or not row.base_branch:
            raise PanelError(409, "The session has no branch yet.")
        async with self.db.session() as s:
            ws = await WorkspaceRepository(s).get(row.workspace_id)
            if ws is None:
                raise PanelError(404, "No such session.")
            try:
                pat = WorkspaceService(s, self.box, principal).git_pat(ws)
            except Invalid as exc:
                raise PanelError(409, exc.message) from None
            ref = None
            if pat:
                ref = await SecretRefService(s, self.box).mint(activity, pat, workspace_id=ws.id)
            inp = GitRemoteInput(
                workspace_id=row.workspace_id, session_id=row.id, git_url=ws.git_url,
                branch=row.branch, base_branch=row.base_branch, author=author_of(principal),
                secret_ref=ref, timeout_seconds=REMOTE_SECONDS,
            )  # fmt: skip
        try:
            result = await self.call(
                row, activity, inp, GitActionResult, seconds=2 * REMOTE_SECONDS + 60, heartbeat=60
            )
        finally:
            if ref is not None:
                async with self.db.session() as s:
                    await SecretRefService(s, self.box).discard(ref)
        if activity in AUDITED:
            await self._audit(AUDITED[activity], row, principal, ip, result)
        return result

    async def _audit(
        self, action: str, row: Session, principal: Principal, ip: str | None, r: GitActionResult
    ) -> None:
        details: dict[str, Any] = {
            "workspace_id": row.workspace_id, "branch": row.branch,
            "base_branch": row.base_branch, "host_id": row.host_id, "ok": r.ok, "sha": r.sha,
            "conflicts": r.files[:50], "message": r.message[:500],
        }  # fmt: skip
        async with self.db.session() as s:
            await AuditRepository(s).add(
                action, actor_type="user", actor_id=principal.user_id, target_type="session",
                target_id=row.id, ip=ip, details=details,
            )  # fmt: skip

"""The session panel: the worktree's files and git, `/api/sessions/{id}/files...` and `/git/...`.

Access: reads need the session viewable (membership, then sessions.view_all or view_own),
writes editable (own with sessions.edit, or sessions.manage_all); merging into the starter
branch also needs sessions.merge_to_starter. Each call runs on the session's host; an
offline host is a 503, a refused git action a 409 (with `files` when they conflict).
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import AfterValidator

from api.auth import CurrentUser, require
from api.deps import DbSession, State, client_ip
from api.problems import errors, problem
from api.routes.session_access import SessionId, editable, viewable
from orchestrator.auth.service import Principal
from orchestrator.contracts.session_panel import (
    MAX_PATH_CHARS,
    FileContent,
    FileListing,
    FileReadInput,
    FilesListInput,
    FileWriteInput,
    FileWritten,
    GitActionResult,
    GitCommitInput,
    GitDiff,
    GitDiffInput,
    GitPathsInput,
    GitStatus,
    GitStatusInput,
    clean_file_path,
    clean_path,
)
from orchestrator.sessions.models import Session
from orchestrator.sessions.panel import (
    CommitBody,
    FileWriteBody,
    PanelError,
    PathsBody,
    SessionPanel,
    author_of,
    refused,
)

router = APIRouter(prefix="/api/sessions/{session_id}", tags=["session panel"])
DirQuery = Annotated[
    str,
    Query(max_length=MAX_PATH_CHARS, description="Relative to the worktree root; '' is the root."),
    AfterValidator(clean_path),
]
FileQuery = Annotated[
    str,
    Query(max_length=MAX_PATH_CHARS, description="A path relative to the worktree root."),
    AfterValidator(clean_file_path),
]
READ = errors(401, 403, 404, 409, 422, 503)
WRITE = errors(401, 403, 404, 409, 413, 422, 503)
T = TypeVar("T")


def session_panel(state: State) -> SessionPanel:
    return SessionPanel(
        state.db, state.secrets, state.temporal, state.settings.schedule_to_start_seconds
    )


Panel = Annotated[SessionPanel, Depends(session_panel)]


async def _session(db: DbSession, user: Principal, session_id: str, *, edit: bool) -> Session:
    """The session if the caller may read (or, with `edit`, act on) it; the read transaction
    ends here so none stays open while the host works."""
    row = await (editable if edit else viewable)(db, user, session_id)
    await db.commit()
    return row


async def _answer(work: Awaitable[T]) -> T | JSONResponse:
    """The result, or the refusal as problem+json (a 409 lists conflicted `files`)."""
    try:
        return await work
    except PanelError as exc:
        if exc.status == 422:
            return problem(
                422, "Invalid request", f"{exc.field}: {exc}",
                errors=[{"field": exc.field, "message": str(exc)}],
            )  # fmt: skip
        extra: dict[str, Any] = {"files": exc.files} if exc.files is not None else {}
        titles = {404: "Not Found", 409: "Conflict", 503: "Service Unavailable"}
        return problem(exc.status, titles.get(exc.status, "Error"), str(exc), **extra)


# -- files -----------------------------------------------------------------------------------


@router.get("/files", response_model=FileListing, responses=READ)
async def list_files(
    session_id: SessionId, user: CurrentUser, db: DbSession, panel: Panel, path: DirQuery = ""
) -> Any:
    """A directory of the worktree (`.git` is never listed)."""
    row = await _session(db, user, session_id, edit=False)
    inp = FilesListInput(workspace_id=row.workspace_id, session_id=row.id, path=path)
    return await _answer(panel.call(row, "session.files_list", inp, FileListing))


@router.get("/files/content", response_model=FileContent, responses=READ)
async def read_file(
    session_id: SessionId, user: CurrentUser, db: DbSession, panel: Panel, path: FileQuery
) -> Any:
    """A file's text; binary files and files over 1 MB come without content."""
    row = await _session(db, user, session_id, edit=False)
    inp = FileReadInput(workspace_id=row.workspace_id, session_id=row.id, path=path)
    return await _answer(panel.call(row, "session.file_read", inp, FileContent))


@router.put("/files/content", response_model=FileWritten, responses=WRITE)
async def write_file(
    session_id: SessionId, body: FileWriteBody, user: CurrentUser, db: DbSession, panel: Panel
) -> Any:
    """Create or replace a file inside the worktree (never in `.git`, never through a link
    that leaves it)."""
    row = await _session(db, user, session_id, edit=True)
    inp = FileWriteInput(
        workspace_id=row.workspace_id, session_id=row.id, path=body.path, content=body.content
    )
    return await _answer(panel.call(row, "session.file_write", inp, FileWritten))


# -- git: read -------------------------------------------------------------------------------


@router.get("/git/status", response_model=GitStatus, responses=READ)
async def git_status(session_id: SessionId, user: CurrentUser, db: DbSession, panel: Panel) -> Any:
    """Changed files, and commits ahead of / behind the starter branch as last fetched."""
    row = await _session(db, user, session_id, edit=False)
    inp = GitStatusInput(
        workspace_id=row.workspace_id, session_id=row.id, base_branch=row.base_branch
    )
    return await _answer(panel.call(row, "session.git_status", inp, GitStatus))


@router.get("/git/diff", response_model=GitDiff, responses=READ)
async def git_diff(
    session_id: SessionId,
    user: CurrentUser,
    db: DbSession,
    panel: Panel,
    path: FileQuery,
    staged: Annotated[bool, Query(description="The staged change, not the unstaged.")] = False,
) -> Any:
    """One file's diff: index against HEAD (`staged`), else the worktree against the index."""
    row = await _session(db, user, session_id, edit=False)
    inp = GitDiffInput(workspace_id=row.workspace_id, session_id=row.id, path=path, staged=staged)
    return await _answer(panel.call(row, "session.git_diff", inp, GitDiff))


# -- git: local changes ------------------------------------------------------------------------


async def _paths(
    activity: str, session_id: str, body: PathsBody, user: Principal, db: DbSession, panel: Panel
) -> Any:
    row = await _session(db, user, session_id, edit=True)
    inp = GitPathsInput(workspace_id=row.workspace_id, session_id=row.id, paths=body.paths)
    return await _answer(panel.call(row, activity, inp, GitActionResult, field="paths"))


@router.post("/git/stage", response_model=GitActionResult, responses=WRITE)
async def git_stage(
    session_id: SessionId, body: PathsBody, user: CurrentUser, db: DbSession, panel: Panel
) -> Any:
    """`git add --all` of these paths (new, changed and deleted files)."""
    return await _paths("session.git_stage", session_id, body, user, db, panel)


@router.post("/git/unstage", response_model=GitActionResult, responses=WRITE)
async def git_unstage(
    session_id: SessionId, body: PathsBody, user: CurrentUser, db: DbSession, panel: Panel
) -> Any:
    """Take these paths out of the index (the worktree keeps the changes)."""
    return await _paths("session.git_unstage", session_id, body, user, db, panel)


@router.post("/git/discard", response_model=GitActionResult, responses=WRITE)
async def git_discard(
    session_id: SessionId, body: PathsBody, user: CurrentUser, db: DbSession, panel: Panel
) -> Any:
    """Throw away unstaged changes to these paths; untracked files among them are deleted."""
    return await _paths("session.git_discard", session_id, body, user, db, panel)


@router.post("/git/commit", response_model=GitActionResult, responses=WRITE)
async def git_commit(
    session_id: SessionId, body: CommitBody, user: CurrentUser, db: DbSession, panel: Panel
) -> Any:
    """Commit what is staged, authored by the caller; 409 when nothing is staged."""
    row = await _session(db, user, session_id, edit=True)
    inp = GitCommitInput(
        workspace_id=row.workspace_id, session_id=row.id, message=body.message,
        author=author_of(user),
    )  # fmt: skip

    async def commit() -> GitActionResult:
        return refused(await panel.call(row, "session.git_commit", inp, GitActionResult))

    return await _answer(commit())


# -- git: the remote ---------------------------------------------------------------------------


async def _remote(
    activity: str, session_id: str, user: Principal, db: DbSession, panel: Panel, ip: str | None
) -> Any:
    row = await _session(db, user, session_id, edit=True)

    async def run() -> GitActionResult:
        return refused(await panel.remote(row, user, activity, ip))

    return await _answer(run())


@router.post("/git/push", response_model=GitActionResult, responses=WRITE)
async def git_push(
    session_id: SessionId, request: Request, user: CurrentUser, db: DbSession, panel: Panel
) -> Any:
    """Push the session branch to the workspace's remote (no force)."""
    return await _remote("session.git_push", session_id, user, db, panel, client_ip(request))


@router.post("/git/pull", response_model=GitActionResult, responses=WRITE)
async def git_pull(
    session_id: SessionId, request: Request, user: CurrentUser, db: DbSession, panel: Panel
) -> Any:
    """Fetch the starter branch and merge it into the session's worktree; on conflicts
    nothing changes and the 409 lists the files."""
    return await _remote("session.git_pull", session_id, user, db, panel, client_ip(request))


@router.post("/git/merge", response_model=GitActionResult, responses=WRITE)
async def git_merge(
    session_id: SessionId,
    request: Request,
    user: Annotated[Principal, Depends(require("sessions.merge_to_starter"))],
    db: DbSession,
    panel: Panel,
) -> Any:
    """Merge the session branch's last commit into the starter branch on the remote; on
    conflicts nothing is pushed and the 409 lists the files."""
    return await _remote("session.git_merge", session_id, user, db, panel, client_ip(request))

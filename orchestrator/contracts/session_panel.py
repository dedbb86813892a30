"""Models that cross Temporal for the session panel: files and git in a session's worktree.

Pure pydantic (sandbox-safe). Paths are relative to the worktree root and checked lexically
here, on both sides (the API refuses them before a host is asked, the host again on receipt);
the host then resolves symlinks and refuses any target outside the worktree. Remote git
operations carry a secret *reference* for the workspace token, never the token.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field

MAX_FILE_BYTES = 1_000_000  # read and write cap: larger files are reported, not sent
MAX_DIFF_CHARS = 1_000_000
MAX_ENTRIES = 5000  # one directory listing
MAX_PATHS = 1000  # one stage/unstage/discard call
MAX_PATH_CHARS = 4096
MAX_MESSAGE_CHARS = 20_000


def clean_path(value: str) -> str:
    """`value` as a normalized path inside the worktree ('' is its root); ValueError if it
    is absolute, climbs out with '..', names `.git`, or holds control characters."""
    if len(value) > MAX_PATH_CHARS:
        raise ValueError(f"must be at most {MAX_PATH_CHARS} characters")
    if any(ord(c) < 32 or ord(c) == 127 or 0xD800 <= ord(c) <= 0xDFFF for c in value):
        raise ValueError("must not contain control characters or lone surrogates")
    if value.startswith("/"):
        raise ValueError("must be relative to the worktree root (no leading '/')")
    parts = [p for p in value.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise ValueError("must not contain '..'")
    if ".git" in parts:
        raise ValueError("must not name a .git directory")
    return "/".join(parts)


def clean_file_path(value: str) -> str:
    """As clean_path, and not the worktree root itself."""
    cleaned = clean_path(value)
    if not cleaned:
        raise ValueError("must name a file or directory, not the worktree root")
    return cleaned


WorktreePath = Annotated[str, AfterValidator(clean_path)]
EntryPath = Annotated[str, AfterValidator(clean_file_path)]


class PanelTarget(BaseModel):
    """Which worktree: the session's, on the host the activity runs on."""

    workspace_id: str
    session_id: str


class FilesListInput(PanelTarget):
    path: WorktreePath = ""


class FileEntry(BaseModel):
    name: str
    path: str
    type: Literal["file", "dir"]
    size: int


class FileListing(BaseModel):
    """`truncated`: the directory has more than MAX_ENTRIES entries; the first are listed."""

    path: str
    entries: list[FileEntry] = Field(default_factory=list)
    truncated: bool = False


class FileReadInput(PanelTarget):
    path: EntryPath


class FileContent(BaseModel):
    """`content` is empty when the file is binary or larger than MAX_FILE_BYTES (`too_large`)."""

    path: str
    content: str
    size: int
    binary: bool
    too_large: bool = False


class FileWriteInput(PanelTarget):
    path: EntryPath
    content: str = Field(max_length=MAX_FILE_BYTES)


class FileWritten(BaseModel):
    path: str
    size: int
    created: bool


class GitStatusInput(PanelTarget):
    base_branch: str | None = None


class GitFileStatus(BaseModel):
    """Porcelain v1 codes: `index` (X) and `worktree` (Y); `?` both for untracked files."""

    path: str
    index: str
    worktree: str
    staged: bool
    orig_path: str | None = None  # the old name of a rename or copy


class GitStatus(BaseModel):
    """`ahead`/`behind` count commits against `upstream` (the starter branch as last fetched)."""

    branch: str | None
    upstream: str | None = None
    ahead: int = 0
    behind: int = 0
    files: list[GitFileStatus] = Field(default_factory=list)
    truncated: bool = False  # more than MAX_ENTRIES changed files; the first are listed


class GitDiffInput(PanelTarget):
    path: EntryPath
    staged: bool = False


class GitDiff(BaseModel):
    path: str
    diff: str
    truncated: bool = False


class GitPathsInput(PanelTarget):
    paths: list[EntryPath] = Field(min_length=1, max_length=MAX_PATHS)


class Author(BaseModel):
    """Who the commit is by (the signed-in person); the committer is Polygent."""

    name: str = Field(min_length=1, max_length=200)
    email: str = Field(min_length=1, max_length=320)


class GitCommitInput(PanelTarget):
    message: str = Field(min_length=1, max_length=MAX_MESSAGE_CHARS)
    author: Author


class GitRemoteInput(PanelTarget):
    """Push the session branch, pull the starter branch into it, or merge it into the starter."""

    git_url: str
    branch: str
    base_branch: str
    author: Author
    secret_ref: str | None = None
    timeout_seconds: float = 120.0


class GitActionResult(BaseModel):
    """`ok` False with `files`: conflicts (nothing changed); without: refused, see `message`."""

    ok: bool
    message: str
    sha: str | None = None
    files: list[str] = Field(default_factory=list)


class HostCall(BaseModel):
    """One named activity on one host's queue (HostCallWorkflow)."""

    host_id: str
    activity: str
    payload: dict[str, Any]
    schedule_to_start_seconds: float = 5.0
    start_to_close_seconds: float = 60.0
    heartbeat_seconds: float | None = None


class HostCallOutcome(BaseModel):
    """The activity's result, or why there is none: `offline` (no worker took the task within
    the schedule-to-start timeout), else the failure's `error_type` and message."""

    result: dict[str, Any] | None = None
    offline: bool = False
    error: str | None = None
    error_type: str | None = None

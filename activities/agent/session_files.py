"""Files in a session's worktree for the panel: list, read, write, never outside the root.

The requested path was checked lexically already (contracts.session_panel.clean_path). Here
its symlinks are resolved and the real target must lie inside the worktree and outside any
`.git`; the final open uses O_NOFOLLOW (a link swapped in after the check is not followed) and
O_NONBLOCK (a FIFO planted in the worktree cannot hang the agent). Blocking calls: run these
in a thread.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from orchestrator.contracts.session_panel import (
    MAX_ENTRIES,
    MAX_FILE_BYTES,
    FileContent,
    FileEntry,
    FileListing,
    FileWritten,
)

SNIFF = 8192  # a NUL in the first bytes means binary, as git decides


class PathRefused(Exception):
    """The path may not be used (outside the worktree, into .git, not a regular file...)."""


class PathMissing(Exception):
    """Nothing is at the path."""


def resolve(root: Path, rel: str) -> Path:
    """`root/rel` with every symlink resolved; PathRefused unless it stays inside `root`."""
    target = (root / rel).resolve()
    if not target.is_relative_to(root):
        raise PathRefused(f"{rel or '/'} leads outside the worktree")
    if ".git" in target.relative_to(root).parts:
        raise PathRefused(f"{rel} leads into .git")
    return target


def _refused(rel: str, exc: OSError) -> Exception:
    if exc.errno == errno.ENOENT:
        return PathMissing(f"{rel} does not exist")
    if exc.errno == errno.ELOOP:
        return PathRefused(f"{rel} is a symbolic link")
    return PathRefused(f"{rel}: {exc.strerror}")


def _entry(root: Path, path: Path, rel: str) -> FileEntry:
    """A directory entry as the panel shows it; a link counts as what it points to, and as
    a plain file when it points outside the worktree or nowhere."""
    try:
        info = path.lstat()
        if stat.S_ISLNK(info.st_mode):
            target = path.resolve()
            if target.is_relative_to(root) and ".git" not in target.relative_to(root).parts:
                info = target.stat()
    except OSError:
        return FileEntry(name=path.name, path=rel, type="file", size=0)
    if stat.S_ISDIR(info.st_mode):
        return FileEntry(name=path.name, path=rel, type="dir", size=0)
    return FileEntry(name=path.name, path=rel, type="file", size=info.st_size)


def _printable(name: str) -> bool:
    """Names that are not valid UTF-8 cannot travel as JSON; they are left out."""
    try:
        name.encode()
    except UnicodeEncodeError:
        return False
    return True


def list_dir(root: Path, rel: str) -> FileListing:
    target = resolve(root, rel)
    if not target.exists():
        raise PathMissing(f"{rel or '/'} does not exist")
    if not target.is_dir():
        raise PathRefused(f"{rel} is not a directory")
    entries: list[FileEntry] = []
    truncated = False
    try:
        with os.scandir(target) as found:
            for item in found:
                if item.name == ".git" or not _printable(item.name):
                    continue
                if len(entries) >= MAX_ENTRIES:
                    truncated = True
                    break
                path = f"{rel}/{item.name}" if rel else item.name
                entries.append(_entry(root, Path(item.path), path))
    except OSError as exc:
        raise _refused(rel, exc) from None
    entries.sort(key=lambda e: (e.type != "dir", e.name.lower(), e.name))
    return FileListing(path=rel, entries=entries, truncated=truncated)


def _is_binary(data: bytes) -> bool:
    if b"\0" in data[:SNIFF]:
        return True
    try:
        data.decode()
    except UnicodeDecodeError:
        return True
    return False


def read_file(root: Path, rel: str) -> FileContent:
    target = resolve(root, rel)
    try:
        fd = os.open(target, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        if exc.errno == errno.EISDIR:
            raise PathRefused(f"{rel} is a directory") from None
        raise _refused(rel, exc) from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        what = "a directory" if stat.S_ISDIR(info.st_mode) else "not a regular file"
        raise PathRefused(f"{rel} is {what}")
    with os.fdopen(fd, "rb") as f:
        if info.st_size > MAX_FILE_BYTES:
            return FileContent(
                path=rel, content="", size=info.st_size, binary=False, too_large=True
            )
        data = f.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:  # it grew since fstat
        return FileContent(path=rel, content="", size=len(data), binary=False, too_large=True)
    if _is_binary(data):
        return FileContent(path=rel, content="", size=len(data), binary=True)
    return FileContent(path=rel, content=data.decode(), size=len(data), binary=False)


def write_file(root: Path, rel: str, content: str) -> FileWritten:
    """Replace (or create, with its directories) a regular file; its mode is kept."""
    data = content.encode()
    if len(data) > MAX_FILE_BYTES:
        raise PathRefused(f"the content is larger than {MAX_FILE_BYTES} bytes")
    target = resolve(root, rel)
    if target == root:
        raise PathRefused("the worktree root is not a file")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PathRefused(f"{rel}: its directory cannot be made ({exc.strerror})") from None
    if resolve(root, rel) != target:  # a directory on the way was swapped for a link
        raise PathRefused(f"{rel} changed while it was being written")
    created = not target.exists()
    flags = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK
    try:
        fd = os.open(target, flags, 0o644)
    except OSError as exc:
        if exc.errno == errno.EISDIR:
            raise PathRefused(f"{rel} is a directory") from None
        raise _refused(rel, exc) from None
    with os.fdopen(fd, "wb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise PathRefused(f"{rel} is not a regular file")
        f.truncate(0)  # only now: opening a FIFO or device must not have emptied anything
        f.write(data)
    return FileWritten(path=rel, size=len(data), created=created)

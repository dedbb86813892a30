"""Glob and Grep over the worktree. In a git work tree the files come from `git ls-files`
(tracked and untracked, .gitignore honoured), so build output and dependencies stay out;
elsewhere a walk that skips `.git`. Symlinks that lead out of the worktree are skipped."""

from __future__ import annotations

import asyncio
import os
import re
from pathlib import Path
from typing import Any

from activities.agent.worktree_git import GitError, command_env, run_git

from ..models import ToolSpec
from .base import ToolContext, ToolError, ToolResult, bool_arg, confine, int_arg, schema, text_arg

MAX_GLOB = 500
MAX_FILE_BYTES = 5 * 1024 * 1024
SNIFF = 8192


def _class(pattern: str, i: int) -> tuple[str, int]:
    end = pattern.find("]", i + 2)
    if end == -1:
        return re.escape("["), i + 1
    body = pattern[i + 1 : end]
    if body.startswith("!"):
        body = "^" + body[1:]
    return f"[{body.replace(chr(92), chr(92) * 2)}]", end + 1


def _translate(pattern: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:[^/]*/)*")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        elif pattern[i] == "[":
            piece, i = _class(pattern, i)
            out.append(piece)
        elif pattern[i] == "{" and (end := pattern.find("}", i)) != -1:
            options = pattern[i + 1 : end].split(",")
            out.append("(?:" + "|".join(_translate(o) for o in options) + ")")
            i = end + 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return "".join(out)


def glob_regex(pattern: str) -> re.Pattern[str]:
    """A shell glob (`**` crosses folders, `{a,b}` alternatives) as an anchored regex."""
    return re.compile(
        f"^{_translate(pattern.lstrip('./') if pattern.startswith('./') else pattern)}$"
    )


def _walk(base: Path) -> list[str]:
    names: list[str] = []
    for folder, dirs, files in os.walk(base):
        dirs[:] = [d for d in dirs if d != ".git"]
        rel = Path(folder).relative_to(base)
        names.extend(str(rel / f) if rel != Path(".") else f for f in files)
    return names


async def list_files(root: Path, base: Path) -> list[str]:
    """Files under `base`, relative to it, that resolve inside `root`."""
    try:
        out = await run_git(
            "git", ["ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=base, env={**command_env(), "GIT_OPTIONAL_LOCKS": "0"}, timeout=60,
        )  # fmt: skip
        names = sorted({n for n in out.split("\0") if n})
    except GitError:
        names = await asyncio.to_thread(_walk, base)

    def inside(name: str) -> bool:
        path = base / name
        if not path.is_file():
            return False  # e.g. deleted but still tracked
        return not path.is_symlink() or path.resolve().is_relative_to(root)

    return [n for n in names if inside(n)]


def _base(ctx: ToolContext, args: dict[str, Any]) -> Path:
    path = text_arg(args, "path", required=False)
    return confine(ctx.worktree, path) if path else ctx.worktree


class GlobTool:
    spec = ToolSpec(
        "Glob",
        "Find files by glob pattern (e.g. '**/*.py', 'src/**/test_*.{js,ts}'), newest first. "
        "Paths are relative to the searched folder.",
        schema(
            {
                "pattern": {"type": "string", "description": "The glob pattern."},
                "path": {"type": "string", "description": "Folder to search (default: cwd)."},
            },
            ["pattern"],
        ),
    )

    async def run(self, args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        regex = glob_regex(text_arg(args, "pattern"))
        base = _base(ctx, args)
        if not base.is_dir():
            raise ToolError(f"{base} is not a folder.")
        found = [n for n in await list_files(ctx.worktree, base) if regex.match(n)]
        found.sort(key=lambda n: (base / n).stat().st_mtime, reverse=True)
        if not found:
            return ToolResult("No files matched.")
        more = len(found) - MAX_GLOB
        tail = [f"(… {more} more; narrow the pattern)"] if more > 0 else []
        return ToolResult("\n".join(found[:MAX_GLOB] + tail))


def _text(path: Path) -> str | None:
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            return None
        data = path.read_bytes()
    except OSError:
        return None
    return None if b"\0" in data[:SNIFF] else data.decode(errors="replace")


def _grep(
    base: Path, names: list[str], regex: re.Pattern[str], mode: str, context: int, limit: int
) -> str:
    out: list[str] = []
    for name in names:
        text = _text(base / name)
        if text is None:
            continue
        lines = text.splitlines()
        hits = [i for i, line in enumerate(lines) if regex.search(line)]
        if not hits:
            continue
        if mode == "files_with_matches":
            out.append(name)
        elif mode == "count":
            out.append(f"{name}:{len(hits)}")
        else:
            shown: set[int] = set()
            for i in hits:
                for j in range(max(0, i - context), min(len(lines), i + context + 1)):
                    if j not in shown:
                        shown.add(j)
                        sep = ":" if j == i or j in hits else "-"
                        out.append(f"{name}{sep}{j + 1}{sep}{lines[j][:500]}")
        if len(out) >= limit:
            out = [*out[:limit], f"(… output cut at {limit} lines; use head_limit or narrow it)"]
            break
    return "\n".join(out) if out else "No matches."


class GrepTool:
    spec = ToolSpec(
        "Grep",
        "Search file contents with a regular expression (Python syntax). output_mode: "
        "'files_with_matches' (default), 'content' (path:line:text) or 'count'.",
        schema(
            {
                "pattern": {"type": "string", "description": "The regular expression."},
                "path": {"type": "string", "description": "File or folder (default: cwd)."},
                "glob": {"type": "string", "description": "Only files matching this glob."},
                "output_mode": {
                    "type": "string",
                    "enum": ["files_with_matches", "content", "count"],
                },
                "case_insensitive": {"type": "boolean"},
                "context": {"type": "integer", "description": "Lines around each match."},
                "head_limit": {"type": "integer", "description": "At most this many lines."},
            },
            ["pattern"],
        ),
    )

    async def run(self, args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        flags = re.IGNORECASE if bool_arg(args, "case_insensitive") else 0
        try:
            regex = re.compile(text_arg(args, "pattern"), flags)
        except re.error as exc:
            raise ToolError(f"The pattern is not a valid regular expression: {exc}.") from None
        mode = text_arg(args, "output_mode", required=False) or "files_with_matches"
        if mode not in ("files_with_matches", "content", "count"):
            raise ToolError("output_mode must be files_with_matches, content or count.")
        context = int_arg(args, "context", 0, 0, 20)
        limit = int_arg(args, "head_limit", 500, 1, 5000)
        target = _base(ctx, args)
        if target.is_file():
            base, names = target.parent, [target.name]
        elif target.is_dir():
            base, names = target, await list_files(ctx.worktree, target)
        else:
            raise ToolError(f"{target} does not exist.")
        if pattern := text_arg(args, "glob", required=False):
            only = glob_regex(pattern if "/" in pattern else f"**/{pattern}")
            names = [n for n in names if only.match(n)]
        found = await asyncio.to_thread(_grep, base, names, regex, mode, context, limit)
        return ToolResult(found)

"""Read, Write and Edit: the file tools, all confined to the worktree."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from ..models import ToolSpec
from .base import ToolContext, ToolError, ToolResult, bool_arg, confine, int_arg, schema, text_arg

MAX_LINES = 2000
MAX_LINE_CHARS = 2000
SNIFF = 8192
PATH_DOC = "Absolute path, or relative to the working directory (which it may not leave)."


def _read_text(path: Path, strict: bool = False) -> str:
    if not path.exists():
        raise ToolError(f"{path} does not exist.")
    if path.is_dir():
        raise ToolError(f"{path} is a directory; use Glob to list files.")
    with path.open("rb") as fh:
        if b"\0" in fh.read(SNIFF):
            raise ToolError(f"{path} is a binary file.")
    try:
        return path.read_text(encoding="utf-8", errors="strict" if strict else "replace")
    except UnicodeDecodeError:
        raise ToolError(f"{path} is not UTF-8 text; it cannot be edited safely.") from None


def _numbered(text: str, offset: int, limit: int) -> str:
    lines = text.splitlines()
    if not lines:
        return "(the file is empty)"
    chosen = lines[offset - 1 : offset - 1 + limit]
    if not chosen:
        return f"(the file has {len(lines)} lines; offset {offset} is past the end)"
    out = [f"{n:>6}\t{line[:MAX_LINE_CHARS]}" for n, line in enumerate(chosen, start=offset)]
    if offset - 1 + len(chosen) < len(lines):
        out.append(f"(… {len(lines) - (offset - 1 + len(chosen))} more lines; use offset)")
    return "\n".join(out)


class ReadTool:
    spec = ToolSpec(
        "Read",
        "Read a text file. Lines come numbered (cat -n style); use offset and limit for long "
        f"files (at most {MAX_LINES} lines per call).",
        schema(
            {
                "file_path": {"type": "string", "description": PATH_DOC},
                "offset": {"type": "integer", "description": "First line to read (1-based)."},
                "limit": {"type": "integer", "description": "How many lines to read."},
            },
            ["file_path"],
        ),
    )

    async def run(self, args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        path = confine(ctx.worktree, text_arg(args, "file_path"))
        offset = int_arg(args, "offset", 1, 1, 10**9)
        limit = int_arg(args, "limit", MAX_LINES, 1, MAX_LINES)
        text = await asyncio.to_thread(_read_text, path)
        return ToolResult(_numbered(text, offset, limit))


class WriteTool:
    spec = ToolSpec(
        "Write",
        "Create or overwrite a file with the given content (parent folders are created).",
        schema(
            {
                "file_path": {"type": "string", "description": PATH_DOC},
                "content": {"type": "string", "description": "The whole new content."},
            },
            ["file_path", "content"],
        ),
    )

    async def run(self, args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        path = confine(ctx.worktree, text_arg(args, "file_path"))
        content = text_arg(args, "content", empty=True)
        if path.is_dir():
            raise ToolError(f"{path} is a directory.")
        existed = path.exists()
        path.parent.mkdir(parents=True, exist_ok=True)
        await asyncio.to_thread(path.write_text, content, "utf-8")
        verb = "Overwrote" if existed else "Created"
        return ToolResult(f"{verb} {path} ({len(content.encode())} bytes).")


class EditTool:
    spec = ToolSpec(
        "Edit",
        "Replace an exact string in a file. old_string must occur exactly once unless "
        "replace_all is true; include enough surrounding lines to make it unique.",
        schema(
            {
                "file_path": {"type": "string", "description": PATH_DOC},
                "old_string": {"type": "string", "description": "The exact text to replace."},
                "new_string": {"type": "string", "description": "The replacement text."},
                "replace_all": {"type": "boolean", "description": "Replace every occurrence."},
            },
            ["file_path", "old_string", "new_string"],
        ),
    )

    async def run(self, args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        path = confine(ctx.worktree, text_arg(args, "file_path"))
        old = text_arg(args, "old_string")
        new = text_arg(args, "new_string", empty=True)
        every = bool_arg(args, "replace_all")
        if old == new:
            raise ToolError("old_string and new_string are the same; nothing to change.")
        text = await asyncio.to_thread(_read_text, path, True)
        count = text.count(old)
        if count == 0:
            raise ToolError(f"old_string was not found in {path}.")
        if count > 1 and not every:
            raise ToolError(
                f"old_string occurs {count} times in {path}; add context to make it unique "
                "or set replace_all."
            )
        updated = text.replace(old, new) if every else text.replace(old, new, 1)
        await asyncio.to_thread(path.write_text, updated, "utf-8")
        return ToolResult(f"Edited {path} ({count if every else 1} replacement(s)).")

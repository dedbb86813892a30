"""Polygent Code's tools one by one, on a real temporary worktree (real files, real git, a real
shell, a real loopback HTTP server), and the pieces around them: path confinement, model
routing, reset times, the event sink and the conversation store."""

from __future__ import annotations

import asyncio
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psutil
import pytest

from activities.agent.polygent_code.backends import RouteError, resolve
from activities.agent.polygent_code.backends.anthropic import wire_messages as anthropic_wire
from activities.agent.polygent_code.backends.common import retry_after_of
from activities.agent.polygent_code.backends.gemini import gemini_schema
from activities.agent.polygent_code.backends.openai_chat import wire_messages as openai_wire
from activities.agent.polygent_code.events import EventSink
from activities.agent.polygent_code.models import Message, Part
from activities.agent.polygent_code.store import ConversationStore
from activities.agent.polygent_code.subagents import available
from activities.agent.polygent_code.tools import (
    BashTool,
    ToolContext,
    ToolError,
    ToolResult,
    allowed,
    build_tools,
)
from activities.agent.polygent_code.tools.task import TaskTool
from orchestrator.contracts.agent import AgentEvent, SubagentSpec
from tests.helpers import wait_for

pytestmark = pytest.mark.providers

SECRET = "sk-test-secret-0123456789"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    path = (tmp_path / "wt").resolve()
    path.mkdir()
    return path


@pytest.fixture
def ctx(root: Path, tmp_path: Path) -> ToolContext:
    home = tmp_path / "home"
    home.mkdir()
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home)}
    return ToolContext(worktree=root, env=env, tool_id="toolu_1")


async def call(name: str, args: dict[str, Any], ctx: ToolContext) -> ToolResult:
    """Run a tool the way the loop does: a ToolError becomes an error result."""
    tool = build_tools(None, BashTool())[name]
    try:
        return await tool.run(args, ctx)
    except ToolError as exc:
        return ToolResult(str(exc), is_error=True)


# --- path confinement -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tool", "args"),
    [
        ("Read", {"file_path": "../outside.txt"}),
        ("Read", {"file_path": "{outside}"}),
        ("Write", {"file_path": "../outside.txt", "content": "x"}),
        ("Write", {"file_path": "sub/../../outside.txt", "content": "x"}),
        ("Edit", {"file_path": "{outside}", "old_string": "secret", "new_string": "x"}),
        ("Read", {"file_path": "link-out"}),
        ("Write", {"file_path": "dir-out/new.txt", "content": "x"}),
        ("Glob", {"pattern": "*", "path": ".."}),
        ("Grep", {"pattern": "secret", "path": "{outside}"}),
        ("Grep", {"pattern": "secret", "path": "dir-out"}),
    ],
)
async def test_file_tools_refuse_paths_outside_the_worktree(
    root: Path, ctx: ToolContext, tool: str, args: dict[str, Any]
) -> None:
    outside = root.parent / "outside.txt"
    outside.write_text("secret\n")
    (root / "link-out").symlink_to(outside)
    (root / "dir-out").symlink_to(root.parent)
    args = {k: v.replace("{outside}", str(outside)) for k, v in args.items()}
    result = await call(tool, args, ctx)
    assert result.is_error and "outside the working directory" in result.content
    assert outside.read_text() == "secret\n"
    assert not (root.parent / "new.txt").exists()


# --- Read / Write / Edit ----------------------------------------------------------------------


async def test_read_numbers_lines_and_pages(root: Path, ctx: ToolContext) -> None:
    (root / "a.txt").write_text("".join(f"line {i}\n" for i in range(1, 11)))
    whole = await call("Read", {"file_path": str(root / "a.txt")}, ctx)
    assert not whole.is_error
    assert whole.content.splitlines()[0] == "     1\tline 1"
    assert whole.content.splitlines()[-1] == "    10\tline 10"
    page = await call("Read", {"file_path": "a.txt", "offset": 3, "limit": 2}, ctx)
    assert page.content.splitlines()[:2] == ["     3\tline 3", "     4\tline 4"]
    assert "6 more lines" in page.content
    (root / "empty.txt").write_text("")
    assert "empty" in (await call("Read", {"file_path": "empty.txt"}, ctx)).content


async def test_read_refuses_missing_folders_and_binary_files(root: Path, ctx: ToolContext) -> None:
    (root / "bin.dat").write_bytes(b"\x00\x01\x02binary")
    (root / "folder").mkdir()
    for path, words in [
        ("nope.txt", "does not exist"),
        ("folder", "directory"),
        ("bin.dat", "binary"),
    ]:
        result = await call("Read", {"file_path": path}, ctx)
        assert result.is_error and words in result.content
    bad = await call("Read", {"file_path": "x", "offset": "two"}, ctx)
    assert bad.is_error and "offset" in bad.content


async def test_write_creates_folders_and_overwrites(root: Path, ctx: ToolContext) -> None:
    first = await call("Write", {"file_path": "deep/er/f.txt", "content": "one\n"}, ctx)
    assert not first.is_error and "Created" in first.content
    second = await call("Write", {"file_path": str(root / "deep/er/f.txt"), "content": ""}, ctx)
    assert "Overwrote" in second.content
    assert (root / "deep/er/f.txt").read_text() == ""
    missing = await call("Write", {"file_path": "g.txt"}, ctx)
    assert missing.is_error and "content" in missing.content


async def test_edit_replaces_exactly_once_unless_told(root: Path, ctx: ToolContext) -> None:
    path = root / "e.py"
    path.write_text("a = 1\nb = 1\nc = 2\n")
    once = await call(
        "Edit", {"file_path": "e.py", "old_string": "c = 2", "new_string": "c = 3"}, ctx
    )
    assert not once.is_error and path.read_text() == "a = 1\nb = 1\nc = 3\n"
    twice = await call("Edit", {"file_path": "e.py", "old_string": "= 1", "new_string": "= 9"}, ctx)
    assert twice.is_error and "2 times" in twice.content
    every = await call(
        "Edit",
        {"file_path": "e.py", "old_string": "= 1", "new_string": "= 9", "replace_all": True},
        ctx,
    )
    assert not every.is_error and path.read_text() == "a = 9\nb = 9\nc = 3\n"
    absent = await call("Edit", {"file_path": "e.py", "old_string": "zzz", "new_string": "y"}, ctx)
    assert absent.is_error and "not found" in absent.content
    same = await call("Edit", {"file_path": "e.py", "old_string": "a", "new_string": "a"}, ctx)
    assert same.is_error
    (root / "latin.txt").write_bytes(b"caf\xe9\n")
    latin = await call(
        "Edit", {"file_path": "latin.txt", "old_string": "caf", "new_string": "x"}, ctx
    )
    assert latin.is_error and "UTF-8" in latin.content
    assert (root / "latin.txt").read_bytes() == b"caf\xe9\n"


# --- Glob / Grep ------------------------------------------------------------------------------


def _tree(root: Path) -> None:
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    (root / ".gitignore").write_text("build/\n")
    files = {
        "src/app.py": "def main():\n    return 'Hello'\n",
        "src/util/helpers.py": "HELLO = 1\n",
        "src/web/page.ts": "const hello = 'x';\n",
        "README.md": "hello world\n",
        "build/out.py": "hello from build\n",
    }
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    os.utime(root / "src/util/helpers.py", (time.time() + 10, time.time() + 10))


async def test_glob_matches_patterns_newest_first_and_honours_gitignore(
    root: Path, ctx: ToolContext
) -> None:
    _tree(root)
    py = await call("Glob", {"pattern": "**/*.py"}, ctx)
    assert py.content.splitlines() == ["src/util/helpers.py", "src/app.py"]  # newest first
    both = await call("Glob", {"pattern": "src/**/*.{py,ts}"}, ctx)
    assert set(both.content.splitlines()) == {
        "src/app.py",
        "src/util/helpers.py",
        "src/web/page.ts",
    }
    top = await call("Glob", {"pattern": "*.md"}, ctx)
    assert top.content == "README.md"
    inside = await call("Glob", {"pattern": "*.py", "path": "src"}, ctx)
    assert inside.content == "app.py"
    none = await call("Glob", {"pattern": "**/*.rs"}, ctx)
    assert none.content == "No files matched."


async def test_glob_and_grep_walk_a_folder_that_is_not_a_git_repo(
    root: Path, ctx: ToolContext
) -> None:
    (root / "a" / ".git").mkdir(parents=True)
    (root / "a" / ".git" / "config").write_text("needle\n")
    (root / "a" / "b.txt").write_text("needle\n")
    found = await call("Grep", {"pattern": "needle"}, ctx)
    assert found.content == "a/b.txt"
    assert (await call("Glob", {"pattern": "**/*"}, ctx)).content == "a/b.txt"


async def test_grep_modes_case_context_and_glob(root: Path, ctx: ToolContext) -> None:
    _tree(root)
    files = await call("Grep", {"pattern": "hello"}, ctx)
    assert set(files.content.splitlines()) == {"README.md", "src/web/page.ts"}  # not build/
    nocase = await call("Grep", {"pattern": "hello", "case_insensitive": True, "glob": "*.py"}, ctx)
    assert set(nocase.content.splitlines()) == {"src/app.py", "src/util/helpers.py"}
    content = await call("Grep", {"pattern": "return", "output_mode": "content", "context": 1}, ctx)
    assert content.content.splitlines() == [
        "src/app.py-1-def main():",
        "src/app.py:2:    return 'Hello'",
    ]
    count = await call("Grep", {"pattern": "l", "output_mode": "count", "path": "README.md"}, ctx)
    assert count.content == "README.md:1"
    bad = await call("Grep", {"pattern": "("}, ctx)
    assert bad.is_error and "regular expression" in bad.content
    limited = await call("Grep", {"pattern": ".", "output_mode": "content", "head_limit": 1}, ctx)
    assert len(limited.content.splitlines()) == 2 and "cut at 1" in limited.content


async def test_grep_skips_symlinks_that_leave_the_worktree(root: Path, ctx: ToolContext) -> None:
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    (root.parent / "private.txt").write_text("needle outside\n")
    (root / "leak.txt").symlink_to(root.parent / "private.txt")
    (root / "ok.txt").write_text("needle inside\n")
    found = await call("Grep", {"pattern": "needle", "output_mode": "content"}, ctx)
    assert found.content == "ok.txt:1:needle inside"


# --- Bash -------------------------------------------------------------------------------------


async def test_bash_runs_in_the_worktree_with_the_given_environment(
    root: Path, ctx: ToolContext
) -> None:
    ok = await call("Bash", {"command": "pwd; echo $HOME; echo err >&2"}, ctx)
    assert not ok.is_error
    assert ok.content.splitlines() == [str(root), ctx.env["HOME"], "err"]
    failed = await call("Bash", {"command": "echo partial; exit 3"}, ctx)
    assert failed.is_error and failed.content == "partial\n(exit code 3)"
    quiet = await call("Bash", {"command": "true"}, ctx)
    assert quiet.content == "(no output)"
    huge = await call("Bash", {"command": "head -c 100000 /dev/zero | tr '\\0' a"}, ctx)
    assert "bytes cut" in huge.content and len(huge.content) < 50_000


def _sleepers(marker: str) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["name", "cmdline"]):
        if proc.info["name"] == "sleep" and marker in " ".join(proc.info["cmdline"] or []):
            try:
                if proc.status() != psutil.STATUS_ZOMBIE:
                    found.append(proc)
            except psutil.Error:
                pass
    return found


async def test_bash_timeout_kills_the_process_group(ctx: ToolContext) -> None:
    marker = "sleep 91.123"
    started = time.monotonic()
    result = await call("Bash", {"command": f"echo begun; {marker}", "timeout": 1000}, ctx)
    assert time.monotonic() - started < 5
    assert result.is_error and "begun" in result.content and "timed out after 1 s" in result.content
    await wait_for(lambda: not _sleepers(marker), timeout=5, what="the sleep is killed")


async def test_bash_cancel_kills_the_command_and_background_job_holding_output(
    ctx: ToolContext,
) -> None:
    marker = "sleep 92.456"
    bash = BashTool()
    task = asyncio.create_task(bash.run({"command": f"{marker} & {marker}"}, ctx))
    await wait_for(lambda: len(_sleepers(marker)) == 2, what="both sleeps run")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await wait_for(lambda: not _sleepers(marker), timeout=5, what="the sleeps are killed")
    # A job left in the background holding the output open does not block the call.
    other = "sleep 93.789"
    started = time.monotonic()
    done = await bash.run({"command": f"{other} & echo started"}, ctx)
    assert done.content == "started" and time.monotonic() - started < 5
    await wait_for(lambda: not _sleepers(other), timeout=5, what="the job is killed")


async def test_jobs_that_let_go_of_the_output_run_until_the_turn_ends(ctx: ToolContext) -> None:
    bash = BashTool()
    assert bash.kill_leftovers() == 0  # nothing ran yet
    plain, detached = "sleep 95.111", "sleep 95.222"
    cmd = f"{plain} >/dev/null 2>&1 & setsid {detached} >/dev/null 2>&1 & echo bg"
    result = await bash.run({"command": cmd}, ctx)
    assert result.content == "bg"
    await wait_for(lambda: _sleepers(plain) and _sleepers(detached), what="both jobs run on")
    assert bash.kill_leftovers() >= 2
    await wait_for(
        lambda: not _sleepers(plain) and not _sleepers(detached), timeout=5, what="jobs killed"
    )


# --- WebFetch ---------------------------------------------------------------------------------


class _Pages(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        routes: dict[str, tuple[int, str, bytes, dict[str, str]]] = {
            "/page": (
                200,
                "text/html; charset=utf-8",
                b"<html><head><title>T</title><script>var x=1;</script></head><body>"
                b"<h1>Title</h1><p>Hello &amp; welcome</p></body></html>",
                {},
            ),
            "/moved": (302, "text/plain", b"", {"Location": "/page"}),
            "/file": (302, "text/plain", b"", {"Location": "file:///etc/passwd"}),
            "/big": (200, "text/plain", b"x" * (3 * 1024 * 1024), {}),
            "/missing": (404, "text/plain", b"nothing here", {}),
        }
        status, kind, body, headers = routes.get(self.path, (404, "text/plain", b"?", {}))
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def site() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Pages)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


async def test_webfetch_reads_pages_follows_redirects_and_caps_size(
    site: str, ctx: ToolContext
) -> None:
    page = await call("WebFetch", {"url": f"{site}/moved"}, ctx)
    assert not page.is_error
    assert page.content.endswith("Title\nHello & welcome")
    assert "var x" not in page.content and f"{site}/page → HTTP 200" in page.content
    big = await call("WebFetch", {"url": f"{site}/big"}, ctx)
    assert "cut at 50000 characters" in big.content and len(big.content) < 51_000
    missing = await call("WebFetch", {"url": f"{site}/missing"}, ctx)
    assert missing.is_error and "HTTP 404" in missing.content
    for url in ("file:///etc/passwd", "ftp://example.com/x", f"{site}/file", "http://"):
        refused = await call("WebFetch", {"url": url}, ctx)
        assert refused.is_error and "Only http and https" in refused.content, url


# --- TodoWrite / Task / allowlists ------------------------------------------------------------


async def test_todowrite_replaces_the_list_and_emits_a_todo_event(ctx: ToolContext) -> None:
    todos = [{"content": "Plan", "status": "completed"}, {"content": "Build", "status": "pending"}]
    result = await call("TodoWrite", {"todos": todos}, ctx)
    assert not result.is_error and "2 items (1 done)" in result.content
    [event] = result.events
    assert event.kind == "todo" and event.subtype == "replace" and event.tool_id == "toolu_1"
    assert [(t.content, t.status) for t in event.todos or []] == [
        ("Plan", "completed"),
        ("Build", "pending"),
    ]
    assert [t.content for t in ctx.todos] == ["Plan", "Build"]
    bad = await call("TodoWrite", {"todos": [{"content": "x", "status": "maybe"}]}, ctx)
    assert bad.is_error and "maybe" in bad.content


async def test_task_starts_the_named_subagent(ctx: ToolContext) -> None:
    custom = SubagentSpec(name="reviewer", description="Reviews diffs", prompt="Review.")
    off = SubagentSpec(name="ghost", enabled=False)
    subagents = available(
        [
            custom,
            off,
            SubagentSpec(name="explorer", model="gpt-x", prompt="ignored", tools=["Bash"]),
        ]
    )
    assert sorted(subagents) == ["explorer", "general", "reviewer"]
    assert subagents["explorer"].tools == ["Read", "Glob", "Grep"]  # fixed for a built-in
    assert subagents["explorer"].model == "gpt-x" and "ignored" not in subagents["explorer"].prompt
    tool = TaskTool(subagents)
    assert tool.spec.schema["properties"]["subagent_type"]["enum"] == sorted(subagents)
    assert "Reviews diffs" in tool.spec.description
    calls: list[tuple[str, str, str]] = []

    async def run_subagent(kind: str, prompt: str, tool_id: str) -> str:
        calls.append((kind, prompt, tool_id))
        return "Found it in a.py"

    ctx.run_subagent = run_subagent
    result = await tool.run({"subagent_type": "reviewer", "prompt": "Look"}, ctx)
    assert result.content == "Found it in a.py" and calls == [("reviewer", "Look", "toolu_1")]
    with pytest.raises(ToolError, match="no subagent 'ghost'"):
        await tool.run({"subagent_type": "ghost", "prompt": "x"}, ctx)
    ctx.run_subagent = None
    with pytest.raises(ToolError, match="cannot start subagents"):
        await tool.run({"subagent_type": "general", "prompt": "x"}, ctx)


def test_allowlists_and_tool_sets() -> None:
    assert allowed("Read", None) and allowed("Read", ["Read"]) and not allowed("Bash", ["Read"])
    assert allowed("mcp__polygent__ping", ["mcp__polygent"])
    assert allowed("mcp__polygent__ping", ["mcp__polygent__*"])
    assert not allowed("mcp__other__ping", ["mcp__polygent"])
    assert sorted(build_tools(["Read", "Grep", "Task"], BashTool())) == ["Grep", "Read"]
    everything = build_tools(None, BashTool(), available([]))
    assert sorted(everything) == sorted(
        ["Read", "Write", "Edit", "Bash", "Glob", "Grep", "WebFetch", "TodoWrite", "Task"]
    )


# --- routing, reset times, wire formats -------------------------------------------------------


def test_models_route_to_their_api_with_their_credential() -> None:
    env = {
        "ANTHROPIC_API_KEY": "a-key",
        "OPENAI_API_KEY": "o-key",
        "GEMINI_API_KEY": "g-key",
        "OPENROUTER_API_KEY": "r-key",
    }
    claude = resolve("claude-sonnet-4-5", env)
    assert (claude.kind, claude.url, claude.headers) == (
        "anthropic",
        "https://api.anthropic.com/v1/messages",
        {"x-api-key": "a-key"},
    )
    assert resolve("gpt-5", env).url == "https://api.openai.com/v1/chat/completions"
    assert resolve("o3-mini", env).headers == {"Authorization": "Bearer o-key"}
    gem = resolve("gemini-2.5-pro", env)
    assert gem.url.endswith("/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse")
    router = resolve("openrouter/anthropic/claude-sonnet-4.5", env)
    assert (router.kind, router.model) == ("openai", "anthropic/claude-sonnet-4.5")
    assert router.url == "https://openrouter.ai/api/v1/chat/completions"
    free = resolve("kilo/kilo-auto-free", {})
    assert free.headers == {} and free.url == "https://api.kilo.ai/api/gateway/chat/completions"
    zen = resolve("opencode-zen/claude-haiku-4-5", {"ZEN_API_KEY": "z"})
    assert (zen.kind, zen.url) == ("anthropic", "https://opencode.ai/zen/v1/messages")
    assert resolve("opencode-zen/big-pickle", {}).kind == "openai"
    moved = resolve("claude-x", {"ANTHROPIC_AUTH_TOKEN": "t", "ANTHROPIC_BASE_URL": "http://h/"})
    assert moved.url == "http://h/v1/messages" and moved.headers["Authorization"] == "Bearer t"
    override = {"POLYGENT_GEMINI_BASE_URL": "http://g", "GOOGLE_API_KEY": "k"}
    assert resolve("google/gemini-x", override).url.startswith("http://g/v1beta/models/gemini-x:")
    for model, var in [
        ("claude-x", "ANTHROPIC_API_KEY"),
        ("gpt-5", "OPENAI_API_KEY"),
        ("gemini-x", "GEMINI_API_KEY"),
        ("openrouter/x", "OPENROUTER_API_KEY"),
    ]:
        with pytest.raises(RouteError, match=var):
            resolve(model, {})
    for model in ("llama-3", "bad model", "../../x"):
        with pytest.raises(RouteError, match="does not know"):
            resolve(model, env)


def test_reset_times_from_headers_and_bodies() -> None:
    assert retry_after_of({"retry-after": "120"}, None) == 120
    assert retry_after_of({"retry-after-ms": "1500", "retry-after": "9"}, None) == 1.5
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=60), usegmt=True)
    assert 55 < (retry_after_of({"retry-after": later}, None) or 0) <= 60
    body = {
        "error": {
            "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "37s"}]
        }
    }
    assert retry_after_of({}, body) == 37
    assert (
        retry_after_of(
            {"x-ratelimit-reset-requests": "1m30s", "x-ratelimit-reset-tokens": "20ms"}, None
        )
        == 90
    )
    stamp = (datetime.now(UTC) + timedelta(seconds=30)).isoformat()
    assert 25 < (retry_after_of({"anthropic-ratelimit-tokens-reset": stamp}, None) or 0) <= 30
    assert retry_after_of({}, {"error": {"message": "x"}}) is None


def test_conversations_translate_to_each_wire_format() -> None:
    messages = [
        Message(role="user", parts=[Part(type="text", text="Go")]),
        Message(
            role="assistant",
            parts=[
                Part(type="thinking", text="hm", signature="sig", origin="anthropic"),
                Part(type="thinking", text="other", signature="gsig", origin="gemini"),
                Part(type="text", text="Calling"),
                Part(type="tool_call", id="t1", name="Read", input={"file_path": "a"}),
            ],
        ),
        Message(
            role="user",
            parts=[
                Part(type="tool_result", id="t1", name="Read", text="content"),
                Part(type="text", text="and more"),
            ],
        ),
    ]
    wire = anthropic_wire(messages)
    assert [b["type"] for b in wire[1]["content"]] == ["thinking", "text", "tool_use"]
    assert [b["type"] for b in wire[2]["content"]] == ["tool_result", "text"]
    assert wire[2]["content"][-1]["cache_control"] == {"type": "ephemeral"}
    chat = openai_wire("SYS", messages)
    assert [m["role"] for m in chat] == ["system", "user", "assistant", "tool", "user"]
    assert chat[2]["tool_calls"][0]["function"] == {
        "name": "Read",
        "arguments": '{"file_path": "a"}',
    }
    assert chat[3] == {"role": "tool", "tool_call_id": "t1", "content": "content"}
    schema = gemini_schema(
        {
            "type": "object",
            "additionalProperties": False,
            "$schema": "x",
            "properties": {"a": {"type": ["string", "null"], "default": "d"}},
        }
    )
    assert schema == {"type": "object", "properties": {"a": {"type": "string", "nullable": True}}}


# --- event sink and conversation store --------------------------------------------------------


async def test_sink_numbers_redacts_and_heartbeats() -> None:
    got: list[AgentEvent] = []
    beats: list[int] = []

    async def collect(batch: list[AgentEvent]) -> None:
        got.extend(batch)

    sink = EventSink(
        collect,
        turn=3,
        attempt=2,
        start_seq=1,
        heartbeat=beats.append,
        heartbeat_interval=0.05,
        secrets=[SECRET],
    )
    async with sink:
        await sink.emit(
            [
                AgentEvent(kind="text", text=f"key {SECRET}"),
                AgentEvent(kind="tool_call", tool_input={"cmd": [f"echo {SECRET}"]}),
            ]
        )
        await wait_for(lambda: len(beats) >= 3, what="heartbeats while idle")
    assert [(e.seq, e.turn, e.attempt) for e in got] == [(2, 3, 2), (3, 3, 2)]
    assert got[0].text == "key ***" and got[1].tool_input == {"cmd": ["echo ***"]}
    assert beats[0] == 1 and beats[-1] == 3


def test_store_keeps_conversations_and_answers_pending_calls(tmp_path: Path) -> None:
    store = ConversationStore(tmp_path)
    convo = store.new()
    convo.add_prompt("first")
    convo.messages.append(
        Message(
            role="assistant",
            parts=[Part(type="tool_call", id="c1", name="Bash", input={"command": "x"})],
        )
    )
    convo.close_pending("interrupted")
    convo.add_prompt("second")
    assert [m.role for m in convo.messages] == ["user", "assistant", "user"]
    last = convo.messages[-1].parts
    assert last[0].type == "tool_result" and last[0].is_error and "interrupted" in last[0].text
    assert last[1].text == "second"
    convo.add_prompt("second")  # taken again after a rate limit: not repeated
    assert len(convo.messages[-1].parts) == 2
    store.save(convo)
    path = tmp_path / ".polygent-code" / "sessions" / f"{convo.id}.json"
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    loaded = store.load(convo.id)
    assert loaded is not None and loaded.messages == convo.messages
    assert store.load("../../etc/passwd") is None and store.load("missing") is None

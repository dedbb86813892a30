"""The Gemini CLI stream parser, outcome and command, on lines recorded from gemini 0.61.0."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from activities.agent.providers import ADAPTERS, ProviderCheckError
from activities.agent.providers.gemini_cli import GeminiCliAdapter, core_tools
from activities.agent.providers.retry_hint import retry_after_seconds
from orchestrator.contracts.agent import AgentEvent, McpConfig, TurnRequest

pytestmark = pytest.mark.providers

SID = "b2664b2c-d588-43db-a062-73102ebecb51"
INIT = '{"type":"init","timestamp":"2026-11-21T22:46:52.201Z","session_id":"b2664b2c-d588-43db-a062-73102ebecb51","model":"gemini-2.5-flash"}'  # noqa: E501
USER = '{"type":"message","timestamp":"2026-11-21T22:46:52.202Z","role":"user","content":"go"}'
SAY_WRITE = '{"type":"message","timestamp":"2026-11-21T22:46:52.238Z","role":"assistant","content":"I\'ll write the file.","delta":true}'  # noqa: E501
WRITE = '{"type":"tool_use","timestamp":"2026-11-21T22:46:52.269Z","tool_name":"write_file","tool_id":"write_file__call_0001","parameters":{"file_path":"/proc/nope/x.txt","content":"x\\n"}}'  # noqa: E501
WRITE_FAILED = '{"type":"tool_result","timestamp":"2026-11-21T22:46:52.307Z","tool_id":"write_file__call_0001","status":"error","output":"Path not in workspace: Attempted path \\"/proc/nope/x.txt\\" resolves outside the allowed workspace directories: /tmp/w","error":{"type":"invalid_tool_params","message":"Path not in workspace: Attempted path \\"/proc/nope/x.txt\\" resolves outside the allowed workspace directories: /tmp/w"}}'  # noqa: E501
SAY_TODO = '{"type":"message","timestamp":"2026-11-21T22:46:52.318Z","role":"assistant","content":"Todo.","delta":true}'  # noqa: E501
TODOS = '{"type":"tool_use","timestamp":"2026-11-21T22:47:03.829Z","tool_name":"write_todos","tool_id":"write_todos__call_0003","parameters":{"todos":[{"description":"a","status":"pending"},{"description":"b","status":"in_progress"}]}}'  # noqa: E501
TODOS_DONE = '{"type":"tool_result","timestamp":"2026-11-21T22:47:03.836Z","tool_id":"write_todos__call_0003","status":"success"}'  # noqa: E501
SHELL = '{"type":"tool_use","timestamp":"2026-11-21T22:46:52.331Z","tool_name":"run_shell_command","tool_id":"run_shell_command__call_0005","parameters":{"command":"echo out; exit 3","description":"Run it","is_background":false}}'  # noqa: E501
SHELL_DONE = '{"type":"tool_result","timestamp":"2026-11-21T22:46:52.381Z","tool_id":"run_shell_command__call_0005","status":"success","output":"out"}'  # noqa: E501
DONE_1 = '{"type":"message","timestamp":"2026-11-21T22:46:52.394Z","role":"assistant","content":"Done.\\n","delta":true}'  # noqa: E501
DONE_2 = '{"type":"message","timestamp":"2026-11-21T22:46:52.395Z","role":"assistant","content":"Second line.","delta":true}'  # noqa: E501
RESULT = '{"type":"result","timestamp":"2026-11-21T22:46:52.400Z","status":"success","stats":{"total_tokens":568,"input_tokens":400,"output_tokens":168,"cached":120,"input":280,"duration_ms":200,"tool_calls":3,"models":{"gemini-2.5-flash":{"total_tokens":568,"input_tokens":400,"output_tokens":168,"cached":120,"input":280}}}}'  # noqa: E501
ZERO_STATS = '"stats":{"total_tokens":0,"input_tokens":0,"output_tokens":0,"cached":0,"input":0,"duration_ms":0,"tool_calls":0,"models":{"gemini-fake":{"total_tokens":0,"input_tokens":0,"output_tokens":0,"cached":0,"input":0}}}'  # noqa: E501
API_400 = (
    '{"type":"result","timestamp":"2026-11-21T22:28:48.759Z","status":"error","error":{"type":"unknown","message":"[API Error: {\\"error\\":{\\"code\\":400,\\"message\\":\\"fake says no\\",\\"status\\":\\"INVALID_ARGUMENT\\",\\"details\\":[]}}]"},'  # noqa: E501
    + ZERO_STATS
    + "}"
)
QUOTA_429 = (
    '{"type":"result","timestamp":"2026-11-21T22:28:56.512Z","status":"error","error":{"type":"unknown","message":"[API Error: slow down\\nSuggested retry after 3600s.]\\nPlease wait and try again later. To increase your limits, request a quota increase through AI Studio, or switch to another /auth method"},'  # noqa: E501
    + ZERO_STATS
    + "}"
)
FETCH_FAILED = (
    '{"type":"result","timestamp":"2026-11-21T22:29:23.554Z","status":"error","error":{"type":"unknown","message":"[API Error: exception TypeError: fetch failed sending request]"},'  # noqa: E501
    + ZERO_STATS
    + "}"
)
WARNING = '{"type":"error","timestamp":"2026-11-21T22:30:00.000Z","severity":"warning","message":"Loop detected, stopping execution"}'  # noqa: E501
FATAL = '{"type":"error","timestamp":"2026-11-21T22:30:00.000Z","severity":"error","message":"Model stream ended with empty response text."}'  # noqa: E501


def parse(*lines: str) -> list[AgentEvent]:
    parser = GeminiCliAdapter().parser()
    return [e for line in lines for e in parser.parse(line)]


def test_recorded_turn_becomes_normalized_events_and_a_result() -> None:
    lines = (INIT, USER, SAY_WRITE, WRITE, WRITE_FAILED, SAY_TODO, TODOS, TODOS_DONE)
    events = parse(*lines, SHELL, SHELL_DONE, DONE_1, DONE_2, RESULT)
    assert [e.kind for e in events] == [
        "system", "text", "tool_call", "tool_result", "text", "tool_call", "todo",
        "tool_result", "tool_call", "tool_result", "text", "usage", "result",
    ]  # fmt: skip
    init = events[0]
    assert init.subtype == "init" and init.session_id == SID
    assert init.data == {"model": "gemini-2.5-flash"}
    write, failed = events[2], events[3]
    assert write.tool_name == "write_file" and write.tool_id == "write_file__call_0001"
    assert write.tool_input == {"file_path": "/proc/nope/x.txt", "content": "x\n"}
    assert failed.is_error and failed.tool_name == "write_file"
    assert failed.content and failed.content.startswith("Path not in workspace")
    assert failed.data == {"error_type": "invalid_tool_params"}
    todo = events[6]
    assert todo.subtype == "replace" and todo.todos is not None
    assert [(t.content, t.status) for t in todo.todos] == [("a", "pending"), ("b", "in_progress")]
    shell_done = events[9]
    assert shell_done.content == "out" and not shell_done.is_error
    # Deltas of one answer are one text event; the echoed prompt is dropped.
    assert events[10].text == "Done.\nSecond line."
    assert all(e.text != "go" for e in events)
    # Tokens only come in the result: input counts cached tokens, ours keeps them apart.
    usage, result = events[11], events[12]
    assert usage.usage is not None and usage.usage.model_dump() == {
        "input": 280, "output": 168, "cache_read": 120, "cache_write": 0,
    }  # fmt: skip
    assert usage.message_id and usage.message_id.startswith(SID)
    assert result.usage == usage.usage and result.cost_usd is None
    assert result.data == {"tool_calls": 3, "duration_ms": 200, "models": ["gemini-2.5-flash"]}

    outcome = GeminiCliAdapter().finish(0, events)
    assert outcome.ok and outcome.outcome == "success" and outcome.error is None
    assert outcome.final_text == "Done.\nSecond line."
    assert outcome.provider_session_id == SID
    assert outcome.usage == usage.usage and outcome.cost_usd is None
    assert outcome.retry_after_seconds is None


def test_api_error_quota_and_connection_failures() -> None:
    bad = GeminiCliAdapter().finish(144, parse(INIT, USER, API_400))
    assert not bad.ok and bad.outcome == "error" and bad.exit_code == 144
    assert bad.error and "400" in bad.error and "fake says no" in bad.error
    assert bad.retry_after_seconds is None and bad.provider_session_id == SID
    assert bad.usage.model_dump() == {"input": 0, "output": 0, "cache_read": 0, "cache_write": 0}

    quota = GeminiCliAdapter().finish(173, parse(INIT, USER, QUOTA_429))
    assert not quota.ok and quota.retry_after_seconds == 3600.0
    assert quota.error and "Suggested retry after 3600s" in quota.error

    down = GeminiCliAdapter().finish(1, parse(INIT, USER, FETCH_FAILED))
    assert not down.ok and down.error and "fetch failed" in down.error
    assert down.retry_after_seconds is None


def test_exit_code_and_missing_result_are_failures() -> None:
    # A success line does not make a failed process a success (exit codes are unlisted).
    crashed = GeminiCliAdapter().finish(1, parse(INIT, SAY_WRITE, RESULT))
    assert not crashed.ok and crashed.outcome == "error" and crashed.final_text is None
    # No result line: the last error event, else stderr's last meaningful line.
    stderr = "Invalid auth method selected.\n"
    no_auth = GeminiCliAdapter().finish(41, [], stderr)
    assert not no_auth.ok and no_auth.error == "Invalid auth method selected."
    trace = "Error: boom\n    at main (file:///x.js:1:1)\n    at run (file:///x.js:2:2)\n"
    assert GeminiCliAdapter().finish(1, [], trace).error == "Error: boom"
    fatal = GeminiCliAdapter().finish(1, parse(INIT, FATAL), trace)
    assert fatal.error == "Model stream ended with empty response text."
    assert GeminiCliAdapter().finish(9, []).error == "Gemini CLI exited with code 9."


def test_odd_lines_never_raise() -> None:
    events = parse("", "not json at all", "[1,2]", '{"type":"future_kind","x":1}', WARNING, FATAL)
    assert [e.kind for e in events] == ["raw", "raw", "system", "system", "error"]
    assert events[2].subtype == "future_kind"
    assert events[3].subtype == "warning" and events[3].text == "Loop detected, stopping execution"
    # Pending text is never lost behind a line it cannot read.
    flushed = parse(SAY_WRITE, "garbage")
    assert [e.kind for e in flushed] == ["text", "raw"]
    broken = parse('{"type":"tool_use","tool_name":"x","parameters":"oops"}')
    assert broken[0].kind == "tool_call" and broken[0].tool_input == {}


def test_retry_hints() -> None:
    assert retry_after_seconds("[API Error: slow down\nSuggested retry after 3600s.]") == 3600
    assert retry_after_seconds("RESOURCE_EXHAUSTED: Please retry in 38.2s.") == 38.2
    assert retry_after_seconds("429 Rate limit reached. Please try again in 1m30s.") == 90
    assert retry_after_seconds("429 Too many requests, retry in 250ms") == 0.25
    assert retry_after_seconds("400 bad request, retry in 5s") is None  # not a rate limit
    assert retry_after_seconds("quota exceeded") is None  # no time named


def request(tmp_path: Path, **fields: object) -> TurnRequest:
    values: dict[str, object] = {
        "provider": "gemini-cli", "prompt": "-p do it", "worktree": str(tmp_path / "w"),
        "home": str(tmp_path / "h"),
    }  # fmt: skip
    values.update(fields)
    return TurnRequest.model_validate(values)


def test_prepare_writes_settings_and_keeps_secrets_out_of_argv(tmp_path: Path) -> None:
    home = tmp_path / "h"
    env = {
        "PATH": "/usr/bin",
        "GEMINI_API_KEY": "gm-key-123",
        "GOOGLE_GEMINI_BASE_URL": "http://127.0.0.1:1",
        "AWS_SECRET_ACCESS_KEY": "not-for-the-cli",
    }
    mcp = McpConfig(url="http://127.0.0.1:2/mcp", bearer_token_ref="ref:1")
    req = request(
        tmp_path, model="gemini-2.5-pro", resume_session_id=SID, mcp=mcp,
        allowed_tools=["Read", "Edit", "Bash", "custom_tool"], system_prompt_append="RULES-42",
    )  # fmt: skip
    launch = GeminiCliAdapter().prepare(req, home, env, mcp_token="mcp-tok-9")
    assert launch.argv == [
        "gemini", "--prompt=-p do it", "--output-format", "stream-json", "--approval-mode",
        "yolo", "--skip-trust", "-m", "gemini-2.5-pro", "--resume", SID,
    ]  # fmt: skip
    assert launch.env["HOME"] == str(home) and launch.env["GEMINI_API_KEY"] == "gm-key-123"
    assert "AWS_SECRET_ACCESS_KEY" not in launch.env
    assert launch.env["TMPDIR"].startswith(str(home))
    assert set(launch.secrets) == {"gm-key-123", "mcp-tok-9"}
    assert all("mcp-tok-9" not in a and "gm-key-123" not in a for a in launch.argv)
    settings_file = home / ".gemini" / "settings.json"
    assert launch.env["GEMINI_CLI_SYSTEM_SETTINGS_PATH"] == str(settings_file)
    assert stat.S_IMODE(settings_file.stat().st_mode) == 0o600
    settings = json.loads(settings_file.read_text())
    assert settings["security"]["auth"]["selectedType"] == "gemini-api-key"
    assert settings["privacy"]["usageStatisticsEnabled"] is False
    assert settings["telemetry"]["enabled"] is False
    assert settings["general"]["disableAutoUpdate"] is True
    assert settings["tools"]["core"] == [
        "read_file", "read_many_files", "replace", "run_shell_command", "custom_tool",
        "mcp_polygent_*",
    ]  # fmt: skip
    assert settings["mcpServers"]["polygent"] == {
        "httpUrl": "http://127.0.0.1:2/mcp", "trust": True,
        "headers": {"Authorization": "Bearer mcp-tok-9"},
    }  # fmt: skip
    assert (home / ".gemini" / "GEMINI.md").read_text() == "RULES-42\n"

    # The next turn without an appended prompt or tools: nothing of them is left behind.
    plain = GeminiCliAdapter().prepare(request(tmp_path), home, env)
    assert not (home / ".gemini" / "GEMINI.md").exists()
    settings = json.loads(settings_file.read_text())
    assert "tools" not in settings and "mcpServers" not in settings
    assert "-m" not in plain.argv and "--resume" not in plain.argv
    assert GeminiCliAdapter(max_attempts=1).settings(req, None)["general"]["maxAttempts"] == 1
    assert core_tools(["Write", "Write", "write_file"]) == ["write_file"]


def test_check_fails_before_spawning(tmp_path: Path) -> None:
    adapter = ADAPTERS["gemini-cli"]
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "gemini").write_text("#!/bin/sh\n")
    (bin_dir / "gemini").chmod(0o755)
    env = {"PATH": str(bin_dir), "GEMINI_API_KEY": "k"}
    req = request(tmp_path)
    adapter.check(req, env)
    with pytest.raises(ProviderCheckError, match="GEMINI_API_KEY"):
        adapter.check(req, {"PATH": str(bin_dir)})
    with pytest.raises(ProviderCheckError, match="not installed"):
        adapter.check(req, {**env, "PATH": str(tmp_path / "nowhere")})
    with pytest.raises(ProviderCheckError, match="gpt-nonsense"):
        adapter.check(request(tmp_path, model="gpt-nonsense"), env, models=["gemini-2.5-pro"])
    adapter.check(request(tmp_path, model="flash"), env, models=["gemini-2.5-pro"])

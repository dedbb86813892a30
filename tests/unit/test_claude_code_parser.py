"""The Claude Code stream parser and outcome, on real lines from docs (providers.md §1)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from activities.agent.providers import ADAPTERS, ClaudeCodeAdapter, ProviderCheckError, adapter_for
from orchestrator.contracts.agent import McpConfig, TurnRequest

pytestmark = pytest.mark.sessions

INIT = '{"type":"system","subtype":"init","cwd":"/w","session_id":"3712212f-e25a-474c-b7a1-c4121410511a","tools":["Task","Bash"],"mcp_servers":[],"model":"claude-opus-5-5","permissionMode":"acceptEdits","apiKeySource":"ANTHROPIC_API_KEY","claude_code_version":"2.1.330"}'  # noqa: E501
THINKING = '{"type":"assistant","message":{"id":"msg_0002","type":"message","role":"assistant","model":"claude-opus-5-5","content":[{"type":"thinking","thinking":"I should create the file.","signature":"ZmFrZXNpZw=="}],"stop_reason":null,"usage":{"input_tokens":100,"output_tokens":1,"cache_creation_input_tokens":20,"cache_read_input_tokens":30}},"parent_tool_use_id":null,"session_id":"3712212f"}'  # noqa: E501
TOOL_USE = '{"type":"assistant","message":{"id":"msg_0002","type":"message","role":"assistant","model":"claude-opus-5-5","content":[{"type":"tool_use","id":"toolu_0001","name":"Write","input":{"file_path":"/w/hello.txt","content":"hello from the fake server\\n"}}],"usage":{"input_tokens":100,"output_tokens":1,"cache_creation_input_tokens":20,"cache_read_input_tokens":30}},"parent_tool_use_id":null,"session_id":"3712212f"}'  # noqa: E501
TOOL_RESULT = '{"type":"user","message":{"role":"user","content":[{"tool_use_id":"toolu_0001","type":"tool_result","content":"File created successfully at: /w/hello.txt"}]},"tool_use_result":{"type":"create","filePath":"/w/hello.txt","content":"hello\\n","structuredPatch":[],"originalFile":null}}'  # noqa: E501
RESULT = '{"duration_api_ms":109,"stop_reason":"end_turn","session_id":"3712212f","total_cost_usd":0.002692,"usage":{"input_tokens":200,"cache_creation_input_tokens":40,"cache_read_input_tokens":60,"output_tokens":84},"modelUsage":{},"permission_denials":[],"is_error":false,"num_turns":2,"subtype":"success","result":"Done: wrote hello.txt.","type":"result"}'  # noqa: E501
PARTIAL = '{"type":"stream_event","event":{"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"I\'ll create "}},"session_id":"3bf2662f","parent_tool_use_id":null,"uuid":"u"}'  # noqa: E501
API_ERROR_TEXT = '{"type":"assistant","message":{"id":"x","model":"<synthetic>","role":"assistant","content":[{"type":"text","text":"API Error: 400 {\\"type\\":\\"error\\"}"}],"usage":{"input_tokens":0,"output_tokens":0}},"error":"unknown","session_id":"s"}'  # noqa: E501
API_ERROR_RESULT = '{"type":"result","subtype":"success","is_error":true,"api_error_status":400,"result":"API Error: 400 {\\"type\\":\\"error\\"}","session_id":"s","num_turns":1,"total_cost_usd":0,"usage":{"input_tokens":0,"output_tokens":0}}'  # noqa: E501
BUDGET_RESULT = '{"type":"result","subtype":"error_max_budget_usd","is_error":true,"errors":["Reached maximum budget ($0.001)"],"session_id":"s","num_turns":1,"total_cost_usd":0.0013,"usage":{"input_tokens":100,"output_tokens":42}}'  # noqa: E501


def test_real_lines_become_normalized_events() -> None:
    parser = ClaudeCodeAdapter().parser()
    events = [
        e
        for line in (INIT, THINKING, TOOL_USE, TOOL_RESULT, PARTIAL, RESULT)
        for e in parser.parse(line)
    ]
    assert [e.kind for e in events] == [
        "system", "usage", "thinking", "tool_call", "tool_result", "result",
    ]  # fmt: skip
    init, usage, thinking, call, result_ev, final = events
    assert init.session_id == "3712212f-e25a-474c-b7a1-c4121410511a" and init.subtype == "init"
    # Usage is a snapshot per message id: the second line of msg_0002 adds none.
    assert usage.message_id == "msg_0002" and usage.usage and usage.usage.output == 1
    assert thinking.text == "I should create the file."
    assert call.tool_name == "Write" and call.tool_id == "toolu_0001"
    assert call.tool_input == {
        "file_path": "/w/hello.txt",
        "content": "hello from the fake server\n",
    }
    assert result_ev.tool_id == "toolu_0001" and result_ev.tool_name == "Write"
    assert (
        result_ev.content
        and result_ev.content.startswith("File created")
        and not result_ev.is_error
    )
    assert final.cost_usd == 0.002692 and final.usage and final.usage.input == 200

    outcome = ClaudeCodeAdapter().finish(0, events)
    assert (
        outcome.ok
        and outcome.outcome == "success"
        and outcome.final_text == "Done: wrote hello.txt."
    )
    assert outcome.usage.model_dump() == {
        "input": 200,
        "output": 84,
        "cache_read": 60,
        "cache_write": 40,
    }
    assert outcome.num_turns == 2 and outcome.provider_session_id == "3712212f"


@pytest.mark.parametrize(
    "line",
    [
        "not json at all",
        "[1, 2]",
        '{"type":"assistant","message":42}',
        '{"type": "user"',
        "\x00\xff",
    ],
)
def test_malformed_lines_are_kept_raw(line: str) -> None:
    events = ClaudeCodeAdapter().parser().parse(line)
    assert [(e.kind, e.raw) for e in events] == [("raw", line)]


def test_unknown_types_are_system_events_and_blank_lines_nothing() -> None:
    parser = ClaudeCodeAdapter().parser()
    (event,) = parser.parse('{"type":"goal_state","x":1}')
    assert event.kind == "system" and event.subtype == "goal_state" and event.raw
    (status,) = parser.parse('{"type":"system","subtype":"thinking_tokens","estimated_tokens":5}')
    assert status.kind == "system" and status.subtype == "thinking_tokens"
    assert parser.parse("   ") == []


def test_api_error_is_a_failed_turn_despite_subtype_success() -> None:
    parser = ClaudeCodeAdapter().parser()
    events = parser.parse(API_ERROR_TEXT) + parser.parse(API_ERROR_RESULT)
    assert [e.kind for e in events] == ["error", "result"]
    outcome = ClaudeCodeAdapter().finish(1, events)
    assert not outcome.ok and outcome.outcome == "error"
    assert outcome.error and outcome.error.startswith("API Error: 400")


def test_budget_stop() -> None:
    events = ClaudeCodeAdapter().parser().parse(BUDGET_RESULT)
    outcome = ClaudeCodeAdapter().finish(1, events)
    assert outcome.outcome == "budget_exceeded" and not outcome.ok
    assert outcome.error == "Reached maximum budget ($0.001)"


def test_no_result_line_uses_stderr_or_exit_code() -> None:
    adapter = ClaudeCodeAdapter()
    crashed = adapter.finish(2, [], "warming up\nError: something broke\n")
    assert not crashed.ok and crashed.error == "Error: something broke" and crashed.exit_code == 2
    assert adapter.finish(137, []).error == "Claude Code exited with code 137."


def test_todo_tools_of_every_version() -> None:
    parser = ClaudeCodeAdapter().parser()

    def tool(name: str, tinput: dict[str, object]) -> str:
        block = {"type": "tool_use", "id": f"t_{name}", "name": name, "input": tinput}
        return json.dumps({"type": "assistant", "message": {"id": "m", "content": [block]}})

    todo_write = tool("TodoWrite", {"todos": [{"content": "A", "status": "in_progress"}]})
    todos = [e for e in parser.parse(todo_write) if e.kind == "todo"]
    assert todos[0].subtype == "replace" and todos[0].todos
    assert (todos[0].todos[0].content, todos[0].todos[0].status) == ("A", "in_progress")
    created = [e for e in parser.parse(tool("TaskCreate", {"subject": "B"})) if e.kind == "todo"]
    assert (
        created[0].subtype == "create" and created[0].todos and created[0].todos[0].content == "B"
    )
    update = tool("TaskUpdate", {"taskId": "1", "status": "completed"})
    updated = [e for e in parser.parse(update) if e.kind == "todo"]
    assert updated[0].todos and (updated[0].todos[0].id, updated[0].todos[0].status) == (
        "1",
        "completed",
    )
    assert [e.subtype for e in parser.parse(tool("TaskList", {})) if e.kind == "todo"] == ["list"]


def test_prepare_builds_an_isolated_quiet_command(tmp_path: Path) -> None:
    env = {"PATH": "/bin", "ANTHROPIC_API_KEY": "sk-abcdef123", "SECRET_OF_HOST": "nope"}
    request = TurnRequest(
        provider="claude-code",
        model="sonnet",
        prompt="Do it",
        system_prompt_append="Rules",
        allowed_tools=["Read", "Write"],
        mcp=McpConfig(url="http://127.0.0.1:1/mcp"),
        budget_usd=0.25,
        resume_session_id="abc",
        worktree=str(tmp_path),
        home=str(tmp_path / "h"),
    )
    launch = ClaudeCodeAdapter().prepare(request, tmp_path / "h", env, mcp_token="tok-123456")
    argv = launch.argv
    assert argv[:3] == ["claude", "-p", "Do it"]
    for flag, value in [
        ("--output-format", "stream-json"), ("--permission-mode", "acceptEdits"),
        ("--model", "sonnet"), ("--append-system-prompt", "Rules"), ("--resume", "abc"),
        ("--max-budget-usd", "0.25"), ("--tools", "Read,Write"),
    ]:  # fmt: skip
        assert argv[argv.index(flag) + 1] == value
    assert "--verbose" in argv and "--strict-mcp-config" in argv
    assert launch.env["HOME"] == str(tmp_path / "h")
    assert launch.env["CLAUDE_CONFIG_DIR"] == str(tmp_path / "h" / ".claude")
    assert launch.env["CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC"] == "1"
    assert launch.env["DISABLE_AUTOUPDATER"] == "1"
    assert "SECRET_OF_HOST" not in launch.env
    assert set(launch.secrets) == {"sk-abcdef123", "tok-123456"}


def test_registry_and_unknown_provider() -> None:
    assert isinstance(ADAPTERS["claude-code"], ClaudeCodeAdapter)
    assert adapter_for("claude-code").name == "claude-code"
    with pytest.raises(ProviderCheckError, match="Unknown provider"):
        adapter_for("nope")

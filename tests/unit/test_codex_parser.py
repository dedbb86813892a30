"""The Codex stream parser, outcome and command, on real `codex exec --json` lines (0.169.0)."""

from __future__ import annotations

import json
import tomllib
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from activities.agent.providers import ADAPTERS, adapter_for
from activities.agent.providers.codex import CodexAdapter
from activities.agent.providers.codex_rollout import RolloutTail
from activities.agent.providers.codex_stream import CodexStreamParser, retry_after_seconds
from orchestrator.contracts.agent import AgentEvent, McpConfig, TurnRequest

pytestmark = pytest.mark.providers

THREAD = "01a20039-760a-7ae1-97bb-f896c3cbc942"
STARTED = f'{{"type":"thread.started","thread_id":"{THREAD}"}}'
TURN = '{"type":"turn.started"}'
REASONING = '{"type":"item.completed","item":{"id":"item_0","type":"reasoning","text":"Plan it"}}'
MESSAGE = '{"type":"item.completed","item":{"id":"item_1","type":"agent_message","text":"I\'ll write the file."}}'  # noqa: E501
PATCH_START = '{"type":"item.started","item":{"id":"item_2","type":"file_change","changes":[{"path":"/w/hello.txt","kind":"add"}],"status":"in_progress"}}'  # noqa: E501
PATCH_DONE = '{"type":"item.completed","item":{"id":"item_2","type":"file_change","changes":[{"path":"/w/hello.txt","kind":"add"}],"status":"completed"}}'  # noqa: E501
CMD_START = '{"type":"item.started","item":{"id":"item_4","type":"command_execution","command":"/bin/bash -lc \'echo ran > ran.txt\'","aggregated_output":"","exit_code":null,"status":"in_progress"}}'  # noqa: E501
CMD_DONE = '{"type":"item.completed","item":{"id":"item_4","type":"command_execution","command":"/bin/bash -lc \'echo ran > ran.txt\'","aggregated_output":"ran\\n","exit_code":0,"status":"completed"}}'  # noqa: E501
TODO = '{"type":"item.started","item":{"id":"item_3","type":"todo_list","items":[{"text":"a","completed":true},{"text":"b","completed":false}]}}'  # noqa: E501
MCP_DONE = '{"type":"item.completed","item":{"id":"item_5","type":"mcp_tool_call","server":"polygent","tool":"polygent_ping","arguments":{"text":"hi"},"result":{"content":[{"type":"text","text":"pong: hi"}],"structured_content":{"result":"pong: hi"}},"error":null,"status":"completed"}}'  # noqa: E501
MCP_FAILED = '{"type":"item.completed","item":{"id":"item_1","type":"mcp_tool_call","server":"polygent","tool":"polygent_ping","arguments":{"text":"hi"},"result":null,"error":{"message":"MCP tool call requires approval, but approval policy is never"},"status":"failed"}}'  # noqa: E501
FINAL = '{"type":"item.completed","item":{"id":"item_6","type":"agent_message","text":"All done."}}'
COMPLETED = '{"type":"turn.completed","usage":{"input_tokens":400,"cached_input_tokens":120,"cache_write_input_tokens":0,"output_tokens":168,"reasoning_output_tokens":40}}'  # noqa: E501
WARNING = '{"type":"item.completed","item":{"id":"item_0","type":"error","message":"Codex is ignoring 1 unrecognized configuration setting."}}'  # noqa: E501
RECONNECT = (
    '{"type":"error","message":"Reconnecting... 1/5 (Connection failed: error sending request)"}'
)
API_ERROR = '{"type":"error","message":"{\\"error\\": {\\"message\\": \\"the fake rejects this request\\", \\"type\\": \\"invalid_request_error\\", \\"param\\": null, \\"code\\": null}}"}'  # noqa: E501
FAILED = '{"type":"turn.failed","error":{"message":"{\\"error\\": {\\"message\\": \\"the fake rejects this request\\", \\"type\\": \\"invalid_request_error\\", \\"param\\": null, \\"code\\": null}}"}}'  # noqa: E501
RATE_FAILED = '{"type":"turn.failed","error":{"message":"rate limit exceeded: Rate limit reached for gpt-5.5 on tokens per min. Please try again in 1.5s."}}'  # noqa: E501


def parse_all(parser: CodexStreamParser, *lines: str) -> list[AgentEvent]:
    return [e for line in lines for e in parser.parse(line)]


def test_real_lines_become_normalized_events() -> None:
    adapter = CodexAdapter()
    events = parse_all(
        adapter.parser(), STARTED, TURN, REASONING, MESSAGE, PATCH_START, PATCH_DONE, TODO,
        CMD_START, CMD_DONE, MCP_DONE, FINAL, COMPLETED,
    )  # fmt: skip
    assert [e.kind for e in events] == [
        "system", "thinking", "text", "tool_call", "tool_result", "todo", "tool_call",
        "tool_result", "tool_call", "tool_result", "text", "usage", "result",
    ]  # fmt: skip
    init, thinking, text, patch, patched, todo, cmd, ran, ping, pong = events[:10]
    assert init.subtype == "init" and init.session_id == THREAD
    assert thinking.text == "Plan it" and text.text == "I'll write the file."
    assert patch.tool_name == "apply_patch" and patch.tool_id == "item_2"
    assert patch.tool_input == {
        "path": "/w/hello.txt",
        "changes": [{"path": "/w/hello.txt", "kind": "add"}],
    }
    assert patched.tool_id == "item_2" and patched.content == "add /w/hello.txt"
    assert todo.todos and [(t.content, t.status) for t in todo.todos] == [
        ("a", "completed"), ("b", "pending"),
    ]  # fmt: skip
    assert cmd.tool_name == "shell" and cmd.tool_input == {
        "command": "/bin/bash -lc 'echo ran > ran.txt'"
    }
    assert (
        ran.content == "ran\n"
        and not ran.is_error
        and ran.data
        == {
            "status": "completed",
            "exit_code": 0,
        }
    )
    # An item that only completes (no started line) still gets its call first.
    assert ping.tool_name == "mcp__polygent__polygent_ping" and ping.tool_input == {"text": "hi"}
    assert pong.content == "pong: hi" and pong.tool_name == ping.tool_name
    usage, final = events[-2:]
    # Cached tokens are inside OpenAI's input count; ours keeps them apart.
    expected = {"input": 280, "output": 168, "cache_read": 120, "cache_write": 0}
    assert usage.usage and usage.usage.model_dump() == expected
    assert final.session_id == THREAD and final.text == "All done."

    outcome = adapter.finish(0, events)
    assert outcome.ok and outcome.outcome == "success" and outcome.final_text == "All done."
    assert outcome.usage.model_dump() == expected
    assert outcome.cost_usd is None and outcome.provider_session_id == THREAD


@pytest.mark.parametrize(
    "line",
    [
        "not json at all",
        "[1, 2]",
        '{"type":"item.completed","item":42}',
        '{"type":"item.completed"}',
        '{"type": "turn.completed"',
        "\x00\xff",
    ],
)
def test_malformed_lines_are_kept_raw(line: str) -> None:
    events = CodexAdapter().parser().parse(line)
    assert [(e.kind, e.raw) for e in events] == [("raw", line)]


def test_notices_warnings_and_unknown_types() -> None:
    parser = CodexAdapter().parser()
    (retry,) = parser.parse(RECONNECT)
    assert retry.kind == "system" and retry.subtype == "retry" and retry.text
    (warning,) = parser.parse(WARNING)
    assert warning.kind == "system" and warning.subtype == "warning"
    (other,) = parser.parse('{"type":"goal_state","x":1}')
    assert other.kind == "system" and other.subtype == "goal_state" and other.raw
    (item,) = parser.parse('{"type":"item.completed","item":{"id":"i","type":"hologram"}}')
    assert item.kind == "system" and item.subtype == "item.hologram"
    assert parser.parse("   ") == [] and parser.parse(TURN) == []
    failed = parser.parse(MCP_FAILED)
    assert [e.kind for e in failed] == ["tool_call", "tool_result"]
    assert failed[1].is_error and failed[1].content and "approval" in failed[1].content
    bad = CMD_DONE.replace('"exit_code":0', '"exit_code":2').replace("item_4", "item_9")
    assert parser.parse(bad)[-1].is_error


def test_api_error_is_a_failed_turn() -> None:
    adapter = CodexAdapter()
    events = parse_all(adapter.parser(), STARTED, TURN, API_ERROR, FAILED)
    assert [e.kind for e in events] == ["system", "error", "result"]
    outcome = adapter.finish(1, events)
    assert not outcome.ok and outcome.outcome == "error" and outcome.exit_code == 1
    assert outcome.error and "the fake rejects this request" in outcome.error
    assert outcome.provider_session_id == THREAD and outcome.retry_after_seconds is None


def test_rate_limit_carries_the_reset_time() -> None:
    adapter = CodexAdapter()
    events = parse_all(adapter.parser(), STARTED, RATE_FAILED)
    outcome = adapter.finish(1, events)
    assert outcome.outcome == "error" and outcome.retry_after_seconds == 1.5


def test_false_successes_and_missing_terminal_lines() -> None:
    adapter = CodexAdapter()
    events = parse_all(adapter.parser(), STARTED, FINAL, COMPLETED)
    crashed = adapter.finish(137, events, "boom\nkilled\n")
    assert not crashed.ok and crashed.error == "killed" and crashed.final_text is None
    no_result = adapter.finish(0, parse_all(adapter.parser(), STARTED, RECONNECT))
    assert not no_result.ok and no_result.error == "Codex exited with code 0."
    assert adapter.finish(2, [], "Error: config broke\n").error == "Error: config broke"
    noise = "WARNING: proceeding, even though we could not create PATH aliases\nReading additional input from stdin...\n"  # noqa: E501
    assert adapter.finish(1, [], "error: bad flag\n" + noise).error == "error: bad flag"
    assert adapter.finish(1, [], noise).error == "Codex exited with code 1."


def test_retry_after_forms() -> None:
    now = datetime(2026, 11, 21, 22, 30, 10).astimezone()
    assert retry_after_seconds("Please try again in 1m30s.", now) == 90
    assert retry_after_seconds("try again in 120ms", now) == pytest.approx(0.12)
    assert retry_after_seconds("Please try again in 1.898s.", now) == pytest.approx(1.898)
    today = retry_after_seconds("You've hit your usage limit. Try again at 11:31 PM.", now)
    assert today == pytest.approx(timedelta(minutes=60, seconds=50).total_seconds() + 60)
    tomorrow = retry_after_seconds("visit … or try again at 9:05 AM.", now)
    assert tomorrow == pytest.approx(
        timedelta(hours=10, minutes=34, seconds=50).total_seconds() + 60
    )
    dated = retry_after_seconds("Try again at Nov 23rd, 2026 12:00 AM.", now)
    assert dated == pytest.approx(timedelta(hours=25, minutes=29, seconds=50).total_seconds() + 60)
    assert retry_after_seconds("Try again at Feb 31st, 2026 1:00 PM.", now) is None
    assert retry_after_seconds("exceeded retry limit, last status: 429", now) is None


def _token_count(n: int) -> str:
    usage = {"input_tokens": n, "cached_input_tokens": n // 4, "output_tokens": n // 2}
    info = {"total_token_usage": usage, "last_token_usage": usage}
    return json.dumps({"type": "event_msg", "payload": {"type": "token_count", "info": info}})


def _rollout(codex_home: Path, thread: str, totals: list[int]) -> Path:
    folder = codex_home / "sessions" / "2026" / "11" / "21"
    folder.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps({"type": "session_meta", "payload": {"id": thread}})]
    lines += [_token_count(n) for n in totals]
    path = folder / f"rollout-2026-11-21T22-30-21-{thread}.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_rollout_tail_reads_complete_new_lines_only(tmp_path: Path) -> None:
    path = _rollout(tmp_path, THREAD, [100, 200])
    tail = RolloutTail(tmp_path, THREAD)
    assert tail.latest_total() == {
        "input_tokens": 200, "cached_input_tokens": 50, "cache_write_input_tokens": 0,
        "output_tokens": 100, "reasoning_output_tokens": 0,
    }  # fmt: skip
    assert tail.latest_total() is None  # nothing new
    with path.open("a") as fh:
        fh.write(_token_count(300)[:20])  # a line being written
    assert tail.latest_total() is None
    with path.open("a") as fh:
        fh.write(_token_count(300)[20:] + "\n")
    total = tail.latest_total()
    assert total and total["input_tokens"] == 300
    # The record written as a response completes (before its tools run) counts too.
    usage = {"input_tokens": 400, "cached_input_tokens": 100, "output_tokens": 200}
    record = {"type": "token_usage_record", "payload": {"thread_token_usage": usage}}
    with path.open("a") as fh:
        fh.write(json.dumps(record) + "\n" + '{"type":"token_count","payload":42}\n')
    total = tail.latest_total()
    assert total and total["input_tokens"] == 400
    assert RolloutTail(tmp_path, "../../etc").latest_total() is None
    assert RolloutTail(tmp_path, "01a2-missing").latest_total() is None


def test_resumed_run_reports_only_its_own_tokens(tmp_path: Path) -> None:
    adapter = CodexAdapter()
    home = tmp_path / "h"
    path = _rollout(home / ".codex", THREAD, [100, 200])
    request = TurnRequest(
        provider="codex", prompt="Again", resume_session_id=THREAD, worktree=str(tmp_path),
        home=str(home),
    )  # fmt: skip
    launch = adapter.prepare(request, home, {"OPENAI_API_KEY": "sk-x"})
    assert launch.argv[-4:] == ["resume", "--", THREAD, "Again"]
    parser = adapter.parser()
    started = parser.parse(STARTED)
    assert [e.kind for e in started] == ["system"]  # the old counts are not this run's
    assert started[0].data == {"thread_id": THREAD, "resumed": True}
    # While the run goes on, the rollout's counts become a running snapshot of this run.
    with path.open("a") as fh:
        fh.write(_token_count(260) + "\n")
    running = parser.parse(MESSAGE)
    assert [e.kind for e in running] == ["text", "usage"]
    assert running[1].subtype == "running" and running[1].message_id == f"{THREAD}/usage"
    assert running[1].usage and running[1].usage.model_dump() == {
        "input": 45, "output": 30, "cache_read": 15, "cache_write": 0,
    }  # fmt: skip
    assert [e.kind for e in parser.parse(FINAL)] == ["text"]  # unchanged: no new snapshot
    cumulative = '{"type":"turn.completed","usage":{"input_tokens":300,"cached_input_tokens":75,"output_tokens":150}}'  # noqa: E501
    done = parser.parse(cumulative)
    assert [e.kind for e in done] == ["usage", "result"]
    assert done[0].message_id == running[1].message_id  # the same snapshot, final
    own = adapter.finish(0, [*started, *running, *done]).usage
    assert own.model_dump() == {"input": 75, "output": 50, "cache_read": 25, "cache_write": 0}
    # prepare() hands its state to one parser: a later parser starts from nothing.
    again = adapter.finish(0, parse_all(adapter.parser(), STARTED, cumulative)).usage
    assert again.input == 225


def test_failed_turn_keeps_the_usage_seen_so_far(tmp_path: Path) -> None:
    tail = RolloutTail(tmp_path)
    parser = CodexStreamParser(tail=tail)
    events = parser.parse(STARTED)
    _rollout(tmp_path, THREAD, [100])
    events += parser.parse(MESSAGE) + parser.parse(API_ERROR) + parser.parse(FAILED)
    outcome = CodexAdapter().finish(1, events)
    assert not outcome.ok and outcome.usage.model_dump() == {
        "input": 75, "output": 50, "cache_read": 25, "cache_write": 0,
    }  # fmt: skip


def test_prepare_builds_an_isolated_quiet_command(tmp_path: Path) -> None:
    env = {
        "PATH": "/bin",
        "OPENAI_API_KEY": "sk-abcdef123",
        "OPENAI_BASE_URL": "http://127.0.0.1:9/v1",
        "SECRET_OF_HOST": "nope",
    }
    request = TurnRequest(
        provider="codex",
        model="gpt-5.5",
        prompt="-starts with a dash",
        system_prompt_append='Rules with "quotes"\nand lines',
        mcp=McpConfig(url="http://127.0.0.1:1/mcp"),
        worktree=str(tmp_path),
        home=str(tmp_path / "h"),
    )
    home = tmp_path / "h"
    launch = CodexAdapter().prepare(request, home, env, mcp_token="tok-123456")
    argv = launch.argv
    assert argv[:3] == ["codex", "exec", "--json"] and argv[-2:] == ["--", "-starts with a dash"]
    assert argv[argv.index("-m") + 1] == "gpt-5.5"
    disabled = [argv[i + 1] for i, a in enumerate(argv) if a == "--disable"]
    assert disabled == ["plugins", "unbounded_connection_retries"]
    assert "tok-123456" not in " ".join(argv)
    assert launch.env == {
        "PATH": "/bin",
        "HOME": str(home),
        "CODEX_HOME": str(home / ".codex"),
        "OPENAI_API_KEY": "sk-abcdef123",
        "POLYGENT_MCP_TOKEN": "tok-123456",
    }
    assert set(launch.secrets) == {"sk-abcdef123", "tok-123456"}
    config = tomllib.loads(launch.files[0].read_text())
    assert config["model"] == "gpt-5.5" and config["model_provider"] == "polygent"
    assert config["approval_policy"] == "never" and config["sandbox_mode"] == "workspace-write"
    assert config["developer_instructions"] == 'Rules with "quotes"\nand lines'
    provider = config["model_providers"]["polygent"]
    assert provider["base_url"] == "http://127.0.0.1:9/v1"
    assert provider["env_key"] == "OPENAI_API_KEY" and provider["wire_api"] == "responses"
    assert config["analytics"] == {"enabled": False}
    assert config["features"] == {"plugins": False, "unbounded_connection_retries": False}
    assert config["tools"]["update_plan"] == {"enabled": True}
    server = config["mcp_servers"]["polygent"]
    assert server["url"] == "http://127.0.0.1:1/mcp"
    assert server["bearer_token_env_var"] == "POLYGENT_MCP_TOKEN"
    assert "enabled_tools" not in server
    assert config["sandbox_workspace_write"] == {"network_access": True}


def test_allowlists_map_to_the_sandbox_and_mcp_tools(tmp_path: Path) -> None:
    request = TurnRequest(
        provider="codex",
        prompt="Look",
        allowed_tools=["Read", "Grep", "mcp__polygent__polygent_ping"],
        mcp=McpConfig(url="http://127.0.0.1:1/mcp"),
        worktree=str(tmp_path),
        home=str(tmp_path / "h"),
    )
    env = {"CODEX_API_KEY": "sk-codex"}
    launch = CodexAdapter().prepare(request, tmp_path / "h", env)
    config = tomllib.loads(launch.files[0].read_text())
    assert config["sandbox_mode"] == "read-only" and "model" not in config
    assert config["model_providers"]["polygent"]["env_key"] == "CODEX_API_KEY"
    assert config["model_providers"]["polygent"]["base_url"] == "https://api.openai.com/v1"
    assert config["mcp_servers"]["polygent"]["enabled_tools"] == ["polygent_ping"]
    assert "POLYGENT_MCP_TOKEN" not in launch.env and "-m" not in launch.argv
    writer = request.model_copy(update={"allowed_tools": ["Read", "Edit"]})
    launch = CodexAdapter().prepare(writer, tmp_path / "h", env)
    assert tomllib.loads(launch.files[0].read_text())["sandbox_mode"] == "workspace-write"


def test_registry() -> None:
    assert isinstance(ADAPTERS["codex"], CodexAdapter)
    assert adapter_for("codex").name == "codex"

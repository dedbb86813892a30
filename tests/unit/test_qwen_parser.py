"""The Qwen Code stream parser, outcome and command, on lines recorded from qwen 0.24.4."""

from __future__ import annotations

import json
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from activities.agent.providers import ADAPTERS, ProviderCheckError
from activities.agent.providers.qwen_code import QwenCodeAdapter, bypasses_proxy
from orchestrator.contracts.agent import AgentEvent, McpConfig, TurnRequest

pytestmark = pytest.mark.providers

SID = "a495486b-b16b-4c4a-91a0-d3e1780838e6"
INIT = '{"type":"system","subtype":"init","uuid":"a495486b-b16b-4c4a-91a0-d3e1780838e6","session_id":"a495486b-b16b-4c4a-91a0-d3e1780838e6","cwd":"/tmp/tmp8po94ard","tools":["web_fetch","read_file","grep_search","glob","edit","write_file","run_shell_command","todo_write"],"mcp_servers":[{"name":"polygent","status":"connected"}],"model":"fake-qwen","permission_mode":"yolo","slash_commands":["auth","bug"],"qwen_code_version":"0.24.4","agents":["general-purpose","Explore"]}'  # noqa: E501
GOAL = '{"type":"stream_event","uuid":"d4278edb-98a8-4fe1-a194-851dea40f94b","session_id":"a495486b-b16b-4c4a-91a0-d3e1780838e6","parent_tool_use_id":null,"event":{"type":"goal_state","goal_state":{"v":2,"goal":null,"activity":"idle"}}}'  # noqa: E501
THINKING = '{"type":"assistant","uuid":"7326f6f1-436e-4980-8ef7-39cb30213a8f","session_id":"a495486b-b16b-4c4a-91a0-d3e1780838e6","parent_tool_use_id":null,"message":{"id":"7326f6f1-436e-4980-8ef7-39cb30213a8f","type":"message","role":"assistant","model":"fake-qwen","content":[{"type":"thinking","thinking":"think first","signature":""}],"stop_reason":null,"usage":{"input_tokens":0,"output_tokens":0}}}'  # noqa: E501
TEXT = '{"type":"assistant","uuid":"50c84a6d-1ea5-4727-b83f-b0aa140e0896","session_id":"a495486b-b16b-4c4a-91a0-d3e1780838e6","parent_tool_use_id":null,"message":{"id":"50c84a6d-1ea5-4727-b83f-b0aa140e0896","type":"message","role":"assistant","model":"fake-qwen","content":[{"type":"text","text":"I\'ll write the file."}],"stop_reason":null,"usage":{"input_tokens":0,"output_tokens":0}}}'  # noqa: E501
WRITE = '{"type":"assistant","uuid":"75975ba1-f8c6-4a84-b6be-da366d5023c1","session_id":"a495486b-b16b-4c4a-91a0-d3e1780838e6","parent_tool_use_id":null,"message":{"id":"75975ba1-f8c6-4a84-b6be-da366d5023c1","type":"message","role":"assistant","model":"fake-qwen","content":[{"type":"tool_use","id":"call_0001","name":"write_file","input":{"file_path":"/tmp/tmp8po94ard/hello.txt","content":"hi\\n"}}],"stop_reason":"tool_use","usage":{"input_tokens":100,"output_tokens":42,"cache_read_input_tokens":30,"total_tokens":142}}}'  # noqa: E501
WRITTEN = '{"type":"user","uuid":"79b6867c-dc0f-4b3a-b035-94d0093a7be2","session_id":"a495486b-b16b-4c4a-91a0-d3e1780838e6","parent_tool_use_id":null,"message":{"role":"user","content":[{"type":"tool_result","tool_use_id":"call_0001","is_error":false,"content":"Successfully created and wrote to new file: /tmp/tmp8po94ard/hello.txt."}]}}'  # noqa: E501
TODO = '{"type":"assistant","uuid":"a491871d-7bdf-496c-8a38-633839789ac0","session_id":"a495486b-b16b-4c4a-91a0-d3e1780838e6","parent_tool_use_id":null,"message":{"id":"a491871d-7bdf-496c-8a38-633839789ac0","type":"message","role":"assistant","model":"fake-qwen","content":[{"type":"tool_use","id":"call_0003","name":"todo_write","input":{"todos":[{"id":"1","content":"a","status":"pending"},{"id":"2","content":"b","status":"in_progress"}]}}],"stop_reason":"tool_use","usage":{"input_tokens":100,"output_tokens":42,"cache_read_input_tokens":30,"total_tokens":142}}}'  # noqa: E501
TODO_DONE = '{"type":"user","uuid":"1a7000ae-d91e-4afa-a424-970cfab6bc47","session_id":"a495486b-b16b-4c4a-91a0-d3e1780838e6","parent_tool_use_id":null,"message":{"role":"user","content":[{"type":"tool_result","tool_use_id":"call_0003","is_error":false,"content":"Todos have been modified successfully."}]}}'  # noqa: E501
FINAL = '{"type":"assistant","uuid":"59256c31-7c16-413e-a827-b249271cab52","session_id":"a495486b-b16b-4c4a-91a0-d3e1780838e6","parent_tool_use_id":null,"message":{"id":"59256c31-7c16-413e-a827-b249271cab52","type":"message","role":"assistant","model":"fake-qwen","content":[{"type":"text","text":"All done."}],"stop_reason":null,"usage":{"input_tokens":100,"output_tokens":42,"cache_read_input_tokens":30,"total_tokens":142}}}'  # noqa: E501
RESULT = '{"type":"result","subtype":"success","uuid":"494343b9-862f-462b-987b-7a6ac3874ddb","session_id":"a495486b-b16b-4c4a-91a0-d3e1780838e6","is_error":false,"duration_ms":1749,"duration_api_ms":837,"num_turns":3,"result":"All done.","usage":{"input_tokens":300,"output_tokens":126,"cache_read_input_tokens":90,"total_tokens":426},"permission_denials":[]}'  # noqa: E501
# A resumed session: the result counts the earlier turn's tokens too.
RESUMED_RESULT = '{"type":"result","subtype":"success","uuid":"de82ce37-f8aa-459d-95da-3f0806a9d070","session_id":"a495486b-b16b-4c4a-91a0-d3e1780838e6","is_error":false,"duration_ms":900,"duration_api_ms":700,"num_turns":1,"result":"All done.","usage":{"input_tokens":400,"output_tokens":168,"cache_read_input_tokens":120,"total_tokens":568},"permission_denials":[]}'  # noqa: E501
API_400_TEXT = '{"type":"assistant","uuid":"4e8a83cf-95c7-4cfc-a305-fde1b14f0898","session_id":"d7516b83-9b0d-41fc-a1b8-1988d23ced99","parent_tool_use_id":null,"message":{"id":"4e8a83cf-95c7-4cfc-a305-fde1b14f0898","type":"message","role":"assistant","model":"fake-qwen","content":[{"type":"text","text":"[API Error: 400 fake says no]"}],"stop_reason":null,"usage":{"input_tokens":0,"output_tokens":0}}}'  # noqa: E501
API_400_RESULT = '{"type":"result","subtype":"error_during_execution","uuid":"d22791b6-fae2-4033-afc5-4ca75a5f9423","session_id":"d7516b83-9b0d-41fc-a1b8-1988d23ced99","is_error":true,"duration_ms":1263,"duration_api_ms":0,"num_turns":1,"usage":{"input_tokens":0,"output_tokens":0,"cache_read_input_tokens":0},"permission_denials":[],"error":{"message":"[API Error: 400 fake says no]"}}'  # noqa: E501
QUOTA_RESULT = '{"type":"result","subtype":"error_during_execution","uuid":"7d2784d3-1150-4254-ac2d-069b362bcb65","session_id":"4d1e4daf-94cb-41ca-80fc-a7cebd924f3a","is_error":true,"duration_ms":4055,"duration_api_ms":0,"num_turns":1,"usage":{"input_tokens":0,"output_tokens":0,"cache_read_input_tokens":0},"permission_denials":[],"error":{"message":"Quota exhausted: You exceeded your current quota; it will reset at RESET.\\n\\nPlease retry after the reset time, or switch to another API key / auth method. (cause: rate_limit_exceeded: 429 You exceeded your current quota; it will reset at RESET.)"}}'  # noqa: E501
REFUSED_TEXT = '{"type":"assistant","uuid":"8f3effb1-c072-48ef-83f8-9fa534a00717","session_id":"9fd71e98-6164-4324-87d3-edeb7c99616c","parent_tool_use_id":null,"message":{"id":"8f3effb1-c072-48ef-83f8-9fa534a00717","type":"message","role":"assistant","model":"fake-qwen","content":[{"type":"text","text":"[API Error: Connection error. (cause: connect ECONNREFUSED 127.0.0.1:58229)]"}],"stop_reason":null,"usage":{"input_tokens":0,"output_tokens":0}}}'  # noqa: E501
REFUSED_RESULT = '{"type":"result","subtype":"error_during_execution","uuid":"28f51562-4bdc-4b6e-b0b7-448865e166fe","session_id":"9fd71e98-6164-4324-87d3-edeb7c99616c","is_error":true,"duration_ms":78000,"duration_api_ms":0,"num_turns":1,"usage":{"input_tokens":0,"output_tokens":0,"cache_read_input_tokens":0},"permission_denials":[],"error":{"message":"[API Error: Connection error. (cause: connect ECONNREFUSED 127.0.0.1:58229)]"}}'  # noqa: E501
# Qwen 0.15.10 (reference, observed): a connection failure reported as a success.
FALSE_SUCCESS = '{"type":"result","subtype":"success","uuid":"u","session_id":"s15","is_error":false,"duration_ms":10,"duration_api_ms":0,"num_turns":1,"result":"[API Error: Connection error. (cause: fetch failed)]","usage":{"input_tokens":0,"output_tokens":0},"permission_denials":[]}'  # noqa: E501


def parse(*lines: str) -> list[AgentEvent]:
    parser = QwenCodeAdapter().parser()
    return [e for line in lines for e in parser.parse(line)]


def test_recorded_turn_becomes_normalized_events_and_a_result() -> None:
    events = parse(INIT, GOAL, THINKING, TEXT, WRITE, WRITTEN, TODO, TODO_DONE, FINAL, RESULT)
    assert [e.kind for e in events] == [
        "system", "thinking", "text", "usage", "tool_call", "tool_result", "usage",
        "tool_call", "todo", "tool_result", "usage", "text", "result",
    ]  # fmt: skip
    init = events[0]
    assert init.subtype == "init" and init.session_id == SID and init.data
    assert init.data["version"] == "0.24.4" and init.data["model"] == "fake-qwen"
    assert events[1].text == "think first" and events[2].text == "I'll write the file."
    # Only a response's last block carries usage; the zero snapshots of the others are dropped.
    usages = [e for e in events if e.kind == "usage"]
    assert len({e.message_id for e in usages}) == 3
    assert all(
        e.usage and e.usage.model_dump() == {"input": 70, "output": 42, "cache_read": 30,
                                             "cache_write": 0}
        for e in usages
    )  # fmt: skip
    call, done = events[4], events[5]
    assert call.tool_name == "write_file" and call.tool_id == "call_0001"
    assert done.tool_name == "write_file" and done.content and done.content.startswith("Success")
    todo = events[8]
    assert todo.todos is not None and todo.subtype == "replace"
    assert [(t.id, t.content, t.status) for t in todo.todos] == [
        ("1", "a", "pending"), ("2", "b", "in_progress"),
    ]  # fmt: skip
    result = events[-1]
    assert result.cost_usd is None and result.usage is not None
    assert result.usage.model_dump() == {
        "input": 210, "output": 126, "cache_read": 90, "cache_write": 0,
    }  # fmt: skip

    outcome = QwenCodeAdapter().finish(0, events)
    assert outcome.ok and outcome.outcome == "success" and outcome.final_text == "All done."
    assert outcome.provider_session_id == SID and outcome.num_turns == 3
    assert outcome.usage == result.usage and outcome.cost_usd is None


def test_resumed_session_reports_only_its_own_tokens() -> None:
    events = parse(INIT, FINAL, RESUMED_RESULT)
    result = QwenCodeAdapter().finish(0, events)
    assert result.ok and result.usage.model_dump() == {
        "input": 70, "output": 42, "cache_read": 30, "cache_write": 0,
    }  # fmt: skip
    data = events[-1].data or {}
    assert data["session_usage"]["input"] == 280  # the CLI's cumulative figure, kept aside


def test_api_errors_quota_and_false_success() -> None:
    events = parse(GOAL, API_400_TEXT, API_400_RESULT)
    assert [e.kind for e in events] == ["error", "result"]
    bad = QwenCodeAdapter().finish(1, events)
    assert not bad.ok and bad.outcome == "error" and bad.exit_code == 1
    assert bad.error == "[API Error: 400 fake says no]" and bad.retry_after_seconds is None

    reset = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    quota = QwenCodeAdapter().finish(1, parse(QUOTA_RESULT.replace("RESET", reset)))
    assert not quota.ok and quota.error and quota.error.startswith("Quota exhausted")
    assert quota.retry_after_seconds is not None and 3500 < quota.retry_after_seconds <= 3600

    refused = QwenCodeAdapter().finish(1, parse(REFUSED_TEXT, REFUSED_RESULT))
    assert not refused.ok and refused.error and "ECONNREFUSED" in refused.error
    assert refused.retry_after_seconds is None

    fake_ok = parse(FALSE_SUCCESS)
    assert fake_ok[0].is_error and (fake_ok[0].data or {}).get("false_success") is True
    failed = QwenCodeAdapter().finish(0, fake_ok)
    assert not failed.ok and failed.error and "fetch failed" in failed.error


def test_exit_code_and_missing_result_are_failures() -> None:
    crashed = QwenCodeAdapter().finish(1, parse(INIT, FINAL, RESULT))
    assert not crashed.ok and crashed.final_text is None and crashed.error
    no_result = QwenCodeAdapter().finish(1, parse(INIT), "Error: auth failed\n  at x (y.js:1)\n")
    assert not no_result.ok and no_result.error == "Error: auth failed"
    assert no_result.provider_session_id == SID
    assert [e.kind for e in parse("nonsense", '{"type":"new_thing"}')] == ["raw", "system"]


def request(tmp_path: Path, **fields: object) -> TurnRequest:
    values: dict[str, object] = {
        "provider": "qwen-code", "prompt": "--help me", "worktree": str(tmp_path / "w"),
        "home": str(tmp_path / "h"),
    }  # fmt: skip
    values.update(fields)
    return TurnRequest.model_validate(values)


def test_prepare_writes_settings_and_keeps_secrets_out_of_argv(tmp_path: Path) -> None:
    home = tmp_path / "h"
    proxies = {"HTTPS_PROXY": "http://proxy:3128", "HTTP_PROXY": "http://proxy:3128"}
    env = {
        "PATH": "/usr/bin", "OPENAI_API_KEY": "sk-qwen-123",
        "OPENAI_BASE_URL": "http://127.0.0.1:1/v1", "GITHUB_TOKEN": "not-for-the-cli", **proxies,
    }  # fmt: skip
    mcp = McpConfig(url="http://127.0.0.1:2/mcp", bearer_token_ref="ref:1")
    req = request(
        tmp_path, model="qwen3-coder-plus", resume_session_id=SID, mcp=mcp,
        allowed_tools=["Read", "Edit", "TodoWrite"], system_prompt_append="RULES-42",
    )  # fmt: skip
    launch = QwenCodeAdapter().prepare(req, home, env, mcp_token="mcp-tok-9")
    assert launch.argv == [
        "qwen", "--prompt=--help me", "--output-format", "stream-json", "--approval-mode", "yolo",
        "--auth-type", "openai", "-m", "qwen3-coder-plus", "--append-system-prompt", "RULES-42",
        "--resume", SID,
    ]  # fmt: skip
    # Qwen would send the loopback endpoint through the proxy: the proxy is not passed on.
    assert not {"HTTPS_PROXY", "HTTP_PROXY"} & set(launch.env)
    assert "GITHUB_TOKEN" not in launch.env and launch.env["HOME"] == str(home)
    assert set(launch.secrets) == {"sk-qwen-123", "mcp-tok-9"}
    assert all("mcp-tok-9" not in a and "sk-qwen-123" not in a for a in launch.argv)
    settings_file = home / ".qwen" / "settings.json"
    assert launch.env["QWEN_CODE_SYSTEM_SETTINGS_PATH"] == str(settings_file)
    assert stat.S_IMODE(settings_file.stat().st_mode) == 0o600
    settings = json.loads(settings_file.read_text())
    assert settings["privacy"]["usageStatisticsEnabled"] is False
    assert settings["telemetry"]["enabled"] is False
    assert settings["memory"]["enableManagedAutoMemory"] is False
    assert settings["tools"] == {
        "todoWrite": {"enabled": True}, "core": ["read_file", "edit", "todo_write"],
    }  # fmt: skip
    assert settings["mcpServers"]["polygent"]["headers"] == {"Authorization": "Bearer mcp-tok-9"}

    remote = {**env, "OPENAI_BASE_URL": "https://dashscope-intl.aliyuncs.com/compatible-mode/v1"}
    kept = QwenCodeAdapter().prepare(request(tmp_path), home, remote)
    assert kept.env["HTTPS_PROXY"] == "http://proxy:3128"
    assert "mcpServers" not in json.loads(settings_file.read_text())
    exempt_env = {**remote, "NO_PROXY": ".aliyuncs.com"}
    exempt = QwenCodeAdapter().prepare(request(tmp_path), home, exempt_env)
    assert "HTTPS_PROXY" not in exempt.env


def test_proxy_bypass_rules() -> None:
    assert bypasses_proxy("http://localhost:8080/v1", "")
    assert bypasses_proxy("http://[::1]:8080/v1", "")
    assert bypasses_proxy("https://api.example.com/v1", "example.com")
    assert bypasses_proxy("https://api.example.com/v1", "*")
    assert not bypasses_proxy("https://api.example.com/v1", "other.com,le.com")
    assert not bypasses_proxy("https://api.openai.com/v1", "")


def test_check_fails_before_spawning(tmp_path: Path) -> None:
    adapter = ADAPTERS["qwen-code"]
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "qwen").write_text("#!/bin/sh\n")
    (bin_dir / "qwen").chmod(0o755)
    env = {"PATH": str(bin_dir), "OPENAI_API_KEY": "k"}
    adapter.check(request(tmp_path), env)
    with pytest.raises(ProviderCheckError, match="OPENAI_API_KEY"):
        adapter.check(request(tmp_path), {"PATH": str(bin_dir)})
    with pytest.raises(ProviderCheckError, match="not installed"):
        adapter.check(request(tmp_path), {**env, "PATH": str(tmp_path / "nowhere")})
    with pytest.raises(ProviderCheckError, match="gpt-nonsense"):
        adapter.check(request(tmp_path, model="gpt-nonsense"), env, models=["qwen3-coder-plus"])

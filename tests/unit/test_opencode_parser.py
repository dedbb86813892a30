"""The OpenCode / Kilo CLI part-event parser, outcome and config, on lines recorded from
opencode 1.18.33 and kilo 7.7.7 against the fake server (docs/providers §4, §5)."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from activities.agent.providers import ADAPTERS, ProviderCheckError, adapter_for
from activities.agent.providers.kilo_cli import KiloCliAdapter
from activities.agent.providers.opencode import OpenCodeAdapter
from activities.agent.providers.opencode_family import GUARD_EXIT, permissions
from orchestrator.contracts.agent import AgentEvent, McpConfig, ModelPrice, TurnRequest

pytestmark = pytest.mark.providers

SID = "ses_dffc56da5ffeT1jykwImbyXgZ0"
STEP_START = '{"type":"step_start","timestamp":1795300178738,"sessionID":"ses_dffc56da5ffeT1jykwImbyXgZ0","part":{"id":"prt_2003ab927001uq6t0w4ndK1tW3","messageID":"msg_2003aa2ab001rJEne9zu7LfB65","sessionID":"ses_dffc56da5ffeT1jykwImbyXgZ0","snapshot":"4b825dc642cb6eb9a060e54bf8d69288fbee4904","type":"step-start"}}'  # noqa: E501
REASONING = '{"type":"reasoning","timestamp":1795300178738,"sessionID":"ses_dffc56da5ffeT1jykwImbyXgZ0","part":{"id":"prt_2003ab9650015oscUyNLK6qkVx","messageID":"msg_2003aa2ab001rJEne9zu7LfB65","sessionID":"ses_dffc56da5ffeT1jykwImbyXgZ0","type":"reasoning","text":"think first","time":{"start":1795300178277,"end":1795300178301},"metadata":{"anthropic":{"signature":"ZmFrZXNpZw=="}}}}'  # noqa: E501
TEXT = '{"type":"text","timestamp":1795300178738,"sessionID":"ses_dffc56da5ffeT1jykwImbyXgZ0","part":{"id":"prt_2003ab98e001hPg398b2ZYbeYW","messageID":"msg_2003aa2ab001rJEne9zu7LfB65","sessionID":"ses_dffc56da5ffeT1jykwImbyXgZ0","type":"text","text":"Writing.","time":{"start":1795300178318,"end":1795300178411}}}'  # noqa: E501
WRITE = '{"type":"tool_use","timestamp":1795300178738,"sessionID":"ses_dffc56da5ffeT1jykwImbyXgZ0","part":{"type":"tool","tool":"write","callID":"toolu_0001","state":{"status":"completed","input":{"filePath":"/w/hello.txt","content":"hi\\n"},"output":"Wrote file successfully.","metadata":{"diagnostics":{},"filepath":"/w/hello.txt","exists":false,"truncated":false},"title":"hello.txt","time":{"start":1795300178632,"end":1795300178702}},"id":"prt_2003aba2a001UMUM7il5KRqi4O","sessionID":"ses_dffc56da5ffeT1jykwImbyXgZ0","messageID":"msg_2003aa2ab001rJEne9zu7LfB65"}}'  # noqa: E501
STEP_1 = '{"type":"step_finish","timestamp":1795300179488,"sessionID":"ses_dffc56da5ffeT1jykwImbyXgZ0","part":{"id":"prt_2003abd8f001fpJ1yPW4H20ePb","reason":"tool-calls","snapshot":"7a2871192d49caaff5451df37b27afc373d8298b","messageID":"msg_2003aa2ab001rJEne9zu7LfB65","sessionID":"ses_dffc56da5ffeT1jykwImbyXgZ0","type":"step-finish","tokens":{"total":192,"input":100,"output":42,"reasoning":0,"cache":{"write":20,"read":30}},"cost":0.001014}}'  # noqa: E501
MCP = '{"type":"tool_use","timestamp":1795300136376,"sessionID":"ses_dffc56da5ffeT1jykwImbyXgZ0","part":{"type":"tool","tool":"polygent_polygent_ping","callID":"toolu_0004","state":{"status":"completed","input":{"text":"hello mcp"},"output":"pong: hello mcp","metadata":{"truncated":false},"title":"","time":{"start":1795300136272,"end":1795300136370}},"id":"prt_2003a1542001ctaPIsyzwkHDwO","sessionID":"ses_dffc56da5ffeT1jykwImbyXgZ0","messageID":"msg_2003a14900016RUoJ9efHNlRrs"}}'  # noqa: E501
TODO = '{"type":"tool_use","timestamp":1795300137319,"sessionID":"ses_dffc56da5ffeT1jykwImbyXgZ0","part":{"type":"tool","tool":"todowrite","callID":"toolu_0006","state":{"status":"completed","input":{"todos":[{"id":"1","content":"A","status":"completed","priority":"high"}]},"output":"[]","metadata":{"todos":[{"content":"A","status":"completed","priority":"high"}],"truncated":false},"title":"0 todos","time":{"start":1795300137164,"end":1795300137294}},"id":"prt_2003a18780013mi6t3KXp876nD","sessionID":"ses_dffc56da5ffeT1jykwImbyXgZ0","messageID":"msg_2003a1692001XI5q81c950HLLi"}}'  # noqa: E501
FINAL_TEXT = '{"type":"text","timestamp":1795300138127,"sessionID":"ses_dffc56da5ffeT1jykwImbyXgZ0","part":{"id":"prt_2003a1c72001BYN5Vpp543hm7b","messageID":"msg_2003a1bac0018PrRsKNMExrwOf","sessionID":"ses_dffc56da5ffeT1jykwImbyXgZ0","type":"text","text":"All done.","time":{"start":1795300138098,"end":1795300138103}}}'  # noqa: E501
STEP_STOP = '{"type":"step_finish","timestamp":1795300138273,"sessionID":"ses_dffc56da5ffeT1jykwImbyXgZ0","part":{"id":"prt_2003a1cfe001XLupo2xj5zklns","reason":"stop","snapshot":"7a2871192d49caaff5451df37b27afc373d8298b","messageID":"msg_2003a1bac0018PrRsKNMExrwOf","sessionID":"ses_dffc56da5ffeT1jykwImbyXgZ0","type":"step-finish","tokens":{"total":192,"input":100,"output":42,"reasoning":0,"cache":{"write":20,"read":30}},"cost":0.001014}}'  # noqa: E501
API_400 = '{"type":"error","timestamp":1795301170621,"sessionID":"ses_dffb62a5affea9u2Ez6M5X6dCu","error":{"name":"APIError","data":{"message":"bad request from fake","statusCode":400,"isRetryable":false,"responseHeaders":{"content-length":"97","content-type":"application/json","request-id":"req_0001"},"responseBody":"{\\"type\\": \\"error\\"}","metadata":{"url":"http://127.0.0.1:43915/v1/messages"}}}}'  # noqa: E501
RETRY_WAIT = '{"type":"retry","timestamp":1795301246088,"sessionID":"ses_dffb503daffeV0oT3iqSgRbrrK","status":{"type":"retry","attempt":1,"message":"slow down","next":1795304846087},"wait_ms":3599999,"stop":"wait"}'  # noqa: E501
RETRY_SHORT = '{"type":"retry","timestamp":1795301315765,"sessionID":"ses_dffb3fafaffeUEFv6QrcBArNwo","status":{"type":"retry","attempt":1,"message":"Cannot connect to API: Unable to connect. Is the computer able to access the url?","next":1795301317822},"wait_ms":2057,"stop":null}'  # noqa: E501
RETRY_ATTEMPTS = '{"type":"retry","timestamp":1795301321986,"sessionID":"ses_dffb3fafaffeUEFv6QrcBArNwo","status":{"type":"retry","attempt":3,"message":"Cannot connect to API: Unable to connect. Is the computer able to access the url?","next":1795301331156},"wait_ms":9170,"stop":"attempts"}'  # noqa: E501
KILO_OFFLINE = '{"type":"retry","timestamp":1795302636335,"sessionID":"ses_dffa02894ffeW3wZ4uadAFyeX8","status":{"type":"retry","requestID":"que_20060278f001dDFcNXO1x89M8Z","message":"Cannot connect to API: Unable to connect. Is the computer able to access the url?","attempt":0},"wait_ms":0,"stop":"offline"}'  # noqa: E501
KILO_WRITE = '{"type":"tool_use","timestamp":1795302273703,"sessionID":"ses_dffa56b9dffebRnemA8EffdIep","part":{"id":"prt_2005ab244001sPhDm89r7KS3ui","sessionID":"ses_dffa56b9dffebRnemA8EffdIep","messageID":"msg_2005aadfd001Nc7vM9stVxp8kD","type":"tool","callID":"toolu_0001","tool":"write","state":{"status":"completed","input":{"filePath":"/w/hello.txt","content":"hi\\n"},"output":"Wrote file successfully.","title":"hello.txt","metadata":{"diagnostics":{},"filepath":"/w/hello.txt","exists":false,"diff":"@@ -0,0 +1,1 @@\\n+hi\\n","filediff":{"file":"/w/hello.txt","patch":"+hi\\n","additions":1,"deletions":0},"truncated":false,"approval":{"source":"global","rule":{"permission":"edit","pattern":"*","action":"allow"}}},"time":{"start":1795302273618,"end":1795302273692}}}}'  # noqa: E501
KILO_STEP = '{"type":"step_finish","timestamp":1795302276029,"sessionID":"ses_dffa56b9dffebRnemA8EffdIep","part":{"id":"prt_2005abbb5001233inOtj57HME0","sessionID":"ses_dffa56b9dffebRnemA8EffdIep","messageID":"msg_2005aba1c0018yBXrhrCZvWkPR","type":"step-finish","reason":"stop","snapshot":"7a2871192d49caaff5451df37b27afc373d8298b","metrics":{"generation":352.94,"source":"computed"},"time":{"start":1795302275901,"end":1795302276020,"elapsed":119},"cost":0.001014,"tokens":{"total":192,"input":100,"output":42,"reasoning":0,"cache":{"read":30,"write":20}}}}'  # noqa: E501
TOOL_ERROR = '{"type":"tool_use","timestamp":1,"sessionID":"ses_x","part":{"type":"tool","tool":"read","callID":"toolu_9","state":{"status":"error","input":{"filePath":"/etc/shadow"},"error":"permission denied: external_directory","time":{"start":1,"end":2}},"messageID":"msg_9"}}'  # noqa: E501
OC = OpenCodeAdapter()


def parse(*lines: str) -> list[AgentEvent]:
    parser = OC.parser()
    return [e for line in lines for e in parser.parse(line)]


def test_a_recorded_turn_becomes_normalized_events_and_a_success() -> None:
    events = parse(STEP_START, REASONING, TEXT, WRITE, STEP_1, MCP, TODO, FINAL_TEXT, STEP_STOP)
    assert [e.kind for e in events] == [
        "system", "thinking", "text", "tool_call", "tool_result", "usage",
        "tool_call", "tool_result", "tool_call", "tool_result", "todo", "text", "usage",
    ]  # fmt: skip
    assert {e.session_id for e in events} == {SID}
    assert events[0].subtype == "step_start"
    assert events[1].text == "think first" and events[2].text == "Writing."
    call, result = events[3], events[4]
    assert call.tool_name == "write" and call.tool_id == "toolu_0001"
    assert call.tool_input == {"filePath": "/w/hello.txt", "content": "hi\n"}
    assert result.tool_id == "toolu_0001" and result.content == "Wrote file successfully."
    assert not result.is_error
    step = events[5]
    assert step.subtype == "step" and step.message_id == "msg_2003aa2ab001rJEne9zu7LfB65"
    assert step.usage and step.usage.model_dump() == {
        "input": 100, "output": 42, "cache_read": 30, "cache_write": 20,
    }  # fmt: skip
    assert step.cost_usd == 0.001014 and step.data and step.data["reason"] == "tool-calls"
    assert events[7].content == "pong: hello mcp"
    todo = events[10]
    assert todo.subtype == "replace" and todo.todos
    assert [(t.content, t.status) for t in todo.todos] == [("A", "completed")]

    outcome = OC.finish(0, events)
    assert outcome.ok and outcome.outcome == "success" and outcome.error is None
    assert outcome.final_text == "All done."  # the last step's text only
    assert outcome.usage.model_dump() == {
        "input": 200, "output": 84, "cache_read": 60, "cache_write": 40,
    }  # fmt: skip
    assert outcome.cost_usd == pytest.approx(0.002028)
    assert outcome.num_turns == 2 and outcome.provider_session_id == SID


def test_totals_survive_when_finish_sees_only_the_tail() -> None:
    """The runner keeps the last events only: every usage event carries the running totals."""
    events = parse(*[STEP_START, TEXT, STEP_1] * 300, FINAL_TEXT, STEP_STOP)
    outcome = OC.finish(0, events[-5:])
    assert outcome.ok and outcome.num_turns == 301
    assert outcome.usage.input == 30_100 and outcome.cost_usd == pytest.approx(301 * 0.001014)


def test_kilo_lines_parse_the_same() -> None:
    events = KiloCliAdapter().parser().parse(KILO_WRITE) + KiloCliAdapter().parser().parse(
        KILO_STEP
    )
    assert [e.kind for e in events] == ["tool_call", "tool_result", "usage"]
    assert events[2].usage and events[2].usage.cache_read == 30 and events[2].cost_usd == 0.001014


def test_a_failed_tool_is_an_error_result() -> None:
    events = parse(TOOL_ERROR)
    assert [e.kind for e in events] == ["tool_call", "tool_result"]
    assert events[1].is_error and events[1].content == "permission denied: external_directory"


def test_api_error_is_the_outcome_with_its_status() -> None:
    events = parse(STEP_START, API_400)
    assert events[-1].kind == "error" and events[-1].data == {
        "name": "APIError", "status": 400, "retryable": False,
    }  # fmt: skip
    outcome = OC.finish(1, events)
    assert not outcome.ok and outcome.outcome == "error" and outcome.exit_code == 1
    assert outcome.error == "APIError 400: bad request from fake"
    assert outcome.retry_after_seconds is None and outcome.provider_session_id


def test_an_error_event_with_exit_zero_is_still_a_failure() -> None:
    assert not OC.finish(0, parse(STEP_START, TEXT, STEP_STOP, API_400)).ok


def test_exit_zero_without_any_model_step_is_not_a_success() -> None:
    outcome = OC.finish(0, parse(STEP_START))
    assert not outcome.ok and outcome.error == "OpenCode ended without a model response."
    crashed = OC.finish(1, [], stderr_tail="boot\nError: Unexpected error\n")
    assert not crashed.ok and crashed.error == "Error: Unexpected error"


def test_a_long_retry_after_stops_the_run_with_the_reset_time() -> None:
    events = parse(STEP_START, RETRY_WAIT)
    assert events[-1].kind == "system" and events[-1].subtype == "retry"
    outcome = OC.finish(GUARD_EXIT, events)
    assert not outcome.ok and outcome.outcome == "error"
    assert outcome.retry_after_seconds == pytest.approx(3600, abs=1)
    assert outcome.error and outcome.error.startswith("slow down")


def test_retries_that_pile_up_or_an_offline_api_carry_no_reset_time() -> None:
    outcome = OC.finish(GUARD_EXIT, parse(STEP_START, RETRY_SHORT, RETRY_ATTEMPTS))
    assert not outcome.ok and outcome.retry_after_seconds is None
    assert outcome.error and "after 3 attempts" in outcome.error
    offline = KiloCliAdapter().finish(GUARD_EXIT, parse(KILO_OFFLINE))
    assert not offline.ok and offline.error and "unreachable" in offline.error
    assert offline.retry_after_seconds is None


def test_a_429_the_cli_gave_up_on_keeps_its_retry_after_header() -> None:
    line = API_400.replace('"statusCode":400', '"statusCode":429').replace(
        '"request-id":"req_0001"', '"retry-after":"120"'
    )
    outcome = OC.finish(1, parse(line))
    assert outcome.retry_after_seconds == 120.0 and outcome.error and "429" in outcome.error


def test_zero_cost_for_real_tokens_is_unknown_not_free() -> None:
    outcome = OC.finish(0, parse(TEXT, STEP_STOP.replace('"cost":0.001014', '"cost":0')))
    assert outcome.ok and outcome.cost_usd is None and outcome.usage.input == 100


@pytest.mark.parametrize(
    "line",
    ["not json", "[1, 2]", '{"type":"tool_use","part":42}', '{"type": "text"', "\x00\xff"],
)
def test_malformed_lines_are_kept_raw(line: str) -> None:
    events = parse(line)
    assert [(e.kind, e.raw) for e in events] == [("raw", line)]


def test_unknown_types_are_system_events_with_the_raw_line() -> None:
    line = '{"type":"goal_state","sessionID":"ses_1","part":{}}'
    (event,) = parse(line)
    assert event.kind == "system" and event.subtype == "goal_state" and event.raw == line
    assert parse("   ") == []


def _request(tmp_path: Path, **fields: object) -> TurnRequest:
    values: dict[str, object] = {
        "provider": "opencode", "model": "anthropic/claude-sonnet-4-5", "prompt": "Hi",
        "worktree": str(tmp_path / "w"), "home": str(tmp_path / "h"),
    }  # fmt: skip
    values.update(fields)
    return TurnRequest.model_validate(values)


ENV = {
    "PATH": "/usr/bin:/bin",
    "ANTHROPIC_API_KEY": "sk-ant-unit",
    "ANTHROPIC_BASE_URL": "http://127.0.0.1:9/",
    "OPENAI_API_KEY": "sk-other-provider",
    "SECRET_OF_THE_HOST": "nope",
}


def test_prepare_writes_private_config_and_keeps_secrets_out_of_argv(tmp_path: Path) -> None:
    home = tmp_path / "h"
    request = _request(
        tmp_path, prompt='-v "quoted" 123\nnext', system_prompt_append="RULES", turn=2,
        mcp=McpConfig(url="http://127.0.0.1:8/mcp", bearer_token_ref="ref"),
        resume_session_id="ses_abc123", price=ModelPrice(input=1, output=2),
    )  # fmt: skip
    launch = OC.prepare(request, home, ENV, mcp_token="tok-123")
    argv = launch.argv
    assert argv[:5] == ["/bin/sh", "-c", 'exec "$@" <"$POLYGENT_PROMPT_FILE"', "sh", "opencode"]
    assert argv[5:8] == ["run", "--format", "json"] and "--thinking" in argv
    assert argv[argv.index("--session") + 1] == "ses_abc123"
    assert argv[argv.index("--model") + 1] == "anthropic/claude-sonnet-4-5"
    assert request.prompt not in argv and not any("tok-123" in a or "sk-ant" in a for a in argv)
    assert set(launch.secrets) == {"sk-ant-unit", "tok-123"}
    prompt = Path(launch.env["POLYGENT_PROMPT_FILE"])
    assert prompt.read_text() == request.prompt  # exact, through stdin
    config_path = home / ".config" / "opencode" / "opencode.json"
    assert stat.S_IMODE(config_path.stat().st_mode) == 0o600
    config = json.loads(config_path.read_text())
    assert "tok-123" not in config_path.read_text() and "sk-ant" not in config_path.read_text()
    assert config["model"] == config["small_model"] == "anthropic/claude-sonnet-4-5"
    assert config["autoupdate"] is False and config["share"] == "disabled"
    assert config["enabled_providers"] == ["anthropic"] and "disabled_providers" not in config
    provider = config["provider"]["anthropic"]
    assert provider["options"] == {"baseURL": "http://127.0.0.1:9/v1"}
    assert provider["models"]["claude-sonnet-4-5"]["cost"] == {
        "input": 1.0, "output": 2.0, "cache_read": 0.0, "cache_write": 0.0,
    }  # fmt: skip
    assert config["mcp"]["polygent"] == {
        "type": "remote", "url": "http://127.0.0.1:8/mcp", "enabled": True, "oauth": False,
        "headers": {"Authorization": "Bearer {env:POLYGENT_MCP_TOKEN}"},
    }  # fmt: skip
    assert Path(config["instructions"][0]).read_text() == "RULES"
    assert config["permission"] == {"edit": "allow", "bash": "allow", "webfetch": "allow"}
    # The environment: built from scratch, the model's credential only, outside traffic off.
    env = launch.env
    assert env["POLYGENT_MCP_TOKEN"] == "tok-123" and env["ANTHROPIC_API_KEY"] == "sk-ant-unit"
    assert "OPENAI_API_KEY" not in env and "SECRET_OF_THE_HOST" not in env
    assert "ANTHROPIC_BASE_URL" not in env  # in the config, with the path the SDK expects
    assert env["HOME"] == str(home) and env["XDG_CONFIG_HOME"] == str(home / ".config")
    assert env["OPENCODE_DISABLE_MODELS_FETCH"] == env["OPENCODE_DISABLE_AUTOUPDATE"] == "1"
    assert json.loads(env["OPENCODE_CONFIG_CONTENT"]) == {"permission": config["permission"]}
    # No npm install: the plugin SDK counts as installed; the retry guard is a local plugin.
    lock = json.loads((home / ".config" / "opencode" / "package-lock.json").read_text())
    assert lock["packages"][""]["dependencies"] == {"@opencode-ai/plugin": "*"}
    assert (home / ".config" / "opencode" / "node_modules").is_dir()
    guard = (home / ".config" / "opencode" / "plugin" / "polygent-retry-guard.js").read_text()
    assert "session.status" in guard and f"process.exit({GUARD_EXIT})" in guard


def test_kilo_prepare_turns_off_its_gateway_and_telemetry(tmp_path: Path) -> None:
    home = tmp_path / "h"
    kilo = KiloCliAdapter()
    launch = kilo.prepare(_request(tmp_path, provider="kilo-cli"), home, ENV)
    config = json.loads((home / ".config" / "kilo" / "kilo.json").read_text())
    assert config["disabled_providers"] == ["kilo"]
    assert config["$schema"] == "https://app.kilo.ai/config.json"  # or Kilo rewrites the file
    assert launch.argv[4] == "kilo" and "--auto" not in launch.argv
    env = launch.env
    assert env["KILO_TELEMETRY_LEVEL"] == "off" and env["KILO_DISABLE_MODELS_FETCH"] == "1"
    assert env["KILO_DISABLE_CODEBASE_INDEXING"] == env["KILO_NO_DAEMON"] == "1"
    assert "OPENCODE_CONFIG_CONTENT" not in env and "KILO_CONFIG_CONTENT" in env
    lock = json.loads((home / ".config" / "kilo" / "package-lock.json").read_text())
    assert lock["packages"][""]["dependencies"] == {"@kilocode/plugin": "*"}
    # A Kilo Gateway model keeps its provider (free models need no key).
    kilo.prepare(_request(tmp_path, model="kilo/x-ai/grok-code-fast-1"), home, {"PATH": "/bin"})
    config = json.loads((home / ".config" / "kilo" / "kilo.json").read_text())
    assert "disabled_providers" not in config and config["enabled_providers"] == ["kilo"]
    assert config["provider"]["kilo"]["models"] == {
        "x-ai/grok-code-fast-1": {"name": "x-ai/grok-code-fast-1"}
    }


def test_the_default_price_table_prices_a_known_model(tmp_path: Path) -> None:
    OC.prepare(_request(tmp_path, model="openai/gpt-5"), tmp_path / "h", ENV)
    config = json.loads((tmp_path / "h" / ".config" / "opencode" / "opencode.json").read_text())
    assert config["provider"]["openai"]["models"]["gpt-5"]["cost"]["output"] == 10


def test_mode_allowlists_map_to_permission_rules() -> None:
    rules = permissions(["Read", "Write", "TodoWrite", "mcp__polygent__polygent_ping"])
    assert rules["*"] == "deny" and rules["bash"] == "deny" and rules["webfetch"] == "deny"
    allowed = {k for k, v in rules.items() if v == "allow"}
    assert allowed == {"read", "list", "edit", "todowrite", "todoread", "polygent_polygent_ping"}
    assert permissions(["mcp__polygent"])["polygent_*"] == "allow"
    assert next(iter(permissions([]))) == "*" and "allow" not in permissions([]).values()


def test_checks_name_what_is_missing(tmp_path: Path) -> None:
    request = _request(tmp_path)
    with pytest.raises(ProviderCheckError, match="ANTHROPIC_API_KEY"):
        OC.check(request, {"PATH": ENV["PATH"]})
    with pytest.raises(ProviderCheckError, match="GOOGLE_GENERATIVE_AI_API_KEY or GEMINI_API_KEY"):
        OC.check(_request(tmp_path, model="google/gemini-2.5-pro"), ENV)
    with pytest.raises(ProviderCheckError, match="provider/model"):
        OC.check(_request(tmp_path, model="gpt-5"), ENV)
    with pytest.raises(ProviderCheckError, match="not a session id of OpenCode"):
        OC.check(_request(tmp_path, resume_session_id="abc; rm -rf /"), ENV)


def test_both_adapters_are_registered() -> None:
    assert isinstance(adapter_for("opencode"), OpenCodeAdapter)
    assert isinstance(ADAPTERS["kilo-cli"], KiloCliAdapter)
    assert ADAPTERS["kilo-cli"].name == "kilo-cli" and ADAPTERS["opencode"].name == "opencode"

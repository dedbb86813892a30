"""Polygent Code, the built-in agent, against the fake model servers of all three protocols
(Anthropic Messages, OpenAI chat completions, Gemini), the fake MCP server, and through the
`agent.run_turn` activity: scripted turns that write a file and run a command, subagents,
the native USD cap, resume, and API failures that become the right outcome."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import subprocess
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import pytest
from temporalio.testing import ActivityEnvironment

from activities.agent.providers import ADAPTERS, ProviderCheckError
from activities.agent.turn import AgentTurnActivities
from orchestrator.contracts.agent import (
    AgentEvent,
    McpConfig,
    McpServerSpec,
    ModelPrice,
    SubagentSpec,
    TurnInput,
    TurnRequest,
    TurnResult,
    Usage,
)
from orchestrator.pricing import cost_of
from tests.fakes.anthropic import Step, finish, run_command, serve_anthropic, todo, write_file
from tests.fakes.gemini import FakeGemini
from tests.fakes.mcp import serve_mcp
from tests.fakes.openai_chat import FakeOpenAIChat
from tests.fakes.scripted import serve
from tests.helpers import free_port, wait_for

pytestmark = pytest.mark.providers

ADAPTER = ADAPTERS["polygent-code"]
MAIN_TOOLS = frozenset({"Write", "Bash"})  # requests offering these are the main conversation
FAST_RETRIES = {"POLYGENT_CODE_RETRY_BASE_SECONDS": "0.01"}


@dataclass
class Api:
    """One model API protocol: its fake server, a model it serves and the turn's environment."""

    name: str
    fake: Any
    model: str
    env: dict[str, str]
    auth: tuple[str, str]  # the header the key must arrive in
    usage: Usage  # what one fake message costs in tokens, as the agent must count it


@contextlib.contextmanager
def api_of(name: str) -> Iterator[Api]:
    if name == "anthropic":
        with serve_anthropic() as fake:
            key = "sk-ant-fake-0123456789"
            env = {"ANTHROPIC_API_KEY": key, "POLYGENT_ANTHROPIC_BASE_URL": fake.base_url}
            usage = Usage(input=100, output=42, cache_read=30, cache_write=20)
            yield Api(name, fake, "claude-sonnet-4-5", env, ("x-api-key", key), usage)
    elif name == "openai":
        with serve(lambda: FakeOpenAIChat(MAIN_TOOLS)) as chat:
            key = "sk-openai-fake-0123456789"
            env = {"OPENAI_API_KEY": key, "POLYGENT_OPENAI_BASE_URL": chat.base_url}
            usage = Usage(input=70, output=42, cache_read=30)
            yield Api(name, chat, "gpt-5", env, ("authorization", f"Bearer {key}"), usage)
    else:
        with serve(lambda: FakeGemini(MAIN_TOOLS)) as gem:
            key = "gemini-fake-key-0123456789"
            env = {"GEMINI_API_KEY": key, "POLYGENT_GEMINI_BASE_URL": gem.base_url}
            usage = Usage(input=70, output=42, cache_read=30)
            yield Api(name, gem, "gemini-2.5-flash", env, ("x-goog-api-key", key), usage)


@pytest.fixture(params=["anthropic", "openai", "gemini"])
def api(request: pytest.FixtureRequest) -> Iterator[Api]:
    with api_of(request.param) as found:
        yield found


@pytest.fixture
def worktree(tmp_path: Path) -> Path:
    path = tmp_path / "work"
    path.mkdir()
    subprocess.run(["git", "init", "-q", str(path)], check=True)
    return path.resolve()


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


def base_env(api: Api) -> dict[str, str]:
    return {"PATH": "/usr/local/bin:/usr/bin:/bin", **FAST_RETRIES, **api.env}


async def run_turn(
    env: dict[str, str],
    worktree: Path,
    home: Path,
    mcp_token: str | None = None,
    **fields: Any,
) -> tuple[TurnResult, list[AgentEvent]]:
    fields.setdefault("turn", 1)
    fields.setdefault("attempt", 1)
    request = TurnRequest(
        provider="polygent-code", worktree=str(worktree), home=str(home), **fields
    )
    ADAPTER.check(request, env)
    launch = ADAPTER.prepare(request, home, env, mcp_token=mcp_token)
    events: list[AgentEvent] = []

    async def collect(batch: list[AgentEvent]) -> None:
        events.extend(batch)

    run = ADAPTER.run_in_process  # type: ignore[attr-defined]
    outcome = await run(launch, worktree, collect, turn=request.turn, attempt=request.attempt)
    return ADAPTER.finish(outcome.exit_code, outcome.events, outcome.stderr_tail), events


def kinds(events: list[AgentEvent]) -> list[str]:
    return [e.kind for e in events]


def total(usage: Usage, times: int) -> Usage:
    return Usage(**{k: v * times for k, v in usage.model_dump().items()})


def wire(body: dict[str, Any]) -> str:
    return json.dumps(body)


async def test_scripted_turn_writes_runs_and_reports(api: Api, worktree: Path, home: Path) -> None:
    target = worktree / "hello.txt"
    api.fake.script(
        [
            write_file(str(target), "hello\n", thinking="I should write it."),
            run_command("echo ran > ran.txt && echo done"),
            todo(["Check the output"]),
            finish("All done."),
        ]
    )
    result, events = await run_turn(
        base_env(api),
        worktree,
        home,
        model=api.model,
        prompt="Write hello.txt",
        system_prompt_append="APPENDED-POLYGENT-RULES",
        budget_usd=5,
        turn=3,
    )

    assert result.ok, result.error
    assert target.read_text() == "hello\n" and (worktree / "ran.txt").read_text() == "ran\n"
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert {(e.turn, e.attempt) for e in events} == {(3, 1)}
    ks = kinds(events)
    assert ks[0] == "system" and events[0].subtype == "init" and ks[-1] == "result"
    assert events[0].session_id == result.provider_session_id
    assert {"thinking", "text", "todo"} <= set(ks)
    calls = {e.tool_id: e for e in events if e.kind == "tool_call"}
    results = {e.tool_id: e for e in events if e.kind == "tool_result"}
    assert [c.tool_name for c in calls.values()] == ["Write", "Bash", "TodoWrite"]
    assert calls.keys() == results.keys() and not any(r.is_error for r in results.values())
    assert [r.content for r in results.values()][1] == "done"
    [plan] = [e for e in events if e.kind == "todo"]
    assert [t.content for t in plan.todos or []] == ["Check the output"]
    # One usage event per model message, with cache tokens and the message's cost.
    usages = [e for e in events if e.kind == "usage"]
    assert len(usages) == 4 and len({u.message_id for u in usages}) == 4
    assert all(u.usage == api.usage for u in usages)
    one = cost_of(api.model, api.usage)
    assert one and all(u.cost_usd == pytest.approx(one) for u in usages)
    assert result.usage == total(api.usage, 4) and result.cost_usd == pytest.approx(4 * one)
    assert result.num_turns == 4 and result.final_text == "All done."
    assert result.model == api.model and result.retry_after_seconds is None
    # What reached the API: the key in its header, our system prompt, the tool results.
    main = api.fake.main_requests()
    assert len(main) == 4
    header, value = api.auth
    assert all(r.headers.get(header) == value for r in main)
    assert all("APPENDED-POLYGENT-RULES" in wire(r.body) for r in main)
    assert "echo ran" in wire(main[-1].body) and "done" in wire(main[-1].body)
    dumped = wire({"events": [e.model_dump() for e in events]})
    assert value.split()[-1] not in dumped


async def test_gateways_without_a_key_and_openrouter_with_one(worktree: Path, home: Path) -> None:
    with serve(lambda: FakeOpenAIChat(MAIN_TOOLS)) as chat:
        env = {
            "PATH": "/usr/bin:/bin",
            "POLYGENT_KILO_BASE_URL": chat.base_url,
            "POLYGENT_ZEN_BASE_URL": chat.base_url,
            "POLYGENT_OPENROUTER_BASE_URL": chat.base_url,
        }
        for model, wire_model in [
            ("kilo/kilo-auto-free", "kilo-auto-free"),
            ("opencode-zen/big-pickle", "big-pickle"),
        ]:
            chat.script([finish(f"Hi from {model}")])
            result, _ = await run_turn(env, worktree, home, model=model, prompt="Hi")
            assert result.ok and result.final_text == f"Hi from {model}"
            last = chat.requests[-1]
            assert last.body["model"] == wire_model and "authorization" not in last.headers
        request = TurnRequest(
            provider="polygent-code",
            model="openrouter/x/y",
            prompt="p",
            worktree=str(worktree),
            home=str(home),
        )
        with pytest.raises(ProviderCheckError, match="OPENROUTER_API_KEY"):
            ADAPTER.check(request, env)
        keyed = {**env, "OPENROUTER_API_KEY": "or-key-0123456789"}
        chat.script([finish("Routed.")])
        result, _ = await run_turn(keyed, worktree, home, model="openrouter/x/y", prompt="Hi")
        assert (
            result.ok and chat.requests[-1].headers["authorization"] == "Bearer or-key-0123456789"
        )
        assert chat.requests[-1].body["model"] == "x/y"


async def test_explorer_subagent_answers_through_task(api: Api, worktree: Path, home: Path) -> None:
    (worktree / "main.py").write_text("def main(): pass\n")
    task = Step(
        text="Delegating.",
        tool="Task",
        tool_input={
            "subagent_type": "explorer",
            "prompt": "Find the main function",
            "description": "find",
        },
    )
    api.fake.script([task, finish("Parent done.")])
    result, events = await run_turn(base_env(api), worktree, home, model=api.model, prompt="Go")

    assert result.ok and result.final_text == "Parent done.", result.error
    [call] = [e for e in events if e.kind == "tool_call" and e.tool_name == "Task"]
    [answer] = [e for e in events if e.kind == "tool_result" and e.tool_id == call.tool_id]
    assert answer.content == "Fake summary" and not answer.is_error
    nested = [e for e in events if (e.data or {}).get("parent_tool_id") == call.tool_id]
    start = nested[0]
    assert start.subtype == "subagent_start" and start.data
    assert start.data["tools"] == ["Glob", "Grep", "Read"] and start.data["subagent"] == "explorer"
    assert [e.kind for e in nested[1:]] == ["text", "usage"]
    # The subagent's request: its own prompt and only read-only tools; its cost counts.
    sub = [r for r in api.fake.requests if r not in api.fake.main_requests()]
    assert len(sub) == 1 and "read-only search subagent" in wire(sub[0].body)
    assert result.usage == total(api.usage, 3)


async def test_custom_subagent_runs_on_another_backend_with_its_own_model(
    worktree: Path, home: Path
) -> None:
    with api_of("anthropic") as parent, api_of("openai") as other:
        other.fake.script(
            [write_file(str(worktree / "sub.txt"), "from the subagent\n"), finish("Wrote sub.txt.")]
        )
        writer = SubagentSpec(
            name="writer",
            description="Writes files",
            prompt="WRITER-PROMPT",
            tools=["Write"],
            model="gpt-test",
        )
        off = SubagentSpec(name="ghost", description="Disabled", enabled=False)
        task = Step(tool="Task", tool_input={"subagent_type": "writer", "prompt": "Write sub"})
        parent.fake.script([task, finish("Parent done.")])
        prices = {
            "claude-*": ModelPrice(input=3, output=15, cache_read=0.3, cache_write=3.75),
            "gpt-test": ModelPrice(input=1, output=2),
        }
        env = {**base_env(parent), **other.env}
        result, events = await run_turn(
            env,
            worktree,
            home,
            model=parent.model,
            prompt="Go",
            subagents=[writer, off],
            prices=prices,
        )

    assert result.ok, result.error
    assert (worktree / "sub.txt").read_text() == "from the subagent\n"
    answer = next(e for e in events if e.kind == "tool_result" and e.tool_name == "Task")
    assert answer.content == "Wrote sub.txt."
    init = events[0].data or {}
    assert init["subagents"] == ["explorer", "general", "writer"]
    task_spec = next(t for t in parent.fake.main_requests()[0].body["tools"] if t["name"] == "Task")
    assert "Writes files" in task_spec["description"] and "ghost" not in wire(task_spec)
    sub_requests = other.fake.main_requests()
    assert [t["function"]["name"] for t in sub_requests[0].body["tools"]] == ["Write"]
    assert "WRITER-PROMPT" in wire(sub_requests[0].body) and sub_requests[0].body["model"] == (
        "gpt-test"
    )
    sub_usage = [e for e in events if e.kind == "usage" and (e.data or {}).get("subagent")]
    assert [e.data["model"] for e in sub_usage if e.data] == ["gpt-test", "gpt-test"]
    parent_cost = 2 * (cost_of("claude-sonnet-4-5", parent.usage, prices) or 0)
    sub_cost = 2 * (cost_of("gpt-test", other.usage, prices) or 0)
    assert result.cost_usd == pytest.approx(parent_cost + sub_cost)


async def test_usd_cap_stops_before_the_pending_tool_call(
    api: Api, worktree: Path, home: Path
) -> None:
    target = worktree / "never.txt"
    api.fake.script([write_file(str(target), "x\n"), finish()])
    result, events = await run_turn(
        base_env(api), worktree, home, model=api.model, prompt="Write it", budget_usd=0.0001
    )
    assert not result.ok and result.outcome == "budget_exceeded"
    assert result.error and "budget" in result.error
    assert not target.exists()  # the call of the message that crossed the cap was not run
    assert len(api.fake.main_requests()) == 1
    assert result.cost_usd and result.cost_usd > 0.0001
    assert events[-1].subtype == "error_max_budget_usd"
    # The next turn continues the conversation: the unanswered call is closed, not replayed.
    api.fake.script([finish("Fine.")])
    again, _ = await run_turn(
        base_env(api),
        worktree,
        home,
        model=api.model,
        prompt="Go on",
        resume_session_id=result.provider_session_id,
        turn=2,
    )
    assert again.ok, again.error
    assert "not run: the previous turn stopped before it ran" in wire(
        api.fake.main_requests()[-1].body
    )


async def test_resume_continues_the_conversation_across_turns(
    api: Api, worktree: Path, home: Path
) -> None:
    env = base_env(api)
    api.fake.script([write_file(str(worktree / "a.txt"), "a\n"), finish("First done.")])
    first, _ = await run_turn(env, worktree, home, model=api.model, prompt="FIRST-PROMPT")
    assert first.ok and first.provider_session_id

    api.fake.script([finish("Second done.")])
    second, events = await run_turn(
        env,
        worktree,
        home,
        model=api.model,
        prompt="SECOND-PROMPT",
        turn=2,
        resume_session_id=first.provider_session_id,
    )
    assert second.ok, second.error
    assert second.provider_session_id == first.provider_session_id
    assert second.final_text == "Second done." and (events[0].data or {})["resumed"] is True
    history = wire(api.fake.main_requests()[-1].body)
    assert "FIRST-PROMPT" in history and "SECOND-PROMPT" in history and "First done." in history
    assert "Created" in history  # the first turn's Write result was sent again
    assert second.usage == api.usage  # only this turn's message
    saved = home / ".polygent-code" / "sessions" / f"{first.provider_session_id}.json"
    assert saved.is_file()

    api.fake.script([finish("Fresh.")])
    fresh, events = await run_turn(
        env, worktree, home, model=api.model, prompt="THIRD", turn=3, resume_session_id="pc-gone"
    )
    assert fresh.ok and fresh.provider_session_id not in (first.provider_session_id, "pc-gone")
    assert [e.subtype for e in events[:2]] == ["init", "resume_unavailable"]
    assert "FIRST-PROMPT" not in wire(api.fake.main_requests()[-1].body)


def _sleeping(marker: str) -> bool:
    for proc in psutil.process_iter(["name", "cmdline"]):
        if proc.info["name"] == "sleep" and marker in " ".join(proc.info["cmdline"] or []):
            return True
    return False


async def test_cancel_kills_the_command_and_a_retried_attempt_continues(
    worktree: Path, home: Path
) -> None:
    marker = "sleep 94.321"
    with api_of("anthropic") as api:
        api.fake.script([run_command(f"echo waiting && {marker}"), finish("never")])
        env = base_env(api)
        request = TurnRequest(
            provider="polygent-code",
            model=api.model,
            prompt="ONLY-PROMPT",
            worktree=str(worktree),
            home=str(home),
            turn=5,
            attempt=1,
        )
        launch = ADAPTER.prepare(request, home, env)
        seen: list[AgentEvent] = []

        async def collect(batch: list[AgentEvent]) -> None:
            seen.extend(batch)

        run = ADAPTER.run_in_process  # type: ignore[attr-defined]
        task = asyncio.create_task(run(launch, worktree, collect, turn=5, attempt=1))
        await wait_for(lambda: _sleeping(marker), what="the scripted command runs")
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await wait_for(lambda: not _sleeping(marker), timeout=5, what="the command is killed")
        session = seen[0].session_id

        api.fake.script([finish("Recovered.")])
        result, events = await run_turn(
            env,
            worktree,
            home,
            model=api.model,
            prompt="ONLY-PROMPT",
            turn=5,
            attempt=2,
            resume_session_id=session,
        )
    assert result.ok and result.final_text == "Recovered." and result.provider_session_id == session
    body = wire(api.fake.main_requests()[-1].body)
    assert body.count("ONLY-PROMPT") == 1  # the prompt was not added twice
    assert "interrupted" in body and events[0].seq == 1


async def test_api_error_fails_the_turn_with_the_api_message(
    api: Api, worktree: Path, home: Path
) -> None:
    api.fake.fail(400, "the fake rejects this request")
    result, events = await run_turn(base_env(api), worktree, home, model=api.model, prompt="Hi")
    assert not result.ok and result.outcome == "error" and result.exit_code == 1
    assert result.error and "400" in result.error
    assert "the fake rejects this request" in result.error
    assert result.retry_after_seconds is None
    assert "error" in kinds(events) and len(api.fake.requests) == 1  # a 400 is not retried


async def test_rate_limit_with_a_far_reset_hands_the_wait_to_the_workflow(
    api: Api, worktree: Path, home: Path
) -> None:
    api.fake.fail(429, "slow down", retry_after=120)
    result, events = await run_turn(base_env(api), worktree, home, model=api.model, prompt="Hi")
    assert not result.ok and result.outcome == "error"
    assert result.retry_after_seconds == pytest.approx(120)
    assert result.error and "429" in result.error and "slow down" in result.error
    assert len(api.fake.requests) == 1
    [error] = [e for e in events if e.kind == "error"]
    assert error.data and error.data["retry_after_seconds"] == pytest.approx(120)
    # After the sleep the workflow takes the same message again, as the next turn.
    api.fake.failure = None  # the limit has reset
    api.fake.script([finish("Now it works.")])
    again, _ = await run_turn(
        base_env(api), worktree, home, model=api.model, prompt="Hi", turn=2,
        resume_session_id=result.provider_session_id,
    )  # fmt: skip
    assert again.ok and again.final_text == "Now it works."
    assert wire(api.fake.requests[-1].body).count('"Hi"') == 1


async def test_short_rate_limit_is_retried_in_place(api: Api, worktree: Path, home: Path) -> None:
    api.fake.fail(429, "slow down", times=1, retry_after=0)
    api.fake.script([write_file(str(worktree / "b.txt"), "b\n"), finish("Fine.")])
    result, events = await run_turn(
        base_env(api),
        worktree,
        home,
        model=api.model,
        prompt="Go",
        allowed_tools=["Read", "Write"],
    )
    assert result.ok, result.error
    assert (worktree / "b.txt").read_text() == "b\n"
    assert [e.subtype for e in events if e.kind == "system"][:2] == ["init", "api_retry"]
    assert sorted((events[0].data or {})["tools"]) == ["Read", "Write"]
    assert "Bash" not in wire(api.fake.requests[-1].body)


async def test_connection_failure_and_missing_credentials(worktree: Path, home: Path) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    env = {
        "PATH": "/usr/bin:/bin",
        **FAST_RETRIES,
        "ANTHROPIC_API_KEY": "sk-ant-x-123456",
        "POLYGENT_ANTHROPIC_BASE_URL": closed,
    }
    result, events = await run_turn(env, worktree, home, model="claude-haiku-4-5", prompt="Hi")
    assert not result.ok and result.outcome == "error"
    assert result.error and "Could not reach the model API" in result.error
    assert len([e for e in events if e.subtype == "api_retry"]) == 4

    request = TurnRequest(
        provider="polygent-code",
        model="gemini-2.5-pro",
        prompt="x",
        worktree=str(worktree),
        home=str(home),
    )
    with pytest.raises(ProviderCheckError, match="GEMINI_API_KEY"):
        ADAPTER.check(request, {"PATH": "/bin"})
    with pytest.raises(ProviderCheckError, match="llama-9"):
        ADAPTER.check(request.model_copy(update={"model": "llama-9"}), env)
    with pytest.raises(ProviderCheckError, match="claude-opus-9"):
        ADAPTER.check(request.model_copy(update={"model": "claude-opus-9"}), env, models=["a"])
    ADAPTER.check(request.model_copy(update={"model": None}), env)  # the default model


async def test_mcp_tools_of_the_session_server(worktree: Path, home: Path) -> None:
    token = "mcp-session-token-4242"
    with api_of("anthropic") as api, serve_mcp(token) as mcp:
        ping = Step(tool="mcp__polygent__polygent_ping", tool_input={"text": "hello"})
        api.fake.script([ping, finish("Pinged.")])
        result, events = await run_turn(
            base_env(api),
            worktree,
            home,
            mcp_token=token,
            model=api.model,
            prompt="Ping",
            mcp=McpConfig(url=mcp.url, bearer_token_ref="ref-mcp"),
        )
        assert result.ok, result.error
        assert mcp.called() == ["hello"] and mcp.rejected == 0
        answer = next(e for e in events if e.kind == "tool_result")
        assert answer.content == "pong: hello" and not answer.is_error
        assert "mcp__polygent__polygent_ping" in (events[0].data or {})["tools"]
        assert token not in wire({"e": [e.model_dump() for e in events]})

        # A wrong token: the server is reported and left out; the turn still runs.
        api.fake.script([finish("Without MCP.")])
        result, events = await run_turn(
            base_env(api),
            worktree,
            home,
            mcp_token="wrong-token-123",
            model=api.model,
            prompt="Ping",
            mcp=McpConfig(url=mcp.url),
        )
        assert result.ok and mcp.rejected > 0
        assert any(e.subtype == "mcp_error" for e in events)
        assert not any(t.startswith("mcp__") for t in (events[0].data or {})["tools"])


@dataclass
class FakeApi:
    """The session agent's API client, as `agent.run_turn` uses it."""

    secrets: dict[str, str] = field(default_factory=dict)
    posted: list[AgentEvent] = field(default_factory=list)

    async def get_secret(self, ref: str) -> str:
        return self.secrets[ref]

    async def post_events(self, session_id: str, events: list[AgentEvent]) -> dict[str, Any]:
        self.posted.extend(events)
        return {"stored": len(events), "duplicates": 0, "last_cursor": 1}

    async def session_environment(self, session_id: str) -> dict[str, str]:
        return {}

    async def attachment(self, session_id: str, attachment_id: str) -> bytes:
        raise AssertionError("no attachments here")

    @contextlib.asynccontextmanager
    async def __call__(self) -> AsyncIterator[FakeApi]:
        yield self


async def test_the_turn_activity_runs_polygent_code_in_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = "sk-ant-activity-0123456789"
    storage = tmp_path / "storage"
    worktree = storage / "wt"
    worktree.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(worktree)], check=True)
    with serve_anthropic() as fake:
        monkeypatch.setenv("POLYGENT_ANTHROPIC_BASE_URL", fake.base_url)
        monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
        fake.script(
            [
                write_file(str(worktree / "hello.txt"), f"key={key}\n"),
                run_command("echo $POLYGENT_TURN_SESSION; echo ${ANTHROPIC_API_KEY:-none}"),
                finish("Done."),
            ]
        )
        api = FakeApi(secrets={"ref-1": key})
        acts = AgentTurnActivities(storage, api, heartbeat_interval=0.05)
        beats: list[Any] = []
        env = ActivityEnvironment()
        env.on_heartbeat = lambda *details: beats.append(details)
        request = TurnRequest(
            provider="polygent-code",
            model="claude-sonnet-4-5",
            prompt="Write the file",
            worktree="",
            home="",
            turn=2,
        )
        inp = TurnInput(
            session_id="s1",
            worktree_path=str(worktree),
            request=request,
            credential_refs={"ANTHROPIC_API_KEY": "ref-1"},
        )
        result = await env.run(acts.run_turn, inp)

        assert result.ok, result.error
        assert result.changed_files == ["hello.txt"] and result.checkpoint_ref
        assert [e.seq for e in api.posted] == list(range(1, len(api.posted) + 1))
        bash = [e for e in api.posted if e.kind == "tool_result" and e.tool_name == "Bash"]
        assert bash[0].content == "s1\nnone"  # tagged for cleanup; no model key for commands
        assert key not in wire({"e": [e.model_dump() for e in api.posted]})
        assert any(b[0]["provider_session_id"] == result.provider_session_id for b in beats if b)
        marker = json.loads((storage / "homes" / "s1" / ".polygent-turn.json").read_text())
        assert marker == {"turn": 2, "provider_session_id": result.provider_session_id}

        # A retried attempt resumes the same conversation and does not redo the finished turn.
        retry = ActivityEnvironment()
        retry.info = dataclasses.replace(
            retry.info,
            attempt=2,
            heartbeat_details=[{"provider_session_id": result.provider_session_id}],
        )
        requests_before = len(fake.requests)
        again = await retry.run(acts.run_turn, inp)
        assert again.ok and again.final_text == "Done." and len(fake.requests) == requests_before


async def test_subagent_mcp_servers_and_our_mcp_tools(worktree: Path, home: Path) -> None:
    own_token, extra_token = "mcp-own-token-1111", "mcp-extra-token-2222"
    with (
        api_of("anthropic") as parent,
        serve(FakeOpenAIChat) as chat,
        serve_mcp(own_token) as own,
        serve_mcp(extra_token) as extra,
    ):
        chat.script([Step(tool="mcp__extra__polygent_ping", tool_input={"text": extra_token}),
                     finish("Pinged from the subagent.")])  # fmt: skip
        pinger = SubagentSpec(
            name="pinger", description="Pings", prompt="Ping it.", tools=["Read"],
            model="gpt-test", mcp_servers=[McpServerSpec(
                name="extra", url=extra.url, bearer_token_env="EXTRA_MCP_TOKEN")],
        )  # fmt: skip
        explorer = SubagentSpec(name="explorer", mcp_tools=["polygent_ping"])
        task = Step(tool="Task", tool_input={"subagent_type": "pinger", "prompt": "Ping"})
        parent.fake.script([task, finish("Parent done.")])
        env = {
            **base_env(parent),
            "OPENAI_API_KEY": "sk-o-123456",
            "POLYGENT_OPENAI_BASE_URL": chat.base_url,
            "EXTRA_MCP_TOKEN": extra_token,
        }
        result, events = await run_turn(
            env, worktree, home, mcp_token=own_token, model=parent.model, prompt="Go",
            mcp=McpConfig(url=own.url), subagents=[pinger, explorer],
        )  # fmt: skip
        assert result.ok, result.error
        assert extra.called() == [extra_token] and own.called() == []  # echoed back: redacted
        offered = [t["function"]["name"] for t in chat.requests[0].body["tools"]]
        assert offered == ["Read", "mcp__extra__polygent_ping"]
        answer = next(e for e in events if e.kind == "tool_result" and e.tool_name == "Task")
        assert answer.content == "Pinged from the subagent."
        dumped = wire({"e": [e.model_dump() for e in events]})
        assert own_token not in dumped and extra_token not in dumped

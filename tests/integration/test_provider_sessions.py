"""The five non-Claude CLI providers end to end: the API starts a Develop session, the real
SessionWorkflow places it on a real session agent, and the agent runs the provider's real CLI
against that provider's fake model API in a worktree of a real git remote.

The CLI's endpoint and key are workspace variables (the session environment the agent fetches),
so the whole path is the product's: provider settings, host choice by installed CLI, turn
context with the price, adapter, parser, event ingest, cost recording and the session panel.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from orchestrator.contracts.agent import ModelPrice, Usage
from orchestrator.db import Database
from orchestrator.pricing import usage_cost
from tests.clis import NODE_BIN, require_cli
from tests.fakes import gemini, openai_chat, openai_responses
from tests.fakes.anthropic import finish as anthropic_finish
from tests.fakes.anthropic import serve_anthropic
from tests.integration import opencode_family_kit as family
from tests.integration.sessions_kit import (
    add_agent,
    add_workspace,
    git_remote,
    start,
    turn_done,
    wait_status,
)
from tests.integration.stack import Stack, running_stack

pytestmark = [pytest.mark.providers, pytest.mark.slow]

FILE = "hello.txt"
FIRST = "Create hello.txt, please."
SECOND = "And now say goodbye."
DONE = "All done."
AGAIN = "Goodbye."
# A price unlike any default, so the cost can only have come from the table we set.
PRICE = ModelPrice(input=4, output=20, cache_read=0.4, cache_write=5)


@dataclass(frozen=True)
class Case:
    """One provider: its CLI, model, fake API and how the fake scripts and records a turn."""

    provider: str
    cli: str
    model: str
    serve: Callable[[], AbstractContextManager[Any]]
    url_var: str  # the CLI's base URL variable (fake.base_url is in the form it takes)
    key_var: str
    write: Callable[[str], Any]  # the step that creates FILE holding the line
    finish: Callable[[str], Any]
    tool: str  # the write step's tool, as the transcript names it
    conversation: str  # the request body's field that carries the conversation
    tool_output: str  # how a tool result looks in it
    custom_model: bool = False  # added by the administrator (not in the built-in catalog)

    @property
    def key(self) -> str:
        return f"sk-{self.provider}-session-0123456789abcdef"


CASES = {
    c.provider: c
    for c in (
        Case(
            # A model Codex 0.169 knows (on unknown ones it offers no apply_patch tool).
            "codex", "codex", "gpt-5.5", openai_responses.serve_responses,
            "OPENAI_BASE_URL", "OPENAI_API_KEY",
            lambda line: openai_responses.apply_patch(openai_responses.add_file(FILE, line)),
            openai_responses.finish, "apply_patch", "input", "custom_tool_call_output",
        ),
        Case(
            "gemini-cli", "gemini", "gemini-2.5-flash", gemini.serve_gemini,
            "GOOGLE_GEMINI_BASE_URL", "GEMINI_API_KEY",
            lambda line: gemini.write_file(FILE, line + "\n"),
            gemini.finish, "write_file", "contents", "functionResponse",
        ),
        Case(
            # Qwen's write_file takes absolute paths only, unknown before the session exists.
            "qwen-code", "qwen", "qwen3-coder-plus",
            lambda: openai_chat.serve_openai_chat(openai_chat.QWEN_TOOLS),
            "OPENAI_BASE_URL", "OPENAI_API_KEY",
            lambda line: openai_chat.run_shell(f"echo '{line}' > {FILE}"),
            openai_chat.finish, "run_shell_command", "messages", '"role": "tool"',
        ),
        Case(
            "opencode", "opencode", "anthropic/claude-sonnet-4-5", serve_anthropic,
            "ANTHROPIC_BASE_URL", "ANTHROPIC_API_KEY",
            lambda line: family.write_file(Path(FILE), line + "\n"),
            anthropic_finish, "write", "messages", "tool_result",
        ),
        Case(
            "kilo-cli", "kilo", "anthropic/claude-sonnet-4-5", serve_anthropic,
            "ANTHROPIC_BASE_URL", "ANTHROPIC_API_KEY",
            lambda line: family.write_file(Path(FILE), line + "\n"),
            anthropic_finish, "write", "messages", "tool_result",
        ),
    )
}  # fmt: skip


def one_database(provider: str, dialect: str) -> Any:
    return pytest.param(CASES[provider], dialect, id=f"{provider}-{dialect}")


def host_with_only(cli: str, folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The agent runs in this process: on its PATH Node and this provider's CLI only, so the
    host reports just that CLI (asking the other five for `--version` costs seconds)."""
    folder.mkdir()
    (folder / cli).symlink_to(require_cli(cli))
    path = [str(folder), str(NODE_BIN), os.environ.get("PATH", os.defpath)]
    monkeypatch.setenv("PATH", os.pathsep.join(path))
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


async def configure(stack: Stack, ws_id: str, case: Case, base_url: str) -> None:
    """Turn the provider on, price its model, and give the workspace its endpoint and key."""
    r = await stack.http.post(f"/api/workspaces/{ws_id}/sessions",
                              json={"provider": case.provider, "message": "x"})  # fmt: skip
    assert r.status_code == 422 and "turned off" in r.text, r.text
    change: dict[str, Any] = {"enabled": True}
    if case.custom_model:
        change["custom_models"] = [case.model]
    r = await stack.http.patch(f"/api/settings/providers/{case.provider}", json=change)
    assert r.status_code == 200 and r.json()["enabled"] is True, r.text
    assert case.model in r.json()["models"]
    r = await stack.http.put(
        "/api/settings/prices", params={"model": case.model}, json=PRICE.model_dump()
    )
    assert r.status_code == 200, r.text
    variables = [
        {"name": case.url_var, "value": base_url, "secret": False},
        {"name": case.key_var, "value": case.key, "secret": True},
    ]
    body = {"format": "json", "content": json.dumps(variables)}
    r = await stack.http.post(f"/api/workspaces/{ws_id}/variables/import", json=body)
    assert r.status_code == 200, r.text


def conversation(fake: Any, case: Case) -> str:
    """The conversation the CLI sent in its last main request."""
    return json.dumps(fake.main_requests()[-1].body[case.conversation])


# The provider path (CLI, adapter, parser, the agent's turn activity) never touches the
# database: it reaches it only as generic AgentEvents and a TurnRecord, stored by the same code
# test_sessions.py runs on both dialects. So each provider runs on one database, alternating.
@pytest.mark.parametrize(
    ("case", "db_url"),
    [
        one_database("codex", "sqlite"),
        one_database("gemini-cli", "postgresql"),
        one_database("qwen-code", "sqlite"),
        one_database("opencode", "postgresql"),
        one_database("kilo-cli", "sqlite"),
    ],
    indirect=["db_url"],
)
async def test_a_develop_session_writes_a_file_is_costed_and_resumes(
    case: Case, db: Database, temporal_env: WorkflowEnvironment, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    host_with_only(case.cli, tmp_path / "bin", monkeypatch)
    line = f"hello from {case.provider}"
    with case.serve() as fake, git_remote(tmp_path / "remote") as remote:
        async with running_stack(db, temporal_env.client, tmp_path / "stack") as stack:
            host = await add_agent(stack)
            providers = (await stack.http.get("/api/settings/providers")).json()
            installed = {p["id"] for p in providers if p["hosts"].get(host)}
            assert installed == {case.provider, "polygent-code"}, installed  # built in
            ws_id = await add_workspace(stack.state.db, remote)
            await configure(stack, ws_id, case, fake.base_url)
            fake.script([case.write(line), case.finish(DONE)])
            created = await start(
                stack, ws_id, mode="develop", dev_mode="manual", provider=case.provider,
                model=case.model, message=FIRST,
            )  # fmt: skip
            sid = created["id"]
            evs = await turn_done(stack, sid, 1)
            row = await wait_status(stack, sid, "waiting", turns=1)
            assert row["host_id"] == host and row["provider"] == case.provider

            # The transcript: the message, the write paired with its result, the answer.
            user = next(e for e in evs if e["kind"] == "user")
            assert user["data"]["text"] == FIRST
            agent = [e for e in evs if e["attempt"] >= 1]
            errors = [e["data"] for e in evs if e["kind"] == "error"]
            assert not errors, errors
            call = first(agent, lambda e: e["kind"] == "tool_call")
            assert call["data"]["tool_name"] == case.tool, call
            result = first(agent, lambda e: e["kind"] == "tool_result"
                           and e["data"].get("tool_id") == call["data"]["tool_id"])  # fmt: skip
            assert not result["data"].get("is_error"), result
            answer = first(agent, lambda e: e["kind"] == "text" and e["data"].get("text") == DONE)
            assert user["cursor"] < call["cursor"] < result["cursor"] < answer["cursor"]
            assert case.key not in json.dumps(evs)

            # Tokens and a cost priced by the table (by the CLI itself for OpenCode and Kilo).
            assert row["input_tokens"] > 0 and row["output_tokens"] > 0
            assert row["cost_usd"] > 0
            assert row["cost_usd"] == pytest.approx(expected_cost(row), rel=1e-4)

            # The changed file, through the session panel.
            base = f"/api/sessions/{sid}"
            status = (await stack.http.get(f"{base}/git/status")).json()
            assert FILE in [f["path"] for f in status["files"]], status
            r = await stack.http.get(f"{base}/files/content", params={"path": FILE})
            assert r.status_code == 200 and r.json()["content"] == line + "\n", r.text

            # A second message resumes the provider's conversation.
            fake.script([case.finish(AGAIN)])
            r = await stack.http.post(f"{base}/messages", json={"text": SECOND})
            assert r.status_code == 202, r.text
            evs = await turn_done(stack, sid, 2)
            texts = [e["data"].get("text") for e in evs if e["kind"] == "text" and e["turn"] == 2]
            assert AGAIN in texts, texts
            history = conversation(fake, case)
            assert FIRST in history and SECOND in history and case.tool_output in history
            second = await wait_status(stack, sid, "waiting", turns=2)
            assert second["input_tokens"] > row["input_tokens"]
            assert second["cost_usd"] == pytest.approx(expected_cost(second), rel=1e-4)


def first(events: list[dict[str, Any]], match: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """The first matching event; the whole transcript in the message when there is none."""
    found = next((e for e in events if match(e)), None)
    assert found is not None, [(e["kind"], e["data"]) for e in events]
    return found


def expected_cost(row: dict[str, Any]) -> float:
    usage = Usage(
        input=row["input_tokens"], output=row["output_tokens"],
        cache_read=row["cache_read_tokens"], cache_write=row["cache_write_tokens"],
    )  # fmt: skip
    return usage_cost(usage, PRICE)

"""`agent.run_turn` through Temporal on a real session agent, driving the real Claude Code CLI
against the fake Anthropic server: events reach the API, the worktree is checkpointed, and a
cancel kills the CLI's process tree."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
from pydantic import BaseModel
from temporalio import workflow
from temporalio.client import WorkflowFailureError
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment
from temporalio.worker import Worker

from activities.agent.turn import AgentTurnActivities
from orchestrator.contracts.agent import AgentEvent, TurnInput, TurnRequest, TurnResult
from orchestrator.db import Database
from orchestrator.queues import agent_queue
from orchestrator.secrets.service import SecretRefService
from orchestrator.security.crypto import SecretBox
from orchestrator.sessions.models import Session
from orchestrator.workspaces.models import Workspace
from tests.clis import cli_path, require_cli
from tests.fakes.anthropic import FakeAnthropic, finish, run_command, serve_anthropic, write_file
from tests.helpers import TEST_MASTER, wait_for
from tests.integration.stack import Stack, running_stack, unique_host

pytestmark = pytest.mark.sessions

API_KEY = "sk-ant-turn-5e1f0c2a9b"
TEST_QUEUE = "test-agent-turn"
GIT_ENV = {
    **os.environ,
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@localhost",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@localhost",
}


class TurnOnHost(BaseModel):
    host: str
    inp: TurnInput


@workflow.defn(name="TestTurnOnHost", sandboxed=False)
class TurnOnHostWorkflow:
    """What the session workflow does: one turn on the session's host queue."""

    @workflow.run
    async def run(self, req: TurnOnHost) -> TurnResult:
        result: TurnResult = await workflow.execute_activity(
            "agent.run_turn",
            req.inp,
            result_type=TurnResult,
            task_queue=agent_queue(req.host),
            schedule_to_start_timeout=timedelta(seconds=10),
            start_to_close_timeout=timedelta(minutes=3),
            heartbeat_timeout=timedelta(seconds=30),
            retry_policy=RetryPolicy(maximum_attempts=1),
        )
        return result


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True, env=GIT_ENV
    ).stdout.strip()


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeAnthropic]:
    """The agent runs in this process: the CLI's PATH and base URL come from our environment."""
    require_cli("claude")
    with serve_anthropic() as server:
        monkeypatch.setenv("PATH", cli_path())
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.base_url)
        monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
        monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
        yield server


async def setup(stack: Stack) -> tuple[str, str, Path, str]:
    """A registered session agent, a session bound to it, a worktree and a credential ref."""
    host = unique_host()
    await stack.start_agent(host, "session")

    async def registered() -> dict[str, Any] | None:
        return await stack.worker(host, "session")

    await wait_for(registered, what="the agent registers")  # type: ignore[arg-type]
    worktree = stack.tmp / host / "session" / "wt"
    worktree.mkdir(parents=True)
    git(worktree, "init", "-q", "-b", "main")
    (worktree / "README.md").write_text("hi\n")
    git(worktree, "add", "README.md")
    git(worktree, "commit", "-q", "-m", "first")
    async with stack.state.db.session() as s:
        ws = Workspace(name=f"turn-{uuid.uuid4().hex[:8]}", git_url="https://git.invalid/r.git")
        s.add(ws)
        await s.flush()
        row = Session(workspace_id=ws.id, host_id=host, title="turn")
        s.add(row)
        await s.flush()
        ref = await SecretRefService(s, SecretBox(TEST_MASTER)).mint("provider.credential", API_KEY)
        return host, row.id, worktree, ref


def turn_input(sid: str, worktree: Path, ref: str, turn: int = 1) -> TurnInput:
    request = TurnRequest(
        provider="claude-code", prompt="Write the file", worktree="", home="", turn=turn
    )
    return TurnInput(
        session_id=sid,
        worktree_path=str(worktree),
        request=request,
        credential_refs={"ANTHROPIC_API_KEY": ref},
    )


async def test_turn_posts_events_and_checkpoints_the_worktree(
    db: Database, temporal_env: WorkflowEnvironment, tmp_path: Path, fake: FakeAnthropic
) -> None:
    client = temporal_env.client
    async with (
        running_stack(db, client, tmp_path) as stack,
        Worker(client, task_queue=TEST_QUEUE, workflows=[TurnOnHostWorkflow]),
    ):
        host, sid, worktree, ref = await setup(stack)
        fake.script([write_file(str(worktree / "hello.txt"), "hello\n"), finish("All done.")])
        result = await client.execute_workflow(
            TurnOnHostWorkflow.run, TurnOnHost(host=host, inp=turn_input(sid, worktree, ref)),
            id=f"test-turn-{uuid.uuid4().hex[:8]}", task_queue=TEST_QUEUE,
        )  # fmt: skip

        assert result.ok, result.error
        assert result.final_text == "All done." and result.provider_session_id
        assert result.changed_files == ["hello.txt"]
        assert result.checkpoint_ref == f"refs/polygent/sessions/{sid}/turn-1"
        assert git(worktree, "show", f"{result.checkpoint_ref}:hello.txt") == "hello"
        # HEAD, branch and index are untouched: the file is still untracked.
        assert git(worktree, "rev-parse", "--abbrev-ref", "HEAD") == "main"
        assert git(worktree, "log", "--format=%s") == "first"
        assert git(worktree, "status", "--porcelain") == "?? hello.txt"
        # The isolated HOME persists for the next turn's --resume.
        assert (stack.tmp / host / "session" / "homes" / sid / ".claude").is_dir()

        r = await stack.http.get(f"/api/sessions/{sid}/events")
        assert r.status_code == 200, r.text
        events = r.json()["events"]
        keys = [(e["turn"], e["attempt"], e["seq"]) for e in events]
        assert keys == [(1, 1, n) for n in range(1, len(events) + 1)]
        kinds = [e["kind"] for e in events]
        assert "tool_call" in kinds and kinds[-1] == "result"
        assert API_KEY not in r.text


async def test_cancel_kills_the_cli_process_tree(
    db: Database, temporal_env: WorkflowEnvironment, tmp_path: Path, fake: FakeAnthropic
) -> None:
    client = temporal_env.client
    async with (
        running_stack(db, client, tmp_path) as stack,
        Worker(client, task_queue=TEST_QUEUE, workflows=[TurnOnHostWorkflow]),
    ):
        host, sid, worktree, ref = await setup(stack)
        marker = f"sleep 97.{uuid.uuid4().int % 10**6}"
        fake.script([run_command(f"echo waiting && {marker}"), finish("never")])
        handle = await client.start_workflow(
            TurnOnHostWorkflow.run, TurnOnHost(host=host, inp=turn_input(sid, worktree, ref)),
            id=f"test-turn-{uuid.uuid4().hex[:8]}", task_queue=TEST_QUEUE,
        )  # fmt: skip

        def tree() -> list[str]:
            """Names of the processes working in the worktree (the CLI and its tools)."""
            found = []
            for p in psutil.process_iter(["name", "cmdline", "cwd"]):
                line = " ".join(p.info["cmdline"] or [])
                if marker in line or p.info["cwd"] == str(worktree):
                    found.append(p.info["name"])
            return found

        # The first Bash call of a fresh HOME is slow (the CLI snapshots the shell first).
        await wait_for(lambda: "sleep" in tree(), timeout=60, what="the scripted command runs")
        await handle.cancel()
        with pytest.raises(WorkflowFailureError):
            await handle.result()
        await wait_for(lambda: not tree(), timeout=10, what="the CLI's processes are gone")


@dataclass
class FakeApi:
    """The agent's API client, recording posted events (the first post fails, as if lost)."""

    secrets: dict[str, str] = field(default_factory=dict)
    posted: list[AgentEvent] = field(default_factory=list)
    failures: int = 1

    async def get_secret(self, ref: str) -> str:
        return self.secrets.pop(ref)

    async def post_events(self, session_id: str, events: list[AgentEvent]) -> dict[str, Any]:
        if self.failures:
            self.failures -= 1
            raise httpx.ConnectError("connection refused")
        self.posted.extend(events)
        return {"stored": len(events), "duplicates": 0, "last_cursor": 1}

    @contextlib.asynccontextmanager
    async def __call__(self) -> AsyncIterator[FakeApi]:
        yield self


async def test_retry_resumes_the_provider_session_and_reports_the_cli_error(
    tmp_path: Path, fake: FakeAnthropic
) -> None:
    """Attempt 2 resumes the session id from the heartbeat; the CLI's refusal is a result."""
    worktree = tmp_path / "wt"
    worktree.mkdir()
    git(worktree, "init", "-q")
    api = FakeApi(secrets={"ref-1": API_KEY})
    acts = AgentTurnActivities(tmp_path, api, heartbeat_interval=0.2)
    env = ActivityEnvironment()
    gone = str(uuid.uuid4())
    env.info = dataclasses.replace(
        env.info, attempt=2, heartbeat_details=[{"last_seq": 7, "provider_session_id": gone}]
    )
    fake.script([finish("unused")])
    result = await env.run(acts.run_turn, turn_input("s1", worktree, "ref-1", turn=4))

    assert not result.ok and result.error and gone in result.error
    assert result.changed_files == [] and result.checkpoint_ref is None
    first = api.posted[0]
    assert (first.kind, first.subtype, first.turn, first.attempt, first.seq) == (
        "system", "interrupted", 4, 2, 1,
    )  # fmt: skip
    assert [e.seq for e in api.posted] == list(range(1, len(api.posted) + 1))
    assert fake.main_requests() == []  # nothing was sent to the model


async def test_unknown_provider_and_foreign_worktree_are_not_retried(tmp_path: Path) -> None:
    acts = AgentTurnActivities(tmp_path / "storage", FakeApi())
    (tmp_path / "storage").mkdir()
    inp = turn_input("s1", tmp_path / "storage", "ref")
    inp.request.provider = "nope"
    with pytest.raises(ApplicationError) as caught:
        await ActivityEnvironment().run(acts.run_turn, inp)
    assert caught.value.type == "ProviderCheckFailed" and caught.value.non_retryable
    with pytest.raises(ApplicationError) as caught:
        await ActivityEnvironment().run(acts.run_turn, turn_input("s1", tmp_path, "ref"))
    assert caught.value.type == "InvalidTurnInput"

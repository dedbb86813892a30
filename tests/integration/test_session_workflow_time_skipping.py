"""SessionWorkflow's own decisions, with its activities replaced by recording stubs and time
skipped: a rate limit sleeps durably until the reset and retries the same message without a
failure; a spent blocking budget cancels the session before anything runs; a budget stop
mid-turn cancels it, while a Code Review pass over budget never does."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import pytest
from temporalio import activity
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from orchestrator.contracts.agent import TurnInput, TurnResult, Usage
from orchestrator.contracts.hooks import HookPlan, HookPlanInput
from orchestrator.contracts.sessions import (
    ChooseHostInput,
    EmitInput,
    HostChoice,
    SendMessage,
    SessionState,
    StatusUpdate,
    TurnContext,
    TurnContextInput,
    TurnRecord,
)
from orchestrator.contracts.worktrees import (
    PreparedWorktree,
    PrepareWorktreeInput,
    RemoveResult,
    WorktreeKey,
)
from orchestrator.queues import ORCHESTRATOR_QUEUE, agent_queue
from tests.helpers import wait_for
from workflows.session import SessionWorkflow

pytestmark = pytest.mark.providers
HOST = "stubhost"


@dataclass
class Stubs:
    """Activities that record what the workflow asked and answer from a script."""

    results: list[TurnResult]
    context: TurnContext = field(default_factory=TurnContext)
    turns: list[TurnInput] = field(default_factory=list)
    emitted: list[EmitInput] = field(default_factory=list)
    statuses: list[str] = field(default_factory=list)

    def activities(self) -> list[Any]:
        @activity.defn(name="sessions.choose_host")
        async def choose_host(inp: ChooseHostInput) -> HostChoice:
            return HostChoice(host_id=HOST)

        @activity.defn(name="sessions.worktree_input")
        async def worktree_input(inp: TurnContextInput) -> PrepareWorktreeInput:
            return PrepareWorktreeInput(
                workspace_id="ws", git_url="https://git.invalid/r.git", base_branch="main",
                new_branch="polygent/x", worktree_id=inp.session_id,
            )  # fmt: skip

        @activity.defn(name="sessions.emit")
        async def emit(inp: EmitInput) -> None:
            self.emitted.append(inp)

        @activity.defn(name="sessions.update")
        async def update(inp: StatusUpdate) -> None:
            self.statuses.append(inp.status)

        @activity.defn(name="sessions.turn_context")
        async def turn_context(inp: TurnContextInput) -> TurnContext:
            return self.context

        @activity.defn(name="sessions.record_turn")
        async def record_turn(inp: TurnRecord) -> None:
            pass

        @activity.defn(name="hooks.plan")
        async def plan(inp: HookPlanInput) -> HookPlan:
            return HookPlan()

        return [choose_host, worktree_input, emit, update, turn_context, record_turn, plan]

    def host_activities(self) -> list[Any]:
        @activity.defn(name="worktree.prepare")
        async def prepare(inp: PrepareWorktreeInput) -> PreparedWorktree:
            return PreparedWorktree(path="/wt", branch=inp.new_branch, head_sha="0" * 40)

        @activity.defn(name="worktree.remove")
        async def remove(inp: WorktreeKey) -> RemoveResult:
            return RemoveResult(removed=True)

        @activity.defn(name="agent.run_turn")
        async def run_turn(inp: TurnInput) -> TurnResult:
            self.turns.append(inp)
            return self.results.pop(0) if self.results else TurnResult(ok=True, final_text="ok")

        return [prepare, remove, run_turn]

    def subtypes(self) -> list[str]:
        return [str(e.data.get("subtype")) for e in self.emitted if e.kind == "system"]


async def _run(
    env: WorkflowEnvironment, stubs: Stubs, state: SessionState, text: str = "Go"
) -> WorkflowHandle[Any, Any]:
    client = env.client
    handle = await client.start_workflow(
        SessionWorkflow.run, state, id=f"session-{state.session_id}", task_queue=ORCHESTRATOR_QUEUE
    )
    await handle.execute_update(SessionWorkflow.send_message, SendMessage(text=text))
    return handle


def _state(**kw: Any) -> SessionState:
    return SessionState(
        session_id=uuid.uuid4().hex, workspace_id="ws", base_branch="main", branch="polygent/x",
        **kw,
    )  # fmt: skip


@pytest.fixture
def stubs() -> Stubs:
    return Stubs(results=[])


async def _workers(env: WorkflowEnvironment, stubs: Stubs) -> tuple[Worker, Worker]:
    orchestrator = Worker(
        env.client, task_queue=ORCHESTRATOR_QUEUE, workflows=[SessionWorkflow],
        activities=stubs.activities(),
    )  # fmt: skip
    host = Worker(env.client, task_queue=agent_queue(HOST), activities=stubs.host_activities())
    return orchestrator, host


async def test_a_rate_limit_sleeps_until_the_reset_then_retries_the_message(
    time_skipping_env: WorkflowEnvironment, stubs: Stubs
) -> None:
    limited = TurnResult(ok=False, outcome="error", error="429", retry_after_seconds=3600)
    stubs.results = [limited, TurnResult(ok=True, final_text="done", usage=Usage(input=1))]
    orchestrator, host = await _workers(time_skipping_env, stubs)
    async with orchestrator, host:
        handle = await _run(time_skipping_env, stubs, _state())
        await wait_for(lambda: "rate_limited" in stubs.subtypes(), what="the rate-limit note")
        assert len(stubs.turns) == 1
        await time_skipping_env.sleep(3600)  # the durable sleep ends at the reset time
        await wait_for(lambda: len(stubs.turns) >= 2, timeout=60, what="the retried turn")
        assert [t.request.prompt for t in stubs.turns] == ["Go", "Go"]
        notes = [e for e in stubs.emitted if e.data.get("subtype") == "rate_limited"]
        assert len(notes) == 1 and "waiting until" in notes[0].data["text"]
        assert not [e for e in stubs.emitted if e.kind == "error"], "a rate limit is no failure"
        await handle.execute_update(SessionWorkflow.complete)
        assert await handle.result() == "done"


async def test_a_spent_budget_cancels_before_the_agent_runs(
    time_skipping_env: WorkflowEnvironment, stubs: Stubs
) -> None:
    stubs.context = TurnContext(blocked="The monthly budget of this workspace ($1.00) is spent.")
    orchestrator, host = await _workers(time_skipping_env, stubs)
    async with orchestrator, host:
        handle = await _run(time_skipping_env, stubs, _state())
        assert await handle.result() == "canceled"
        assert stubs.turns == []
        budget = [e for e in stubs.emitted if e.data.get("subtype") == "budget"]
        assert budget and "is spent" in budget[0].data["text"]


async def test_a_budget_stop_mid_turn_cancels_but_a_review_pass_never_does(
    time_skipping_env: WorkflowEnvironment, stubs: Stubs
) -> None:
    stubs.context = TurnContext(remaining_usd=0.5)
    over = TurnResult(ok=False, outcome="budget_exceeded", error="The turn reached its budget.")
    # The implementation turn finishes; the Code Review pass goes over but is only a pass.
    stubs.results = [TurnResult(ok=True, final_text="built"), over]
    orchestrator, host = await _workers(time_skipping_env, stubs)
    async with orchestrator, host:
        handle = await _run(
            time_skipping_env, stubs, _state(mode="develop", toggles=["code_review"])
        )
        await wait_for(lambda: len(stubs.turns) >= 2, timeout=60, what="the review pass")
        assert stubs.turns[0].request.budget_usd == 0.5
        assert stubs.turns[1].request.budget_usd is None, "passes are not capped"
        view = await handle.query(SessionWorkflow.view)
        assert view.status != "canceled"
        # A user's turn that crosses the budget cancels the session with a system message.
        stubs.results = [over]
        await handle.execute_update(SessionWorkflow.send_message, SendMessage(text="More"))
        assert await handle.result() == "canceled"
        assert "budget" in stubs.subtypes()

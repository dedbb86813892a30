"""SessionWorkflow (`session-<id>`): one agent conversation in its own worktree on one host.

It picks a host once (capacity-aware) and routes every worktree activity to that host's queue;
a turn waits in the queue while the host is offline and goes on when it returns. Messages,
cancel, reset and complete are updates; the running turn is an activity the cancel update
cancels at once. Auto mode queues "continue" turns until the agent keeps its completion
promise or the turn limit is reached; Code Review and Verification run as extra passes after
implementation. All state is `SessionState`, so continue-as-new carries it on unchanged.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, FailureError

with workflow.unsafe.imports_passed_through():
    from orchestrator.contracts.agent import TurnInput, TurnRequest, TurnResult
    from orchestrator.contracts.sessions import (
        ChooseHostInput,
        EmitInput,
        HostChoice,
        PendingMessage,
        SendMessage,
        SessionSettings,
        SessionState,
        SessionView,
        StatusUpdate,
        TurnContext,
        TurnContextInput,
        TurnRecord,
    )
    from orchestrator.contracts.tickets import ImplementationFinished
    from orchestrator.contracts.worktrees import (
        PreparedWorktree,
        PrepareWorktreeInput,
        RemoveResult,
        WorktreeKey,
    )
    from orchestrator.queues import SA_HOST, agent_queue
    from orchestrator.sessions.prompts import AUTO_CONTINUE, passes_after, says_done, turn_prompt
    from workflows.hooks import run_session_hooks

CONTROL = timedelta(seconds=30)
CONTROL_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30)
)
HOST_RETRY_SECONDS = 10
TURN_ATTEMPTS = 5
BUDGET_STOP = " The session was canceled; raise the budget to go on."
NON_RETRYABLE_TURN = ["InvalidTurnInput", "ProviderCheckFailed", "SecretUnavailable"]


@workflow.defn
class SessionWorkflow:
    @workflow.init
    def __init__(self, state: SessionState) -> None:
        # Set here, not in run(): an update may be handled before run() first executes.
        self.state = state
        self.turn_task: asyncio.Task[Any] | None = None
        self.running = False

    # -- the main loop -------------------------------------------------------------------------

    @workflow.run
    async def run(self, state: SessionState) -> str:
        s = self.state
        try:
            if not s.canceled and not s.completed and not await self._placed():
                s.canceled = True
            runs_here = 0
            while not (s.canceled or s.completed):
                await workflow.wait_condition(
                    lambda: bool(s.pending) or s.canceled or s.completed or s.reset_requested
                )
                if s.reset_requested:
                    await self._reset()
                    continue
                if s.canceled or s.completed:
                    break
                message = s.pending.pop(0)
                await self._turn(message)
                if not (s.canceled or s.completed):
                    await self._tell_ticket()
                runs_here += 1
                if runs_here >= s.turns_per_run or workflow.info().is_continue_as_new_suggested():
                    await workflow.wait_condition(workflow.all_handlers_finished)
                    if not (s.canceled or s.completed):
                        workflow.continue_as_new(s)
        except asyncio.CancelledError:
            # Cancelled from Temporal itself: end like the cancel update would, then stop.
            s.canceled = True
        await self._finish()
        return s.status

    async def _placed(self) -> bool:
        """Pick a host (waiting while none fits) and prepare the worktree; False if it cannot."""
        s = self.state
        if s.host_id is None:
            told = False
            while s.host_id is None:
                choice: HostChoice = await self._control(
                    "sessions.choose_host",
                    ChooseHostInput(
                        session_id=s.session_id, workspace_id=s.workspace_id, provider=s.provider
                    ),
                    HostChoice,
                )
                if choice.host_id:
                    s.host_id = choice.host_id
                    break
                if not told:
                    await self._emit("system", subtype="waiting_for_host", text=choice.reason)
                    told = True
                if await self._wait_or_end(HOST_RETRY_SECONDS):
                    return False
            workflow.upsert_search_attributes([SA_HOST.value_set(s.host_id)])
            await self._status(s.status)
        if s.worktree_path is None:
            try:
                prepared = await self._prepare()
            except ActivityError as err:
                await self._emit("error", text=f"The worktree could not be prepared: {_why(err)}")
                return False
            if prepared is None:
                return False
            s.worktree_path = prepared.path
            await self._emit(
                "system", subtype="worktree",
                text=f"Worktree ready on {s.host_id}: branch {s.branch} from {s.base_branch}.",
            )  # fmt: skip
            await run_session_hooks(s.session_id, s.host_id, "session_created")
        return True

    async def _prepare(self) -> PreparedWorktree | None:
        """Prepare the worktree; each try gets a fresh single-use credential reference."""
        s = self.state
        assert s.host_id is not None
        for _ in range(10):
            inp: PrepareWorktreeInput = await self._control(
                "sessions.worktree_input", TurnContextInput(session_id=s.session_id),
                PrepareWorktreeInput,
            )  # fmt: skip
            try:
                prepared: PreparedWorktree = await workflow.execute_activity(
                    "worktree.prepare", inp, result_type=PreparedWorktree,
                    task_queue=agent_queue(s.host_id),
                    start_to_close_timeout=timedelta(seconds=inp.timeout_seconds + 60),
                    heartbeat_timeout=timedelta(seconds=120),
                    retry_policy=RetryPolicy(maximum_attempts=1),
                )  # fmt: skip
                return prepared
            except ActivityError as err:
                cause = err.cause
                if (
                    isinstance(cause, ApplicationError)
                    and cause.non_retryable
                    and cause.type != "SecretUnavailable"
                ):
                    raise
                await workflow.sleep(HOST_RETRY_SECONDS)
            if s.canceled or s.completed:
                return None
        raise ApplicationError("The worktree could not be prepared after 10 tries.")

    async def _turn(self, message: PendingMessage) -> None:
        s = self.state
        assert s.host_id is not None and s.worktree_path is not None
        s.turn += 1
        if message.kind == "user":
            s.auto_turns = 0
        if s.turn == 1:
            await run_session_hooks(s.session_id, s.host_id, "session_started")
        await self._status("in_progress")
        context: TurnContext = await self._control(
            "sessions.turn_context", TurnContextInput(session_id=s.session_id), TurnContext
        )
        gated = message.kind in ("user", "auto")  # passes count but never cancel the session
        if gated and context.blocked:
            await self._emit("system", subtype="budget", text=context.blocked + BUDGET_STOP)
            s.canceled = True
            s.ticket_summary = context.blocked
            return
        request = TurnRequest(
            provider=s.provider, model=s.model,
            prompt=turn_prompt(message, list(s.toggles), s.dev_mode == "auto"),
            system_prompt_append=context.system_prompt or None,
            budget_usd=_least(s.budget_usd, context.remaining_usd) if gated else None,
            price=context.price, budget_gated=gated, resume_session_id=s.provider_session_id,
            worktree=s.worktree_path, home="", turn=s.turn,
        )  # fmt: skip
        inp = TurnInput(
            session_id=s.session_id, worktree_path=s.worktree_path, request=request,
            session_env=True, attachments=message.attachments,
        )  # fmt: skip
        self.running = True
        self.turn_task = asyncio.ensure_future(
            workflow.execute_activity(
                "agent.run_turn", inp, result_type=TurnResult,
                task_queue=agent_queue(s.host_id),
                start_to_close_timeout=timedelta(hours=6),
                heartbeat_timeout=timedelta(seconds=s.heartbeat_timeout_seconds),
                retry_policy=RetryPolicy(
                    maximum_attempts=TURN_ATTEMPTS, initial_interval=timedelta(seconds=1),
                    non_retryable_error_types=NON_RETRYABLE_TURN,
                ),
                cancellation_type=workflow.ActivityCancellationType.TRY_CANCEL,
            )
        )  # fmt: skip
        result: TurnResult | None = None
        try:
            result = await self.turn_task
        except asyncio.CancelledError:
            if not s.canceled:
                raise
        except ActivityError as err:
            await self._emit("error", text=f"The turn failed: {_why(err)}")
            if gated:
                s.ticket_outcome, s.ticket_summary = "failed", f"The turn failed: {_why(err)}"
        finally:
            self.running = False
            self.turn_task = None
        if result is not None:
            await self._after_turn(message, result)
        if not (s.canceled or s.completed):
            await self._status("waiting")
        await run_session_hooks(s.session_id, s.host_id, "turn_completed")

    async def _after_turn(self, message: PendingMessage, result: TurnResult) -> None:
        s = self.state
        if result.provider_session_id:
            s.provider_session_id = result.provider_session_id
        u = result.usage
        await self._control(
            "sessions.record_turn",
            TurnRecord(
                session_id=s.session_id, turn=s.turn, ok=result.ok, input_tokens=u.input,
                output_tokens=u.output, cache_read_tokens=u.cache_read,
                cache_write_tokens=u.cache_write, cost_usd=result.cost_usd, model=result.model,
            ),
            None,
        )  # fmt: skip
        if not result.ok:
            if result.outcome == "budget_exceeded" and message.kind in ("user", "auto"):
                await self._emit(
                    "system", subtype="budget",
                    text=(result.error or "The budget was reached.") + BUDGET_STOP,
                )  # fmt: skip
                s.canceled = True
            elif result.retry_after_seconds:
                await self._rate_limited(message, result.retry_after_seconds)
            elif result.outcome != "canceled":
                await self._emit("error", text=result.error or "The turn failed.")
            if message.kind in ("user", "auto") and not result.retry_after_seconds:
                s.ticket_outcome, s.ticket_summary = "failed", result.error or "The turn failed."
            return
        if message.kind not in ("user", "auto"):
            return
        s.ticket_outcome, s.ticket_summary = "done", (result.final_text or "")[-4000:]
        finished = True
        if s.dev_mode == "auto" and not says_done(result.final_text):
            if s.auto_turns < s.auto_turn_limit:
                if not s.pending:
                    s.auto_turns += 1
                    s.pending.append(PendingMessage(text=AUTO_CONTINUE, kind="auto"))
                finished = False
            else:  # stopped short of done: the person decides what follows, so no passes yet
                finished = False
                s.ticket_outcome = "incomplete"
                await self._emit(
                    "system", subtype="auto_limit",
                    text=f"Auto mode stopped after {s.auto_turn_limit} turns (the turn limit).",
                )  # fmt: skip
        if finished and s.mode == "develop":
            s.pending.extend(passes_after(list(s.toggles), s.base_branch))

    async def _rate_limited(self, message: PendingMessage, seconds: float) -> None:
        """Sleep (durably) until the provider's reset time, then take the same message again;
        a rate limit is not a failure."""
        s = self.state
        until = workflow.now() + timedelta(seconds=seconds)
        await self._emit(
            "system", subtype="rate_limited", until=until.isoformat(),
            text=f"Rate limited by the provider: waiting until {until:%H:%M} UTC.",
        )  # fmt: skip
        if not await self._wait_or_end(seconds):
            s.pending.insert(0, message)

    async def _reset(self) -> None:
        s = self.state
        s.reset_requested = False
        s.provider_session_id = None
        await self._emit(
            "system", subtype="reset",
            text="Context reset: the next message starts a fresh conversation in this worktree.",
        )  # fmt: skip

    async def _finish(self) -> None:
        s = self.state
        s.pending.clear()
        if s.canceled:
            await self._tell_ticket()
        s.status = "canceled" if s.canceled else "done"
        await self._status(s.status)
        if s.host_id is None or s.worktree_path is None:
            return
        await run_session_hooks(
            s.session_id, s.host_id, "session_canceled" if s.canceled else "session_done"
        )
        if s.mode == "develop" or s.dispose:
            try:
                removed: RemoveResult = await workflow.execute_activity(
                    "worktree.remove", WorktreeKey(workspace_id=s.workspace_id,
                                                   worktree_id=s.session_id),
                    result_type=RemoveResult, task_queue=agent_queue(s.host_id),
                    start_to_close_timeout=timedelta(minutes=10),
                    heartbeat_timeout=timedelta(seconds=60),
                    retry_policy=RetryPolicy(maximum_attempts=5),
                )  # fmt: skip
            except ActivityError as err:
                await self._emit("error", text=f"The worktree was not removed: {_why(err)}")
                return
            saved = (
                f" (uncommitted work saved at {removed.checkpoint.ref})"
                if (removed.checkpoint)
                else ""
            )
            await self._emit("system", subtype="worktree_removed", text="Worktree removed" + saved)

    # -- helpers -------------------------------------------------------------------------------

    async def _tell_ticket(self) -> None:
        """Tell the ticket this session implements that the work stopped (nothing is queued
        any more, or the session was canceled); only sessions of a ticket do this."""
        s = self.state
        if s.ticket_id is None or s.completed or (s.pending and not s.canceled):
            return
        done = ImplementationFinished(
            session_id=s.session_id, turn=s.turn, summary=s.ticket_summary,
            outcome="canceled" if s.canceled else s.ticket_outcome,
        )  # fmt: skip
        try:
            await workflow.get_external_workflow_handle(f"ticket-{s.ticket_id}").signal(
                "implementation_finished", done
            )
        except FailureError:  # the ticket has ended (it ended this session itself)
            workflow.logger.info("Ticket %s has ended; not told.", s.ticket_id)

    async def _wait_or_end(self, seconds: float) -> bool:
        """Sleep up to `seconds`; True when the session was canceled or completed meanwhile."""
        s = self.state
        try:
            await workflow.wait_condition(
                lambda: s.canceled or s.completed, timeout=timedelta(seconds=seconds)
            )
        except TimeoutError:
            return False
        return True

    async def _control(self, name: str, arg: object, out: type[Any] | None) -> Any:
        return await workflow.execute_activity(
            name, arg, result_type=out, start_to_close_timeout=CONTROL, retry_policy=CONTROL_RETRY
        )

    async def _emit(self, kind: str, **data: Any) -> None:
        s = self.state
        s.event_seq += 1
        clean = {k: v for k, v in data.items() if v is not None}
        await self._control(
            "sessions.emit",
            EmitInput(session_id=s.session_id, turn=s.turn, seq=s.event_seq, kind=kind, data=clean),
            None,
        )

    async def _status(self, status: str) -> None:
        s = self.state
        s.status = status  # type: ignore[assignment]
        await self._control(
            "sessions.update",
            StatusUpdate(
                session_id=s.session_id, status=s.status, host_id=s.host_id, turns=s.turn,
                dev_mode=s.dev_mode, auto_turn_limit=s.auto_turn_limit, toggles=list(s.toggles),
            ),
            None,
        )  # fmt: skip
        await self._emit("system", subtype="status", status=status)

    def _open(self) -> None:
        s = self.state
        if s.canceled or s.completed:
            raise ValueError(f"The session is already {'canceled' if s.canceled else 'done'}.")

    # -- updates and the query -----------------------------------------------------------------

    @workflow.update
    async def send_message(self, msg: SendMessage) -> int:
        """Queue a message; its transcript entry is stored before the update returns."""
        s = self.state
        s.event_seq += 1
        seq = s.event_seq
        await self._control(
            "sessions.emit",
            EmitInput(
                session_id=s.session_id, turn=s.turn, seq=seq, kind="user",
                data={"text": msg.text, "author": msg.author, "author_id": msg.author_id,
                      "attachments": [a.model_dump() for a in msg.attachments]},
            ),
            None,
        )  # fmt: skip
        s.pending.append(
            PendingMessage(
                text=msg.text, author=msg.author, author_id=msg.author_id,
                attachments=msg.attachments,
            )
        )  # fmt: skip
        return len(s.pending)

    @send_message.validator
    def _check_send(self, msg: SendMessage) -> None:
        self._open()

    @workflow.update
    async def cancel(self) -> str:
        """Cancel the session; a running turn's process group is killed at once."""
        s = self.state
        s.canceled = True
        if self.turn_task is not None and not self.turn_task.done():
            self.turn_task.cancel()
        return "canceled"

    @cancel.validator
    def _check_cancel(self) -> None:
        self._open()

    @workflow.update
    async def complete(self) -> str:
        """Mark the session done once the running turn (if any) ends."""
        self.state.completed = True
        return "done"

    @complete.validator
    def _check_complete(self) -> None:
        self._open()

    @workflow.update
    async def reset_context(self) -> str:
        """Start a fresh provider conversation (same worktree) with the next message."""
        self.state.reset_requested = True
        return "reset"

    @reset_context.validator
    def _check_reset(self) -> None:
        self._open()

    @workflow.update
    async def configure(self, change: SessionSettings) -> SessionView:
        """Switch Manual/Auto, the turn limit or the toggles; Auto goes on at once when idle."""
        s = self.state
        became_auto = change.dev_mode == "auto" and s.dev_mode != "auto"
        if change.dev_mode is not None:
            s.dev_mode = change.dev_mode
        if change.auto_turn_limit is not None:
            s.auto_turn_limit = change.auto_turn_limit
        if change.toggles is not None:
            s.toggles = list(dict.fromkeys(change.toggles))
        if became_auto and s.turn > 0 and not self.running and not s.pending:
            s.auto_turns = 1
            s.pending.append(PendingMessage(text=AUTO_CONTINUE, kind="auto"))
        if not self.running:
            await self._status(s.status)
        return self.view()

    @configure.validator
    def _check_configure(self, change: SessionSettings) -> None:
        self._open()

    @workflow.update
    async def dispose(self) -> str:
        """End the session (canceling a running turn) and remove its worktree, whatever the mode."""
        s = self.state
        s.dispose = True
        if not (s.canceled or s.completed):
            s.canceled = True
            if self.turn_task is not None and not self.turn_task.done():
                self.turn_task.cancel()
        return "disposed"

    @workflow.query
    def view(self) -> SessionView:
        s = self.state
        return SessionView(
            status=s.status, turn=s.turn, running=self.running, host_id=s.host_id,
            dev_mode=s.dev_mode, auto_turn_limit=s.auto_turn_limit, auto_turns=s.auto_turns,
            toggles=list(s.toggles), pending=len(s.pending),
            provider_session_id=s.provider_session_id,
        )  # fmt: skip


def _least(a: float | None, b: float | None) -> float | None:
    known = [x for x in (a, b) if x is not None]
    return max(min(known), 0.000001) if known else None


def _why(err: ActivityError) -> str:
    cause = err.cause
    while isinstance(cause, ActivityError) and cause.cause is not None:
        cause = cause.cause
    return str(cause or err)

"""Orchestrator-queue activities of SessionWorkflow: each one database unit of work."""

from __future__ import annotations

from temporalio import activity
from temporalio.exceptions import ApplicationError

from orchestrator.contracts.sessions import (
    ChooseHostInput,
    EmitInput,
    HostChoice,
    StatusUpdate,
    TurnContext,
    TurnContextInput,
    TurnRecord,
)
from orchestrator.contracts.worktrees import PrepareWorktreeInput
from orchestrator.db import Database
from orchestrator.events import EventBus
from orchestrator.security.crypto import SecretBox
from orchestrator.sessions.control import SessionControl, SessionGone


def _gone(exc: SessionGone) -> ApplicationError:
    return ApplicationError(f"The session {exc} no longer exists.", type="SessionGone",
                            non_retryable=True)  # fmt: skip


class SessionControlActivities:
    """`bus` is the API's event bus when both run in one process (`polygent up`); elsewhere the
    API's WebSocket finds workflow events by reading the database."""

    def __init__(self, db: Database, box: SecretBox, bus: EventBus | None = None) -> None:
        self.db = db
        self.box = box
        self.bus = bus

    @activity.defn(name="sessions.choose_host")
    async def choose_host(self, inp: ChooseHostInput) -> HostChoice:
        try:
            async with self.db.session() as s:
                choice = await SessionControl(s, self.box).choose_host(inp)
                await s.commit()
        except SessionGone as exc:
            raise _gone(exc) from None
        if choice.host_id:
            activity.logger.info("Session %s runs on host %s.", inp.session_id, choice.host_id)
        return choice

    @activity.defn(name="sessions.worktree_input")
    async def worktree_input(self, inp: TurnContextInput) -> PrepareWorktreeInput:
        try:
            async with self.db.session() as s:
                out = await SessionControl(s, self.box).worktree_input(inp.session_id)
                await s.commit()
        except SessionGone as exc:
            raise _gone(exc) from None
        return out

    @activity.defn(name="sessions.emit")
    async def emit(self, inp: EmitInput) -> None:
        async with self.db.session() as s:
            new = await SessionControl(s, self.box).emit(inp)
            await s.commit()
        if new and self.bus is not None:
            self.bus.publish(
                {"type": "session.events", "session_id": inp.session_id,
                 "events": [e.model_dump() for e in new]}
            )  # fmt: skip

    @activity.defn(name="sessions.update")
    async def update(self, inp: StatusUpdate) -> None:
        async with self.db.session() as s:
            await SessionControl(s, self.box).update(inp)
            await s.commit()
        if self.bus is not None:
            self.bus.publish(
                {"type": "session.updated", "session_id": inp.session_id, "status": inp.status}
            )

    @activity.defn(name="sessions.turn_context")
    async def turn_context(self, inp: TurnContextInput) -> TurnContext:
        try:
            async with self.db.session() as s:
                return await SessionControl(s, self.box).turn_context(inp.session_id)
        except SessionGone as exc:
            raise _gone(exc) from None

    @activity.defn(name="sessions.record_turn")
    async def record_turn(self, inp: TurnRecord) -> None:
        async with self.db.session() as s:
            await SessionControl(s, self.box).record_turn(inp)
            await s.commit()

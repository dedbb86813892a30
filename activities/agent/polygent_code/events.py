"""The built-in agent's side of the runner contract: numbered, redacted events handed to
`on_events` as they happen, and heartbeats on a timer.

`run_cli` numbers a CLI's stdout events; here the agent loop produces the events itself, so
this sink does the same job: `seq` counts up per (turn, attempt) from `start_seq`, every string
is redacted of the turn's secrets, and `heartbeat(seq)` runs every `interval` seconds even
while a model call or a tool is busy (the activity must not look dead during a long step).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections import deque
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import TYPE_CHECKING, Any

from orchestrator.contracts.agent import AgentEvent
from orchestrator.logs import REDACTOR, Redactor

if TYPE_CHECKING:  # the runner imports the adapter registry, which imports us
    from activities.agent.runner import Heartbeat, OnEvents


class EmitFailed(Exception):
    """`on_events` raised (events not posted, a budget reached): the turn ends with that error;
    it is never mistaken for the failure of a tool."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


def _scrub(value: Any, clean: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return clean(value)
    if isinstance(value, dict):
        return {k: _scrub(v, clean) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(v, clean) for v in value]
    return value


class EventSink:
    def __init__(
        self,
        on_events: OnEvents,
        *,
        turn: int,
        attempt: int,
        start_seq: int = 0,
        heartbeat: Heartbeat | None = None,
        heartbeat_interval: float = 1.0,
        secrets: Iterable[str] = (),
        keep_events: int = 200,
    ) -> None:
        self.on_events = on_events
        self.turn = turn
        self.attempt = attempt
        self.seq = start_seq
        self.heartbeat = heartbeat
        self.interval = heartbeat_interval
        self.tail: deque[AgentEvent] = deque(maxlen=keep_events)
        self.redactor = Redactor()
        for value in secrets:
            self.redactor.add(value)
        self._lock = asyncio.Lock()
        self._ticker: asyncio.Task[None] | None = None
        self._failure: BaseException | None = None

    def clean(self, text: str) -> str:
        return REDACTOR.redact(self.redactor.redact(text))

    async def emit(self, events: Iterable[AgentEvent]) -> None:
        if self._failure is not None:
            raise self._failure
        batch: list[AgentEvent] = []
        for event in events:
            self.seq += 1
            data = _scrub(event.model_dump(), self.clean)
            data.update(seq=self.seq, turn=self.turn, attempt=self.attempt)
            numbered = AgentEvent.model_validate(data)
            batch.append(numbered)
            self.tail.append(numbered)
        if batch:
            async with self._lock:
                try:
                    await self.on_events(batch)
                except Exception as exc:
                    raise EmitFailed(exc) from exc

    async def _beat(self) -> None:
        if self.heartbeat is not None:
            result = self.heartbeat(self.seq)
            if inspect.isawaitable(result):
                await result

    async def _tick(self) -> None:
        try:
            while True:
                await asyncio.sleep(self.interval)
                await self._beat()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # surfaced on the next emit
            self._failure = exc

    async def __aenter__(self) -> EventSink:
        await self._beat()
        self._ticker = asyncio.create_task(self._tick())
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker

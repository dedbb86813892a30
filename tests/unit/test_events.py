"""The live-update bus: every subscriber gets every event; a stalled one is cut off cleanly."""

from __future__ import annotations

import pytest

from orchestrator.events import EventBus

pytestmark = pytest.mark.foundation


async def test_each_subscriber_gets_each_event() -> None:
    bus = EventBus()
    async with bus.subscribe() as a, bus.subscribe() as b:
        bus.publish({"type": "x", "n": 1})
        assert await a.get() == {"type": "x", "n": 1}
        assert await b.get() == {"type": "x", "n": 1}
    assert bus.subscriber_count == 0


async def test_stalled_subscriber_gets_end_marker_and_others_continue() -> None:
    bus = EventBus(queue_size=3)
    async with bus.subscribe() as slow, bus.subscribe() as fast:
        for n in range(4):
            bus.publish({"n": n})
            assert (await fast.get())["n"] == n
        assert await slow.get() is None  # told to reconnect, its stale backlog dropped
        assert slow.empty() and bus.subscriber_count == 1
        bus.publish({"n": 9})
        assert (await fast.get())["n"] == 9 and slow.empty()

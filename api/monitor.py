"""Background duties of the API: noticing hosts that stopped heartbeating."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta

from api.internal.hosts import publish_changes
from api.state import AppState
from orchestrator.hosts.service import HostService

log = logging.getLogger(__name__)


async def offline_monitor(state: AppState, stop: asyncio.Event) -> None:
    """Mark workers offline once their last heartbeat is older than the configured limit."""
    s = state.settings
    after = timedelta(seconds=s.host_offline_after_seconds)
    interval = min(s.heartbeat_interval_seconds, s.host_offline_after_seconds / 3)
    while not stop.is_set():
        try:
            async with state.db.session() as session:
                changes = await HostService(session, state.pepper).mark_stale_offline(after)
            publish_changes(state, changes)
        except Exception as exc:
            log.warning("Offline check failed: %s.", exc)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)

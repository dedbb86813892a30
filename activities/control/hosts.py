"""Orchestrator-queue activities for hosts: they own the database unit of work."""

from __future__ import annotations

from temporalio import activity
from temporalio.exceptions import ApplicationError

from orchestrator.contracts.hosts import ProbeInput, ProbeRecord
from orchestrator.db import Database
from orchestrator.hosts.service import HostService
from orchestrator.security.keys import Keyring


class HostControlActivities:
    def __init__(self, db: Database, pepper: Keyring) -> None:
        self.db = db
        self.pepper = pepper

    @activity.defn(name="hosts.pick_probe_host")
    async def pick_probe_host(self, inp: ProbeInput) -> str:
        async with self.db.session() as s:
            try:
                return await HostService(s, self.pepper).pick_probe_host(inp.host_id)
            except LookupError as exc:
                raise ApplicationError(str(exc), type="NoHost", non_retryable=True) from None

    @activity.defn(name="hosts.record_probe")
    async def record_probe(self, rec: ProbeRecord) -> None:
        async with self.db.session() as s:
            await HostService(s, self.pepper).record_probe(rec)
        activity.logger.info("Recorded probe of host %s: %s.", rec.host_id, rec.status)

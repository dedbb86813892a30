"""All SQL for hosts, their workers, API keys and probes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from orchestrator.hosts.models import Host, HostApiKey, HostProbe, HostWorker


class HostRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get_host(self, host_id: str) -> Host | None:
        return await self.session.get(Host, host_id)

    async def add_host(self, host: Host) -> Host:
        self.session.add(host)
        await self.session.flush()
        return host

    async def list_hosts(self) -> list[Host]:
        return list(await self.session.scalars(select(Host).order_by(Host.id)))

    async def get_worker(self, host_id: str, kind: str) -> HostWorker | None:
        return await self.session.scalar(
            select(HostWorker).where(HostWorker.host_id == host_id, HostWorker.kind == kind)
        )

    async def add_worker(self, worker: HostWorker) -> HostWorker:
        self.session.add(worker)
        await self.session.flush()
        return worker

    async def list_workers(self) -> list[HostWorker]:
        return list(
            await self.session.scalars(
                select(HostWorker).order_by(HostWorker.host_id, HostWorker.kind)
            )
        )

    async def stale_online_workers(self, before: datetime) -> list[HostWorker]:
        return list(
            await self.session.scalars(
                select(HostWorker).where(
                    HostWorker.online.is_(True), HostWorker.last_heartbeat_at < before
                )
            )
        )

    async def get_key(self, key_id: str) -> HostApiKey | None:
        return await self.session.get(HostApiKey, key_id)

    async def add_key(self, key: HostApiKey) -> HostApiKey:
        self.session.add(key)
        await self.session.flush()
        return key

    async def revoke_keys_named(self, name: str, at: datetime) -> int:
        res = await self.session.execute(
            update(HostApiKey)
            .where(HostApiKey.name == name, HostApiKey.revoked_at.is_(None))
            .values(revoked_at=at)
        )
        return int(res.rowcount)  # type: ignore[attr-defined]

    async def add_probe(self, probe: HostProbe) -> HostProbe:
        self.session.add(probe)
        await self.session.flush()
        return probe

    async def latest_probes(self) -> dict[str, HostProbe]:
        rows = await self.session.scalars(
            select(HostProbe).order_by(HostProbe.finished_at.desc()).limit(200)
        )
        latest: dict[str, HostProbe] = {}
        for p in rows:
            latest.setdefault(p.host_id, p)
        return latest

    async def get_probe_by_workflow(self, workflow_id: str) -> HostProbe | None:
        return await self.session.scalar(
            select(HostProbe).where(HostProbe.workflow_id == workflow_id)
        )

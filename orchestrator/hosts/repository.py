"""All SQL for hosts, their workers, API keys and probes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import inspect as sa_inspect
from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from orchestrator.base import Base, utcnow
from orchestrator.hosts.models import Host, HostApiKey, HostProbe, HostWorker


def _stamps() -> dict[str, datetime]:
    now = utcnow()
    return {"created_at": now, "updated_at": now}


class HostRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get_host(self, host_id: str) -> Host | None:
        return await self.session.get(Host, host_id)

    async def _insert_if_absent(self, model: type[Base], values: dict[str, Any]) -> bool:
        """INSERT ... ON CONFLICT DO NOTHING: concurrent registrations never collide."""
        insert = sqlite_insert if self.session.get_bind().dialect.name == "sqlite" else pg_insert
        pk = next(iter(sa_inspect(model).primary_key))
        stmt = insert(model).values(**values).on_conflict_do_nothing().returning(pk)
        return (await self.session.execute(stmt)).first() is not None

    async def ensure_host(self, host_id: str, name: str) -> tuple[Host, bool]:
        """The host row, created if missing; True when this call created it."""
        created = await self._insert_if_absent(Host, {"id": host_id, "name": name, **_stamps()})
        host = await self.session.get(Host, host_id, populate_existing=True)
        assert host is not None
        return host, created

    async def ensure_worker(self, host_id: str, kind: str, task_queue: str) -> HostWorker:
        await self._insert_if_absent(
            HostWorker,
            {"host_id": host_id, "kind": kind, "task_queue": task_queue, "online": False,
             "version": "", "info": {}, "registered_at": utcnow()},
        )  # fmt: skip
        worker = await self.get_worker(host_id, kind)
        assert worker is not None
        return worker

    async def host_of_key(self, key_id: str, kind: str) -> str | None:
        """The host whose `kind` worker registered with this key, if any."""
        found = await self.session.scalar(
            select(HostWorker.host_id).where(
                HostWorker.api_key_id == key_id, HostWorker.kind == kind
            ).limit(1)
        )  # fmt: skip
        return str(found) if found is not None else None

    async def lock_host(self, host_id: str) -> Host | None:
        """The host row, locked until commit (PostgreSQL; SQLite serialises writers anyway)."""
        return await self.session.scalar(select(Host).where(Host.id == host_id).with_for_update())

    async def list_hosts(self) -> list[Host]:
        return list(await self.session.scalars(select(Host).order_by(Host.id)))

    async def get_worker(self, host_id: str, kind: str) -> HostWorker | None:
        return await self.session.scalar(
            select(HostWorker).where(HostWorker.host_id == host_id, HostWorker.kind == kind)
        )

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

"""Host logic: minting and verifying API keys, registration, heartbeats, offline detection.

Keys look like `pgk_<8-hex id>_<secret>`; only HMAC-SHA256(pepper, key) is stored, the pepper
derived from the master key (never in the database). HMAC, not argon2: the keys are 256-bit
random, and every heartbeat verifies one.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from orchestrator.audit.repository import AuditRepository
from orchestrator.base import utcnow
from orchestrator.contracts.hosts import ProbeRecord
from orchestrator.hosts.models import HostApiKey, HostProbe, HostWorker
from orchestrator.hosts.repository import HostRepository
from orchestrator.hosts.schemas import (
    HeartbeatRequest,
    HostOut,
    ProbeOut,
    RegisterRequest,
    WorkerOut,
)
from orchestrator.queues import agent_queue, deploy_queue
from orchestrator.security.keys import Keyring

log = logging.getLogger(__name__)
KEY_PREFIX = "pgk_"


class HostAuthError(Exception):
    """The host's key is unknown, wrong, expired, revoked or of the wrong type (HTTP 401/403)."""

    def __init__(self, message: str, status: int = 401) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class StatusChange:
    host_id: str
    kind: str
    online: bool


def host_id_for(name: str) -> str:
    return name.lower()


def queue_for(host_id: str, kind: str) -> str:
    return agent_queue(host_id) if kind == "session" else deploy_queue(host_id)


class HostService:
    def __init__(self, session: AsyncSession, pepper: Keyring) -> None:
        self.repo = HostRepository(session)
        self.audit = AuditRepository(session)
        self.pepper = pepper

    def _hash(self, plaintext: str, kid: str) -> str:
        return hmac.new(self.pepper.keys[kid], plaintext.encode(), hashlib.sha256).hexdigest()

    async def mint_key(
        self,
        name: str,
        host_type: str,
        *,
        expires_at: datetime | None = None,
        created_by: str | None = None,
        revoke_same_name: bool = False,
    ) -> tuple[HostApiKey, str]:
        """Create a key; the plaintext is returned once and never stored."""
        if revoke_same_name:
            await self.repo.revoke_keys_named(name, utcnow())
        key_id = secrets.token_hex(4)
        plaintext = f"{KEY_PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
        row = HostApiKey(
            id=key_id,
            name=name,
            host_type=host_type,
            key_hash=self._hash(plaintext, self.pepper.primary),
            pepper_kid=self.pepper.primary,
            expires_at=expires_at,
            created_by=created_by,
        )
        await self.repo.add_key(row)
        await self.audit.add(
            "host_key.created",
            actor_type="user" if created_by else "system",
            actor_id=created_by,
            target_type="host_api_key",
            target_id=key_id,
            details={"name": name, "host_type": host_type},
        )
        return row, plaintext

    async def verify_key(self, plaintext: str, now: datetime | None = None) -> HostApiKey:
        """The key's row if it is valid now; one message for every failure (no oracle)."""
        now = now or utcnow()
        parts = plaintext.split("_", 2) if plaintext.startswith(KEY_PREFIX) else []
        row = await self.repo.get_key(parts[1]) if len(parts) == 3 else None
        if row is None or row.pepper_kid not in self.pepper.keys:
            raise HostAuthError("Invalid host API key.")
        if not hmac.compare_digest(row.key_hash, self._hash(plaintext, row.pepper_kid)):
            row.failure_count += 1
            raise HostAuthError("Invalid host API key.")
        if row.revoked_at is not None:
            row.failure_count += 1
            raise HostAuthError("This host API key has been revoked.")
        if row.expires_at is not None and row.expires_at <= now:
            row.failure_count += 1
            raise HostAuthError("This host API key has expired.")
        row.success_count += 1
        row.last_used_at = now
        return row

    async def register(
        self, key: HostApiKey, req: RegisterRequest, ip: str | None
    ) -> tuple[HostWorker, list[StatusChange]]:
        if key.host_type != req.kind:
            raise HostAuthError(
                f"This is a {key.host_type} host key; a {req.kind} agent needs a {req.kind} key.",
                status=403,
            )
        now = utcnow()
        host_id = host_id_for(req.name)
        host, created = await self.repo.ensure_host(host_id, req.name)
        if created:
            await self.audit.add(
                "host.registered",
                actor_type="host",
                actor_id=host_id,
                target_type="host",
                target_id=host_id,
                ip=ip,
                details={"key_id": key.id},
            )
        host.ip_address = ip
        worker = await self.repo.ensure_worker(host_id, req.kind, queue_for(host_id, req.kind))
        worker.version = req.version
        worker.info = req.info
        worker.api_key_id = key.id
        worker.registered_at = now
        changes = self._mark_online(worker, now)
        log.info("Host %s registered its %s agent from %s.", host_id, req.kind, ip or "?")
        return worker, changes

    async def heartbeat(
        self, key: HostApiKey, host_id: str, req: HeartbeatRequest, ip: str | None
    ) -> list[StatusChange]:
        worker = await self.repo.get_worker(host_id, req.kind)
        if worker is None or worker.api_key_id != key.id:
            raise HostAuthError("This key has not registered that host; register first.", 403)
        host = await self.repo.get_host(host_id)
        if host is not None:
            host.ip_address = ip
        if req.info is not None:
            worker.info = req.info
        return self._mark_online(worker, utcnow())

    def _mark_online(self, worker: HostWorker, now: datetime) -> list[StatusChange]:
        was = worker.online
        worker.online = True
        worker.last_heartbeat_at = now
        return [] if was else [StatusChange(worker.host_id, worker.kind, True)]

    async def mark_stale_offline(self, offline_after: timedelta) -> list[StatusChange]:
        changes = []
        for worker in await self.repo.stale_online_workers(utcnow() - offline_after):
            worker.online = False
            changes.append(StatusChange(worker.host_id, worker.kind, False))
            log.warning(
                "Host %s's %s agent went offline: no heartbeat for %.0f s.",
                worker.host_id,
                worker.kind,
                offline_after.total_seconds(),
            )
        return changes

    async def mark_offline(self, host_id: str, kind: str) -> list[StatusChange]:
        worker = await self.repo.get_worker(host_id, kind)
        if worker is None or not worker.online:
            return []
        worker.online = False
        return [StatusChange(host_id, kind, False)]

    async def pick_probe_host(self, host_id: str | None) -> str:
        """The requested host, else the first one with an online worker."""
        if host_id is not None:
            if await self.repo.get_host(host_id) is None:
                raise LookupError(f"no host named {host_id}")
            return host_id
        for worker in await self.repo.list_workers():
            if worker.online:
                return worker.host_id
        raise LookupError("no host is online")

    async def record_probe(self, rec: ProbeRecord) -> HostProbe | None:
        existing = await self.repo.get_probe_by_workflow(rec.workflow_id)
        if existing is not None:  # activity retried after its commit: nothing to add
            return existing
        if await self.repo.get_host(rec.host_id) is None:
            log.warning("Host %s was removed before its probe was recorded.", rec.host_id)
            return None
        return await self.repo.add_probe(
            HostProbe(
                host_id=rec.host_id,
                workflow_id=rec.workflow_id,
                run_id=rec.run_id,
                status=rec.status,
                agent_report=rec.agent.report.model_dump() if rec.agent.report else None,
                deploy_report=rec.deploy.report.model_dump() if rec.deploy.report else None,
                agent_error=rec.agent.error,
                deploy_error=rec.deploy.error,
            )
        )


async def host_overview(
    service: HostService, ui_link: Callable[[str, str], str | None]
) -> list[HostOut]:
    """Every host with its workers and last probe, as the API and status page show them."""
    hosts = await service.repo.list_hosts()
    workers = await service.repo.list_workers()
    probes = await service.repo.latest_probes()
    out = []
    for h in hosts:
        mine = [w for w in workers if w.host_id == h.id]
        p = probes.get(h.id)
        out.append(
            HostOut(
                id=h.id,
                name=h.name,
                ip_address=h.ip_address,
                online=any(w.online for w in mine),
                max_concurrent_sessions=h.max_concurrent_sessions,
                max_concurrent_tickets=h.max_concurrent_tickets,
                workspace_allowlist=list(h.workspace_allowlist or []),
                workers=[
                    WorkerOut(
                        kind=w.kind,
                        online=w.online,
                        version=w.version,
                        task_queue=w.task_queue,
                        last_heartbeat_at=w.last_heartbeat_at,
                        info=w.info,
                    )
                    for w in mine
                ],
                last_probe=None
                if p is None
                else ProbeOut(
                    status=p.status,
                    workflow_id=p.workflow_id,
                    run_id=p.run_id,
                    finished_at=p.finished_at,
                    agent_report=p.agent_report,
                    deploy_report=p.deploy_report,
                    agent_error=p.agent_error,
                    deploy_error=p.deploy_error,
                    temporal_ui_url=ui_link(p.workflow_id, p.run_id),
                ),
            )
        )
    return out

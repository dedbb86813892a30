"""Host API keys, registration, heartbeats and offline detection on both databases."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from orchestrator.audit.models import AuditEntry
from orchestrator.base import utcnow
from orchestrator.db import Database
from orchestrator.hosts.schemas import HeartbeatRequest, RegisterRequest
from orchestrator.hosts.service import HostAuthError, HostService
from orchestrator.security.keys import PURPOSE_API_KEYS
from tests.helpers import TEST_MASTER

pytestmark = pytest.mark.foundation
PEPPER = TEST_MASTER.derive(PURPOSE_API_KEYS)


async def test_key_is_stored_hashed_and_verifies(db: Database) -> None:
    async with db.session() as s:
        row, plaintext = await HostService(s, PEPPER).mint_key("k", "session")
    assert plaintext.startswith(f"pgk_{row.id}_")
    async with db.session() as s:
        stored = await HostService(s, PEPPER).repo.get_key(row.id)
        assert stored is not None and plaintext not in stored.key_hash
        assert plaintext.split("_", 2)[2] not in str(stored.__dict__)
        audit = list(
            await s.scalars(select(AuditEntry).where(AuditEntry.action == "host_key.created"))
        )
        assert audit and plaintext not in str(audit[0].details)
    async with db.session() as s:
        ok = await HostService(s, PEPPER).verify_key(plaintext)
        assert ok.id == row.id and ok.success_count == 1 and ok.last_used_at is not None


@pytest.mark.parametrize("mutate", ["wrong_secret", "unknown_id", "garbage", "empty"])
async def test_wrong_keys_get_one_message(db: Database, mutate: str) -> None:
    async with db.session() as s:
        row, plaintext = await HostService(s, PEPPER).mint_key("k", "deploy")
    bad = {
        "wrong_secret": plaintext[:-4] + "AAAA",
        "unknown_id": plaintext.replace(row.id, "ffffffff"),
        "garbage": "pgk_nonsense",
        "empty": "",
    }[mutate]
    async with db.session() as s:
        with pytest.raises(HostAuthError, match=r"^Invalid host API key\.$"):
            await HostService(s, PEPPER).verify_key(bad)


async def test_revoked_and_expired_keys_fail(db: Database) -> None:
    async with db.session() as s:
        svc = HostService(s, PEPPER)
        _, revoked = await svc.mint_key("old", "session")
        _, fresh = await svc.mint_key("old", "session", revoke_same_name=True)
        _, expired = await svc.mint_key(
            "exp", "session", expires_at=utcnow() - timedelta(seconds=1)
        )
    async with db.session() as s:
        svc = HostService(s, PEPPER)
        with pytest.raises(HostAuthError, match="revoked"):
            await svc.verify_key(revoked)
        with pytest.raises(HostAuthError, match="expired"):
            await svc.verify_key(expired)
        assert (await svc.verify_key(fresh)).name == "old"


async def test_register_heartbeat_offline_cycle(db: Database) -> None:
    async with db.session() as s:
        svc = HostService(s, PEPPER)
        key, _ = await svc.mint_key("h", "session")
        worker, changes = await svc.register(
            key, RegisterRequest(name="Build-01", kind="session"), "10.0.0.5"
        )
        assert worker.task_queue == "polygent.agent.build-01"
        assert [(c.host_id, c.kind, c.online) for c in changes] == [("build-01", "session", True)]
        # A second registration of an online worker is not a status change.
        _, again = await svc.register(
            key, RegisterRequest(name="Build-01", kind="session"), "10.0.0.6"
        )
        assert again == []
    async with db.session() as s:
        svc = HostService(s, PEPPER)
        assert await svc.mark_stale_offline(timedelta(seconds=60)) == []
        changes = await svc.mark_stale_offline(timedelta(seconds=-1))
        assert [(c.host_id, c.online) for c in changes] == [("build-01", False)]
    async with db.session() as s:
        svc = HostService(s, PEPPER)
        key2 = await svc.repo.get_key(key.id)
        assert key2 is not None
        back = await svc.heartbeat(key2, "build-01", HeartbeatRequest(kind="session"), "10.0.0.7")
        assert [(c.host_id, c.online) for c in back] == [("build-01", True)]
        host = await svc.repo.get_host("build-01")
        assert host is not None and host.ip_address == "10.0.0.7"


async def test_key_type_must_match_agent_kind(db: Database) -> None:
    async with db.session() as s:
        svc = HostService(s, PEPPER)
        key, _ = await svc.mint_key("d", "deploy")
        with pytest.raises(HostAuthError, match="deploy host key") as info:
            await svc.register(key, RegisterRequest(name="x", kind="session"), None)
        assert info.value.status == 403


async def test_heartbeat_needs_the_registering_key(db: Database) -> None:
    async with db.session() as s:
        svc = HostService(s, PEPPER)
        k1, _ = await svc.mint_key("a", "session")
        k2, _ = await svc.mint_key("b", "session")
        await svc.register(k1, RegisterRequest(name="h", kind="session"), None)
        with pytest.raises(HostAuthError, match="has not registered that host"):
            await svc.heartbeat(k2, "h", HeartbeatRequest(kind="session"), None)


async def test_concurrent_first_registrations_of_one_host(db: Database) -> None:
    """Both agents of a new host register at the same moment: one host row, no error."""
    async with db.session() as s:
        svc = HostService(s, PEPPER)
        k_session, _ = await svc.mint_key("s", "session")
        k_deploy, _ = await svc.mint_key("d", "deploy")

    async def register(key_id: str, kind: str) -> None:
        async with db.session() as s:
            svc = HostService(s, PEPPER)
            key = await svc.repo.get_key(key_id)
            assert key is not None
            await svc.register(key, RegisterRequest(name="twin", kind=kind), None)  # type: ignore[arg-type]

    import asyncio

    await asyncio.gather(
        *(register(k_session.id, "session") for _ in range(3)),
        *(register(k_deploy.id, "deploy") for _ in range(3)),
    )
    async with db.session() as s:
        repo = HostService(s, PEPPER).repo
        assert [h.id for h in await repo.list_hosts()] == ["twin"]
        assert sorted(w.kind for w in await repo.list_workers()) == ["deploy", "session"]
        created = list(
            await s.scalars(select(AuditEntry).where(AuditEntry.action == "host.registered"))
        )
        assert len(created) == 1

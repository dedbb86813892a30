"""Signing in, the first administrator, refresh-token rotation and reuse detection."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from orchestrator.audit.models import AuditEntry
from orchestrator.auth.models import RefreshToken
from orchestrator.auth.service import AuthService, Identity, SignInRefused
from orchestrator.auth.tokens import AccessTokens
from orchestrator.base import utcnow
from orchestrator.config import ServerSettings
from orchestrator.db import Database
from tests.helpers import TEST_MASTER

pytestmark = pytest.mark.identity
ACCESS = AccessTokens(TEST_MASTER, 15)


def service(session, tmp_path: Path, **settings) -> AuthService:  # type: ignore[no-untyped-def]
    return AuthService(session, ServerSettings(data_dir=tmp_path, **settings), ACCESS)


def ident(sub: str, email: str | None = None, verified: bool = True) -> Identity:
    return Identity("https://idp.test", sub, email, verified, sub.title())


async def first_admin(db: Database, tmp_path: Path) -> str:
    async with db.session() as s:
        token = await service(s, tmp_path).issue_setup_token()
    assert token
    async with db.session() as s:
        t = await service(s, tmp_path).sign_in(
            ident("alice"), user_agent="ua", ip=None, setup_token=token
        )
    return t.refresh_token


async def test_first_admin_needs_the_setup_token(db: Database, tmp_path: Path) -> None:
    async with db.session() as s:
        token = await service(s, tmp_path).issue_setup_token()
    async with db.session() as s:
        with pytest.raises(SignInRefused, match="no administrator yet"):
            await service(s, tmp_path).sign_in(ident("mallory"), user_agent="", ip=None)
        with pytest.raises(SignInRefused):
            await service(s, tmp_path).sign_in(
                ident("mallory"), user_agent="", ip=None, setup_token="guess"
            )
    async with db.session() as s:
        t = await service(s, tmp_path).sign_in(
            ident("alice"), user_agent="", ip=None, setup_token=token
        )
        claims = ACCESS.verify(t.access_token, utcnow())
        principal = await service(s, tmp_path).principal(claims)
        assert principal is not None and principal.is_admin and principal.can("hosts.manage")
    async with db.session() as s:
        # The token is one-time, and later users are ordinary developers.
        assert await service(s, tmp_path).issue_setup_token() is None
        bob = await service(s, tmp_path).sign_in(
            ident("bob"), user_agent="", ip=None, setup_token=token
        )
        p = await service(s, tmp_path).principal(ACCESS.verify(bob.access_token, utcnow()))
        assert (
            p is not None
            and not p.is_admin
            and p.can("sessions.create")
            and not p.can("users.manage")
        )


async def test_first_admin_by_allowed_verified_email(db: Database, tmp_path: Path) -> None:
    async with db.session() as s:
        svc = service(s, tmp_path, admin_emails="Boss@Example.com")
        with pytest.raises(SignInRefused):
            await svc.sign_in(
                ident("x", "boss@example.com", verified=False), user_agent="", ip=None
            )
    async with db.session() as s:
        svc = service(s, tmp_path, admin_emails="Boss@Example.com")
        t = await svc.sign_in(ident("x", "boss@example.com"), user_agent="", ip=None)
        assert (await svc.principal(ACCESS.verify(t.access_token, utcnow()))).is_admin  # type: ignore[union-attr]


async def test_concurrent_first_sign_ins_make_one_admin(db: Database, tmp_path: Path) -> None:
    async with db.session() as s:
        token = await service(s, tmp_path).issue_setup_token()

    async def attempt(name: str) -> bool | str:
        try:
            async with db.session() as s:
                svc = service(s, tmp_path)
                t = await svc.sign_in(ident(name), user_agent="", ip=None, setup_token=token)
                p = await svc.principal(ACCESS.verify(t.access_token, utcnow()))
                return p is not None and p.is_admin
        except Exception as exc:  # SQLite may refuse a concurrent writer outright
            return type(exc).__name__

    results = await asyncio.gather(*(attempt(f"user{i}") for i in range(5)))
    assert results.count(True) == 1, results
    async with db.session() as s:
        firsts = list(
            await s.scalars(select(AuditEntry).where(AuditEntry.action == "auth.first_admin"))
        )
        assert len(firsts) == 1


async def test_new_users_can_be_refused(db: Database, tmp_path: Path) -> None:
    await first_admin(db, tmp_path)
    async with db.session() as s:
        with pytest.raises(SignInRefused, match="New users are not allowed"):
            await service(s, tmp_path, auth_allow_new_users=False).sign_in(
                ident("eve"), user_agent="", ip=None
            )
        # Existing users still sign in.
        await service(s, tmp_path, auth_allow_new_users=False).sign_in(
            ident("alice"), user_agent="", ip=None
        )


async def test_rotation_and_reuse_detection(db: Database, tmp_path: Path) -> None:
    t0 = await first_admin(db, tmp_path)
    async with db.session() as s:
        r1 = await service(s, tmp_path).refresh(t0, user_agent="ua", ip="1.2.3.4")
    assert r1.outcome == "ok" and r1.tokens and r1.tokens.refresh_token != t0
    async with db.session() as s:  # a second tab with the old token, within the grace window
        assert (await service(s, tmp_path).refresh(t0, user_agent="ua", ip=None)).outcome == "retry"
    async with db.session() as s:  # the old token comes back long after: theft
        await s.execute(
            update(RefreshToken)
            .where(RefreshToken.used_at.is_not(None))
            .values(used_at=utcnow() - timedelta(minutes=5))
        )
    async with db.session() as s:
        assert (
            await service(s, tmp_path).refresh(t0, user_agent="ua", ip=None)
        ).outcome == "denied"
    async with db.session() as s:  # the whole family is gone: the thief's successor too
        r = await service(s, tmp_path).refresh(r1.tokens.refresh_token, user_agent="ua", ip=None)
        assert r.outcome == "denied"
        reuse = list(
            await s.scalars(
                select(AuditEntry).where(AuditEntry.action == "auth.refresh_token_reuse")
            )
        )
        assert len(reuse) == 1
        claims = ACCESS.verify(r1.tokens.access_token, utcnow())
        assert await service(s, tmp_path).principal(claims) is None  # access ends with the family


async def test_eight_concurrent_refreshes_rotate_once(db: Database, tmp_path: Path) -> None:
    t0 = await first_admin(db, tmp_path)

    async def refresh() -> str:
        try:
            async with db.session() as s:
                return (await service(s, tmp_path).refresh(t0, user_agent="ua", ip=None)).outcome
        except Exception as exc:
            return type(exc).__name__

    outcomes = await asyncio.gather(*(refresh() for _ in range(8)))
    assert outcomes.count("ok") == 1, outcomes
    assert set(outcomes) <= {"ok", "retry", "OperationalError"}, outcomes
    async with db.session() as s:
        rows = list(await s.scalars(select(RefreshToken)))
        assert len(rows) == 2  # the original and exactly one successor
        assert not list(
            await s.scalars(
                select(AuditEntry).where(AuditEntry.action == "auth.refresh_token_reuse")
            )
        )


async def test_devices_and_sign_out(db: Database, tmp_path: Path) -> None:
    t0 = await first_admin(db, tmp_path)
    async with db.session() as s:
        svc = service(s, tmp_path)
        other = await svc.sign_in(ident("alice"), user_agent="phone", ip=None)
        devices = await svc.devices(other.user.id)
        assert len(devices) == 2
        assert await svc.sign_out(other.family_id, actor_id=other.user.id, ip=None)
        assert [d.user_agent for d in await svc.devices(other.user.id)] == ["ua"]
    async with db.session() as s:
        svc = service(s, tmp_path)
        assert (await svc.refresh(other.refresh_token, user_agent="", ip=None)).outcome == "denied"
        assert await svc.sign_out_everywhere(other.user.id, actor_id=other.user.id, ip=None) == 1
        assert (await svc.refresh(t0, user_agent="", ip=None)).outcome == "denied"

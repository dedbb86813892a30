"""Alembic migrations go up and down on SQLite and PostgreSQL and match the models."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from orchestrator.db import make_engine
from orchestrator.migrate import current_revision, downgrade, head_revision, upgrade
from orchestrator.models import Base

pytestmark = pytest.mark.foundation
TABLES = {
    "users",
    "workspaces",
    "workspace_members",
    "hosts",
    "host_workers",
    "host_api_keys",
    "host_probes",
    "sessions",
    "audit_log",
}


async def _tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            return set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
    finally:
        await engine.dispose()


async def test_up_down_up(db_url: str) -> None:
    await upgrade(db_url)
    assert await current_revision(db_url) == head_revision()
    assert await _tables(db_url) >= TABLES
    await downgrade(db_url, "base")
    assert await current_revision(db_url) is None
    assert not TABLES & await _tables(db_url)
    await upgrade(db_url)
    await upgrade(db_url)  # idempotent
    assert await current_revision(db_url) == head_revision()


async def test_models_match_migrations(db_url: str) -> None:
    await upgrade(db_url)
    engine = make_engine(db_url)
    try:
        async with engine.connect() as conn:
            diff = await conn.run_sync(
                lambda c: compare_metadata(MigrationContext.configure(c), Base.metadata)
            )
    finally:
        await engine.dispose()
    assert diff == [], f"models and migrations differ: {diff}"


async def test_seeded_roles_match_the_code_defaults(db_url: str) -> None:
    """Changing DEFAULT_ROLES without a migration that seeds the change fails here."""
    from sqlalchemy import select

    from orchestrator.auth.models import Role, RolePermission
    from orchestrator.db import Database
    from orchestrator.security.permissions import DEFAULT_ROLES

    await upgrade(db_url)
    db = Database(db_url)
    try:
        async with db.session() as s:
            roles = {r.id: r.name for r in await s.scalars(select(Role))}
            seeded: dict[str, set[str]] = {name: set() for name in roles.values()}
            for rp in await s.scalars(select(RolePermission)):
                seeded[roles[rp.role_id]].add(rp.permission)
    finally:
        await db.dispose()
    assert seeded == {name: set(perms) for name, (_, perms) in DEFAULT_ROLES.items()}

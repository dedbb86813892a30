"""Bringing up the trusted roles: data dir, master key, database, Temporal.

Every failure here becomes a `StartupError` whose message is one sentence an operator can act
on; the CLI prints it and exits non-zero.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
import sqlite3
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from sqlalchemy.exc import DBAPIError, OperationalError
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from orchestrator.config import ConfigError, ServerSettings
from orchestrator.db import Database, is_sqlite, safe_url
from orchestrator.migrate import current_revision, head_revision, upgrade
from orchestrator.security.keys import KEY_FILE, PURPOSE_PAYLOADS, Keyring, load_master_keyring
from orchestrator.temporal import connect, ensure_namespace, ensure_search_attributes

log = logging.getLogger(__name__)
NAMESPACE_VISIBLE_TIMEOUT = 30.0


class StartupError(Exception):
    """A process cannot start; the message is one sentence for the operator."""


def prepare_data_dir(path: Path) -> Path:
    """Create the data dir if needed and prove it is writable."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".write-test-"):
            pass
    except OSError as exc:
        raise StartupError(
            f"The data directory {path} is not usable: {exc.strerror or exc} "
            "(set POLYGENT_DATA_DIR to a writable directory)."
        ) from None
    return path


def load_keyring(settings: ServerSettings) -> Keyring:
    secret = settings.encryption_key.get_secret_value() if settings.encryption_key else None
    try:
        return load_master_keyring(secret, settings.data_dir)
    except ConfigError as exc:
        raise StartupError(str(exc)) from None
    except UnicodeDecodeError:
        raise StartupError(
            f"The key file {settings.data_dir / KEY_FILE} is corrupt: it is not text; restore "
            "it from a backup (without it, encrypted data cannot be read)."
        ) from None
    except OSError as exc:
        raise StartupError(
            f"Cannot create the encryption key in {settings.data_dir}: {exc.strerror}."
        ) from None


def _db_reason(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    text = str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
    return text.rstrip(".")


async def open_database(settings: ServerSettings) -> Database:
    """Connect and ping; a corrupt SQLite file or an unreachable server is one sentence."""
    url = settings.effective_database_url
    db = Database(url)
    try:
        await asyncio.wait_for(db.ping(), 15)
        if is_sqlite(db.url):
            await asyncio.wait_for(_sqlite_integrity(db), 15)
    except (OperationalError, DBAPIError, sqlite3.DatabaseError, OSError, TimeoutError) as exc:
        await db.dispose()
        reason = "no answer within 15 s" if isinstance(exc, TimeoutError) else _db_reason(exc)
        if is_sqlite(db.url) and "not a database" in reason:
            raise StartupError(
                f"The database file {url.split(':///', 1)[-1]} is corrupt or not a SQLite "
                "database; restore it from a backup or move it away."
            ) from None
        raise StartupError(f"Cannot reach the database at {safe_url(url)}: {reason}.") from None
    return db


async def _sqlite_integrity(db: Database) -> None:
    from sqlalchemy import text

    async with db.engine.connect() as conn:
        await conn.execute(text("SELECT count(*) FROM sqlite_master"))


async def migrate(db: Database) -> str | None:
    try:
        await upgrade(db.url)
    except (OperationalError, DBAPIError) as exc:
        raise StartupError(f"Migrating the database failed: {_db_reason(exc)}.") from None
    return await current_revision(db.url)


async def require_current_schema(db: Database) -> None:
    """API and workers refuse to run on a schema older than their code."""
    current, head = await current_revision(db.url), head_revision()
    if current != head:
        raise StartupError(
            f"The database schema is at {current or 'nothing'} but this version needs {head}; "
            "run `polygent migrate` first."
        )


async def open_temporal(settings: ServerSettings, master: Keyring) -> Client:
    """Connect, create the namespace on an external cluster, register search attributes."""
    address, ns = settings.effective_temporal_address, settings.temporal_namespace
    try:
        client = await asyncio.wait_for(
            connect(address, ns, master.derive(PURPOSE_PAYLOADS), identity="polygent-server"), 20
        )
        if settings.embedded_temporal:
            await ensure_search_attributes(client, ns)
        else:
            await ensure_namespace(client, ns)
            await _search_attributes_once_visible(client, ns)
    except TimeoutError:
        raise StartupError(f"Cannot reach Temporal at {address}: no answer within 20 s.") from None
    except Exception as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        reason = reason.rstrip(".")
        raise StartupError(
            f"Cannot reach Temporal at {address} (namespace {ns}): {reason}."
        ) from None
    return client


async def _search_attributes_once_visible(
    client: Client, namespace: str, timeout: float = NAMESPACE_VISIBLE_TIMEOUT
) -> None:
    """A namespace just registered on a cluster is NOT_FOUND until every frontend's namespace
    cache refreshes (seconds); wait for it instead of failing the first start."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        try:
            await ensure_search_attributes(client, namespace)
            return
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND or loop.time() > deadline:
                raise
        log.info("Waiting for Temporal to serve the new namespace %s.", namespace)
        await asyncio.sleep(0.5)


def ensure_port_free(host: str, port: int, setting: str) -> None:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        # Like uvicorn and Temporal themselves: connections of a process that just stopped (or
        # was killed) linger in TIME_WAIT and must not block a restart; a listener still does.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise StartupError(
                    f"Port {port} on {host} is already in use; stop what holds it or set {setting}."
                ) from None
            raise StartupError(
                f"Cannot listen on {host}:{port} ({setting}): {exc.strerror}."
            ) from None


@asynccontextmanager
async def admin_context(settings: ServerSettings) -> AsyncIterator[tuple[Keyring, Database]]:
    """For one-shot admin commands: the master key and a database whose schema is current."""
    prepare_data_dir(settings.data_dir)
    master = load_keyring(settings)
    db = await open_database(settings)
    try:
        await require_current_schema(db)
        yield master, db
    finally:
        await db.dispose()

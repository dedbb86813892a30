"""The long-running roles: API, orchestrator worker, host agents, and `up` (all of them).

Each runner returns when `stop` is set; `polygent up` runs them all in one event loop to
keep the embedded stack small.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import uvicorn
from pydantic import SecretStr
from temporalio.client import Client

from agent_worker.main import session_activities
from api.app import create_app
from api.routes.hosts import start_probe
from api.state import AppState
from deploy_worker.main import deploy_activities
from orchestrator.auth.service import AuthService
from orchestrator.config import AgentSettings, ServerSettings
from orchestrator.db import Database
from orchestrator.embedded import EmbeddedTemporal
from orchestrator.hostagent.runtime import run_host_agent
from orchestrator.hosts.service import HostService
from orchestrator.schedules import ensure_schedules
from orchestrator.security.keys import Keyring
from orchestrator.server import (
    StartupError,
    ensure_port_free,
    load_keyring,
    migrate,
    open_database,
    open_temporal,
    prepare_data_dir,
    require_current_schema,
)
from orchestrator.worker import build_orchestrator_worker

log = logging.getLogger(__name__)
LOCAL_HOST = "local"


class _Server(uvicorn.Server):
    """Uvicorn without its own signal handling: the role runner owns shutdown."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def make_server(state: AppState) -> _Server:
    s = state.settings
    config = uvicorn.Config(
        create_app(state), host=s.api_host, port=s.api_port, log_config=None,
        access_log=False, lifespan="on", ws_ping_interval=20,
    )  # fmt: skip
    return _Server(config)


async def _serve_until(server: _Server, stop: asyncio.Event) -> None:
    task = asyncio.create_task(server.serve(), name="api")
    waiter = asyncio.create_task(stop.wait())
    await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    waiter.cancel()
    server.should_exit = True
    await task
    if not server.started and not stop.is_set():
        raise StartupError(
            f"The API could not listen on {server.config.host}:{server.config.port}."
        )


async def _open_trusted(settings: ServerSettings) -> tuple[Keyring, Database, Client]:
    prepare_data_dir(settings.data_dir)
    master = load_keyring(settings)
    db = await open_database(settings)
    try:
        await require_current_schema(db)
        client = await open_temporal(settings, master)
    except BaseException:
        await db.dispose()
        raise
    return master, db, client


async def setup_link(state: AppState) -> str | None:
    """While no admin exists: a fresh one-time link that makes its user the first admin."""
    async with state.db.session() as session:
        token = await AuthService(session, state.settings, state.access).issue_setup_token()
    if token is None:
        return None
    return f"{state.settings.effective_public_url}/signin?setup_token={token}"


async def run_api(settings: ServerSettings, stop: asyncio.Event) -> None:
    ensure_port_free(settings.api_host, settings.api_port, "POLYGENT_API_PORT")
    master, db, client = await _open_trusted(settings)
    try:
        state = AppState(settings=settings, db=db, master=master, temporal=client)
        server = make_server(state)
        log.info("The API listens on %s.", settings.effective_public_url)
        link = await setup_link(state)
        if link:
            log.warning("No administrator yet: the first person to open %s becomes one.", link)
        await _serve_until(server, stop)
    finally:
        await db.dispose()


async def run_orchestrator(settings: ServerSettings, stop: asyncio.Event) -> None:
    master, db, client = await _open_trusted(settings)
    try:
        await ensure_schedules(client, db)
        worker = build_orchestrator_worker(client, db, master)
        log.info("The orchestrator worker serves %s.", worker.task_queue)
        async with worker:
            await stop.wait()
    finally:
        await db.dispose()


async def run_agent(settings: AgentSettings, kind: str, stop: asyncio.Event) -> None:
    build = session_activities(settings) if kind == "session" else deploy_activities(settings)
    await run_host_agent(settings, kind, build, stop)


@contextlib.contextmanager
def data_dir_lock(data_dir: Path) -> Iterator[None]:
    """One `polygent up` per data dir: a second would fight over the same Temporal state."""
    path = data_dir / "polygent.lock"
    fh: IO[str] = path.open("a+")
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.close()
        raise StartupError(
            f"Another `polygent up` is already running on {data_dir}; stop it first or use "
            "another POLYGENT_DATA_DIR."
        ) from None
    try:
        yield
    finally:
        fcntl.flock(fh, fcntl.LOCK_UN)
        fh.close()


async def _mint_local_key(state: AppState, kind: str) -> str:
    async with state.db.session() as session:
        _, plaintext = await HostService(session, state.pepper).mint_key(
            f"{LOCAL_HOST} {kind} agent (embedded)", kind, revoke_same_name=True
        )
    return plaintext


async def _first_probe(state: AppState) -> None:
    """Once both local agents are online, run the round trip so the status page shows it."""
    from orchestrator.hosts.repository import HostRepository

    for _ in range(300):
        async with state.db.session() as session:
            workers = [
                w for w in await HostRepository(session).list_workers() if w.host_id == LOCAL_HOST
            ]
        if len(workers) == 2 and all(w.online for w in workers):
            await start_probe(state, LOCAL_HOST)
            return
        await asyncio.sleep(0.2)


async def run_up(settings: ServerSettings, stop: asyncio.Event) -> None:
    """Everything on one machine: embedded Temporal, migrations, API, workers, two agents."""
    prepare_data_dir(settings.data_dir)
    with data_dir_lock(settings.data_dir):
        ensure_port_free(settings.api_host, settings.api_port, "POLYGENT_API_PORT")
        temporal: EmbeddedTemporal | None = None
        if settings.embedded_temporal:
            ensure_port_free("127.0.0.1", settings.temporal_port, "POLYGENT_TEMPORAL_PORT")
            ensure_port_free("127.0.0.1", settings.temporal_ui_port, "POLYGENT_TEMPORAL_UI_PORT")
        master = load_keyring(settings)
        db = await open_database(settings)
        try:
            revision = await migrate(db)
            log.info("The database schema is at revision %s.", revision)
            if settings.embedded_temporal:
                temporal = EmbeddedTemporal(
                    settings.data_dir, settings.temporal_port, settings.temporal_ui_port,
                    settings.temporal_namespace,
                )  # fmt: skip
                await temporal.start()
            client = await open_temporal(settings, master)
            await ensure_schedules(client, db)
            await _run_all(settings, master, db, client, stop)
        finally:
            await db.dispose()
            if temporal is not None:
                await temporal.stop()


async def _run_all(
    settings: ServerSettings, master: Keyring, db: Database, client: Client, stop: asyncio.Event
) -> None:
    state = AppState(settings=settings, db=db, master=master, temporal=client)
    server = make_server(state)
    inner = asyncio.Event()
    tasks = [
        asyncio.create_task(_serve_until(server, inner), name="api"),
        asyncio.create_task(_run_worker(client, db, master, inner, state), name="orchestrator"),
    ]
    while not server.started and not tasks[0].done():
        await asyncio.sleep(0.05)
    url = settings.effective_public_url
    for kind, sub in (("session", "agent"), ("deploy", "deploy")):
        agent = AgentSettings.model_construct(
            name=LOCAL_HOST, main_server_url=url,
            api_key=SecretStr(await _mint_local_key(state, kind)),
            storage_path=settings.data_dir / "hosts" / LOCAL_HOST / sub,
            temporal_address=None, max_concurrent_activities=8,
            data_dir=settings.data_dir, log_level=settings.log_level,
            log_format=settings.log_format,
        )  # fmt: skip
        build = session_activities(agent) if kind == "session" else deploy_activities(agent)
        tasks.append(
            asyncio.create_task(
                run_host_agent(agent, kind, build, inner, temporal_client=client),
                name=f"{kind}-agent",
            )
        )
    state.spawn(_first_probe(state), name="first-probe")
    link = await setup_link(state)
    first = f"  First sign-in (becomes admin): {link}\n" if link else ""
    print(
        f"Polygent is running.\n  Dashboard:   {url}/\n"
        f"  Temporal UI: {settings.effective_temporal_ui_url}\n  Data:        {settings.data_dir}\n"
        f"{first}Press Ctrl-C to stop.",
        flush=True,
    )
    waiter = asyncio.create_task(stop.wait())
    await asyncio.wait({waiter, *tasks}, return_when=asyncio.FIRST_COMPLETED)
    inner.set()
    waiter.cancel()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    failed = next(
        (
            r
            for r in results
            if isinstance(r, BaseException) and not isinstance(r, asyncio.CancelledError)
        ),
        None,
    )
    if failed is not None and not stop.is_set():
        raise failed
    log.info("Polygent stopped.")


async def _run_worker(
    client: Client, db: Database, master: Keyring, stop: asyncio.Event, state: AppState
) -> None:
    async with build_orchestrator_worker(client, db, master, state.bus):
        await stop.wait()

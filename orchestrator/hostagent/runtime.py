"""Run a host agent: register with the API, serve the host's task queue, heartbeat.

Shared by the session agent (`polygent agent-worker`) and the deployment agent
(`polygent deploy-worker`); they differ only in their kind and activities. The agent holds
no database access and no secrets key: the API hands it the Temporal payload key.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from datetime import timedelta
from importlib.metadata import version

import httpx
from temporalio.client import Client
from temporalio.worker import Worker

from activities.common.hostinfo import host_report
from orchestrator.config import AgentSettings
from orchestrator.hostagent.client import AgentRejected, HostApiClient
from orchestrator.hosts.schemas import HeartbeatRequest, RegisterRequest, RegisterResponse
from orchestrator.logs import REDACTOR
from orchestrator.security.keys import Keyring
from orchestrator.temporal import connect

log = logging.getLogger(__name__)
REGISTER_RETRY_MAX = 10.0


async def _register(
    api: HostApiClient, req: RegisterRequest, stop: asyncio.Event, url: str
) -> RegisterResponse | None:
    """Register, retrying while the API is unreachable (it may be starting); None if stopped."""
    delay = 0.5
    while not stop.is_set():
        try:
            return await api.register(req)
        except (httpx.TransportError, httpx.HTTPStatusError) as exc:
            log.warning("Cannot reach the API at %s (%s); retrying in %.0f s.", url, exc, delay)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), delay)
        delay = min(delay * 2, REGISTER_RETRY_MAX)
    return None


async def run_host_agent(
    settings: AgentSettings,
    kind: str,
    make_activities: Callable[[], Sequence[Callable[..., object]]],
    stop: asyncio.Event,
    *,
    temporal_client: Client | None = None,
) -> None:
    """Run until `stop` is set or the API rejects the key (AgentRejected propagates)."""
    key = settings.api_key.get_secret_value()
    REDACTOR.add(key)
    settings.storage_path.mkdir(parents=True, exist_ok=True)
    api = HostApiClient(settings.main_server_url, key)
    try:
        info = (await host_report(kind, settings.storage_path)).model_dump()
        req = RegisterRequest(name=settings.name, kind=kind, version=version("polygent"), info=info)  # type: ignore[arg-type]
        reg = await _register(api, req, stop, settings.main_server_url)
        if reg is None:
            return
        client = temporal_client or await connect(
            settings.temporal_address or reg.temporal_address,
            reg.temporal_namespace,
            Keyring.parse(reg.payload_keys),
            identity=f"{kind}-agent@{reg.host_id}",
        )
        worker = Worker(
            client,
            task_queue=reg.task_queue,
            activities=list(make_activities()),
            max_concurrent_activities=settings.max_concurrent_activities,
            # A cancel reaches an activity with the answer to its next heartbeat: at most ~1 s.
            max_heartbeat_throttle_interval=timedelta(seconds=1),
            graceful_shutdown_timeout=timedelta(seconds=10),
            identity=f"{kind}-agent@{reg.host_id}",
        )
        log.info("The %s agent of host %s serves %s.", kind, reg.host_id, reg.task_queue)
        worker_task = asyncio.create_task(worker.run(), name=f"{kind}-worker")
        try:
            await _heartbeat_loop(api, reg, kind, stop, worker_task)
        finally:
            if not worker_task.done():
                await worker.shutdown()
            with contextlib.suppress(asyncio.CancelledError):
                await worker_task
    finally:
        await api.aclose()


async def _heartbeat_loop(
    api: HostApiClient,
    reg: RegisterResponse,
    kind: str,
    stop: asyncio.Event,
    worker_task: asyncio.Task[None],
) -> None:
    beat = HeartbeatRequest(kind=kind)  # type: ignore[arg-type]
    while not stop.is_set() and not worker_task.done():
        waiter = asyncio.create_task(stop.wait())
        await asyncio.wait(
            {waiter, worker_task},
            timeout=reg.heartbeat_interval_seconds,
            return_when=asyncio.FIRST_COMPLETED,
        )
        waiter.cancel()
        if stop.is_set() or worker_task.done():
            break
        try:
            await api.heartbeat(reg.host_id, beat)
        except AgentRejected:
            raise
        except (httpx.TransportError, httpx.HTTPStatusError) as exc:
            log.warning("Heartbeat to the API failed (%s); will retry.", exc)
    if worker_task.done() and not stop.is_set():
        worker_task.result()  # surface the worker's fatal error

"""Hosts, host probes and recent workflow runs."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query
from temporalio.client import Client, WorkflowHandle

from api.auth import require
from api.deps import DbSession, State
from api.problems import errors
from orchestrator.base import utcnow
from orchestrator.contracts.hosts import ProbeInput
from orchestrator.hosts.schemas import HostOut, HostSettings, ProbeStarted
from orchestrator.hosts.service import HostService, host_overview
from orchestrator.queues import ORCHESTRATOR_QUEUE
from orchestrator.runs import RunOut, recent_runs
from orchestrator.temporal import workflow_ui_url
from orchestrator.tickets.queue import wake
from workflows.host_probe import HostProbeWorkflow

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api", tags=["hosts"])


def temporal_or_503(state: State) -> Client:
    if state.temporal is None:
        raise HTTPException(503, "Temporal is not connected yet.")
    return state.temporal


def ui_linker(state: State) -> Callable[[str, str], str | None]:
    s = state.settings

    def link(workflow_id: str, run_id: str) -> str | None:
        return workflow_ui_url(
            s.effective_temporal_ui_url, s.temporal_namespace, workflow_id, run_id
        )

    return link


@router.get(
    "/hosts",
    response_model=list[HostOut],
    responses=errors(401, 403),
    dependencies=[Depends(require("hosts.view"))],
)
async def list_hosts(state: State, session: DbSession) -> list[HostOut]:
    """Every host with its session and deploy workers and its last probe."""
    return await host_overview(HostService(session, state.pepper), ui_linker(state))


@router.patch(
    "/hosts/{host_id}",
    response_model=HostOut,
    responses=errors(401, 403, 404, 422),
    dependencies=[Depends(require("hosts.manage"))],
)
async def update_host(
    host_id: str, body: HostSettings, state: State, session: DbSession
) -> HostOut:
    """Set a host's maximum concurrent sessions and tickets and the workspaces it may serve."""
    svc = HostService(session, state.pepper)
    host = await svc.repo.get_host(host_id)
    if host is None:
        raise HTTPException(404, f"No host named {host_id}.")
    if body.max_concurrent_sessions is not None:
        host.max_concurrent_sessions = body.max_concurrent_sessions
    if body.max_concurrent_tickets is not None:
        host.max_concurrent_tickets = body.max_concurrent_tickets
    if body.workspace_allowlist is not None:
        host.workspace_allowlist = sorted(set(body.workspace_allowlist))
    await session.commit()
    if state.temporal is not None:  # more room, or another allowlist: queued tickets may start
        await wake(session, state.temporal, utcnow())
    return next(h for h in await host_overview(svc, ui_linker(state)) if h.id == host_id)


@router.post(
    "/hosts/{host_id}/probe",
    response_model=ProbeStarted,
    status_code=202,
    responses=errors(401, 403, 404, 503),
    dependencies=[Depends(require("hosts.manage"))],
)
async def probe_host(host_id: str, state: State, session: DbSession) -> ProbeStarted:
    """Start a HostProbeWorkflow: one activity on each of the host's agent and deploy queues."""
    if await HostService(session, state.pepper).repo.get_host(host_id) is None:
        raise HTTPException(404, f"No host named {host_id}.")
    return await start_probe(state, host_id)


async def start_probe(state: State, host_id: str) -> ProbeStarted:
    client = temporal_or_503(state)
    wid = f"host-probe-{host_id}-{uuid.uuid4().hex[:8]}"
    handle = await client.start_workflow(
        HostProbeWorkflow.run,
        ProbeInput(
            host_id=host_id, schedule_to_start_seconds=state.settings.schedule_to_start_seconds
        ),
        id=wid,
        task_queue=ORCHESTRATOR_QUEUE,
    )
    run_id = handle.result_run_id or ""
    state.spawn(_announce(state, handle, host_id), name=f"announce-{wid}")
    return ProbeStarted(
        workflow_id=wid, run_id=run_id, temporal_ui_url=ui_linker(state)(wid, run_id)
    )


@router.get(
    "/runs",
    response_model=list[RunOut],
    responses=errors(401, 403, 503),
    dependencies=[Depends(require("hosts.view"))],
)
async def list_runs(state: State, limit: Annotated[int, Query(ge=1, le=200)] = 20) -> list[RunOut]:
    """The most recent workflow runs, each linked to its Temporal UI page."""
    return await recent_runs(
        temporal_or_503(state), state.settings.effective_temporal_ui_url, limit
    )


async def _announce(state: State, handle: WorkflowHandle[Any, Any], host_id: str) -> None:
    """Tell live dashboards when the probe has been recorded (the worker may be elsewhere)."""
    try:
        await handle.result()
    except Exception as exc:
        log.warning("Probe %s of host %s failed: %s.", handle.id, host_id, exc)
    state.bus.publish({"type": "probe.recorded", "host_id": host_id, "workflow_id": handle.id})

"""Agent-facing endpoints: registration and heartbeats, authenticated by host API key."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request

from api.deps import DbSession, HostKey, State, client_ip
from api.problems import errors
from orchestrator.hosts.schemas import (
    HeartbeatRequest,
    HeartbeatResponse,
    RegisterRequest,
    RegisterResponse,
)
from orchestrator.hosts.service import HostAuthError, HostService, StatusChange

router = APIRouter(prefix="/internal/hosts", tags=["internal"])


def publish_changes(state: State, changes: list[StatusChange]) -> None:
    for c in changes:
        state.bus.publish(
            {"type": "host.status", "host_id": c.host_id, "kind": c.kind, "online": c.online}
        )


@router.post("/register", response_model=RegisterResponse, responses=errors(401, 403))
async def register(
    body: RegisterRequest, key: HostKey, state: State, session: DbSession, request: Request
) -> RegisterResponse:
    """Register (or re-register) an agent; answers with its queue and Temporal settings."""
    service = HostService(session, state.pepper)
    try:
        worker, changes = await service.register(key, body, client_ip(request))
    except HostAuthError as exc:
        raise HTTPException(exc.status, str(exc)) from None
    await session.commit()
    publish_changes(state, changes)
    s = state.settings
    return RegisterResponse(
        host_id=worker.host_id,
        kind=body.kind,
        task_queue=worker.task_queue,
        temporal_address=s.effective_temporal_address,
        temporal_namespace=s.temporal_namespace,
        payload_keys=state.payload_keys.serialize(),
        heartbeat_interval_seconds=s.heartbeat_interval_seconds,
    )


@router.post("/{host_id}/heartbeat", response_model=HeartbeatResponse, responses=errors(401, 403))
async def heartbeat(
    host_id: str,
    body: HeartbeatRequest,
    key: HostKey,
    state: State,
    session: DbSession,
    request: Request,
) -> HeartbeatResponse:
    """Keep the agent online; a revoked key answers 401 and the agent stops."""
    try:
        changes = await HostService(session, state.pepper).heartbeat(
            key, host_id, body, client_ip(request)
        )
    except HostAuthError as exc:
        raise HTTPException(exc.status, str(exc)) from None
    await session.commit()
    publish_changes(state, changes)
    return HeartbeatResponse()

"""Request dependencies: app state, a unit-of-work session, host-key authentication."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from sqlalchemy.ext.asyncio import AsyncSession

from api.state import AppState
from orchestrator.hosts.models import HostApiKey
from orchestrator.hosts.service import HostAuthError, HostService


def get_state(request: Request) -> AppState:
    state: AppState = request.app.state.polygent
    return state


State = Annotated[AppState, Depends(get_state)]


async def get_session(state: State) -> AsyncIterator[AsyncSession]:
    """The request's unit of work: committed when the handler returns without error."""
    async with state.db.session() as session:
        yield session


# Committed before the response is sent ("function" scope): a client's next request reads
# what this one wrote (the default, "request", commits after the response has gone).
DbSession = Annotated[AsyncSession, Depends(get_session, scope="function")]


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


async def host_key(request: Request, state: State) -> HostApiKey:
    """Authenticate an agent by its host API key (`Authorization: Bearer pgk_...`).

    Failures are committed in their own transaction so the failure counters survive the 401.
    """
    auth = request.headers.get("authorization", "")
    scheme, _, token = auth.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise HTTPException(401, "Missing host API key.", headers={"WWW-Authenticate": "Bearer"})
    async with state.db.session() as session:
        try:
            key = await HostService(session, state.pepper).verify_key(token.strip())
        except HostAuthError as exc:
            await session.commit()
            raise HTTPException(exc.status, str(exc)) from None
        return key


HostKey = Annotated[HostApiKey, Depends(host_key)]

"""Liveness, readiness and version."""

from __future__ import annotations

import asyncio
from importlib.metadata import version

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from api.deps import State
from api.problems import errors, problem
from orchestrator.db import safe_url
from orchestrator.migrate import head_revision
from orchestrator.temporal import check_health

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str


class Version(BaseModel):
    version: str
    schema_revision: str | None
    temporal_namespace: str
    temporal_ui_url: str | None
    database: str


@router.get("/healthz", response_model=Health)
async def healthz() -> Health:
    """The process is alive (says nothing about its dependencies)."""
    return Health(status="ok")


@router.get("/readyz", response_model=Health, responses=errors(503))
async def readyz(state: State) -> Health | JSONResponse:
    """The database and Temporal both answer; 503 names the one that does not."""
    try:
        await asyncio.wait_for(state.db.ping(), 3)
    except Exception as exc:
        return problem(503, "Not ready", f"The database does not answer: {type(exc).__name__}.")
    if state.temporal is None:
        return problem(503, "Not ready", "Temporal is not connected yet.")
    try:
        await check_health(state.temporal)
    except Exception as exc:
        return problem(503, "Not ready", f"Temporal does not answer: {type(exc).__name__}.")
    return Health(status="ready")


@router.get("/api/version", response_model=Version)
async def api_version(state: State) -> Version:
    s = state.settings
    return Version(
        version=version("polygent"),
        schema_revision=head_revision(),
        temporal_namespace=s.temporal_namespace,
        temporal_ui_url=s.effective_temporal_ui_url,
        database=safe_url(state.db.url),
    )

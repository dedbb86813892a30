"""The caller's own Azure DevOps PATs, one per workspace: set, clear, and see which exist.

Write-only like every token: nobody (the owner included) reads a PAT back.
"""

from __future__ import annotations

from fastapi import APIRouter, Response

from api.problems import errors
from api.routes.workspace_common import Service, domain_errors
from orchestrator.workspaces.pats import PersonalPatService
from orchestrator.workspaces.schemas import PersonalPatIn, PersonalPatOut

router = APIRouter(prefix="/api/me/pats", tags=["auth"])


@router.get("", response_model=list[PersonalPatOut], responses=errors(401))
async def list_personal_pats(svc: Service) -> list[PersonalPatOut]:
    """Which workspaces the caller has a personal PAT for (never the PATs)."""
    return await PersonalPatService(svc).all()


@router.put(
    "/{workspace_id}",
    status_code=204,
    responses=errors(401, 404, 413, 422),
    response_class=Response,
)
async def set_personal_pat(workspace_id: str, body: PersonalPatIn, svc: Service) -> Response:
    """Store (or replace) the caller's PAT for a workspace they see."""
    with domain_errors():
        await PersonalPatService(svc).set(workspace_id, body.value)
    return Response(status_code=204)


@router.delete(
    "/{workspace_id}", status_code=204, responses=errors(401, 404), response_class=Response
)
async def clear_personal_pat(workspace_id: str, svc: Service) -> Response:
    with domain_errors():
        await PersonalPatService(svc).clear(workspace_id)
    return Response(status_code=204)

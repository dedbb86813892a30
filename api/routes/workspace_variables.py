"""Workspace environment variables: create, replace, delete, import and export.

Secret values are write-only: listed as `value: null`, left out of exports (see
orchestrator/workspaces/envfile.py for both formats), never logged.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Response

from api.problems import errors
from api.routes.workspace_common import Service, domain_errors, workspace
from orchestrator.workspaces.models import Workspace
from orchestrator.workspaces.schemas import (
    ImportResult,
    VariableCreate,
    VariableImport,
    VariableOut,
    VariableUpdate,
)
from orchestrator.workspaces.validation import ENV_NAME
from orchestrator.workspaces.variables import VariableService, variable_out

router = APIRouter(prefix="/api/workspaces/{workspace_id}/variables", tags=["workspaces"])
Viewable = Annotated[Workspace, Depends(workspace("workspaces.view"))]
Editable = Annotated[Workspace, Depends(workspace("workspaces.edit"))]
VarPath = Annotated[str, Path(min_length=1, max_length=200, pattern=ENV_NAME)]
EXPORT_TYPES = {"env": "text/plain; charset=utf-8", "json": "application/json"}


@router.get("", response_model=list[VariableOut], responses=errors(401, 403, 404))
async def list_variables(ws: Viewable, svc: Service) -> list[VariableOut]:
    """Every variable; secret ones with `value: null`."""
    return [variable_out(v) for v in await VariableService(svc).all(ws)]


@router.post(
    "",
    response_model=VariableOut,
    status_code=201,
    responses=errors(401, 403, 404, 409, 413, 422),
)
async def create_variable(body: VariableCreate, ws: Editable, svc: Service) -> VariableOut:
    """Add a variable (409 if one of that name exists)."""
    with domain_errors():
        var = await VariableService(svc).create(ws, body.name, body.value, body.secret)
    return variable_out(var)


@router.post("/import", response_model=ImportResult, responses=errors(401, 403, 404, 413, 422))
async def import_variables(body: VariableImport, ws: Editable, svc: Service) -> ImportResult:
    """Create or replace variables from `.env` text or JSON (an object of strings, or a list
    of {name, value, secret}); an existing secret variable stays secret."""
    with domain_errors():
        return await VariableService(svc).import_(ws, body)


@router.get(
    "/export",
    response_class=Response,
    responses={
        200: {
            "description": "The variables; secret ones without their values.",
            "content": {"text/plain": {"schema": {"type": "string"}},
                        "application/json": {"schema": {"type": "array"}}},
        },
        **errors(401, 403, 404, 422),
    },
)  # fmt: skip
async def export_variables(
    ws: Viewable, svc: Service, format: Annotated[Literal["env", "json"], Query()] = "env"
) -> Response:
    """Download the variables as `.env` (secret names as comments) or JSON (secret values
    null); importing the file again leaves secret values untouched."""
    body = await VariableService(svc).export(ws, format)
    filename = f"{ws.name}.{'env' if format == 'env' else 'json'}".replace('"', "")
    return Response(
        body,
        media_type=EXPORT_TYPES[format],
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.put("/{name}", response_model=VariableOut, responses=errors(401, 403, 404, 413, 422))
async def replace_variable(
    name: VarPath, body: VariableUpdate, ws: Editable, svc: Service
) -> VariableOut:
    """Set a variable's value and secret flag (a value is always required)."""
    with domain_errors():
        var = await VariableService(svc).update(ws, name, body.value, body.secret)
    return variable_out(var)


@router.delete(
    "/{name}", status_code=204, responses=errors(401, 403, 404, 422), response_class=Response
)
async def delete_variable(name: VarPath, ws: Editable, svc: Service) -> Response:
    with domain_errors():
        await VariableService(svc).delete(ws, name)
    return Response(status_code=204)

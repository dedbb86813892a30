"""Server-rendered dashboard pages and the HTML fragments the live script swaps in."""

from __future__ import annotations

import logging
from importlib.metadata import version
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from api.deps import DbSession, State
from api.routes.hosts import ui_linker
from orchestrator.hosts.service import HostService, host_overview
from orchestrator.runs import RunOut, recent_runs

log = logging.getLogger(__name__)
TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
router = APIRouter(include_in_schema=False)


def _base(state: State, page: str) -> dict[str, Any]:
    s = state.settings
    return {
        "page": page,
        "version": version("polygent"),
        "namespace": s.temporal_namespace,
        "temporal_ui_url": s.effective_temporal_ui_url,
    }


async def _runs(state: State) -> list[RunOut] | None:
    if state.temporal is None:
        return None
    try:
        return await recent_runs(state.temporal, state.settings.effective_temporal_ui_url)
    except Exception as exc:  # visibility down must not take the page down
        log.warning("Could not list recent workflow runs: %s.", exc)
        return None


@router.get("/", response_class=HTMLResponse)
async def status_page(request: Request, state: State, session: DbSession) -> HTMLResponse:
    hosts = await host_overview(HostService(session, state.pepper), ui_linker(state))
    ctx = {**_base(state, "status"), "hosts": hosts, "runs": await _runs(state)}
    return TEMPLATES.TemplateResponse(request, "status.html", ctx)


@router.get("/partials/hosts", response_class=HTMLResponse)
async def hosts_partial(request: Request, state: State, session: DbSession) -> HTMLResponse:
    hosts = await host_overview(HostService(session, state.pepper), ui_linker(state))
    return TEMPLATES.TemplateResponse(request, "partials/hosts.html", {"hosts": hosts})


@router.get("/partials/runs", response_class=HTMLResponse)
async def runs_partial(request: Request, state: State) -> HTMLResponse:
    return TEMPLATES.TemplateResponse(request, "partials/runs.html", {"runs": await _runs(state)})

"""Server-rendered dashboard pages and the HTML fragments the live script swaps in."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from importlib.metadata import version
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from api.auth import optional_principal, require
from api.deps import DbSession, State
from api.routes.auth import auth_config
from api.routes.hosts import ui_linker
from orchestrator.auth.service import Principal
from orchestrator.hosts.service import HostService, host_overview
from orchestrator.runs import RunOut, recent_runs

log = logging.getLogger(__name__)
TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
router = APIRouter(include_in_schema=False)
OptionalUser = Annotated[Principal | None, Depends(optional_principal)]


def _base(state: State, page: str, user: Principal | None = None) -> dict[str, Any]:
    s = state.settings
    return {
        "page": page,
        "user": user,
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


class PageResponse(Exception):
    """Raised by page guards: the response to send instead (a redirect or the 403 page)."""

    def __init__(self, response: Response) -> None:
        self.response = response


def page_user(*permissions: str) -> Callable[..., Awaitable[Principal]]:
    """A page's caller: strangers go to /signin, people holding none of `permissions` see the
    403 page (a page with tabs per permission opens for anyone who may see one of them)."""

    async def guard(request: Request, state: State, user: OptionalUser) -> Principal:
        if user is None:
            raise PageResponse(_to_signin(request))
        if permissions and not any(user.can(p) for p in permissions):
            raise PageResponse(_forbidden(request, state, user, " or ".join(permissions)))
        return user

    guard.permissions = permissions  # type: ignore[attr-defined]
    guard.page = True  # type: ignore[attr-defined]
    return guard


def _to_signin(request: Request) -> RedirectResponse:
    return RedirectResponse(f"/signin?next={quote(request.url.path)}", status_code=303)


def _forbidden(request: Request, state: State, user: Principal, permission: str) -> HTMLResponse:
    ctx = {**_base(state, "forbidden", user), "permission": permission}
    return TEMPLATES.TemplateResponse(request, "forbidden.html", ctx, status_code=403)


@router.get("/signin", response_class=HTMLResponse)
async def signin_page(
    request: Request, state: State, session: DbSession, setup_token: str | None = None
) -> HTMLResponse:
    config = await auth_config(state, session)
    next_ = request.query_params.get("next", "/")
    ctx = {**_base(state, "signin"), "config": config, "setup_token": setup_token, "next": next_}
    return TEMPLATES.TemplateResponse(request, "signin.html", ctx)


@router.get("/", response_class=HTMLResponse)
async def status_page(
    request: Request,
    state: State,
    session: DbSession,
    user: Annotated[Principal, Depends(page_user("hosts.view"))],
) -> HTMLResponse:
    hosts = await host_overview(HostService(session, state.pepper), ui_linker(state))
    ctx = {
        **_base(state, "status", user), "hosts": hosts, "runs": await _runs(state),
        "can_probe": user.can("hosts.manage"),
    }  # fmt: skip
    return TEMPLATES.TemplateResponse(request, "status.html", ctx)


@router.get("/partials/hosts", response_class=HTMLResponse)
async def hosts_partial(
    request: Request,
    state: State,
    session: DbSession,
    user: Annotated[Principal, Depends(require("hosts.view"))],
) -> HTMLResponse:
    hosts = await host_overview(HostService(session, state.pepper), ui_linker(state))
    ctx = {"hosts": hosts, "can_probe": user.can("hosts.manage")}
    return TEMPLATES.TemplateResponse(request, "partials/hosts.html", ctx)


@router.get(
    "/partials/runs", response_class=HTMLResponse, dependencies=[Depends(require("hosts.view"))]
)
async def runs_partial(request: Request, state: State) -> HTMLResponse:
    return TEMPLATES.TemplateResponse(request, "partials/runs.html", {"runs": await _runs(state)})

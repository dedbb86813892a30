"""The FastAPI application: routes, errors, logging, live hub, background monitor."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import version
from pathlib import Path

from fastapi import FastAPI, Request, Response
from fastapi.staticfiles import StaticFiles

from api import problems, ws
from api.bodylimit import BodyLimitMiddleware
from api.internal import hosts as internal_hosts
from api.internal import secrets as internal_secrets
from api.internal import sessions as internal_sessions
from api.middleware import RequestLogMiddleware
from api.monitor import offline_monitor
from api.routes import (
    audit,
    auth,
    health,
    hooks,
    hosts,
    notifications,
    oidc,
    personal_pats,
    roles,
    session_events,
    session_panel,
    sessions,
    settings,
    ticket_actions,
    ticket_candidates,
    ticket_queue,
    ticket_settings,
    ticket_sync,
    tickets,
    users,
    workspace_tasks,
    workspace_variables,
    workspaces,
)
from api.state import AppState
from api.web import admin as web_admin
from api.web import routes as web
from api.web import sessions as web_sessions
from api.web import tickets as web_tickets
from api.web import workspaces as web_workspaces
from api.web.routes import PageResponse

STATIC = Path(__file__).parent / "web" / "static"


async def _page_response(request: Request, exc: PageResponse) -> Response:
    """A page guard's answer: the sign-in redirect or the 403 page."""
    return exc.response


def create_app(state: AppState) -> FastAPI:
    """Build the app around an already-connected state (database, Temporal client)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        stop = asyncio.Event()
        monitor = asyncio.create_task(offline_monitor(state, stop), name="offline-monitor")
        try:
            yield
        finally:
            stop.set()
            for task in (monitor, *state.background):
                task.cancel()
            for task in (monitor, *state.background):
                with contextlib.suppress(BaseException):
                    await task

    app = FastAPI(
        title="Polygent",
        version=version("polygent"),
        description="Self-hosted platform that runs AI coding agents, on Temporal.",
        lifespan=lifespan,
    )
    app.state.polygent = state
    problems.install(app)
    app.add_exception_handler(PageResponse, _page_response)  # type: ignore[arg-type]
    app.add_middleware(BodyLimitMiddleware, max_bytes=state.settings.max_body_bytes)
    app.add_middleware(RequestLogMiddleware)
    oidc.install_session(app, state)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    routers = (
        health.router,
        auth.router,
        oidc.router,
        hosts.router,
        users.router,
        roles.router,
        audit.router,
        internal_hosts.router,
        workspaces.router,
        workspace_variables.router,
        workspace_tasks.router,
        hooks.router,
        hooks.runs_router,
        personal_pats.router,
        internal_secrets.router,
        internal_sessions.router,
        session_events.router,
        session_panel.router,
        sessions.router,
        settings.router,
        notifications.router,
        ticket_queue.router,  # before tickets: /api/tickets/queue is not a ticket id
        tickets.router,
        ticket_actions.router,
        ticket_candidates.router,
        ticket_settings.router,
        ticket_sync.router,
        web_workspaces.router,
        web_sessions.router,
        web_tickets.router,
        ws.router,
        web.router,
        web_admin.router,
    )
    for router in routers:
        app.include_router(router)
    return app

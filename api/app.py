"""The FastAPI application: routes, errors, logging, live hub, background monitor."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import version
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from api import problems, ws
from api.bodylimit import BodyLimitMiddleware
from api.internal import hosts as internal_hosts
from api.middleware import RequestLogMiddleware
from api.monitor import offline_monitor
from api.routes import auth, health, hosts
from api.state import AppState
from api.web import routes as web

STATIC = Path(__file__).parent / "web" / "static"


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
    app.add_middleware(BodyLimitMiddleware, max_bytes=state.settings.max_body_bytes)
    app.add_middleware(RequestLogMiddleware)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    routers = (
        health.router,
        auth.router,
        hosts.router,
        internal_hosts.router,
        ws.router,
        web.router,
    )
    for router in routers:
        app.include_router(router)
    return app

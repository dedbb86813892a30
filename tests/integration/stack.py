"""An in-process platform for integration tests: served API, orchestrator worker, agents."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr
from temporalio.client import Client

from agent_worker.main import session_activities
from api.app import create_app
from api.state import AppState
from deploy_worker.main import deploy_activities
from orchestrator.auth.service import AuthService, Identity
from orchestrator.config import AgentSettings, ServerSettings
from orchestrator.db import Database
from orchestrator.hostagent.runtime import run_host_agent
from orchestrator.hosts.service import HostService
from orchestrator.worker import build_orchestrator_worker
from tests.helpers import TEST_MASTER, served

UI = "http://temporal-ui.test"


@dataclass
class Agent:
    stop: asyncio.Event
    task: asyncio.Task[None]


@dataclass
class Stack:
    url: str
    state: AppState
    http: httpx.AsyncClient
    tmp: Path
    agents: dict[tuple[str, str], Agent] = field(default_factory=dict)

    async def mint(self, kind: str, name: str = "test key") -> str:
        async with self.state.db.session() as s:
            _, plaintext = await HostService(s, self.state.pepper).mint_key(name, kind)
        return plaintext

    async def start_agent(self, host: str, kind: str, key: str | None = None) -> Agent:
        settings = AgentSettings.model_construct(
            name=host,
            main_server_url=self.url,
            api_key=SecretStr(key or await self.mint(kind)),
            storage_path=self.tmp / host / kind,
            temporal_address=None,
            max_concurrent_activities=4,
            data_dir=self.tmp,
            log_level="INFO",
            log_format="text",
        )
        build = session_activities(settings) if kind == "session" else deploy_activities(settings)
        stop = asyncio.Event()
        task = asyncio.create_task(
            run_host_agent(settings, kind, build, stop, temporal_client=self.state.temporal)
        )
        agent = Agent(stop, task)
        self.agents[(host, kind)] = agent
        return agent

    async def stop_agent(self, host: str, kind: str) -> None:
        agent = self.agents.pop((host, kind))
        agent.stop.set()
        await agent.task

    async def host(self, host_id: str) -> dict[str, Any] | None:
        resp = await self.http.get("/api/hosts")
        resp.raise_for_status()
        return next((h for h in resp.json() if h["id"] == host_id), None)

    async def worker(self, host_id: str, kind: str) -> dict[str, Any] | None:
        h = await self.host(host_id)
        return next((w for w in h["workers"] if w["kind"] == kind), None) if h else None


def unique_host() -> str:
    return f"h{uuid.uuid4().hex[:10]}"


@contextlib.asynccontextmanager
async def running_stack(
    db: Database, client: Client, tmp: Path, *, admin: bool = True, **settings: Any
) -> AsyncIterator[Stack]:
    base = {
        "data_dir": tmp,
        "temporal_namespace": client.namespace,
        "temporal_ui_url": UI,
        "heartbeat_interval_seconds": 0.5,
        "host_offline_after_seconds": 30,
        "schedule_to_start_seconds": 3,
    }
    s = ServerSettings(**{**base, **settings})
    state = AppState(settings=s, db=db, master=TEST_MASTER, temporal=client)
    async with served(create_app(state)) as url:
        state.settings = s.model_copy(update={"public_url": url})
        worker = build_orchestrator_worker(client, db, TEST_MASTER, state.bus)
        headers = (
            {"Authorization": f"Bearer {await sign_in(state, 'admin', first=True)}"}
            if admin
            else {}
        )
        async with worker, httpx.AsyncClient(base_url=url, timeout=30, headers=headers) as http:
            stack = Stack(url=url, state=state, http=http, tmp=tmp)
            try:
                yield stack
            finally:
                for host, kind in list(stack.agents):
                    await stack.stop_agent(host, kind)
                await terminate_running(client)


async def sign_in(
    state: AppState, name: str, *, first: bool = False, roles: list[str] | None = None
) -> str:
    """An access token for `name` (the first admin when `first`), straight from the service."""
    async with state.db.session() as s:
        svc = AuthService(s, state.settings, state.access)
        setup = await svc.issue_setup_token() if first else None
        tokens = await svc.sign_in(
            Identity("local", name, None, False, name),
            user_agent="tests",
            ip=None,
            setup_token=setup,
        )
        for role in roles or []:
            found = await svc.repo.role_by_name(role)
            assert found is not None
            await svc.repo.assign_role(tokens.user.id, found.id)
        return tokens.access_token


async def terminate_running(client: Client) -> None:
    """Leave no workflow behind for the next test's worker (it may use another database)."""
    async for wf in client.list_workflows("ExecutionStatus = 'Running'"):
        with contextlib.suppress(Exception):
            await client.get_workflow_handle(wf.id, run_id=wf.run_id).terminate("test ended")

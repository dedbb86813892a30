"""The production shape: every role its own process, PostgreSQL and an external Temporal."""

from __future__ import annotations

import signal
from typing import Any

import pytest
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from orchestrator.queues import SEARCH_ATTRIBUTES
from tests.conftest import create_pg_database, drop_pg_database
from tests.e2e.conftest import Polygent, get_host, wait_ready, wait_until, workers_by_kind
from tests.helpers import TEST_MASTER, binary, wait_for

pytestmark = [pytest.mark.foundation, pytest.mark.slow]

HOST = "remote1"


async def _namespace_exists(client: Client, namespace: str) -> bool:
    try:
        await client.workflow_service.describe_namespace(
            DescribeNamespaceRequest(namespace=namespace)
        )
    except RPCError as exc:
        if exc.status is RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True


async def test_roles_as_separate_processes(polygent: Polygent, pg_admin_url: str) -> None:
    db_url = create_pg_database(pg_admin_url)
    try:
        await _scenario(polygent, db_url)
    finally:
        polygent.cleanup()  # every process down before the database goes
        drop_pg_database(pg_admin_url, db_url)


async def _scenario(polygent: Polygent, db_url: str) -> None:
    # An "external" cluster from polygent's point of view: only the default namespace.
    external = polygent.spawn(
        [
            binary("temporal"), "server", "start-dev", "--ip", "127.0.0.1",
            "--port", str(polygent.temporal_port), "--headless", "--namespace", "default",
            "--log-level", "error",
        ],
        name="external-temporal",
    )  # fmt: skip

    async def connected() -> Client | None:
        if not external.running():
            pytest.fail(f"the external Temporal server exited\n{external.report()}")
        try:
            return await Client.connect(polygent.temporal_address, namespace="default")
        except RuntimeError:
            return None

    temporal = await wait_for(connected, timeout=60, interval=0.2, what="the external Temporal")
    assert not await _namespace_exists(temporal, "polygent")

    env = polygent.env(
        POLYGENT_DATABASE_URL=db_url,
        POLYGENT_TEMPORAL_ADDRESS=polygent.temporal_address,
        POLYGENT_ENCRYPTION_KEY=TEST_MASTER.serialize(),
        POLYGENT_TEMPORAL_PORT=None,
        POLYGENT_TEMPORAL_UI_PORT=None,
        POLYGENT_HEARTBEAT_INTERVAL_SECONDS=1,
        POLYGENT_HOST_OFFLINE_AFTER_SECONDS=3,
        POLYGENT_SCHEDULE_TO_START_SECONDS=3,
    )
    migrated = polygent.run("migrate", env=env)
    assert migrated.returncode == 0, str(migrated)

    api = polygent.start("api", env=env)
    worker = polygent.start("worker", env=env)
    # Only the database and the key are needed to mint: overlap it with the servers' start.
    session_key, deploy_key = polygent.mint_keys(HOST, "session", "deploy", env=env)
    await wait_ready(api, polygent.api_url)

    # polygent created its namespace on the cluster and registered its search attributes.
    assert await _namespace_exists(temporal, "polygent")
    attrs = await temporal.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace="polygent")
    )
    assert set(SEARCH_ATTRIBUTES) <= set(attrs.custom_attributes)

    agent = polygent.start("agent-worker", env=polygent.agent_env(HOST, session_key))
    deployer = polygent.start("deploy-worker", env=polygent.agent_env(HOST, deploy_key))

    async with await polygent.sign_in(polygent.api_url, env=env) as http:

        async def workers(expect: dict[str, bool]) -> dict[str, Any] | None:
            for proc in (api, worker, agent):
                if not proc.running():
                    pytest.fail(f"{proc.name} exited\n{proc.report()}")
            got = {k: w["online"] for k, w in workers_by_kind(await get_host(http, HOST)).items()}
            return got if got == expect else None

        await wait_until(
            lambda: workers({"session": True, "deploy": True}), timeout=60,
            what=f"both workers of {HOST} online", procs=(agent, deployer),
        )  # fmt: skip

        async def start_probe() -> str:
            started = await http.post(f"/api/hosts/{HOST}/probe")
            assert started.status_code == 202, started.text
            return str(started.json()["workflow_id"])

        async def recorded(wid: str, expect_status: str) -> dict[str, Any]:
            async def check() -> dict[str, Any] | None:
                host = await get_host(http, HOST)
                p = host["last_probe"] if host else None
                return p if p and p["workflow_id"] == wid else None

            rec: dict[str, Any] = await wait_until(
                check, timeout=45, interval=0.2, what=f"probe {wid} to be recorded",
                procs=(worker, agent, deployer),
            )  # fmt: skip
            assert rec["status"] == expect_status, rec
            return rec

        ok = await recorded(await start_probe(), "ok")
        assert ok["agent_report"]["kind"] == "session"
        assert ok["deploy_report"]["kind"] == "deploy"

        # A crashed orchestrator worker: a probe started while it is down runs once it is back.
        worker.send(signal.SIGKILL)
        assert await worker.wait_exit(10) == -signal.SIGKILL
        wid = await start_probe()
        worker = polygent.start("worker", env=env)
        await recorded(wid, "ok")

        # A crashed deployment agent: offline after the configured silence, and probes say so.
        deployer.send(signal.SIGKILL)
        assert await deployer.wait_exit(10) == -signal.SIGKILL
        await wait_until(
            lambda: workers({"session": True, "deploy": False}), timeout=20,
            what=f"the deploy worker of {HOST} to go offline", procs=(api,),
        )  # fmt: skip
        partial = await recorded(await start_probe(), "partial")
        assert partial["agent_report"]["kind"] == "session"
        assert partial["deploy_report"] is None
        assert partial["deploy_error"].startswith("offline"), partial

    for proc in (agent, worker, api):
        proc.send(signal.SIGTERM)
    for proc in (agent, worker, api):
        assert await proc.wait_exit(30) == 0, proc.report()
        assert "Traceback" not in proc.stderr, proc.report()
    external.send(signal.SIGTERM)
    await external.wait_exit(30)

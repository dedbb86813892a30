"""The first real round trip: a workflow on the orchestrator queue that runs one activity on
a host's agent queue and one on its deploy queue, with live updates and offline detection."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
import websockets
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from orchestrator.contracts.hosts import ProbeResult
from orchestrator.db import Database
from tests.helpers import wait_for
from tests.integration.stack import UI, Stack, running_stack, unique_host

pytestmark = pytest.mark.foundation


class Live:
    """Collects every event the WebSocket hub pushes."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    async def run(self, url: str, ready: asyncio.Event, token: str) -> None:
        headers = {"Authorization": f"Bearer {token}"}
        async with websockets.connect(
            url.replace("http", "ws") + "/ws", additional_headers=headers
        ) as ws:
            async for msg in ws:
                event = json.loads(msg)
                self.events.append(event)
                if event["type"] == "hello":
                    ready.set()

    def has(self, **match: Any) -> bool:
        return any(all(e.get(k) == v for k, v in match.items()) for e in self.events)


async def _probe(stack: Stack, host: str) -> dict[str, Any]:
    resp = await stack.http.post(f"/api/hosts/{host}/probe")
    assert resp.status_code == 202, resp.text
    started = resp.json()
    assert started["temporal_ui_url"] == (
        f"{UI}/namespaces/default/workflows/{started['workflow_id']}/{started['run_id']}/history"
    )

    async def recorded() -> dict[str, Any] | None:
        h = await stack.host(host)
        p = h and h["last_probe"]
        return p if p and p["workflow_id"] == started["workflow_id"] else None

    return await wait_for(recorded, timeout=60, what="the probe to be recorded")


async def test_round_trip_and_live_updates(
    db: Database, temporal_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    host = unique_host()
    async with running_stack(
        db, temporal_env.client, tmp_path, host_offline_after_seconds=1.5
    ) as stack:
        async with websockets.connect(stack.url.replace("http", "ws") + "/ws") as anonymous:
            with pytest.raises(websockets.exceptions.ConnectionClosed) as closed:
                await anonymous.recv()
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
        live, ready = Live(), asyncio.Event()
        token = stack.http.headers["Authorization"].split()[1]
        ws_task = asyncio.create_task(live.run(stack.url, ready, token))
        await asyncio.wait_for(ready.wait(), 10)

        await stack.start_agent(host, "session")
        await stack.start_agent(host, "deploy")
        await wait_for(
            lambda: live.has(type="host.status", host_id=host, kind="session", online=True),
            what="session agent online over the WebSocket",
        )
        await wait_for(
            lambda: live.has(type="host.status", host_id=host, kind="deploy", online=True),
            what="deploy agent online over the WebSocket",
        )

        probe = await _probe(stack, host)
        assert probe["status"] == "ok"
        for kind in ("agent", "deploy"):
            report = probe[f"{kind}_report"]
            assert report["git_version"].startswith("git version ")
            assert report["free_disk_bytes"] > 0
            assert set(report["clis"]) == {
                "claude-code",
                "gemini-cli",
                "opencode",
                "kilo-cli",
                "codex",
                "qwen-code",
            }
        assert probe["agent_report"]["kind"] == "session"
        assert probe["deploy_report"]["kind"] == "deploy"
        assert probe["agent_report"]["disk_path"].endswith(f"{host}/session")
        await wait_for(
            lambda: live.has(type="probe.recorded", host_id=host), what="probe.recorded event"
        )

        runs = (await stack.http.get("/api/runs", params={"limit": 50})).json()
        run = next(r for r in runs if r["workflow_id"] == probe["workflow_id"])
        assert run["workflow_type"] == "HostProbeWorkflow" and run["status"] == "COMPLETED"
        assert run["temporal_ui_url"].startswith(f"{UI}/namespaces/default/workflows/")

        page = (await stack.http.get("/")).text
        assert host in page and probe["workflow_id"] in page

        # The deploy agent stops: heartbeats cease, the API notices within seconds and says so live.
        await stack.stop_agent(host, "deploy")
        await wait_for(
            lambda: live.has(type="host.status", host_id=host, kind="deploy", online=False),
            timeout=15,
            what="deploy agent offline over the WebSocket",
        )
        worker = await stack.worker(host, "deploy")
        assert worker is not None and worker["online"] is False

        # A probe now reports the offline queue in seconds instead of waiting for it.
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        probe2 = await _probe(stack, host)
        assert loop.time() - t0 < 30
        assert probe2["status"] == "partial"
        assert probe2["agent_report"] is not None
        assert probe2["deploy_error"].startswith("offline: no worker took the task within 3 s")
        ws_task.cancel()


async def test_payloads_are_encrypted_in_temporal(
    db: Database, temporal_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """Read the history with a client that has no codec: no plaintext anywhere in payloads."""
    host = unique_host()
    async with running_stack(db, temporal_env.client, tmp_path) as stack:
        await stack.start_agent(host, "session")
        await stack.start_agent(host, "deploy")
        await wait_for(lambda: stack.worker(host, "deploy"), what="deploy agent registered")
        await wait_for(lambda: stack.worker(host, "session"), what="session agent registered")
        probe = await _probe(stack, host)
    raw = await Client.connect(
        temporal_env.client.service_client.config.target_host, namespace="default"
    )
    history = await raw.get_workflow_handle(probe["workflow_id"]).fetch_history()
    payloads = []
    for event in history.events:
        for attr in (
            "workflow_execution_started_event_attributes",
            "activity_task_scheduled_event_attributes",
        ):
            if event.HasField(attr):  # type: ignore[arg-type]
                payloads += list(getattr(event, attr).input.payloads)
        for attr in (
            "activity_task_completed_event_attributes",
            "workflow_execution_completed_event_attributes",
        ):
            if event.HasField(attr):  # type: ignore[arg-type]
                payloads += list(getattr(event, attr).result.payloads)
    assert len(payloads) >= 6
    for p in payloads:
        assert p.metadata["encoding"] == b"binary/encrypted"
    blob = b"".join(p.SerializeToString() for p in payloads)
    assert b"git version" not in blob and host.encode() not in blob
    # With our codec the same history decodes to the real result.
    handle = temporal_env.client.get_workflow_handle(probe["workflow_id"], result_type=ProbeResult)
    result = await handle.result()
    assert result.agent.report is not None
    assert result.agent.report.git_version and result.agent.report.git_version.startswith("git ")

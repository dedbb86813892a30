"""`polygent up` as a real process: everything on one machine, clean stop, crash and resume."""

from __future__ import annotations

import contextlib
import signal
import sqlite3
from typing import Any

import httpx
import pytest
from temporalio.client import Client, WorkflowExecutionStatus

from tests.e2e.conftest import (
    Polygent,
    get_host,
    is_alive,
    leftover_report,
    wait_all_dead,
    wait_child,
    wait_ready,
    wait_until,
    workers_by_kind,
)
from tests.helpers import wait_for

pytestmark = [pytest.mark.foundation, pytest.mark.slow]


async def _host_with_workers(
    http: httpx.AsyncClient, host_id: str, kinds: set[str]
) -> dict[str, Any] | None:
    host = await get_host(http, host_id)
    workers = workers_by_kind(host)
    if set(workers) == kinds and all(w["online"] for w in workers.values()):
        return host
    return None


async def _last_probe(
    http: httpx.AsyncClient, host_id: str, workflow_id: str | None = None
) -> dict[str, Any] | None:
    host = await get_host(http, host_id)
    probe = host["last_probe"] if host else None
    if probe is None or (workflow_id is not None and probe["workflow_id"] != workflow_id):
        return None
    return probe  # type: ignore[no-any-return]


async def test_up_serves_everything_and_stops_on_sigterm(polygent: Polygent) -> None:
    up = polygent.start("up")
    await wait_ready(up, polygent.api_url)

    async with await polygent.sign_in(polygent.api_url) as http:
        host = await wait_for(
            lambda: _host_with_workers(http, "local", {"session", "deploy"}),
            timeout=30, what="host local with an online session and deploy worker",
        )  # fmt: skip
        assert host["online"] is True

        # `up` probes the local host by itself once both agents are online.
        probe = await wait_for(
            lambda: _last_probe(http, "local"), timeout=30, what="the first probe of local"
        )
        assert probe["status"] == "ok", probe
        assert probe["agent_report"]["kind"] == "session"
        assert probe["deploy_report"]["kind"] == "deploy"
        assert probe["agent_error"] is None and probe["deploy_error"] is None
        assert probe["temporal_ui_url"].startswith(
            f"{polygent.ui_url}/namespaces/polygent/workflows/{probe['workflow_id']}/"
        )

        # The banner names the dashboard and the Temporal UI, and the UI is really served.
        await wait_for(lambda: "Press Ctrl-C" in up.stdout, timeout=10, what="the banner")
        assert f"Dashboard:   {polygent.api_url}/" in up.stdout, up.stdout
        assert f"Temporal UI: {polygent.ui_url}" in up.stdout, up.stdout

        async def ui_answers() -> bool:
            try:
                async with httpx.AsyncClient(timeout=3) as ui:
                    return (await ui.get(polygent.ui_url)).status_code == 200
            except httpx.HTTPError:
                return False

        await wait_for(ui_answers, timeout=30, what=f"the Temporal UI at {polygent.ui_url}")

        page = await http.get("/")
        assert page.status_code == 200
        assert 'data-host="local"' in page.text
        assert 'data-worker="local:session"' in page.text
        assert 'data-worker="local:deploy"' in page.text

    temporal = up.descendant_named("start-dev")
    assert temporal is not None, f"no embedded Temporal child among {up.snapshot()}"
    recorded = list(up.snapshot().values())

    up.send(signal.SIGTERM)
    rc = await up.wait_exit(30)
    assert rc == 0, up.report()
    assert "Traceback" not in up.stderr, up.report()
    left = [p for p in recorded if is_alive(p)]
    assert not left, f"still alive after `polygent up` exited: {leftover_report(left)}"


async def test_second_up_on_same_data_dir_is_refused(polygent: Polygent) -> None:
    first = polygent.start("up")
    # It takes the data-dir lock before it spawns the embedded Temporal server.
    await wait_child(first, "start-dev")
    assert first.running(), first.report()

    second = polygent.run("up", timeout=30)
    assert second.returncode != 0, str(second)
    lines = second.stderr.strip().splitlines()
    assert len(lines) == 1, str(second)
    assert lines[0].startswith("polygent: "), str(second)
    assert "already running" in lines[0], str(second)
    assert "Traceback" not in second.stderr
    assert first.running(), first.report()  # the refused one did not disturb the first


async def test_sigterm_during_startup_leaves_nothing_behind(polygent: Polygent) -> None:
    up = polygent.start("up")
    # Stop it while it is still bringing the embedded Temporal server up.
    await wait_child(up, "start-dev")
    up.send(signal.SIGTERM)
    rc = await up.wait_exit(30)
    assert rc == 0, up.report()
    assert "Traceback" not in up.stderr, up.report()
    recorded = list(up.snapshot().values())
    left = [p for p in recorded if is_alive(p)]
    assert not left, f"still alive after `polygent up` exited: {leftover_report(left)}"
    # The port is free again: nothing kept serving.
    async with httpx.AsyncClient(timeout=2) as http:
        with pytest.raises(httpx.ConnectError):
            await http.get(f"{polygent.api_url}/healthz")


async def test_crash_then_resume_completes_the_probe_started_before(polygent: Polygent) -> None:
    """SIGKILL `polygent up` while a probe waits on a host's queue; the next `up` finishes it.

    The probe's activities carry schedule_to_start=120 s (fixed in the workflow input when it
    started), far above the time the crash and restart take; both of ghost's agents are started
    only after the restart, so the probe started before the crash can only complete (status
    ok, same workflow and run id) if the workflow survived the crash. (Leaving ghost without a
    deploy agent would end in "partial", but only after those same 120 s: the timeout cannot
    be shortened for a workflow already running, and a short one could expire during the
    restart on a loaded machine.)
    """
    env = polygent.env(POLYGENT_SCHEDULE_TO_START_SECONDS=120)
    up1 = polygent.start("up", env=env)
    await wait_ready(up1, polygent.api_url)

    # `hosts mint-key` is a separate process writing to the same SQLite database as `up`.
    session_key, deploy_key = polygent.mint_keys("ghost", "session", "deploy", env=env)

    async with await polygent.sign_in(polygent.api_url, env=env) as http:
        reg = await http.post(
            "/internal/hosts/register",
            headers={"Authorization": f"Bearer {session_key}"},
            json={"name": "ghost", "kind": "session"},
        )
        assert reg.status_code == 200, reg.text
        started = await http.post("/api/hosts/ghost/probe")
        assert started.status_code == 202, started.text
        wid, run_id = started.json()["workflow_id"], started.json()["run_id"]

    # Wait until the probe is parked on ghost's agent queue (nobody polls it).
    temporal = await Client.connect(polygent.temporal_address, namespace="polygent")

    async def parked() -> bool:
        desc = await temporal.get_workflow_handle(wid).describe()
        pending = desc.raw_description.pending_activities
        return any(a.activity_type.name == "agent.probe" for a in pending)

    await wait_for(parked, timeout=30, what=f"{wid} to wait on polygent.agent.ghost")

    child = up1.descendant_named("start-dev")
    assert child is not None, f"no embedded Temporal child among {up1.snapshot()}"
    recorded = list(up1.snapshot().values())
    up1.send(signal.SIGKILL)
    assert await up1.wait_exit(10) == -signal.SIGKILL
    assert child.pid in {p.pid for p in recorded}
    # PR_SET_PDEATHSIG: the embedded Temporal server dies with the `up` that was SIGKILLed.
    await wait_all_dead(recorded, timeout=10, what="the children of the killed `up` to die")

    # Same data dir, same ports: the second `up` resumes.
    up2 = polygent.start("up", env=env)
    await wait_ready(up2, polygent.api_url)
    agent = polygent.start("agent-worker", env=polygent.agent_env("ghost", session_key))
    deploy = polygent.start("deploy-worker", env=polygent.agent_env("ghost", deploy_key))

    async with await polygent.sign_in(polygent.api_url, env=env) as http:
        probe = await wait_until(
            lambda: _last_probe(http, "ghost", wid), timeout=60,
            what=f"the probe {wid} started before the crash to be recorded",
            procs=(agent, deploy, up2),
        )  # fmt: skip
    assert probe["run_id"] == run_id  # the same run resumed, not a new one
    assert probe["status"] == "ok", probe
    assert probe["agent_report"]["kind"] == "session"
    assert probe["deploy_report"]["kind"] == "deploy"

    temporal = await Client.connect(polygent.temporal_address, namespace="polygent")
    handle = temporal.get_workflow_handle(wid)

    async def closed() -> object:
        desc = await handle.describe()
        return desc if desc.status != WorkflowExecutionStatus.RUNNING else None

    desc = await wait_for(closed, timeout=20, what=f"{wid} to close")
    assert desc.status == WorkflowExecutionStatus.COMPLETED
    assert desc.run_id == run_id
    # Recorded exactly once, although the workflow outlived the process that started it.
    with contextlib.closing(sqlite3.connect(polygent.data_dir / "polygent.db")) as db:
        rows = db.execute("SELECT run_id FROM host_probes WHERE workflow_id = ?", (wid,)).fetchall()
    assert rows == [(run_id,)]

    recorded = list(up2.snapshot().values())
    agent.send(signal.SIGTERM)
    deploy.send(signal.SIGTERM)
    up2.ctrl_c()
    for proc in (agent, deploy, up2):
        assert await proc.wait_exit(30) == 0, proc.report()
        assert "Traceback" not in proc.stderr, proc.report()
    left = [p for p in recorded if is_alive(p)]
    assert not left, f"still alive after `polygent up` exited: {leftover_report(left)}"

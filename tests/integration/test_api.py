"""API behaviour: health, readiness, version, problem+json errors, auth, logs without secrets."""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from api.state import AppState
from orchestrator.config import ServerSettings
from orchestrator.db import Database
from orchestrator.hosts.service import HostService
from orchestrator.logs import REDACTOR, RedactingFormatter
from orchestrator.migrate import head_revision
from tests.helpers import TEST_MASTER
from tests.integration.stack import sign_in

pytestmark = pytest.mark.foundation


def make_client(db: Database, tmp_path: Path, temporal: object = None) -> httpx.AsyncClient:
    state = AppState(
        settings=ServerSettings(data_dir=tmp_path),
        db=db,
        master=TEST_MASTER,
        temporal=temporal,  # type: ignore[arg-type]
    )
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(state)), base_url="http://t"
    )


async def test_health_ready_version(
    db: Database, temporal_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    async with make_client(db, tmp_path, temporal_env.client) as c:
        assert (await c.get("/healthz")).json() == {"status": "ok"}
        assert (await c.get("/readyz")).json() == {"status": "ready"}
        v = (await c.get("/api/version")).json()
        assert v["schema_revision"] == head_revision() and v["temporal_namespace"] == "polygent"
        assert "password" not in v["database"]
        docs = await c.get("/docs")
        assert docs.status_code == 200 and "swagger" in docs.text.lower()
        spec = (await c.get("/openapi.json")).json()
        assert "/api/hosts" in spec["paths"] and "/internal/hosts/register" in spec["paths"]


async def test_not_ready_names_the_missing_dependency(db: Database, tmp_path: Path) -> None:
    async with make_client(db, tmp_path, None) as c:
        r = await c.get("/readyz")
        assert r.status_code == 503
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["detail"] == "Temporal is not connected yet."
    dead = Database("postgresql://nobody:pw@127.0.0.1:1/none")
    try:
        async with make_client(dead, tmp_path, None) as c:
            r = await c.get("/readyz")
            assert r.status_code == 503 and r.json()["detail"].startswith(
                "The database does not answer"
            )
    finally:
        await dead.dispose()


async def test_problem_json_for_401_404_and_422(db: Database, tmp_path: Path) -> None:
    async with make_client(db, tmp_path) as c:
        r = await c.get("/api/nothing-here")
        assert r.status_code == 404 and r.json()["title"] == "Not Found"
        assert r.headers["content-type"] == "application/problem+json"
        r = await c.post("/api/hosts/nope/probe")
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
        token = await sign_in(c._transport.app.state.polygent, "admin", first=True)  # type: ignore[attr-defined]
        c.headers["Authorization"] = f"Bearer {token}"
        r = await c.get("/api/runs", params={"limit": 0})
        assert r.status_code == 422
        body = r.json()
        assert body["errors"][0]["field"] == "limit" and body["detail"].startswith("limit: ")
        r = await c.post("/api/hosts/nope/probe")
        assert r.status_code == 404 and r.json()["detail"] == "No host named nope."
        r = await c.post(
            "/auth/local", content=b"x" * 2_000_000, headers={"Content-Type": "application/json"}
        )
        assert r.status_code == 413 and r.json()["title"] == "Payload Too Large"


async def test_agent_endpoints_need_a_valid_key(db: Database, tmp_path: Path) -> None:
    async with db.session() as s:
        _, key = await HostService(s, TEST_MASTER.derive("host-api-key-pepper")).mint_key(
            "k", "session"
        )
    async with make_client(db, tmp_path) as c:
        body = {"name": "h1", "kind": "session"}
        r = await c.post("/internal/hosts/register", json=body)
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
        r = await c.post(
            "/internal/hosts/register",
            json=body,
            headers={"Authorization": "Bearer pgk_00000000_x"},
        )
        assert r.status_code == 401 and r.json()["detail"] == "Invalid host API key."
        auth = {"Authorization": f"Bearer {key}"}
        r = await c.post(
            "/internal/hosts/register", json={"name": "bad name!", "kind": "session"}, headers=auth
        )
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "name"
        r = await c.post(
            "/internal/hosts/register", json={"name": "h1", "kind": "deploy"}, headers=auth
        )
        assert r.status_code == 403 and "session host key" in r.json()["detail"]
        r = await c.post("/internal/hosts/register", json=body, headers=auth)
        assert r.status_code == 200
        reg = r.json()
        assert reg["task_queue"] == "polygent.agent.h1"
        # The agent gets the payload key only: not the master key, not the secrets key.
        assert reg["payload_keys"] == TEST_MASTER.derive("temporal-payloads").serialize()
        assert TEST_MASTER.serialize().split(":")[1] not in reg["payload_keys"]
        r = await c.post("/internal/hosts/h1/heartbeat", json={"kind": "session"}, headers=auth)
        assert r.status_code == 200


async def test_request_logs_carry_no_secrets(
    db: Database, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with db.session() as s:
        _, key = await HostService(s, TEST_MASTER.derive("host-api-key-pepper")).mint_key(
            "k", "session"
        )
    caplog.set_level(logging.DEBUG)
    async with make_client(db, tmp_path) as c:
        await c.post(
            "/internal/hosts/register?token=" + key,
            json={"name": "h2", "kind": "session"},
            headers={"Authorization": f"Bearer {key}"},
        )
    lines = [r for r in caplog.records if r.name == "polygent.requests"]
    assert any("POST /internal/hosts/register answered 200" in r.getMessage() for r in lines)
    formatter = RedactingFormatter(json_lines=True)
    text = "\n".join(formatter.format(r) for r in caplog.records)
    assert key not in text and key.split("_", 2)[2] not in text


def test_redactor_masks_registered_values_and_token_shapes() -> None:
    REDACTOR.add("sup3r-s3cret-value")
    out = REDACTOR.redact(
        "token sup3r-s3cret-value and Authorization: Bearer abc.def and "
        "https://user:pw@example.com/repo.git and pgk_0123abcd_AAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    )
    assert "sup3r" not in out and "abc.def" not in out and "user:pw" not in out
    assert "pgk_0123abcd" not in out and out.count("***") == 4


async def test_nul_characters_are_refused_on_both_databases(db: Database, tmp_path: Path) -> None:
    async with db.session() as s:
        _, key = await HostService(s, TEST_MASTER.derive("host-api-key-pepper")).mint_key(
            "k", "session"
        )
    async with make_client(db, tmp_path) as c:
        r = await c.post(
            "/internal/hosts/register",
            headers={"Authorization": f"Bearer {key}"},
            json={"name": "h3", "kind": "session", "info": {"x": ["a\x00b"]}},
        )
        assert r.status_code == 422
        assert r.json()["errors"][0] == {
            "field": "info",
            "message": "Value error, must not contain NUL characters",
        }
        r = await c.post(
            "/internal/hosts/register",
            headers={"Authorization": f"Bearer {key}"},
            json={"name": "h3", "kind": "session", "surprise": 1},
        )
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "surprise"

"""Schemathesis over the whole OpenAPI schema of a running API: zero server errors."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from orchestrator.db import Database
from tests.helpers import binary, wait_for
from tests.integration.stack import running_stack, unique_host

pytestmark = pytest.mark.foundation
COOKIE_ROUTES = {"GET /auth/token", "POST /auth/logout", "POST /auth/refresh"}


def _auth_block(report: str) -> str:
    """The operations listed under schemathesis's "Authentication failed" warning."""
    start = report.find("Authentication failed:")
    return "" if start < 0 else report[start : report.find("💡", start)]


# Two schemathesis runs over ~130 operations take about 4 min on 2 busy cores: past the suite's
# 300 s default, whose SIGALRM then lands inside a request and shows as a 500.
@pytest.mark.timeout(900)
async def test_schemathesis_finds_no_server_errors(
    db: Database, temporal_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    async with running_stack(db, temporal_env.client, tmp_path) as stack:
        host = unique_host()
        key = await stack.mint("session")
        await stack.start_agent(host, "session", key)
        await wait_for(lambda: stack.worker(host, "session"), what="agent registered")
        admin = stack.http.headers["Authorization"]
        # The admin run skips the agents' API and the routes that would sign the fuzzer itself
        # out (they have their own tests): everything else then gets authenticated coverage.
        signs_out = r"^/api/me/sign-out-everywhere$|^/api/me/devices/|^/api/users/[^/]+/devices/"
        for header, scope, pattern in (
            (admin, "--exclude-path-regex", rf"^/internal/|{signs_out}"),
            (f"Bearer {key}", "--include-path-regex", "^/internal/"),
        ):
            proc = await asyncio.create_subprocess_exec(
                binary("st"), "run", f"{stack.url}/openapi.json",
                "--checks", "not_a_server_error,status_code_conformance,content_type_conformance",
                "--max-examples", "25", "--seed", "1", scope, pattern,
                "--header", f"Authorization: {header}",
                "--request-timeout", "30", "--workers", "1",
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            )  # fmt: skip
            out, _ = await proc.communicate()
            text = out.decode(errors="replace")
            assert proc.returncode == 0, text[-4000:]
            assert "passed" in text.lower()
            # Authentication held all run: only the cookie routes refuse a Bearer-only caller.
            refused = set(
                re.findall(r"^\s+- ((?:GET|POST|PUT|PATCH|DELETE) \S+)$", _auth_block(text), re.M)
            )
            assert refused <= COOKIE_ROUTES, refused

"""Record workflow histories for the replay tests: `python -m tests.record_histories`."""

from __future__ import annotations

import asyncio
import json
import tempfile
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from orchestrator.db import Database
from orchestrator.migrate import upgrade
from orchestrator.queues import SEARCH_ATTRIBUTE_KEYS
from orchestrator.temporal import data_converter
from tests.helpers import TEST_PAYLOAD_KEYS, binary, wait_for
from tests.integration.stack import running_stack
from tests.replay import HISTORIES


async def _record(stack, host: str, name: str) -> None:  # type: ignore[no-untyped-def]
    started = (await stack.http.post(f"/api/hosts/{host}/probe")).json()
    handle = stack.state.temporal.get_workflow_handle(started["workflow_id"])
    await handle.result()
    history = await handle.fetch_history()
    out = {"workflow_id": started["workflow_id"], "history": json.loads(history.to_json())}
    (HISTORIES / f"{name}.json").write_text(json.dumps(out, indent=1) + "\n")
    print(f"recorded {name}")


async def main() -> None:
    env = await WorkflowEnvironment.start_local(
        namespace="default", data_converter=data_converter(TEST_PAYLOAD_KEYS),
        search_attributes=list(SEARCH_ATTRIBUTE_KEYS), dev_server_existing_path=binary("temporal"),
    )  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/r.db"
        await upgrade(url)
        db = Database(url)
        async with running_stack(db, env.client, Path(tmp)) as stack:
            await stack.start_agent("recorder", "session")
            await stack.start_agent("recorder", "deploy")
            await wait_for(lambda: stack.worker("recorder", "deploy"))
            await wait_for(lambda: stack.worker("recorder", "session"))
            await _record(stack, "recorder", "host_probe_ok")
            await stack.stop_agent("recorder", "deploy")
            await _record(stack, "recorder", "host_probe_deploy_offline")
        await db.dispose()
    await env.shutdown()


if __name__ == "__main__":
    asyncio.run(main())

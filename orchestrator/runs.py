"""Recent workflow runs from Temporal visibility, for the ops view (not a system of record)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel
from temporalio.client import Client

from orchestrator.temporal import workflow_ui_url


class RunOut(BaseModel):
    workflow_id: str
    run_id: str
    workflow_type: str
    status: str
    start_time: datetime | None
    close_time: datetime | None
    task_queue: str
    temporal_ui_url: str | None


async def recent_runs(client: Client, ui_base: str | None, limit: int = 20) -> list[RunOut]:
    runs: list[RunOut] = []
    async for wf in client.list_workflows(limit=limit):
        runs.append(
            RunOut(
                workflow_id=wf.id,
                run_id=wf.run_id,
                workflow_type=wf.workflow_type,
                status=wf.status.name if wf.status else "UNKNOWN",
                start_time=wf.start_time,
                close_time=wf.close_time,
                task_queue=wf.task_queue,
                temporal_ui_url=workflow_ui_url(ui_base, client.namespace, wf.id, wf.run_id),
            )
        )
    return runs

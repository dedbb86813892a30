"""Ticket sync workflows: one run of a workspace's sync (`ticket-sync-<workspace_id>`, from
its schedule or on demand) and the creation of a ticket's GitHub issue or Azure DevOps Bug
(`ticket-item-<ticket_id>-<source>`). Each is one control activity; the activity is
idempotent, so Temporal's retries after a passing failure create nothing twice.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from orchestrator.contracts.ticket_sync import CreateItemInput, ItemLink, SyncInput, SyncReport

# Passing failures (5xx, rate limits, a lost connection) are retried a few times; the
# refusals the activities raise are non-retryable.
RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30),
    maximum_attempts=5,
)  # fmt: skip


@workflow.defn
class TicketSyncWorkflow:
    @workflow.run
    async def run(self, inp: SyncInput) -> SyncReport:
        report: SyncReport = await workflow.execute_activity(
            "tickets.sync", inp, result_type=SyncReport, retry_policy=RETRY,
            start_to_close_timeout=timedelta(minutes=15), heartbeat_timeout=timedelta(minutes=2),
        )  # fmt: skip
        return report


@workflow.defn
class TicketItemWorkflow:
    @workflow.run
    async def run(self, inp: CreateItemInput) -> ItemLink:
        link: ItemLink = await workflow.execute_activity(
            "tickets.create_item", inp, result_type=ItemLink, retry_policy=RETRY,
            start_to_close_timeout=timedelta(minutes=2),
        )  # fmt: skip
        return link

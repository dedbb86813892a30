"""Orchestrator-queue activities of ticket sync: one run of a workspace's sync, and the
creation of a ticket's GitHub issue or Azure DevOps Bug. GitHub and Azure DevOps are reached
from here only (the orchestrator worker's role); their passing failures are raised for
Temporal to retry, their refusals are reported or raised as non-retryable."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncSession
from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

from orchestrator.config import ServerSettings
from orchestrator.contracts.ticket_sync import CreateItemInput, ItemLink, SyncInput, SyncReport
from orchestrator.db import Database
from orchestrator.schedules import remove_ticket_sync
from orchestrator.security.crypto import SecretBox
from orchestrator.tickets.sync import TicketSync
from orchestrator.tickets.sync_common import SourceRefused, SourceUnavailable
from orchestrator.tickets.sync_sources import SyncNotConfigured, WorkspaceGone
from orchestrator.workspaces.errors import Conflict


def _refused(message: str, kind: str = "ItemRefused") -> ApplicationError:
    return ApplicationError(message, type=kind, non_retryable=True)


class TicketSyncActivities:
    def __init__(
        self, db: Database, box: SecretBox, client: Client, settings: ServerSettings
    ) -> None:
        self.db = db
        self.box = box
        self.client = client
        self.settings = settings

    def _sync(self, s: AsyncSession) -> TicketSync:
        return TicketSync(s, self.box, self.client, self.settings, activity.heartbeat)

    @activity.defn(name="tickets.sync")
    async def sync(self, inp: SyncInput) -> SyncReport:
        """One run; a workspace that is gone or no longer syncs loses its schedule."""
        try:
            async with self.db.session() as s:
                return await self._sync(s).run(inp.workspace_id)
        except (WorkspaceGone, SyncNotConfigured) as exc:
            with contextlib.suppress(RPCError):
                await remove_ticket_sync(self.client, inp.workspace_id)
            gone = isinstance(exc, WorkspaceGone)
            return SyncReport(errors=["The workspace no longer exists." if gone else str(exc)])
        except SourceUnavailable as exc:
            raise ApplicationError(str(exc), type="SourceUnavailable") from None

    @activity.defn(name="tickets.create_item")
    async def create_item(self, inp: CreateItemInput) -> ItemLink:
        try:
            async with self.db.session() as s:
                return await self._sync(s).create_item(inp.ticket_id, inp.source)
        except (LookupError, WorkspaceGone):
            raise _refused(f"The ticket {inp.ticket_id} no longer exists.", "TicketGone") from None
        except SyncNotConfigured as exc:
            raise _refused(str(exc), "SyncNotConfigured") from None
        except (Conflict, SourceRefused) as exc:
            raise _refused(str(exc)) from None
        except SourceUnavailable as exc:
            raise ApplicationError(str(exc), type="SourceUnavailable") from None

    def all(self) -> list[Callable[..., object]]:
        return [self.sync, self.create_item]

"""Ticket sync: a workspace's GitHub issues or Azure DevOps Bugs become tickets, and tickets
tell their items how they are doing.

One run (the control activity `tickets.sync`) lists the items, then:
- starts the workflow of a synced ticket whose row was committed by a run that stopped
  before starting it (such a ticket has no TicketSyncLink row yet);
- creates a ticket for each new open item (queued at once for the provider and model of
  the workspace's first auto-start rule naming one of its labels, when the rule says so);
- updates title, description and tags of linked tickets still Pending;
- cancels linked tickets that have not started (Pending, Queued) when their item is closed
  or deleted, as the actor "sync";
- writes back each stage change of a linked ticket once (GitHub: comments and the close;
  Azure DevOps: the state of the status map), remembering what it wrote.
Every step is idempotent (the unique item id per workspace, link rows, markers in what is
written), so a re-run or a retried activity creates and writes nothing twice.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.service import RPCError, RPCStatusCode

from orchestrator.auth.service import Principal
from orchestrator.config import ServerSettings
from orchestrator.contracts.ticket_sync import SYNC_ACTOR_NAME, ItemLink, SyncReport
from orchestrator.contracts.tickets import Actor, TicketState
from orchestrator.queues import ORCHESTRATOR_QUEUE, SA_STAGE, SA_TICKET_KEY, SA_WORKSPACE
from orchestrator.security.crypto import SecretBox
from orchestrator.tickets.models import Ticket
from orchestrator.tickets.repository import TicketRepository
from orchestrator.tickets.schemas import TicketCreate
from orchestrator.tickets.service import TicketService, workflow_id
from orchestrator.tickets.sync_common import (
    ExternalItem,
    ItemSource,
    SourceRefused,
)
from orchestrator.tickets.sync_repository import TicketSyncRepository
from orchestrator.tickets.sync_sources import (
    ItemSettings,
    SyncNotConfigured,
    WorkspaceGone,
    item_settings,
    oldest_first,
    open_source,
    rule_for,
    summary,
    target_for,
)
from orchestrator.workspaces.errors import Conflict, Invalid
from orchestrator.workspaces.models import Workspace
from orchestrator.workspaces.repository import WorkspaceRepository

SYNC_ACTOR = Actor(actor_type="system", actor_name=SYNC_ACTOR_NAME)
NOT_STARTED = ("pending", "queued")
LABEL = {"github": "Issue #", "tfs": "Work item "}


class TicketSync:
    def __init__(
        self, db: AsyncSession, box: SecretBox, client: Client, settings: ServerSettings,
        heartbeat: Callable[[], None] = lambda: None,
    ) -> None:  # fmt: skip
        self.db = db
        self.box = box
        self.client = client
        self.settings = settings
        self.heartbeat = heartbeat
        self.repo = TicketSyncRepository(db)
        self.tickets = TicketRepository(db)

    # -- set-up --------------------------------------------------------------------------------

    async def _workspace(self, workspace_id: str) -> tuple[Workspace, ItemSettings]:
        ws = await WorkspaceRepository(self.db).get(workspace_id)
        if ws is None:
            raise WorkspaceGone(workspace_id)
        cfg = item_settings(ws)
        if cfg is None:
            raise SyncNotConfigured("The workspace takes no tickets from GitHub or Azure DevOps.")
        return ws, cfg

    def source(self, ws: Workspace, cfg: ItemSettings) -> ItemSource:
        return open_source(ws, cfg, self.box, self.settings)

    def _service(self, ws: Workspace) -> TicketService:
        """Tickets of the sync belong to the workspace's creator (their sessions' owner)."""
        who = Principal(ws.created_by or "", SYNC_ACTOR_NAME, None, frozenset(), "")
        return TicketService(self.db, who, self.client, self.settings)

    # -- one run -------------------------------------------------------------------------------

    async def run(self, workspace_id: str) -> SyncReport:
        ws, cfg = await self._workspace(workspace_id)
        if not cfg.sync_enabled:
            raise SyncNotConfigured("Ticket sync is turned off for this workspace.")
        report = SyncReport(source=cfg.source)
        src = self.source(ws, cfg)
        await self.db.commit()  # no transaction open while the source answers
        try:
            listed = await src.list_items()
        except SourceRefused as exc:
            report.errors.append(str(exc))
            return report
        items: dict[str, ExternalItem | None] = {i.external_id: i for i in listed}
        linked = await self.repo.linked(ws.id, src.name)
        missing = [str(t.external_id) for t, _ in linked
                   if t.stage in NOT_STARTED and t.external_id not in items]  # fmt: skip
        await self.db.commit()
        if missing:
            try:
                items.update(await src.get_items(missing))
            except SourceRefused as exc:
                report.errors.append(str(exc))
        svc = self._service(ws)
        for t, link in linked:
            if link is None:
                await self._resume(svc, ws, cfg, t, report)
        # Ids first: a rolled-back create expires the rows loaded so far.
        known = [(t, str(t.external_id)) for t, _ in linked]
        ids = {ext for _, ext in known}
        for item in sorted((i for i in items.values() if i is not None), key=oldest_first):
            if not item.closed and item.external_id not in ids:
                await self._create(svc, ws, cfg, item, report)
        for t, ext in known:
            if ext in items:
                await self._reconcile(svc, t, items[ext], report)
        await self._write_back(ws, cfg, src, report)
        return report

    async def _resume(
        self, svc: TicketService, ws: Workspace, cfg: ItemSettings, t: Ticket, report: SyncReport
    ) -> None:
        """A synced ticket without its link row: start its workflow unless it exists, queue
        it if its rule says so, then write the row."""
        self.heartbeat()
        handle = svc.handle(t)
        await self.db.commit()
        try:
            await handle.describe()
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise
            await self.client.start_workflow(
                "TicketWorkflow", TicketState(ticket_id=t.id, workspace_id=ws.id, key=t.key),
                id=t.workflow_id or workflow_id(t.id), task_queue=ORCHESTRATOR_QUEUE,
                search_attributes=TypedSearchAttributes([
                    SearchAttributePair(SA_WORKSPACE, ws.id),
                    SearchAttributePair(SA_TICKET_KEY, t.key),
                    SearchAttributePair(SA_STAGE, t.stage),
                ]),
            )  # fmt: skip
            report.started.append(t.key)
        rule = rule_for(cfg, list(t.tags or []))
        if rule is not None and rule.queue and t.stage == "pending":
            await self._queue(svc, t)
        await self.repo.add_link(t.id)
        await self.db.commit()

    async def _create(
        self, svc: TicketService, ws: Workspace, cfg: ItemSettings, item: ExternalItem,
        report: SyncReport,
    ) -> None:  # fmt: skip
        self.heartbeat()
        rule = rule_for(cfg, item.tags)
        name = f"{LABEL[cfg.source]}{item.external_id}"
        body = TicketCreate(
            title=(item.title or name)[:300], description=item.body[:100_000],
            priority=item.priority, tags=item.tags,  # type: ignore[arg-type]
            provider=rule.provider if rule else None, model=rule.model if rule else None,
        )  # fmt: skip
        try:
            row = await svc.create(ws, body, source=cfg.source, external_id=item.external_id)
        except (IntegrityError, Invalid) as exc:
            await self.db.rollback()  # expires every row: the workspace is read again
            await self.db.refresh(ws)
            if isinstance(exc, Invalid):  # else a concurrent run made it: that one it is
                report.errors.append(f"{name}: {exc.field}: {exc.message}")
            return
        report.created.append(row.key)
        if rule is not None and rule.queue:
            await self._queue(svc, row)
        await self.repo.add_link(row.id, url=item.url)
        await self.db.commit()

    async def _queue(self, svc: TicketService, t: Ticket) -> None:
        with contextlib.suppress(Conflict):  # queued (or ended) already
            await svc.update(t, "queue", SYNC_ACTOR, f"queue-{t.id}")

    async def _reconcile(
        self, svc: TicketService, t: Ticket, item: ExternalItem | None, report: SyncReport
    ) -> None:
        """Cancel a not-started ticket whose item closed or went; refresh a Pending one."""
        self.heartbeat()
        await self.db.refresh(t)
        if item is None or item.closed:
            if t.stage in NOT_STARTED:
                try:
                    await svc.update(t, "cancel", SYNC_ACTOR, f"cancel-{t.id}")
                except Conflict:
                    return  # ended meanwhile
                report.canceled.append(t.key)
            return
        if t.stage != "pending":
            return
        row = await self.tickets.lock(t.id)
        title = (item.title or row.title)[:300] if row else ""
        if row is None or row.stage != "pending":
            await self.db.commit()
            return
        values = {"title": title, "description": item.body[:100_000], "tags": item.tags}
        if any(getattr(row, k) != v for k, v in values.items()):
            for k, v in values.items():
                setattr(row, k, v)
            report.updated.append(row.key)
        await self.db.commit()

    async def _write_back(
        self, ws: Workspace, cfg: ItemSettings, src: ItemSource, report: SyncReport
    ) -> None:
        """Each stage change of a linked ticket, once; a refusal is reported and not tried
        again for that change."""
        for t, link in await self.repo.linked(ws.id, src.name):
            if link is None or t.stage == link.written_stage:
                continue
            self.heartbeat()
            target = target_for(cfg, t.stage)
            written = link.written
            await self.db.commit()
            if cfg.write_back and target is not None and target != written:
                try:
                    await src.write_back(str(t.external_id), target, summary(t))
                    report.written_back.append(t.key)
                    written = target
                except SourceRefused as exc:
                    report.errors.append(f"{t.key}: {exc}")
            link.written_stage, link.written = t.stage, written
            await self.db.commit()

    # -- "Create GitHub Issue" / "Create TFS Bug" ------------------------------------------------

    async def create_item(self, ticket_id: str, source: str) -> ItemLink:
        """Create the ticket's item in the workspace's source and link the ticket to it."""
        t = await self.tickets.get(ticket_id)
        if t is None:
            raise LookupError(ticket_id)
        if t.external_id is not None and t.source in ("github", "tfs"):
            if t.source != source:
                raise Conflict(f"The ticket is linked to {t.source} item {t.external_id}.")
            link = await self.repo.link(t.id)
            return ItemLink(ticket_id=t.id, source=source, external_id=t.external_id,  # type: ignore[arg-type]
                            url=link.url if link else None)  # fmt: skip
        ws, cfg = await self._workspace(t.workspace_id)
        if cfg.source != source:
            raise SyncNotConfigured(f"The workspace's tickets are not set up for {source}.")
        src = self.source(ws, cfg)
        about = summary(t)
        await self.db.commit()
        item = await src.create(about)
        row = await self.tickets.lock(t.id)
        if row is None:
            raise LookupError(ticket_id)
        row.source, row.external_id = source, item.external_id
        await self.repo.add_link(row.id, url=item.url)
        await self.db.commit()
        return ItemLink(ticket_id=row.id, source=source, external_id=item.external_id,  # type: ignore[arg-type]
                        url=item.url, created=True)  # fmt: skip

"""All SQL for hooks and their runs."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from orchestrator.hooks.models import Hook, HookRun
from orchestrator.sessions.models import SessionEvent
from orchestrator.workspaces.models import WorkspaceTask


class HookRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def flush(self) -> None:
        await self.session.flush()

    async def add(self, row: object) -> None:
        self.session.add(row)
        await self.session.flush()

    async def remove(self, row: object) -> None:
        await self.session.delete(row)
        await self.session.flush()

    # -- hooks -------------------------------------------------------------------------------

    async def hooks(self, workspace_id: str) -> list[Hook]:
        rows = await self.session.scalars(
            select(Hook).where(Hook.workspace_id == workspace_id).order_by(Hook.name, Hook.id)
        )
        return list(rows)

    async def hook(self, workspace_id: str, hook_id: str) -> Hook | None:
        return await self.session.scalar(
            select(Hook).where(Hook.workspace_id == workspace_id, Hook.id == hook_id)
        )

    async def named(self, workspace_id: str, name: str) -> Hook | None:
        return await self.session.scalar(
            select(Hook).where(Hook.workspace_id == workspace_id, Hook.name == name)
        )

    async def lock(self, hook_id: str) -> Hook | None:
        """The row, locked until commit, so concurrent runs count their failures one by one."""
        return await self.session.scalar(select(Hook).where(Hook.id == hook_id).with_for_update())

    async def task(self, workspace_id: str, task_id: str) -> WorkspaceTask | None:
        return await self.session.scalar(
            select(WorkspaceTask).where(
                WorkspaceTask.workspace_id == workspace_id, WorkspaceTask.id == task_id
            )
        )

    async def enabled_for(
        self, workspace_id: str, event: str
    ) -> list[tuple[Hook, WorkspaceTask | None]]:
        """The enabled hooks for `event`, each with its task, in name order (the run order)."""
        rows = await self.session.execute(
            select(Hook, WorkspaceTask)
            .outerjoin(WorkspaceTask, WorkspaceTask.id == Hook.task_id)
            .where(Hook.workspace_id == workspace_id, Hook.event == event, Hook.enabled)
            .order_by(Hook.name, Hook.id)
        )
        return [(hook, task) for hook, task in rows]

    # -- runs --------------------------------------------------------------------------------

    async def run(self, run_id: str) -> HookRun | None:
        return await self.session.get(HookRun, run_id)

    async def runs(self, session_id: str, limit: int) -> list[HookRun]:
        """The session's most recent runs, newest first."""
        rows = await self.session.scalars(
            select(HookRun)
            .where(HookRun.session_id == session_id)
            .order_by(HookRun.started_at.desc(), HookRun.id)
            .limit(limit)
        )
        return list(rows)

    async def last_seq_from(self, session_id: str, turn: int, base: int) -> int:
        """The highest workflow-event seq at or above `base` in this turn (else `base`)."""
        found = await self.session.scalar(
            select(func.max(SessionEvent.seq)).where(
                SessionEvent.session_id == session_id,
                SessionEvent.turn == turn,
                SessionEvent.attempt == 0,
                SessionEvent.seq >= base,
            )
        )
        return int(found if found is not None else base)

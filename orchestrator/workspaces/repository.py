"""All SQL for workspaces, their members, variables, tasks and personal PATs."""

from __future__ import annotations

from sqlalchemy import delete, exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from orchestrator.users.models import User
from orchestrator.workspaces.models import (
    PersonalPat,
    Workspace,
    WorkspaceMember,
    WorkspaceTask,
    WorkspaceVariable,
)


class WorkspaceRepository:
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

    # -- workspaces ------------------------------------------------------------------------

    async def get(self, workspace_id: str) -> Workspace | None:
        return await self.session.get(Workspace, workspace_id)

    async def by_name(self, name: str) -> Workspace | None:
        return await self.session.scalar(select(Workspace).where(Workspace.name == name))

    async def list_all(self) -> list[Workspace]:
        return list(await self.session.scalars(select(Workspace).order_by(Workspace.name)))

    async def list_for(self, user_id: str) -> list[Workspace]:
        rows = await self.session.scalars(
            select(Workspace)
            .join(WorkspaceMember, WorkspaceMember.workspace_id == Workspace.id)
            .where(WorkspaceMember.user_id == user_id)
            .order_by(Workspace.name)
        )
        return list(rows)

    async def with_git_pat(self) -> list[Workspace]:
        rows = await self.session.scalars(select(Workspace).where(Workspace.git_pat.is_not(None)))
        return list(rows)

    # -- members ---------------------------------------------------------------------------

    async def is_member(self, workspace_id: str, user_id: str) -> bool:
        return bool(
            await self.session.scalar(
                select(
                    exists().where(
                        WorkspaceMember.workspace_id == workspace_id,
                        WorkspaceMember.user_id == user_id,
                    )
                )
            )
        )

    async def ids_of_member(self, user_id: str) -> list[str]:
        """The workspaces a person belongs to."""
        rows = await self.session.scalars(
            select(WorkspaceMember.workspace_id).where(WorkspaceMember.user_id == user_id)
        )
        return list(rows)

    async def members(self, workspace_id: str) -> list[User]:
        rows = await self.session.scalars(
            select(User)
            .join(WorkspaceMember, WorkspaceMember.user_id == User.id)
            .where(WorkspaceMember.workspace_id == workspace_id)
            .order_by(User.display_name, User.id)
        )
        return list(rows)

    async def add_member(self, workspace_id: str, user_id: str) -> bool:
        """True when added, False when already a member."""
        if await self.is_member(workspace_id, user_id):
            return False
        await self.add(WorkspaceMember(workspace_id=workspace_id, user_id=user_id))
        return True

    async def remove_member(self, workspace_id: str, user_id: str) -> bool:
        res = await self.session.execute(
            delete(WorkspaceMember)
            .where(WorkspaceMember.workspace_id == workspace_id, WorkspaceMember.user_id == user_id)
            .returning(WorkspaceMember.id)
        )
        return res.first() is not None

    async def get_user(self, user_id: str) -> User | None:
        return await self.session.get(User, user_id)

    async def users(self) -> list[User]:
        return list(
            await self.session.scalars(
                select(User).where(User.disabled.is_(False)).order_by(User.display_name)
            )
        )

    # -- variables -------------------------------------------------------------------------

    async def variables(self, workspace_id: str) -> list[WorkspaceVariable]:
        rows = await self.session.scalars(
            select(WorkspaceVariable)
            .where(WorkspaceVariable.workspace_id == workspace_id)
            .order_by(WorkspaceVariable.name)
        )
        return list(rows)

    async def variable(self, workspace_id: str, name: str) -> WorkspaceVariable | None:
        return await self.session.scalar(
            select(WorkspaceVariable).where(
                WorkspaceVariable.workspace_id == workspace_id, WorkspaceVariable.name == name
            )
        )

    async def secret_variables(self) -> list[WorkspaceVariable]:
        return list(
            await self.session.scalars(
                select(WorkspaceVariable).where(WorkspaceVariable.secret.is_(True))
            )
        )

    # -- tasks -----------------------------------------------------------------------------

    async def tasks(self, workspace_id: str) -> list[WorkspaceTask]:
        rows = await self.session.scalars(
            select(WorkspaceTask)
            .where(WorkspaceTask.workspace_id == workspace_id)
            .order_by(WorkspaceTask.name)
        )
        return list(rows)

    async def task(self, workspace_id: str, task_id: str) -> WorkspaceTask | None:
        return await self.session.scalar(
            select(WorkspaceTask).where(
                WorkspaceTask.workspace_id == workspace_id, WorkspaceTask.id == task_id
            )
        )

    async def task_named(self, workspace_id: str, name: str) -> WorkspaceTask | None:
        return await self.session.scalar(
            select(WorkspaceTask).where(
                WorkspaceTask.workspace_id == workspace_id, WorkspaceTask.name == name
            )
        )

    # -- personal PATs ---------------------------------------------------------------------

    async def personal_pat(self, user_id: str, workspace_id: str) -> PersonalPat | None:
        return await self.session.scalar(
            select(PersonalPat).where(
                PersonalPat.user_id == user_id, PersonalPat.workspace_id == workspace_id
            )
        )

    async def personal_pats_of(self, user_id: str) -> list[tuple[PersonalPat, str]]:
        """The user's PATs with their workspace names."""
        rows = await self.session.execute(
            select(PersonalPat, Workspace.name)
            .join(Workspace, Workspace.id == PersonalPat.workspace_id)
            .where(PersonalPat.user_id == user_id)
            .order_by(Workspace.name)
        )
        return [(pat, name) for pat, name in rows]

    async def all_personal_pats(self) -> list[PersonalPat]:
        return list(await self.session.scalars(select(PersonalPat)))

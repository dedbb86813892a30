"""Session queries (all SQL for sessions lives here)."""

from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from orchestrator.sessions.models import Session

FINISHED = ("done", "canceled")
PERSISTENT_MODES = ("chat", "bot")


class SessionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def ids_wanting_worktrees(self) -> list[str]:
        """Sessions whose worktree must stay: unfinished ones, and Chat/Bot ones until disposed
        (their rows go when they are disposed)."""
        rows = await self.session.scalars(
            select(Session.id).where(
                or_(Session.status.not_in(FINISHED), Session.mode.in_(PERSISTENT_MODES))
            )
        )
        return list(rows)

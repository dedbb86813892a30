"""Who may read or act on a session, as HTTP answers: every session route asks here.

Reading: the session's workspace must be visible (else 404), then sessions.view_all, or
sessions.view_own for one's own (else 403). Acting: sessions.edit on one's own session, or
sessions.manage_all.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import HTTPException, Path
from sqlalchemy.ext.asyncio import AsyncSession

from orchestrator.auth.service import Principal
from orchestrator.sessions.events import SESSION_ID, SessionAccessError, SessionEventService
from orchestrator.sessions.models import Session

SessionId = Annotated[str, Path(pattern=SESSION_ID)]


async def viewable(db: AsyncSession, user: Principal, session_id: str) -> Session:
    try:
        return await SessionEventService(db).viewable(user, session_id)
    except SessionAccessError as exc:
        raise HTTPException(exc.status, str(exc)) from None


async def editable(db: AsyncSession, user: Principal, session_id: str) -> Session:
    try:
        return await SessionEventService(db).editable(user, session_id)
    except SessionAccessError as exc:
        raise HTTPException(exc.status, str(exc)) from None

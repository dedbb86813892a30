"""A person's notifications: persisted, so someone offline sees them at the next sign-in.

Everyone signed in reads and acts on their own notifications only; someone else's id is a 404.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from api.auth import CurrentUser
from api.deps import DbSession
from api.problems import errors
from api.routes.workspace_common import domain_errors
from orchestrator.notifications.schemas import NotificationOut, NotificationPage, StarIn
from orchestrator.notifications.service import NotificationService
from orchestrator.sessions.events import SESSION_ID

router = APIRouter(prefix="/api/notifications", tags=["notifications"])
NotificationId = Annotated[str, Path(pattern=SESSION_ID)]


@router.get("", response_model=NotificationPage, responses=errors(401, 422))
async def list_notifications(
    user: CurrentUser,
    session: DbSession,
    unread: bool = False,
    include_dismissed: Annotated[bool, Query(description="History: dismissed ones too.")] = False,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> NotificationPage:
    """Starred first, then newest first; `unread` counts the inbox's unread ones."""
    rows, total, unread_count = await NotificationService(session).page(
        user.user_id, unread=unread, include_dismissed=include_dismissed, limit=limit,
        offset=offset,
    )  # fmt: skip
    return NotificationPage(
        items=[NotificationOut.model_validate(r) for r in rows], total=total, unread=unread_count
    )


@router.get("/{notification_id}", response_model=NotificationOut, responses=errors(401, 404, 422))
async def open_notification(
    notification_id: NotificationId, user: CurrentUser, session: DbSession
) -> NotificationOut:
    """The notification, marked read (opening it is reading it)."""
    with domain_errors():
        row = await NotificationService(session).open(user.user_id, notification_id)
    out = NotificationOut.model_validate(row)
    await session.commit()
    return out


@router.post(
    "/{notification_id}/star", response_model=NotificationOut, responses=errors(401, 404, 422)
)
async def star_notification(
    notification_id: NotificationId, body: StarIn, user: CurrentUser, session: DbSession
) -> NotificationOut:
    """Star (pinned to the top) or unstar."""
    with domain_errors():
        row = await NotificationService(session).star(user.user_id, notification_id, body.starred)
    out = NotificationOut.model_validate(row)
    await session.commit()
    return out


@router.post(
    "/{notification_id}/dismiss", response_model=NotificationOut, responses=errors(401, 404, 422)
)
async def dismiss_notification(
    notification_id: NotificationId, user: CurrentUser, session: DbSession
) -> NotificationOut:
    """Hide it from the inbox; it stays in the history."""
    with domain_errors():
        row = await NotificationService(session).dismiss(user.user_id, notification_id)
    out = NotificationOut.model_validate(row)
    await session.commit()
    return out


@router.post("/read-all", response_model=NotificationPage, responses=errors(401))
async def read_all(user: CurrentUser, session: DbSession) -> NotificationPage:
    """Mark every notification read; the first page of the inbox after that."""
    svc = NotificationService(session)
    await svc.read_all(user.user_id)
    await session.commit()
    rows, total, unread_count = await svc.page(user.user_id)
    return NotificationPage(
        items=[NotificationOut.model_validate(r) for r in rows], total=total, unread=unread_count
    )

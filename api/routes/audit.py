"""The audit log of security events, newest first, for holders of audit.view."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query

from api.auth import require
from api.deps import DbSession
from api.problems import errors
from orchestrator.audit.models import AuditEntry
from orchestrator.audit.repository import AuditRepository
from orchestrator.users.repository import UserRepository
from orchestrator.users.schemas import ID_PATTERN, AuditOut, AuditPage

router = APIRouter(prefix="/api", tags=["audit"])
ACTION_PATTERN = r"^[a-z0-9_.]{1,64}$"
MAX_ID = 2**31 - 1  # audit_log.id is a 32-bit integer on PostgreSQL


def as_utc(value: datetime | None, field: str) -> datetime | None:
    """Naive times are taken as UTC; times that fall outside the calendar answer 422."""
    if value is None:
        return None
    try:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError:
        raise HTTPException(422, f"{field}: the time is out of range.") from None


async def audit_page(
    session: DbSession,
    *,
    action: str | None = None,
    actor_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    before_id: int | None = None,
    limit: int = 50,
) -> AuditPage:
    """One page of the log with actors' names (shared by the API and the dashboard page)."""
    entries = await AuditRepository(session).search(
        action=action, actor_id=actor_id, since=as_utc(since, "since"),
        until=as_utc(until, "until"), before_id=before_id, limit=limit + 1,
    )  # fmt: skip
    more = len(entries) > limit
    entries = entries[:limit]
    names = await UserRepository(session).names_of(
        e.actor_id for e in entries if e.actor_type == "user" and e.actor_id
    )
    return AuditPage(
        entries=[entry_out(e, names) for e in entries],
        next_before_id=entries[-1].id if more else None,
    )


def entry_out(e: AuditEntry, names: dict[str, str]) -> AuditOut:
    return AuditOut(
        id=e.id, at=e.at, actor_type=e.actor_type, actor_id=e.actor_id,
        actor_name=names.get(e.actor_id or ""), action=e.action, target_type=e.target_type,
        target_id=e.target_id, ip=e.ip, details=e.details,
    )  # fmt: skip


@router.get(
    "/audit",
    response_model=AuditPage,
    responses=errors(401, 403, 422),
    dependencies=[Depends(require("audit.view"))],
)
async def list_audit(
    session: DbSession,
    action: Annotated[str | None, Query(pattern=ACTION_PATTERN)] = None,
    actor_id: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
    since: Annotated[datetime | None, Query(description="at or after (naive = UTC)")] = None,
    until: Annotated[datetime | None, Query(description="before (naive = UTC)")] = None,
    before_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> AuditPage:
    """Sign-ins, refresh-token reuse, device revocations, role and user changes: who, when,
    from which IP."""
    return await audit_page(
        session, action=action, actor_id=actor_id, since=since, until=until,
        before_id=before_id, limit=limit,
    )  # fmt: skip

"""What every ticket route shares: the service, and the path's ticket as the caller may see it.

Access is decided in this order: the permission the route needs (else 403, from its
dependency), then the ticket's workspace must be visible to the caller (member or admin,
else 404, so its existence does not leak).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path

from api.auth import CurrentUser
from api.deps import DbSession, State
from api.routes.workspace_common import domain_errors
from orchestrator.sessions.events import SESSION_ID
from orchestrator.tickets.actions import TicketActions
from orchestrator.tickets.models import Ticket
from orchestrator.tickets.service import TicketService

TicketId = Annotated[str, Path(pattern=SESSION_ID)]


def service(state: State, session: DbSession, user: CurrentUser) -> TicketService:
    return TicketService(session, user, state.temporal, state.settings)


Svc = Annotated[TicketService, Depends(service)]


def actions(svc: Svc) -> TicketActions:
    return TicketActions(svc)


Actions = Annotated[TicketActions, Depends(actions)]


async def visible(ticket_id: str, svc: TicketService) -> Ticket:
    with domain_errors():
        return await svc.visible(ticket_id)

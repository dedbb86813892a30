"""What every workspace route shares: the service, workspace access, error mapping.

Access is decided in this order: the workspace must be visible to the caller (member or
admin, else 404, so its existence does not leak), then the permission (else 403).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.exceptions import RequestValidationError

from api.auth import CurrentUser
from api.deps import DbSession, State, client_ip
from orchestrator.workspaces.errors import Invalid, WorkspaceError
from orchestrator.workspaces.gitcheck import GitChecker
from orchestrator.workspaces.models import Workspace
from orchestrator.workspaces.service import WorkspaceService


@contextmanager
def domain_errors() -> Iterator[None]:
    """Domain errors as HTTP problems; Invalid becomes a 422 naming its field."""
    try:
        yield
    except Invalid as exc:
        raise RequestValidationError(
            [{"loc": ("body", exc.field), "msg": exc.message, "type": "value_error"}]
        ) from None
    except WorkspaceError as exc:
        raise HTTPException(exc.status, str(exc)) from None


def workspace_service(
    state: State, session: DbSession, user: CurrentUser, request: Request
) -> WorkspaceService:
    return WorkspaceService(session, state.secrets, user, client_ip(request), state.temporal)


Service = Annotated[WorkspaceService, Depends(workspace_service)]


def workspace(permission: str) -> Callable[..., Awaitable[Workspace]]:
    """A dependency: the path's workspace, if the caller sees it and holds `permission`."""

    async def load(workspace_id: str, svc: Service) -> Workspace:
        with domain_errors():
            return await svc.access(workspace_id, permission)

    load.permissions = (permission,)  # type: ignore[attr-defined]
    return load


def git_checker(state: State) -> GitChecker:
    return GitChecker(
        state.db, state.secrets, state.temporal, state.settings.schedule_to_start_seconds
    )


Checker = Annotated[GitChecker, Depends(git_checker)]

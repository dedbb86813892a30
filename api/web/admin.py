"""Dashboard pages for people, access and the instance: profile, users, the role matrix, the
audit log, and settings (providers, prices, budgets).

Pages are GETs authenticated by the access cookie; every change goes through the JSON API
from the page's module (auth.js `api()`), so the API's permission checks are the only ones.
Actions the viewer may not take are not rendered.
"""

from __future__ import annotations

import re
from datetime import datetime
from itertools import groupby
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from api.deps import DbSession, State
from api.routes.audit import ACTION_PATTERN, audit_page
from api.web.routes import TEMPLATES, _base, page_user
from orchestrator.audit.repository import AuditRepository
from orchestrator.auth.repository import AuthRepository
from orchestrator.auth.roles import ADMIN_ROLE, RoleService, catalogue
from orchestrator.auth.service import Principal
from orchestrator.base import utcnow
from orchestrator.pricing import DEFAULT_PRICES
from orchestrator.settings.providers import PROVIDERS
from orchestrator.users.schemas import ID_PATTERN
from orchestrator.users.service import UserService
from orchestrator.workspaces.repository import WorkspaceRepository

router = APIRouter(include_in_schema=False)


@router.get("/profile", response_class=HTMLResponse)
async def profile_page(
    request: Request,
    state: State,
    session: DbSession,
    user: Annotated[Principal, Depends(page_user())],
) -> HTMLResponse:
    """Who you are, what you may do, your devices and your personal PATs."""
    me = await UserService(session).get(user.user_id)
    devices = await AuthRepository(session).families_of(user.user_id, utcnow())
    spaces = WorkspaceRepository(session)
    workspaces = await (spaces.list_all() if user.is_admin else spaces.list_for(user.user_id))
    ctx = {
        **_base(state, "profile", user), "me": me, "devices": devices, "workspaces": workspaces,
        "permissions": [p for p in catalogue() if user.can(p.name)],
    }  # fmt: skip
    return TEMPLATES.TemplateResponse(request, "profile.html", ctx)


@router.get("/users", response_class=HTMLResponse)
async def users_page(
    request: Request,
    state: State,
    session: DbSession,
    user: Annotated[Principal, Depends(page_user("users.view"))],
) -> HTMLResponse:
    """People with their role chips; managers edit roles, disable, and end sign-ins."""
    can_manage = user.can("users.manage")
    svc = UserService(session)
    ctx = {
        **_base(state, "users", user), "users": await svc.list_all(),
        "roles": await RoleService(session).list_all(), "can_manage": can_manage,
        "devices": await svc.all_devices() if can_manage else [],
    }  # fmt: skip
    return TEMPLATES.TemplateResponse(request, "users.html", ctx)


@router.get("/roles", response_class=HTMLResponse)
async def roles_page(
    request: Request,
    state: State,
    session: DbSession,
    user: Annotated[Principal, Depends(page_user("users.view"))],
) -> HTMLResponse:
    """The permission matrix: rows are permissions grouped by area, columns are roles."""
    roles = await RoleService(session).list_all()
    areas = [(title, list(perms)) for title, perms in groupby(catalogue(), lambda p: p.area_title)]
    ctx = {
        **_base(state, "roles", user), "roles": roles, "areas": areas,
        "granted": {v.role.id: set(v.permissions) for v in roles},
        "can_manage": user.can("users.manage"), "admin_role": ADMIN_ROLE,
    }  # fmt: skip
    return TEMPLATES.TemplateResponse(request, "roles.html", ctx)


def _matching(value: str | None, pattern: str) -> str | None:
    return value if value and re.fullmatch(pattern, value) else None


def _when(value: str | None) -> datetime | None:
    """A datetime-local field's value, or None when empty or unreadable."""
    if not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


@router.get("/audit", response_class=HTMLResponse)
async def audit_log_page(
    request: Request,
    state: State,
    session: DbSession,
    user: Annotated[Principal, Depends(page_user("audit.view"))],
) -> HTMLResponse:
    """The audit log with filters (action, actor, time range) and older/newer paging."""
    q = request.query_params
    before = q.get("before_id", "")
    filters: dict[str, Any] = {
        "action": _matching(q.get("action"), ACTION_PATTERN),
        "actor_id": _matching(q.get("actor_id"), ID_PATTERN),
        "since": _when(q.get("since")), "until": _when(q.get("until")),
        "before_id": int(before) if before.isdigit() and len(before) < 10 else None,
    }  # fmt: skip
    page = await audit_page(session, **filters, limit=50)
    ctx = {
        **_base(state, "audit", user), "page_data": page, "query": dict(q),
        "actions": await AuditRepository(session).actions(),
        "people": await UserService(session).list_all(),
    }  # fmt: skip
    return TEMPLATES.TemplateResponse(request, "audit.html", ctx)


@router.get("/settings", response_class=HTMLResponse)
async def settings_page(
    request: Request,
    state: State,
    session: DbSession,
    user: Annotated[Principal, Depends(page_user("settings.view", "budgets.view"))],
) -> HTMLResponse:
    """Providers and prices (settings.*) and budgets (budgets.*) in tabs, each tab shown only
    to those who may see it; settings.js reads and writes through the JSON API."""
    spaces = WorkspaceRepository(session)
    workspaces = []
    if user.can("budgets.view"):
        workspaces = await (spaces.list_all() if user.is_admin else spaces.list_for(user.user_id))
    ctx = {
        **_base(state, "settings", user),
        "can": {p: user.can(p) for p in (
            "settings.view", "settings.manage", "budgets.view", "budgets.manage"
        )},
        "catalog": {pid: list(info.models) for pid, info in PROVIDERS.items()},
        "default_prices": sorted(DEFAULT_PRICES),
        "workspaces": [{"id": w.id, "name": w.name} for w in workspaces],
    }  # fmt: skip
    return TEMPLATES.TemplateResponse(request, "settings.html", ctx)

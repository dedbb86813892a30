"""What each route requires, declared by hand, and what its dependencies actually require.

tests/integration/test_route_permissions.py checks the two agree for every route of the app
and then calls every route as every kind of caller. A new route needs an entry here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi.routing import APIRoute, iter_route_contexts

from api.auth import current_principal, optional_principal
from api.deps import host_key


@dataclass(frozen=True)
class Rule:
    """public: no sign-in; user: any signed-in person; perm: these permissions; host: a host
    API key; page: a dashboard page that redirects strangers to /signin (perm or none)."""

    kind: str
    permissions: tuple[str, ...] = ()


PUBLIC, USER, HOST = Rule("public"), Rule("user"), Rule("host")


def perm(*names: str) -> Rule:
    return Rule("perm", tuple(sorted(names)))


def page(*names: str) -> Rule:
    return Rule("page", names)


EXPECTED: dict[tuple[str, str], Rule] = {
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/readyz"): PUBLIC,
    ("GET", "/api/version"): PUBLIC,
    ("GET", "/auth/config"): PUBLIC,
    ("POST", "/auth/local"): PUBLIC,
    ("POST", "/auth/refresh"): PUBLIC,
    ("POST", "/auth/logout"): PUBLIC,
    ("GET", "/auth/token"): PUBLIC,  # reads the access cookie itself; CSRF-checked
    ("GET", "/auth/login"): PUBLIC,
    ("GET", "/auth/callback/{provider}"): PUBLIC,
    ("GET", "/api/me"): USER,
    ("GET", "/api/me/devices"): USER,
    ("DELETE", "/api/me/devices/{device_id}"): USER,
    ("POST", "/api/me/sign-out-everywhere"): USER,
    ("GET", "/api/hosts"): perm("hosts.view"),
    ("POST", "/api/hosts/{host_id}/probe"): perm("hosts.manage"),
    ("GET", "/api/runs"): perm("hosts.view"),
    ("GET", "/api/users"): perm("users.view"),
    ("GET", "/api/users/{user_id}"): perm("users.view"),
    ("PUT", "/api/users/{user_id}/roles"): perm("users.manage"),
    ("POST", "/api/users/{user_id}/disable"): perm("users.manage"),
    ("POST", "/api/users/{user_id}/enable"): perm("users.manage"),
    ("GET", "/api/users/{user_id}/devices"): perm("users.manage"),
    ("DELETE", "/api/users/{user_id}/devices/{device_id}"): perm("users.manage"),
    ("GET", "/api/devices"): perm("users.manage"),
    ("GET", "/api/permissions"): perm("users.view"),
    ("GET", "/api/roles"): perm("users.view"),
    ("POST", "/api/roles"): perm("users.manage"),
    ("PATCH", "/api/roles/{role_id}"): perm("users.manage"),
    ("PUT", "/api/roles/{role_id}/permissions"): perm("users.manage"),
    ("DELETE", "/api/roles/{role_id}"): perm("users.manage"),
    ("GET", "/api/audit"): perm("audit.view"),
    ("GET", "/api/workspaces"): perm("workspaces.view"),
    ("POST", "/api/workspaces"): perm("workspaces.create"),
    ("GET", "/api/workspaces/{workspace_id}"): perm("workspaces.view"),
    ("PATCH", "/api/workspaces/{workspace_id}"): perm("workspaces.edit"),
    ("DELETE", "/api/workspaces/{workspace_id}"): perm("workspaces.delete"),
    ("GET", "/api/workspaces/{workspace_id}/members"): perm("workspaces.view"),
    ("PUT", "/api/workspaces/{workspace_id}/members/{user_id}"): perm("workspaces.users"),
    ("DELETE", "/api/workspaces/{workspace_id}/members/{user_id}"): perm("workspaces.users"),
    ("GET", "/api/workspaces/{workspace_id}/variables"): perm("workspaces.view"),
    ("POST", "/api/workspaces/{workspace_id}/variables"): perm("workspaces.edit"),
    ("POST", "/api/workspaces/{workspace_id}/variables/import"): perm("workspaces.edit"),
    ("GET", "/api/workspaces/{workspace_id}/variables/export"): perm("workspaces.view"),
    ("PUT", "/api/workspaces/{workspace_id}/variables/{name}"): perm("workspaces.edit"),
    ("DELETE", "/api/workspaces/{workspace_id}/variables/{name}"): perm("workspaces.edit"),
    ("GET", "/api/workspaces/{workspace_id}/tasks"): perm("workspaces.view"),
    ("POST", "/api/workspaces/{workspace_id}/tasks"): perm("workspaces.edit"),
    ("GET", "/api/workspaces/{workspace_id}/tasks/{task_id}"): perm("workspaces.view"),
    ("PUT", "/api/workspaces/{workspace_id}/tasks/{task_id}"): perm("workspaces.edit"),
    ("DELETE", "/api/workspaces/{workspace_id}/tasks/{task_id}"): perm("workspaces.edit"),
    ("GET", "/api/me/pats"): USER,
    ("PUT", "/api/me/pats/{workspace_id}"): USER,
    ("DELETE", "/api/me/pats/{workspace_id}"): USER,
    ("POST", "/internal/hosts/register"): HOST,
    ("POST", "/internal/hosts/{host_id}/heartbeat"): HOST,
    ("GET", "/internal/secrets/{ref_id}"): HOST,
    ("POST", "/internal/sessions/{session_id}/events"): HOST,
    # Membership, then sessions.view_all or (own session) sessions.view_own: decided per row.
    ("GET", "/api/sessions/{session_id}"): USER,
    ("GET", "/api/sessions/{session_id}/events"): USER,
    # Dashboard pages and fragments (not in the OpenAPI schema).
    ("GET", "/signin"): PUBLIC,
    ("GET", "/"): page("hosts.view"),
    ("GET", "/partials/hosts"): perm("hosts.view"),
    ("GET", "/partials/runs"): perm("hosts.view"),
    ("GET", "/profile"): page(),
    ("GET", "/users"): page("users.view"),
    ("GET", "/roles"): page("users.view"),
    ("GET", "/audit"): page("audit.view"),
    ("GET", "/workspaces"): page("workspaces.view"),
    ("GET", "/workspaces/{workspace_id}"): page("workspaces.view"),  # membership checked first
}


def _requirements(dependant: Any, found: set[str], perms: set[str]) -> None:
    for sub in dependant.dependencies:
        call = sub.call
        perms.update(getattr(call, "permissions", ()))  # require(...) and workspace(...)
        for marker, fn in (("user", current_principal), ("host", host_key)):
            if call is fn:
                found.add(marker)
        if call is optional_principal or getattr(call, "page", False):
            found.add("page")
        _requirements(sub, found, perms)


def discovered(ctx: Any) -> Rule:
    """What the route's dependencies actually require."""
    found: set[str] = set()
    perms: set[str] = set()
    _requirements(ctx.dependant, found, perms)
    if "host" in found:
        return HOST
    if "page" in found:
        return page(*sorted(perms))
    if perms:
        return perm(*perms)
    if "user" in found:
        return USER
    return PUBLIC


def app_routes(app: Any) -> dict[tuple[str, str], Any]:
    out = {}
    for ctx in iter_route_contexts(app.routes):
        if isinstance(ctx.original_route, APIRoute):
            for method in ctx.methods:
                out[(method, ctx.path)] = ctx
    return out

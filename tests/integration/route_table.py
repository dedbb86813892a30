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
    ("PATCH", "/api/hosts/{host_id}"): perm("hosts.manage"),
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
    ("GET", "/api/workspaces/{workspace_id}/hooks"): perm("workspaces.view"),
    ("POST", "/api/workspaces/{workspace_id}/hooks"): perm("workspaces.edit"),
    ("GET", "/api/workspaces/{workspace_id}/hooks/{hook_id}"): perm("workspaces.view"),
    ("PATCH", "/api/workspaces/{workspace_id}/hooks/{hook_id}"): perm("workspaces.edit"),
    ("DELETE", "/api/workspaces/{workspace_id}/hooks/{hook_id}"): perm("workspaces.edit"),
    ("GET", "/api/sessions/{session_id}/hook-runs"): USER,  # like /events, per row
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
    ("GET", "/internal/sessions/{session_id}/environment"): HOST,
    ("GET", "/internal/sessions/{session_id}/attachments/{attachment_id}"): HOST,
    ("POST", "/api/workspaces/{workspace_id}/sessions"): perm("sessions.create"),
    ("GET", "/api/workspaces/{workspace_id}/sessions"): perm("workspaces.view"),
    # Acting: sessions.edit on one's own session or sessions.manage_all, decided per row.
    ("POST", "/api/sessions/{session_id}/messages"): USER,
    ("POST", "/api/sessions/{session_id}/cancel"): USER,
    ("POST", "/api/sessions/{session_id}/complete"): USER,
    ("POST", "/api/sessions/{session_id}/reset"): USER,
    ("PATCH", "/api/sessions/{session_id}"): USER,
    ("DELETE", "/api/sessions/{session_id}"): USER,
    ("POST", "/api/sessions/{session_id}/attachments"): USER,
    ("POST", "/api/sessions/{session_id}/read"): USER,
    ("GET", "/api/sessions/{session_id}/costs"): USER,
    ("GET", "/api/providers"): USER,
    ("GET", "/api/notifications"): USER,
    ("GET", "/api/notifications/{notification_id}"): USER,
    ("POST", "/api/notifications/{notification_id}/star"): USER,
    ("POST", "/api/notifications/{notification_id}/dismiss"): USER,
    ("POST", "/api/notifications/read-all"): USER,
    ("GET", "/api/settings/providers"): perm("settings.view"),
    ("PATCH", "/api/settings/providers/{provider}"): perm("settings.manage"),
    ("GET", "/api/settings/prices"): perm("settings.view"),
    ("PUT", "/api/settings/prices"): perm("settings.manage"),
    ("DELETE", "/api/settings/prices"): perm("settings.manage"),
    ("GET", "/api/budgets"): perm("budgets.view"),
    ("PUT", "/api/budgets/global"): perm("budgets.manage"),
    ("DELETE", "/api/budgets/global"): perm("budgets.manage"),
    ("PUT", "/api/workspaces/{workspace_id}/budget"): perm("budgets.manage"),
    ("DELETE", "/api/workspaces/{workspace_id}/budget"): perm("budgets.manage"),
    # Tickets: the permission first (403), then the ticket's workspace must be visible (404).
    ("POST", "/api/workspaces/{workspace_id}/tickets"): perm("tickets.manage"),
    ("GET", "/api/workspaces/{workspace_id}/tickets"): perm("tickets.view"),
    ("GET", "/api/tickets/{ticket_id}"): perm("tickets.view"),
    ("PATCH", "/api/tickets/{ticket_id}"): perm("tickets.manage"),
    ("DELETE", "/api/tickets/{ticket_id}"): perm("tickets.manage"),
    ("POST", "/api/tickets/{ticket_id}/queue"): perm("tickets.manage"),
    ("POST", "/api/tickets/{ticket_id}/cancel"): perm("tickets.manage"),
    ("POST", "/api/tickets/{ticket_id}/pr-merged"): perm("tickets.manage"),
    ("POST", "/api/tickets/{ticket_id}/pr-closed"): perm("tickets.manage"),
    # The approval permission of the stage the ticket waits in is checked per ticket.
    ("POST", "/api/tickets/{ticket_id}/approve"): perm("tickets.view"),
    ("GET", "/api/tickets/{ticket_id}/candidates"): perm("tickets.view"),
    ("POST", "/api/tickets/{ticket_id}/pick"): perm("tickets.view"),
    ("POST", "/api/tickets/{ticket_id}/reject"): perm("tickets.view"),
    ("POST", "/api/tickets/{ticket_id}/skip-to-merge"): perm("tickets.skip_to_merge"),
    # Uploading also needs tickets.manage or an approval permission (per caller).
    ("POST", "/api/tickets/{ticket_id}/attachments"): perm("tickets.view"),
    ("GET", "/api/tickets/{ticket_id}/attachments/{attachment_id}"): perm("tickets.view"),
    ("GET", "/api/tickets/{ticket_id}/comments"): perm("tickets.view"),
    ("POST", "/api/tickets/{ticket_id}/comments"): perm("tickets.manage"),
    ("GET", "/api/tickets/{ticket_id}/history"): perm("tickets.view"),
    ("GET", "/api/workspaces/{workspace_id}/tickets-config"): perm("workspaces.view"),
    ("PUT", "/api/workspaces/{workspace_id}/tickets-config"): perm("workspaces.edit"),
    ("GET", "/api/tickets/queue"): perm("tickets.view"),
    # Ticket sync: runs the workspace's sync, or creates the ticket's item, on Temporal.
    ("POST", "/api/workspaces/{workspace_id}/tickets/sync"): perm("tickets.manage"),
    ("POST", "/api/tickets/{ticket_id}/github-issue"): perm("tickets.manage"),
    ("POST", "/api/tickets/{ticket_id}/tfs-bug"): perm("tickets.manage"),
    ("GET", "/api/settings/tickets"): perm("settings.view"),
    ("PUT", "/api/settings/tickets"): perm("settings.manage"),
    # Session panel: reads as /events, writes as /messages (decided per row); merging into the
    # starter branch also needs its permission.
    ("GET", "/api/sessions/{session_id}/files"): USER,
    ("GET", "/api/sessions/{session_id}/files/content"): USER,
    ("PUT", "/api/sessions/{session_id}/files/content"): USER,
    ("GET", "/api/sessions/{session_id}/git/status"): USER,
    ("GET", "/api/sessions/{session_id}/git/diff"): USER,
    ("POST", "/api/sessions/{session_id}/git/stage"): USER,
    ("POST", "/api/sessions/{session_id}/git/unstage"): USER,
    ("POST", "/api/sessions/{session_id}/git/discard"): USER,
    ("POST", "/api/sessions/{session_id}/git/commit"): USER,
    ("POST", "/api/sessions/{session_id}/git/push"): USER,
    ("POST", "/api/sessions/{session_id}/git/pull"): USER,
    ("POST", "/api/sessions/{session_id}/git/merge"): perm("sessions.merge_to_starter"),
    # Dashboard pages and fragments (not in the OpenAPI schema).
    ("GET", "/signin"): PUBLIC,
    ("GET", "/"): page("hosts.view"),
    ("GET", "/partials/hosts"): perm("hosts.view"),
    ("GET", "/partials/runs"): perm("hosts.view"),
    ("GET", "/profile"): page(),
    ("GET", "/users"): page("users.view"),
    ("GET", "/roles"): page("users.view"),
    ("GET", "/audit"): page("audit.view"),
    # Opens with settings.view OR budgets.view (a tab for each); every caller kind the route
    # test uses that holds settings.view holds budgets.view too, so one name describes it.
    ("GET", "/settings"): page("budgets.view"),
    ("GET", "/workspaces"): page("workspaces.view"),
    ("GET", "/workspaces/{workspace_id}"): page("workspaces.view"),  # membership checked first
    ("GET", "/sessions/{session_id}"): page(),  # like GET /api/sessions/{id}, per row
    ("GET", "/workspaces/{workspace_id}/tickets"): page("tickets.view"),
    ("GET", "/workspaces/{workspace_id}/tickets/board"): perm("tickets.view"),
    ("GET", "/tickets/{ticket_id}"): page(),  # like GET /api/tickets/{id}: 404, then 403
    ("GET", "/tickets/{ticket_id}/body"): perm("tickets.view"),
    ("GET", "/queue"): page("tickets.view"),
    ("GET", "/partials/ticket-queue"): perm("tickets.view"),
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

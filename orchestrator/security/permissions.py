"""Every permission name, and the roles a fresh install starts with.

Names follow the product's permission guide (feature inventory §18), plus names for the
areas it leaves out (insights, memory, round tables, budgets). `admin` bypasses every check.
"""

from __future__ import annotations

ADMIN = "admin"

PERMISSIONS: dict[str, str] = {
    ADMIN: "Everything, in every workspace",
    "users.view": "See users and their roles",
    "users.manage": "Assign roles, edit the role matrix, revoke anyone's devices",
    "settings.view": "See global settings",
    "settings.manage": "Change global settings",
    "statistics.view": "See statistics",
    "audit.view": "Read the audit log",
    "sessions.view_own": "See own sessions",
    "sessions.view_all": "See everyone's sessions",
    "sessions.create": "Start sessions",
    "sessions.edit": "Send messages and change own sessions",
    "sessions.delete": "Delete own sessions",
    "sessions.manage_all": "Act on anyone's session",
    "sessions.merge_to_starter": "Merge a session's branch into its starter branch",
    "workspaces.view": "See workspaces one is a member of",
    "workspaces.create": "Create workspaces",
    "workspaces.edit": "Change workspace settings, variables, tasks and deploy templates",
    "workspaces.delete": "Delete workspaces",
    "workspaces.users": "Manage workspace members",
    "tickets.view": "See tickets",
    "tickets.manage": "Create and change tickets",
    "tickets.approve_dev": "Give the developer approval",
    "tickets.approve_qa": "Give the QA approval",
    "tickets.skip_to_merge": "Skip a ticket straight to merge",
    "hosts.view": "See hosts and slots",
    "hosts.manage": "Configure hosts and slots",
    "hosts.manage_api_keys": "Create, rotate and revoke host API keys",
    "workflows.view": "See workflows",
    "workflows.manage": "Create and change workflows",
    "bots.view": "See bots",
    "bots.manage": "Create and change bots",
    "subagents.view": "See subagents",
    "subagents.manage": "Create and change subagents",
    "mcps.view": "See MCP servers",
    "mcps.manage": "Create and change MCP servers",
    "planner.create": "Start plans",
    "planner.view_all": "See everyone's plans",
    "planner.manage": "Change and delete anyone's plans",
    "automations.view_own": "See own automations",
    "automations.view_all": "See everyone's automations",
    "automations.manage": "Create and change own automations",
    "automations.manage_all": "Change anyone's automations",
    "insights.view": "See insights",
    "insights.manage": "Configure and run insights",
    "memory.view": "See memory stores",
    "memory.manage": "Change memory stores",
    "roundtables.view": "See round tables",
    "roundtables.create": "Start round tables",
    "roundtables.manage_personas": "Create and change round-table personas",
    "budgets.view": "See budgets and spend",
    "budgets.manage": "Set budgets",
}

_MEMBER = [
    "sessions.view_own", "sessions.create", "sessions.edit", "sessions.delete",
    "workspaces.view", "tickets.view", "tickets.manage", "hosts.view", "workflows.view",
    "bots.view", "subagents.view", "mcps.view", "planner.create", "automations.view_own",
    "automations.manage", "insights.view", "memory.view", "roundtables.view",
    "roundtables.create", "budgets.view", "statistics.view",
]  # fmt: skip

DEFAULT_ROLES: dict[str, tuple[str, list[str]]] = {
    "admin": ("Administrators: everything", [ADMIN]),
    "developer": (
        "Developers: sessions, tickets, merging",
        [
            *_MEMBER,
            "tickets.approve_dev",
            "sessions.merge_to_starter",
            "workflows.manage",
            "bots.manage",
        ],
    ),
    "qa": ("QA: tickets and their approval", [*_MEMBER, "tickets.approve_qa"]),
    "viewer": (
        "Read-only",
        ["sessions.view_own", "workspaces.view", "tickets.view", "hosts.view", "statistics.view"],
    ),
}
DEFAULT_ROLE_FOR_NEW_USERS = "developer"
# Seeded by migration 0002 (a frozen copy): changing these defaults needs a new migration.


def unknown(names: list[str] | set[str]) -> list[str]:
    return sorted(set(names) - set(PERMISSIONS))

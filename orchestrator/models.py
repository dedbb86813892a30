"""Every domain's models, imported once so metadata (and Alembic) sees all tables."""

from orchestrator.audit.models import AuditEntry
from orchestrator.auth.models import (
    InstanceSetting,
    RefreshFamily,
    RefreshToken,
    Role,
    RolePermission,
    UserRole,
)
from orchestrator.base import Base
from orchestrator.hooks.models import Hook, HookRun
from orchestrator.hosts.models import Host, HostApiKey, HostProbe, HostWorker
from orchestrator.notifications.models import Notification
from orchestrator.secrets.models import SecretRef
from orchestrator.sessions.models import (
    Session,
    SessionAttachment,
    SessionCost,
    SessionEvent,
    SessionRead,
)
from orchestrator.settings.models import Budget, BudgetAlert, ModelPriceRow, ProviderSetting
from orchestrator.tickets.models import (
    Ticket,
    TicketAttachment,
    TicketBlocker,
    TicketComment,
    TicketConfig,
    TicketTransition,
)
from orchestrator.tickets.sync_models import TicketSyncLink
from orchestrator.users.models import User
from orchestrator.workspaces.models import (
    PersonalPat,
    Workspace,
    WorkspaceMember,
    WorkspaceTask,
    WorkspaceVariable,
)

__all__ = [
    "AuditEntry",
    "Base",
    "Budget",
    "BudgetAlert",
    "Hook",
    "HookRun",
    "Host",
    "HostApiKey",
    "HostProbe",
    "HostWorker",
    "InstanceSetting",
    "ModelPriceRow",
    "Notification",
    "PersonalPat",
    "ProviderSetting",
    "RefreshFamily",
    "RefreshToken",
    "Role",
    "RolePermission",
    "SecretRef",
    "Session",
    "SessionAttachment",
    "SessionCost",
    "SessionEvent",
    "SessionRead",
    "Ticket",
    "TicketAttachment",
    "TicketBlocker",
    "TicketComment",
    "TicketConfig",
    "TicketSyncLink",
    "TicketTransition",
    "User",
    "UserRole",
    "Workspace",
    "WorkspaceMember",
    "WorkspaceTask",
    "WorkspaceVariable",
]

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
from orchestrator.hosts.models import Host, HostApiKey, HostProbe, HostWorker
from orchestrator.secrets.models import SecretRef
from orchestrator.sessions.models import Session
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
    "Host",
    "HostApiKey",
    "HostProbe",
    "HostWorker",
    "InstanceSetting",
    "PersonalPat",
    "RefreshFamily",
    "RefreshToken",
    "Role",
    "RolePermission",
    "SecretRef",
    "Session",
    "User",
    "UserRole",
    "Workspace",
    "WorkspaceMember",
    "WorkspaceTask",
    "WorkspaceVariable",
]

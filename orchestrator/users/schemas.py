"""API shapes for users, roles, the permission catalogue, admin device views and the audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, Field

from orchestrator.auth.schemas import DeviceOut
from orchestrator.schemas import RequestModel
from orchestrator.security.permissions import PERMISSIONS

ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
ROLE_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9 _.-]*$"


def _known_permission(name: str) -> str:
    if name not in PERMISSIONS:
        raise ValueError(f"unknown permission {name!r}")
    return name


PermissionName = Annotated[str, Field(max_length=64), AfterValidator(_known_permission)]
RoleId = Annotated[str, Field(pattern=ID_PATTERN)]
RoleName = Annotated[str, Field(min_length=1, max_length=64, pattern=ROLE_NAME_PATTERN)]


class RoleBrief(BaseModel):
    id: str
    name: str


class UserOut(BaseModel):
    id: str
    name: str
    email: str | None
    issuer: str
    disabled: bool
    is_admin: bool
    roles: list[RoleBrief]
    created_at: datetime
    last_sign_in_at: datetime | None


class UserRolesIn(RequestModel):
    """The complete set of roles the user should hold afterwards (ids)."""

    roles: list[RoleId] = Field(max_length=100)


class PermissionOut(BaseModel):
    name: str
    description: str
    area: str
    area_title: str


class RoleOut(BaseModel):
    id: str
    name: str
    description: str
    builtin: bool
    permissions: list[str]
    users: int


class RoleIn(RequestModel):
    name: RoleName
    description: str = Field(default="", max_length=300)
    permissions: list[PermissionName] = Field(default_factory=list, max_length=200)


class RolePatch(RequestModel):
    name: RoleName | None = None
    description: str | None = Field(default=None, max_length=300)


class RolePermissionsIn(RequestModel):
    """The complete permission set of the role afterwards; unknown names answer 422."""

    permissions: list[PermissionName] = Field(max_length=200)


class AdminDeviceOut(DeviceOut):
    user_id: str
    user_name: str


class AuditOut(BaseModel):
    id: int
    at: datetime
    actor_type: str
    actor_id: str | None
    actor_name: str | None
    action: str
    target_type: str | None
    target_id: str | None
    ip: str | None
    details: dict[str, Any]


class AuditPage(BaseModel):
    entries: list[AuditOut]
    next_before_id: int | None = Field(
        description="Pass as before_id for the next (older) page; null on the last page"
    )

"""API shapes for signing in, tokens, the current user and devices."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from orchestrator.schemas import RequestModel


class AuthConfig(BaseModel):
    provider: str
    button_label: str
    local_sign_in: bool
    needs_setup: bool


class LocalSignIn(RequestModel):
    name: str = Field(min_length=1, max_length=80, pattern=r"^[\w .@'-]+$")
    setup_token: str | None = Field(default=None, max_length=200)


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "Bearer"  # noqa: S105
    expires_at: datetime
    user_id: str


class MeOut(BaseModel):
    id: str
    name: str
    email: str | None
    is_admin: bool
    permissions: list[str]


class DeviceOut(BaseModel):
    id: str
    user_agent: str
    ip: str | None
    created_at: datetime
    last_used_at: datetime
    current: bool

"""Request and response bodies of the session API."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field, field_validator

from orchestrator.contracts.sessions import MAX_AUTO_TURNS, TOGGLES, DevMode, Mode, Toggle
from orchestrator.schemas import RequestModel

ID = r"^[A-Za-z0-9_-]{1,64}$"
MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024


class Toggles(RequestModel):
    """The seven session toggles; Code Review and Verification add passes after the work."""

    code_architecture: bool = False
    ux_enhancement: bool = False
    edge_cases: bool = False
    code_review: bool = False
    verification: bool = False
    update_tests: bool = False
    update_docs: bool = False

    def enabled(self) -> list[Toggle]:
        return [t for t in TOGGLES if getattr(self, t)]

    @classmethod
    def of(cls, names: list[str]) -> Toggles:
        return cls(**{t: t in names for t in TOGGLES})


class SessionCreate(RequestModel):
    title: str = Field(default="", max_length=300)
    mode: Mode = "chat"
    provider: Literal[
        "claude-code", "polygent-code", "gemini-cli", "opencode", "kilo-cli", "codex", "qwen-code"
    ] = "claude-code"
    model: str | None = Field(default=None, min_length=1, max_length=200, pattern=r"^[\w.:/@-]+$")
    base_branch: str | None = Field(default=None, min_length=1, max_length=255)
    dev_mode: DevMode = "manual"
    auto_turn_limit: int = Field(default=10, ge=1, le=MAX_AUTO_TURNS)
    toggles: Toggles = Field(default_factory=Toggles)
    message: str | None = Field(
        default=None, min_length=1, max_length=100_000,
        description="The first message; to attach files to it, create the session without "
        "it, upload them, then send it.",
    )  # fmt: skip


class SessionPatch(RequestModel):
    title: str | None = Field(default=None, max_length=300)
    dev_mode: DevMode | None = None
    auto_turn_limit: int | None = Field(default=None, ge=1, le=MAX_AUTO_TURNS)
    toggles: Toggles | None = None


class MessageIn(RequestModel):
    text: str = Field(min_length=1, max_length=100_000)
    attachment_ids: list[str] = Field(default_factory=list, max_length=20)
    request_id: str | None = Field(default=None, pattern=ID)

    @field_validator("attachment_ids")
    @classmethod
    def _ids(cls, ids: list[str]) -> list[str]:
        return _check_ids(ids)


class ReadIn(RequestModel):
    cursor: int = Field(ge=0, le=2**31 - 1)


def _check_ids(ids: list[str]) -> list[str]:
    for i in ids:
        if not re.match(ID, i):
            raise ValueError(f"{i[:40]!r} is not an attachment id")
    return ids


class SessionOut(BaseModel):
    id: str
    workspace_id: str
    title: str
    mode: str
    status: str
    provider: str
    model: str | None
    host_id: str | None
    host_online: bool | None = None
    base_branch: str | None
    branch: str | None
    created_by: str | None
    workflow_id: str | None
    temporal_url: str | None = None
    dev_mode: str
    auto_turn_limit: int
    toggles: Toggles
    turns: int
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    cost_usd: float
    last_cursor: int = 0
    read_cursor: int = 0
    unread: int = 0
    created_at: datetime
    updated_at: datetime
    ended_at: datetime | None = None


class SessionPage(BaseModel):
    items: list[SessionOut]
    total: int


class Accepted(BaseModel):
    accepted: bool = True
    pending: int = Field(description="Messages queued, this one included.")


class AttachmentOut(BaseModel):
    id: str
    name: str
    size: int
    content_type: str


class CostOut(BaseModel):
    turn: int
    message_id: str
    kind: str
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    cost_usd: float | None
    created_at: datetime


class CostPage(BaseModel):
    items: list[CostOut]
    total_usd: float

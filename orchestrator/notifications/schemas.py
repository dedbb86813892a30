"""Request and response bodies of the notifications API."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from orchestrator.schemas import RequestModel


class NotificationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    kind: str
    title: str
    body: str
    link: str | None = Field(description="A dashboard path to open; null for a system notice.")
    link_label: str | None
    created_at: datetime
    read_at: datetime | None
    starred: bool
    dismissed_at: datetime | None


class NotificationPage(BaseModel):
    items: list[NotificationOut]
    total: int
    unread: int


class StarIn(RequestModel):
    starred: bool

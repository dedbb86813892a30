"""A workspace binds one git repository; members see it, others do not.

Secret columns (`git_pat`, secret variable values, personal PATs) hold SecretBox values bound
to their row; no API response ever contains them.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from orchestrator.base import Base, IdMixin, TimestampMixin


class Workspace(IdMixin, TimestampMixin, Base):
    __tablename__ = "workspaces"

    name: Mapped[str] = mapped_column(String(120), unique=True)
    git_url: Mapped[str] = mapped_column(String(2000))
    default_branch: Mapped[str] = mapped_column(String(255), default="main")
    created_by: Mapped[str | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    git_pat: Mapped[str | None] = mapped_column(Text, default=None)
    ticket_source: Mapped[str] = mapped_column(String(16), default="none")  # none|github|tfs
    ticket_settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    prompt_chat: Mapped[str] = mapped_column(Text, default="")
    prompt_develop: Mapped[str] = mapped_column(Text, default="")
    prompt_merge_conflicts: Mapped[str] = mapped_column(Text, default="")
    prompt_insights: Mapped[str] = mapped_column(Text, default="")


class WorkspaceMember(Base):
    __tablename__ = "workspace_members"
    __table_args__ = (UniqueConstraint("workspace_id", "user_id", name="workspace_user"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)


class WorkspaceVariable(IdMixin, TimestampMixin, Base):
    """An environment variable for sessions and tasks; `value` is encrypted when `secret`."""

    __tablename__ = "workspace_variables"
    __table_args__ = (UniqueConstraint("workspace_id", "name", name="workspace_variable"),)

    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    value: Mapped[str] = mapped_column(Text, default="")
    secret: Mapped[bool] = mapped_column(default=False)


class WorkspaceTask(IdMixin, TimestampMixin, Base):
    """A named reusable script (hooks, workflows and people run it in a worktree)."""

    __tablename__ = "workspace_tasks"
    __table_args__ = (UniqueConstraint("workspace_id", "name", name="workspace_task"),)

    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(120))
    working_directory: Mapped[str] = mapped_column(String(1000), default="")
    script_type: Mapped[str] = mapped_column(String(16), default="auto")
    script: Mapped[str] = mapped_column(Text, default="")


class PersonalPat(IdMixin, TimestampMixin, Base):
    """A person's own Azure DevOps PAT for one workspace; nobody else can see or use it."""

    __tablename__ = "personal_pats"
    __table_args__ = (UniqueConstraint("user_id", "workspace_id", name="user_workspace_pat"),)

    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    value: Mapped[str] = mapped_column(Text)

"""hooks: session hooks per workspace, and their runs

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22 14:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import orchestrator.base

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "hooks",
        sa.Column("workspace_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("event", sa.String(length=32), nullable=False),
        sa.Column("task_id", sa.String(length=32), nullable=True),
        sa.Column("script", sa.Text(), nullable=False),
        sa.Column("script_type", sa.String(length=16), nullable=False),
        sa.Column("timeout_seconds", sa.Integer(), nullable=False),
        sa.Column("retries", sa.Integer(), nullable=False),
        sa.Column("branch_glob", sa.String(length=255), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("consecutive_failures", sa.Integer(), nullable=False),
        sa.Column("disabled_reason", sa.String(length=500), nullable=True),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("created_at", orchestrator.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", orchestrator.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["task_id"],
            ["workspace_tasks.id"],
            name=op.f("fk_hooks_task_id_workspace_tasks"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_hooks_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hooks")),
        sa.UniqueConstraint("workspace_id", "name", name="workspace_hook"),
    )
    with op.batch_alter_table("hooks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_hooks_task_id"), ["task_id"], unique=False)

    op.create_table(
        "hook_runs",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("hook_id", sa.String(length=32), nullable=True),
        sa.Column("session_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("event", sa.String(length=32), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("exit_code", sa.Integer(), nullable=True),
        sa.Column("timed_out", sa.Boolean(), nullable=False),
        sa.Column("output", sa.Text(), nullable=False),
        sa.Column("started_at", orchestrator.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", orchestrator.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["hook_id"],
            ["hooks.id"],
            name=op.f("fk_hook_runs_hook_id_hooks"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["sessions.id"],
            name=op.f("fk_hook_runs_session_id_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hook_runs")),
    )
    with op.batch_alter_table("hook_runs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_hook_runs_hook_id"), ["hook_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_hook_runs_session_id"), ["session_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("hook_runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_hook_runs_session_id"))
        batch_op.drop_index(batch_op.f("ix_hook_runs_hook_id"))
    op.drop_table("hook_runs")
    with op.batch_alter_table("hooks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_hooks_task_id"))
    op.drop_table("hooks")

"""sessions: workflow state, attachments, read markers, cost audit, host allowlist

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-21 21:32:47
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import orchestrator.base

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "session_attachments",
        sa.Column("session_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("content_type", sa.String(length=200), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_by", sa.String(length=32), nullable=True),
        sa.Column("created_at", orchestrator.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["users.id"],
            name=op.f("fk_session_attachments_created_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["sessions.id"],
            name=op.f("fk_session_attachments_session_id_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_session_attachments")),
    )
    with op.batch_alter_table("session_attachments", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_session_attachments_session_id"), ["session_id"], unique=False
        )

    op.create_table(
        "session_costs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("session_id", sa.String(length=32), nullable=False),
        sa.Column("workspace_id", sa.String(length=32), nullable=False),
        sa.Column("turn", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=True),
        sa.Column("input_tokens", sa.Integer(), nullable=False),
        sa.Column("output_tokens", sa.Integer(), nullable=False),
        sa.Column("cache_read_tokens", sa.Integer(), nullable=False),
        sa.Column("cache_write_tokens", sa.Integer(), nullable=False),
        sa.Column("cost_usd", sa.Float(), nullable=True),
        sa.Column("created_at", orchestrator.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["sessions.id"],
            name=op.f("fk_session_costs_session_id_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_session_costs")),
        sa.UniqueConstraint(
            "session_id", "turn", "message_id", name=op.f("uq_session_costs_session_id")
        ),
    )
    with op.batch_alter_table("session_costs", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_session_costs_session_id"), ["session_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_session_costs_workspace_id"), ["workspace_id"], unique=False
        )

    op.create_table(
        "session_reads",
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("session_id", sa.String(length=32), nullable=False),
        sa.Column("cursor", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["sessions.id"],
            name=op.f("fk_session_reads_session_id_sessions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_session_reads_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "session_id", name=op.f("pk_session_reads")),
    )
    with op.batch_alter_table("hosts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "workspace_allowlist", sa.JSON(), nullable=False, server_default=sa.text("'[]'")
            )
        )

    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("dev_mode", sa.String(length=8), nullable=False, server_default="manual")
        )
        batch_op.add_column(
            sa.Column("auto_turn_limit", sa.Integer(), nullable=False, server_default="10")
        )
        batch_op.add_column(
            sa.Column("toggles", sa.JSON(), nullable=False, server_default=sa.text("'[]'"))
        )
        batch_op.add_column(sa.Column("turns", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(
            sa.Column("input_tokens", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column("output_tokens", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column("cache_read_tokens", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column("cache_write_tokens", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(sa.Column("cost_usd", sa.Float(), nullable=False, server_default="0"))
        batch_op.add_column(
            sa.Column("ended_at", orchestrator.base.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("disposed_at", orchestrator.base.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.drop_column("disposed_at")
        batch_op.drop_column("ended_at")
        batch_op.drop_column("cost_usd")
        batch_op.drop_column("cache_write_tokens")
        batch_op.drop_column("cache_read_tokens")
        batch_op.drop_column("output_tokens")
        batch_op.drop_column("input_tokens")
        batch_op.drop_column("turns")
        batch_op.drop_column("toggles")
        batch_op.drop_column("auto_turn_limit")
        batch_op.drop_column("dev_mode")

    with op.batch_alter_table("hosts", schema=None) as batch_op:
        batch_op.drop_column("workspace_allowlist")

    op.drop_table("session_reads")
    with op.batch_alter_table("session_costs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_session_costs_workspace_id"))
        batch_op.drop_index(batch_op.f("ix_session_costs_session_id"))

    op.drop_table("session_costs")
    with op.batch_alter_table("session_attachments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_session_attachments_session_id"))

    op.drop_table("session_attachments")

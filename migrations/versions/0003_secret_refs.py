"""secret refs: short-lived, once-only secret references for hosts

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import orchestrator.base

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "secret_refs",
        sa.Column("purpose", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("workspace_id", sa.String(length=32), nullable=True),
        sa.Column("created_at", orchestrator.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", orchestrator.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_secret_refs_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_secret_refs")),
    )
    with op.batch_alter_table("secret_refs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_secret_refs_expires_at"), ["expires_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("secret_refs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_secret_refs_expires_at"))
    op.drop_table("secret_refs")

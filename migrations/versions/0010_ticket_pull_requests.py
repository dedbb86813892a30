"""ticket pull requests: the number and provider of a ticket's pull request (for tracking)

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-22 04:43:34.035589
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.add_column(sa.Column("pr_number", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("pr_provider", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.drop_column("pr_provider")
        batch_op.drop_column("pr_number")

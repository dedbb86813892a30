"""ticket sync links: what sync last wrote back to each linked GitHub issue or work item

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-22 04:52:00.655477
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import orchestrator.base

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ticket_sync_links",
        sa.Column("ticket_id", sa.String(length=32), nullable=False),
        sa.Column("written_stage", sa.String(length=20), nullable=True),
        sa.Column("written", sa.String(length=64), nullable=True),
        sa.Column("url", sa.String(length=500), nullable=True),
        sa.Column("updated_at", orchestrator.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            name=op.f("fk_ticket_sync_links_ticket_id_tickets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("ticket_id", name=op.f("pk_ticket_sync_links")),
    )


def downgrade() -> None:
    op.drop_table("ticket_sync_links")

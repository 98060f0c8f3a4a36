"""The allocation loop's main-chain records, runs and regional reports.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "main_records",
        sa.Column("main_height", sa.BigInteger, sa.ForeignKey("main_blocks.height"),
                  primary_key=True),
        sa.Column("idx", sa.Integer, primary_key=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "main_runs",
        sa.Column("kind", sa.String(16), primary_key=True),
        sa.Column("start", sa.BigInteger, primary_key=True),
        sa.Column("main_height", sa.BigInteger, sa.ForeignKey("main_blocks.height"),
                  nullable=False),
    )
    op.create_index("ix_main_runs_main_height", "main_runs", ["main_height"])
    op.create_table(
        "period_reports",
        sa.Column("period", sa.BigInteger, primary_key=True),
        sa.Column("region", sa.String(64), primary_key=True),
        sa.Column("data", sa.LargeBinary, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("period_reports")
    op.drop_index("ix_main_runs_main_height", "main_runs")
    op.drop_table("main_runs")
    op.drop_table("main_records")

"""Initial hub schema: edges, edge blocks and transactions, main chain, alarms, prices.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "edges",
        sa.Column("edge_id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False, unique=True),
        sa.Column("site", sa.String(32)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("registered_ms", sa.BigInteger, nullable=False),
        sa.Column("revoked_ms", sa.BigInteger),
    )
    op.create_table(
        "edge_blocks",
        sa.Column("edge_id", sa.String(64), sa.ForeignKey("edges.edge_id"), primary_key=True),
        sa.Column("height", sa.BigInteger, primary_key=True),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("prev", sa.String(64), nullable=False),
        sa.Column("header", sa.LargeBinary, nullable=False),
        sa.Column("ntx", sa.Integer, nullable=False),
        sa.Column("received_ms", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_edge_blocks_hash", "edge_blocks", ["edge_id", "hash"], unique=True)
    op.create_table(
        "edge_txs",
        sa.Column("edge_id", sa.String(64), primary_key=True),
        sa.Column("height", sa.BigInteger, primary_key=True),
        sa.Column("idx", sa.Integer, primary_key=True),
        sa.Column("data", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "main_blocks",
        sa.Column("height", sa.BigInteger, primary_key=True),
        sa.Column("hash", sa.String(64), nullable=False, unique=True),
        sa.Column("header", sa.LargeBinary, nullable=False),
        sa.Column("ntx", sa.Integer, nullable=False),
    )
    op.create_table(
        "main_entries",
        sa.Column("main_height", sa.BigInteger, sa.ForeignKey("main_blocks.height"),
                  primary_key=True),
        sa.Column("idx", sa.Integer, primary_key=True),
        sa.Column("edge_id", sa.String(64), nullable=False),
        sa.Column("edge_height", sa.BigInteger, nullable=False),
        sa.Column("edge_hash", sa.String(64), nullable=False),
    )
    op.create_index("ix_main_entries_edge", "main_entries", ["edge_id", "edge_height"])
    op.create_table(
        "alarms",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("ts_ms", sa.BigInteger, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("edge_id", sa.String(64), nullable=False),
        sa.Column("height", sa.BigInteger, nullable=False),
        sa.Column("stored_hash", sa.String(64), nullable=False),
        sa.Column("offered_hash", sa.String(64), nullable=False),
        sa.Column("evidence", sa.Text, nullable=False),
    )
    op.create_index("ix_alarms_edge_id", "alarms", ["edge_id"])
    op.create_index("ix_alarms_unique", "alarms", ["edge_id", "height", "offered_hash"],
                    unique=True)
    op.create_table(
        "price_signals",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("site", sa.String(32), nullable=False),
        sa.Column("ts_ms", sa.BigInteger, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
    )
    op.create_index("ix_price_signals_site_ts", "price_signals", ["site", "ts_ms"], unique=True)


def downgrade() -> None:
    for table in ("price_signals", "alarms", "main_entries", "main_blocks", "edge_txs",
                  "edge_blocks", "edges"):
        op.drop_table(table)

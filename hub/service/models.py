"""The hub's tables (SQLAlchemy 2.0 declarative).

Integrity lives in the schema, not in process memory, so that several hub
workers can share one PostgreSQL: the primary key (edge_id, height) makes a
second block at one height impossible whichever worker tries, and the main
chain's primary key on height does the same for main blocks.
Headers and transactions are stored as their canonical bytes: what was
signed is what is kept, and nothing is re-encoded when it is served back.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Edge(Base):
    __tablename__ = "edges"

    edge_id: Mapped[str] = mapped_column(String(64), primary_key=True)  # hex public key
    name: Mapped[str] = mapped_column(String(100), unique=True)
    site: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))  # "active" | "revoked"
    registered_ms: Mapped[int] = mapped_column(BigInteger)
    revoked_ms: Mapped[int | None] = mapped_column(BigInteger)


class EdgeBlock(Base):
    __tablename__ = "edge_blocks"

    edge_id: Mapped[str] = mapped_column(ForeignKey("edges.edge_id"), primary_key=True)
    height: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    hash: Mapped[str] = mapped_column(String(64))
    prev: Mapped[str] = mapped_column(String(64))
    header: Mapped[bytes] = mapped_column(LargeBinary)
    ntx: Mapped[int] = mapped_column(Integer)
    received_ms: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (Index("ix_edge_blocks_hash", "edge_id", "hash", unique=True),)


class EdgeTx(Base):
    __tablename__ = "edge_txs"

    edge_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    height: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    idx: Mapped[int] = mapped_column(Integer, primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class MainBlock(Base):
    __tablename__ = "main_blocks"

    height: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    hash: Mapped[str] = mapped_column(String(64), unique=True)
    header: Mapped[bytes] = mapped_column(LargeBinary)
    ntx: Mapped[int] = mapped_column(Integer)


class MainEntry(Base):
    """One leaf of a main block: an edge's head at the time of anchoring."""

    __tablename__ = "main_entries"

    main_height: Mapped[int] = mapped_column(ForeignKey("main_blocks.height"), primary_key=True)
    idx: Mapped[int] = mapped_column(Integer, primary_key=True)
    edge_id: Mapped[str] = mapped_column(String(64))
    edge_height: Mapped[int] = mapped_column(BigInteger)
    edge_hash: Mapped[str] = mapped_column(String(64))

    __table_args__ = (Index("ix_main_entries_edge", "edge_id", "edge_height"),)


class Alarm(Base):
    __tablename__ = "alarms"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ts_ms: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(32))  # "equivocation" | "fork"
    edge_id: Mapped[str] = mapped_column(String(64), index=True)
    height: Mapped[int] = mapped_column(BigInteger)
    stored_hash: Mapped[str] = mapped_column(String(64))
    offered_hash: Mapped[str] = mapped_column(String(64))
    #: The offered signed header (canonical JSON): the evidence.
    evidence: Mapped[str] = mapped_column(Text)

    __table_args__ = (
        Index("ix_alarms_unique", "edge_id", "height", "offered_hash", unique=True),
    )


class PriceSignalRow(Base):
    __tablename__ = "price_signals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    site: Mapped[str] = mapped_column(String(32))
    ts_ms: Mapped[int] = mapped_column(BigInteger)
    body: Mapped[str] = mapped_column(Text)  # canonical JSON of the signed PriceSignal

    __table_args__ = (Index("ix_price_signals_site_ts", "site", "ts_ms", unique=True),)

"""Tables of the loop (on the hub's metadata; created by migration 0002).

``main_records``: the transactions of the main blocks the loop makes (period
and epoch blocks), as canonical bytes; anchoring blocks keep theirs in
``main_entries``. ``main_runs``: which period or epoch a block recorded, so
each is recorded once whichever worker or operator runs it.
``period_reports``: the full regional reports whose digests are on the chain.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, ForeignKey, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from hub.service.models import Base


class MainRecord(Base):
    __tablename__ = "main_records"

    main_height: Mapped[int] = mapped_column(ForeignKey("main_blocks.height"), primary_key=True)
    idx: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    data: Mapped[bytes] = mapped_column(LargeBinary)


class MainRun(Base):
    __tablename__ = "main_runs"

    kind: Mapped[str] = mapped_column(String(16), primary_key=True)  # "period" | "epoch"
    start: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    main_height: Mapped[int] = mapped_column(ForeignKey("main_blocks.height"), index=True)


class PeriodReport(Base):
    __tablename__ = "period_reports"

    period: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    region: Mapped[str] = mapped_column(String(64), primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)

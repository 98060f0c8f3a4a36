"""Alarms: an edge that signed two different blocks at one height, or a forked history.

An alarm keeps the offered signed header as evidence (the stored one is in
edge_blocks), is recorded in the same transaction that refuses the block,
is logged as one JSON line at WARNING, and is listed by GET /v1/alarms.
A retried offence is one alarm, not many (unique on edge, height, offered hash).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hub.service.db import Database
from hub.service.models import Alarm

log = logging.getLogger("hub.alarms")

KINDS = ("equivocation", "fork")


@dataclass(frozen=True)
class AlarmInfo:
    id: int
    ts_ms: int
    kind: str
    edge_id: str
    height: int
    stored_hash: str
    offered_hash: str
    evidence: dict

    def as_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


def record_alarm(
    s: Session, *, kind: str, edge_id: str, height: int, stored_hash: str, offered_hash: str,
    evidence: bytes, now_ms: int,
) -> bool:
    """Record (once) and log an alarm inside the caller's transaction; True when new."""
    if kind not in KINDS:
        raise ValueError(f"unknown alarm kind {kind!r}")
    log.warning(json.dumps({"event": "alarm", "kind": kind, "edge": edge_id, "height": height,
                            "stored_hash": stored_hash, "offered_hash": offered_hash}))
    try:
        with s.begin_nested():
            s.add(Alarm(ts_ms=now_ms, kind=kind, edge_id=edge_id, height=height,
                        stored_hash=stored_hash, offered_hash=offered_hash,
                        evidence=evidence.decode("ascii")))
    except IntegrityError:
        return False
    return True


def list_alarms(
    db: Database, edge_id: str | None = None, after_id: int = 0, limit: int = 100
) -> list[AlarmInfo]:
    q = select(Alarm).where(Alarm.id > after_id).order_by(Alarm.id).limit(limit)
    if edge_id is not None:
        q = q.where(Alarm.edge_id == edge_id)
    with db.session() as s:
        return [
            AlarmInfo(a.id, a.ts_ms, a.kind, a.edge_id, a.height, a.stored_hash, a.offered_hash,
                      json.loads(a.evidence))
            for a in s.scalars(q)
        ]

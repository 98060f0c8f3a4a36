"""Price signals: carbon adders from the Owen allocation, signed by the hub, served per site.

The fields come from the operator (POST /v1/prices) or from an allocation
(hub.allocation.signal.protocol_signal, POST /v1/prices/allocate). A signal
is an edge.protocol.messages.PriceSignal signed with
edge.protocol.auth.add_signature, so an edge checks it with the hub's
pinned id and the same code it uses for every other signed message. Each
site's signals have strictly increasing `ts` (the hub bumps a clash by 1 ms),
which is what makes `?after=<ts>` a complete cursor.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from edge.chain.keys import PrivateKey
from edge.protocol.auth import add_signature
from edge.protocol.canonical import canonical
from edge.protocol.messages import PriceSignal
from hub.service.db import Database
from hub.service.errors import HubError
from hub.service.models import PriceSignalRow

MAX_SIGNALS = 100


class PriceInputError(HubError):
    """400: a signal the edge would refuse (its own PriceSignal model decides)."""

    status = 400


def sign_signal(fields: dict[str, Any], key: PrivateKey, ts_ms: int) -> dict[str, Any]:
    """Sign and validate; PriceInputError names the first field that is wrong."""
    try:
        signal = add_signature({**fields, "ts": ts_ms}, key)
    except (TypeError, ValueError) as exc:  # not canonical: e.g. an integer beyond 64 bits
        raise PriceInputError("bad_signal", f"price signal: {exc}") from None
    try:
        PriceSignal.model_validate(signal)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise PriceInputError("bad_signal", f"price signal field {where}: {err['msg']}") from None
    if signal["valid_to"] <= signal["valid_from"]:
        raise PriceInputError("bad_signal", "valid_to must be after valid_from")
    return signal


def publish(db: Database, key: PrivateKey, fields: dict[str, Any],
            now_ms: int) -> dict[str, Any]:
    """Sign `fields` with a ts after the site's last signal (the hub clock's `now_ms`), store it."""
    for _ in range(3):
        now = now_ms
        try:
            with db.session() as s:
                last = s.execute(
                    select(func.max(PriceSignalRow.ts_ms)).where(
                        PriceSignalRow.site == fields.get("site"))
                ).scalar()
                ts = now if last is None else max(now, int(last) + 1)
                signal = sign_signal(fields, key, ts)
                s.add(PriceSignalRow(site=signal["site"], ts_ms=ts,
                                     body=canonical(signal).decode("ascii")))
            return signal
        except IntegrityError:
            continue  # another worker took this ts
    raise PriceInputError("busy", "could not find a free timestamp for the signal; retry")


def signals_for(db: Database, site: str, after: int = -1,
                limit: int = MAX_SIGNALS) -> list[dict[str, Any]]:
    with db.session() as s:
        bodies = s.scalars(
            select(PriceSignalRow.body)
            .where(PriceSignalRow.site == site, PriceSignalRow.ts_ms > after)
            .order_by(PriceSignalRow.ts_ms)
            .limit(limit)
        ).all()
    return [json.loads(b) for b in bodies]

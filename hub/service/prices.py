"""Price signals: carbon adders from the Owen allocation, signed by the hub, served per site.

A signal is an edge.protocol.messages.PriceSignal signed with
edge.protocol.auth.add_signature, so an edge checks it with the hub's
pinned id and the same code it uses for every other signed message. Each
site's signals have strictly increasing `ts` (the hub bumps a clash by 1 ms),
which is what makes `?after=<ts>` a complete cursor.
"""

from __future__ import annotations

import json
import time
from fractions import Fraction
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


def _integer(text: Any, what: str) -> int:
    """An allocation figure (int or "a/b" string) as an integer, rounded half up."""
    try:
        value = Fraction(str(text))
    except (ValueError, ZeroDivisionError):
        raise PriceInputError("bad_allocation", f"{what} is not a number: {text!r}") from None
    return int((value + Fraction(1, 2)) // 1)


def fields_from_allocation(
    payload: dict[str, Any], *, site: str, valid_from: int, valid_to: int, intensity_g_kwh: int
) -> dict[str, Any]:
    """The unsigned PriceSignal fields for an allocation payload (hub.allocation.signal).

    p_low / p_high are the first and last ladder tiers in $/t, which equals
    micro-currency per g CO2; the adders are the per-entity `adder` values
    (micro-currency per kWh), keyed by entity id.
    """
    try:
        tiers = payload["tiers"]
        rows = payload["adders"]
        prices = [_integer(t["price_per_t"], "tier price") for t in tiers]
        adders = {str(r["entity"]): int(r["adder"]) for r in rows}
    except (KeyError, TypeError, ValueError) as exc:
        raise PriceInputError("bad_allocation",
                              f"not an allocation signal payload: missing or bad {exc}") from None
    if not prices:
        raise PriceInputError("bad_allocation", "allocation has no ladder tiers")
    return {
        "v": 1, "type": "price", "site": site, "valid_from": valid_from, "valid_to": valid_to,
        "p_low": prices[0], "p_high": prices[-1], "intensity_g_kwh": intensity_g_kwh,
        "adders": adders,
    }


def sign_signal(fields: dict[str, Any], key: PrivateKey, ts_ms: int) -> dict[str, Any]:
    """Sign and validate; PriceInputError names the first field that is wrong."""
    signal = add_signature({**fields, "ts": ts_ms}, key)
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
            now_ms: int | None = None) -> dict[str, Any]:
    """Sign `fields` with a ts after the site's last signal and store it."""
    for _ in range(3):
        now = int(time.time() * 1000) if now_ms is None else now_ms
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

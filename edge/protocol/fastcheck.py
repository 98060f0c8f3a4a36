"""The gateway messages' schema as plain checks: what ingest's hot path uses instead of pydantic.

Why: validating a telemetry message with its pydantic model cost more than
receiving it over MQTT (docs/edge.md, "Where ingest time goes"). These
checks are the models of edge.protocol.messages (``Telemetry``, ``Bid``,
``SealedBid``, ``GatewayStatus``, with ``Reading`` and ``IntervalEnergy``)
written out by hand, with exact types (``type(x) is int``: no bool, no
float), every bound of the models and no field they would refuse. They
answer only yes or no: a "no" sends the message down the reference path
(``codec.decode``), which names the reason. So they may be stricter than the
models, never looser; tests/protocol/test_fastcheck.py checks with
hypothesis that whatever they accept the models accept, and that valid
messages are accepted here.
"""

from __future__ import annotations

import re
from typing import Any

from edge.protocol.types import ID_PATTERN, KEY_ID_PATTERN, MAX_PRICE, MAX_QTY_WH, MAX_SEQ

_ID = re.compile(ID_PATTERN).fullmatch
_HEX32 = re.compile(KEY_ID_PATTERN).fullmatch
_BLOB = re.compile(r"^[0-9a-f]{112}$").fullmatch
_KID = re.compile(r"^[0-9a-f]{16}$").fullmatch

_WH = 1 << 40  # Wh and IntervalStart
_PW = 1 << 31

_COMMON = frozenset(("v", "type", "site", "gw", "seq", "ts", "tag"))
_TELEMETRY = _COMMON | {"hist", "readings", "energy"}
_TELEMETRY_REQUIRED = _COMMON | {"readings"}
_BID = _COMMON | {"interval", "side", "qty_wh", "price", "round"}
_BID_REQUIRED = _COMMON | {"interval", "side", "qty_wh", "price"}
_SEALED = _COMMON | {"interval", "side", "sealed", "kid", "round"}
_SEALED_REQUIRED = _COMMON | {"interval", "side", "sealed", "kid"}
_STATUS = _COMMON | {"state", "fw", "uptime_s", "counters"}
_STATUS_REQUIRED = _COMMON | {"state"}
_READING = frozenset(("dev", "kind", "q", "ts", "p_w", "e_imp_wh", "e_exp_wh", "soc_pm"))
_READING_REQUIRED = frozenset(("dev", "kind", "q", "ts"))
_ENERGY = frozenset(("interval", "imp_wh", "exp_wh", "gen_wh", "chg_wh", "dis_wh"))
_ENERGY_REQUIRED = frozenset(("interval", "imp_wh", "exp_wh"))
_KINDS = frozenset(("meter", "pv", "battery"))
_QUALITIES = frozenset(("good", "stale", "invalid", "nodata"))
_SIDES = frozenset(("buy", "sell"))
_STATES = frozenset(("online", "offline"))


def _int(v: Any, lo: int, hi: int) -> bool:
    return type(v) is int and lo <= v <= hi


def _id(v: Any) -> bool:
    return type(v) is str and _ID(v) is not None


def _shape(obj: dict[str, Any], allowed: frozenset[str], required: frozenset[str]) -> bool:
    keys = obj.keys()
    return keys <= allowed and keys >= required


def _common(o: dict[str, Any]) -> bool:
    """The fields every gateway message carries (``_FromGateway``); presence checked before."""
    v, seq, ts, tag = o["v"], o["seq"], o["ts"], o["tag"]
    return (type(v) is int and v == 1 and _id(o["site"]) and _id(o["gw"])
            and type(seq) is int and 0 <= seq <= MAX_SEQ
            and type(ts) is int and 0 <= ts <= MAX_SEQ
            and type(tag) is str and _HEX32(tag) is not None)


def _reading(r: Any) -> bool:
    if type(r) is not dict or not _shape(r, _READING, _READING_REQUIRED):
        return False
    kind, q = r["kind"], r["q"]
    if not (_id(r["dev"]) and type(kind) is str and kind in _KINDS
            and type(q) is str and q in _QUALITIES and _int(r["ts"], 0, MAX_SEQ)):
        return False
    for key, value in r.items():
        if key == "p_w":
            if not _int(value, -_PW, _PW):
                return False
        elif key in ("e_imp_wh", "e_exp_wh"):
            if not _int(value, 0, _WH):
                return False
        elif key == "soc_pm" and not _int(value, 0, 1000):
            return False
    return True


def _energy(e: Any) -> bool:
    return (type(e) is dict and _shape(e, _ENERGY, _ENERGY_REQUIRED)
            and all(_int(v, 0, _WH) for v in e.values()))


def _telemetry(o: dict[str, Any]) -> bool:
    if not _shape(o, _TELEMETRY, _TELEMETRY_REQUIRED) or not _common(o):
        return False
    readings = o["readings"]
    if type(readings) is not list or len(readings) > 32:
        return False
    if "hist" in o and type(o["hist"]) is not bool:
        return False
    if "energy" in o and not _energy(o["energy"]):
        return False
    return all(_reading(r) for r in readings)


def _bid_common(o: dict[str, Any]) -> bool:
    side = o["side"]
    return (_common(o) and _int(o["interval"], 0, _WH) and type(side) is str
            and side in _SIDES and ("round" not in o or _int(o["round"], 0, 1000)))


def _bid(o: dict[str, Any]) -> bool:
    if "sealed" in o:
        sealed, kid = o.get("sealed"), o.get("kid")
        return (_shape(o, _SEALED, _SEALED_REQUIRED) and _bid_common(o)
                and type(sealed) is str and _BLOB(sealed) is not None
                and type(kid) is str and _KID(kid) is not None)
    return (_shape(o, _BID, _BID_REQUIRED) and _bid_common(o)
            and _int(o["qty_wh"], 1, MAX_QTY_WH) and _int(o["price"], 0, MAX_PRICE))


def _status(o: dict[str, Any]) -> bool:
    if not _shape(o, _STATUS, _STATUS_REQUIRED) or not _common(o):
        return False
    state = o["state"]
    if type(state) is not str or state not in _STATES:
        return False
    if "fw" in o and not (type(o["fw"]) is str and len(o["fw"]) <= 32):
        return False
    if "uptime_s" in o and not _int(o["uptime_s"], 0, MAX_SEQ):
        return False
    if "counters" in o:
        c = o["counters"]
        if type(c) is not dict or len(c) > 32:
            return False
        return all(type(k) is str and _int(n, 0, MAX_SEQ) for k, n in c.items())
    return True


_CHECKS = {"telemetry": _telemetry, "bid": _bid, "status": _status}


def gateway_message_ok(obj: Any) -> bool:
    """True when ``obj`` is a valid telemetry, bid (plain or sealed) or status message.

    False means "not sure": the caller takes the reference path.
    """
    if type(obj) is not dict:
        return False
    kind = obj.get("type")
    check = _CHECKS.get(kind) if type(kind) is str else None
    return check is not None and check(obj)

"""The gateway messages' schema as msgspec structs: ingest's hot path instead of pydantic.

Why: validating a telemetry message with its pydantic model cost more than
receiving it over MQTT, and the same checks written out in Python still
cost about three times the MQTT receive (docs/edge.md, "Where ingest time
goes"). msgspec validates while it parses, in C: types, bounds, patterns,
unknown and missing fields. These structs are the models of
edge.protocol.messages (``Telemetry``, ``Bid``, ``SealedBid``,
``GatewayStatus``, with ``Reading`` and ``IntervalEnergy``) with exact types
(msgspec is strict: no bool for an int, no float for an int, no null), every
bound of the models and no field they would refuse. They answer only yes or
no: a "no" sends the message down the reference path (``codec.decode``),
which names the reason. So they may be stricter than the models, never
looser; tests/protocol/test_fastcheck.py checks with hypothesis that
whatever they accept the models accept, and that valid messages are
accepted here.

Patterns end in ``\\Z``, not ``$``: msgspec matches with Python's ``re``,
whose ``$`` also matches before a final newline ("gw1\\n"), which the
models refuse.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, Meta, Struct, UnsetType

from edge.protocol.types import ID_PATTERN, KEY_ID_PATTERN, MAX_PRICE, MAX_QTY_WH, MAX_SEQ


def _whole(pattern: str) -> str:
    return pattern.removesuffix("$") + r"\Z"


def _bounded(lo: int, hi: int) -> Any:
    return Annotated[int, Meta(ge=lo, le=hi)]


_Id = Annotated[str, Meta(pattern=_whole(ID_PATTERN))]
_Hex32 = Annotated[str, Meta(pattern=_whole(KEY_ID_PATTERN))]
_Blob = Annotated[str, Meta(pattern=r"^[0-9a-f]{112}\Z")]
_Kid = Annotated[str, Meta(pattern=r"^[0-9a-f]{16}\Z")]
_Seq = _bounded(0, MAX_SEQ)
_Wh = _bounded(0, 1 << 40)  # Wh and IntervalStart
_Round = _bounded(0, 1000)
_Side = Literal["buy", "sell"]


class _Plain(Struct, forbid_unknown_fields=True, kw_only=True, gc=False):
    """No field the models do not know; optional fields absent unless sent."""


class _Reading(_Plain):
    dev: _Id
    kind: Literal["meter", "pv", "battery"]
    q: Literal["good", "stale", "invalid", "nodata"]
    ts: _Seq
    p_w: _bounded(-(1 << 31), 1 << 31) | UnsetType = UNSET
    e_imp_wh: _Wh | UnsetType = UNSET
    e_exp_wh: _Wh | UnsetType = UNSET
    soc_pm: _bounded(0, 1000) | UnsetType = UNSET


class _Energy(_Plain):
    interval: _Wh
    imp_wh: _Wh
    exp_wh: _Wh
    gen_wh: _Wh | UnsetType = UNSET
    chg_wh: _Wh | UnsetType = UNSET
    dis_wh: _Wh | UnsetType = UNSET


class _FromGateway(_Plain):
    v: _bounded(1, 1)
    site: _Id
    gw: _Id
    seq: _Seq
    ts: _Seq
    tag: _Hex32


class _Telemetry(_FromGateway):
    type: Literal["telemetry"]
    readings: Annotated[list[_Reading], Meta(max_length=32)]
    hist: bool | UnsetType = UNSET
    energy: _Energy | UnsetType = UNSET


class _Bid(_FromGateway):
    type: Literal["bid"]
    interval: _Wh
    side: _Side
    qty_wh: _bounded(1, MAX_QTY_WH)
    price: _bounded(0, MAX_PRICE)
    round: _Round | UnsetType = UNSET


class _SealedBid(_FromGateway):
    type: Literal["bid"]
    interval: _Wh
    side: _Side
    sealed: _Blob
    kid: _Kid
    round: _Round | UnsetType = UNSET


class _Status(_FromGateway):
    type: Literal["status"]
    state: Literal["online", "offline"]
    fw: Annotated[str, Meta(max_length=32)] | UnsetType = UNSET
    uptime_s: _Seq | UnsetType = UNSET
    counters: Annotated[dict[str, _Seq], Meta(max_length=32)] | UnsetType = UNSET


_TYPES = {"telemetry": _Telemetry, "bid": _Bid, "sealed": _SealedBid, "status": _Status}
_DECODERS = {name: msgspec.json.Decoder(t) for name, t in _TYPES.items()}


def schema_of(obj: dict[str, Any]) -> str | None:
    """Which struct a message must match: its type, a bid carrying ``sealed`` as sealed."""
    kind = obj.get("type")
    if kind == "bid" and "sealed" in obj:
        return "sealed"
    return kind if type(kind) is str and kind in _TYPES else None


def valid_payload(payload: bytes, schema: str) -> Struct | None:
    """The payload decoded as ``schema``'s struct, or None when it does not match."""
    try:
        return _DECODERS[schema].decode(payload)
    except (msgspec.DecodeError, RecursionError):  # not JSON, or not this struct
        return None


def gateway_message_ok(obj: Any) -> bool:
    """True when ``obj`` is a valid telemetry, bid (plain or sealed) or status message.

    False means "not sure": the caller takes the reference path.
    """
    schema = schema_of(obj) if type(obj) is dict else None
    if schema is None:
        return False
    try:
        msgspec.convert(obj, _TYPES[schema])
    except msgspec.ValidationError:
        return False
    return True

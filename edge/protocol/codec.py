"""Raw bytes to validated messages, with one reason code per rejection.

Order of checks: size, JSON syntax, duplicate keys, floats and nulls (with
the path where they occur), version and type, then the model. The raw
object is kept next to the model because tags and signatures cover the bytes
the sender encoded, not a re-encoding by us.

``decode_canonical`` is ingest's fast path for gateway messages: it takes
only a payload that is already canonical and valid, and answers None for
anything else, which then goes through ``decode`` for its reason.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import msgspec
from pydantic import BaseModel, ValidationError

from edge.protocol.canonical import canonical
from edge.protocol.errors import ProtocolError, Reason
from edge.protocol.fastcheck import valid_payload
from edge.protocol.messages import MESSAGE_TYPES, PROTOCOL_VERSION, SealedBid

#: Largest payload accepted; a full telemetry message is about 3 KiB.
MAX_PAYLOAD = 16 * 1024

_PYDANTIC_REASONS = {
    "extra_forbidden": Reason.UNKNOWN_FIELD,
    "missing": Reason.MISSING_FIELD,
    "greater_than_equal": Reason.OUT_OF_RANGE,
    "greater_than": Reason.OUT_OF_RANGE,
    "less_than_equal": Reason.OUT_OF_RANGE,
    "less_than": Reason.OUT_OF_RANGE,
    "too_long": Reason.OUT_OF_RANGE,
    "too_short": Reason.OUT_OF_RANGE,
    "string_too_long": Reason.OUT_OF_RANGE,
    "string_too_short": Reason.OUT_OF_RANGE,
    "string_pattern_mismatch": Reason.BAD_FORMAT,
    "literal_error": Reason.BAD_FORMAT,
    # a model's own cross-field check (a carbon bid's valid_from < valid_to, an advice's
    # low <= median <= high): numbers outside what they may be together
    "value_error": Reason.OUT_OF_RANGE,
}


@dataclass(frozen=True)
class Decoded:
    """A validated message: the exact object it was decoded from, and its model.

    The fast path (``decode_canonical``) validates without building the model;
    ``model`` then builds it on first use (nothing on the ingest path asks).
    """

    raw: dict[str, Any]
    built: BaseModel | None = field(default=None, repr=False, compare=False)

    @property
    def type(self) -> str:
        return self.raw["type"]

    @property
    def model(self) -> BaseModel:
        return self.built if self.built is not None else validate(self.raw).model


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise ProtocolError(Reason.DUPLICATE_KEY, f"key {key!r} appears twice", key)
        obj[key] = value
    return obj


def _reject_floats_and_nulls(value: Any, path: str) -> None:
    if value is None:
        raise ProtocolError(Reason.NULL, "omit optional fields instead of sending null", path)
    if isinstance(value, float):
        raise ProtocolError(Reason.FLOAT, f"{value!r} is a float; send integer units", path)
    if isinstance(value, list):
        for i, item in enumerate(value):
            _reject_floats_and_nulls(item, f"{path}[{i}]")
    elif isinstance(value, dict):
        for key, item in value.items():
            _reject_floats_and_nulls(item, f"{path}.{key}" if path else key)


def _parse_constant(name: str) -> Any:
    raise ProtocolError(Reason.FLOAT, f"{name} is not a number we accept")


def _parse_int(text: str) -> int:
    """Integers as JSON spells them, refused past 20 digits before any conversion.

    No field needs more (2^64 has 20 digits); a 5,000-digit number would
    otherwise cost a quadratic conversion or Python's digit-limit ValueError.
    """
    if len(text) > 21:
        raise ProtocolError(Reason.OUT_OF_RANGE, f"an integer of {len(text)} digits")
    return int(text)


def loads(raw: bytes, max_size: int = MAX_PAYLOAD) -> dict[str, Any]:
    """Decode a payload into a plain object, refusing anything ambiguous."""
    if len(raw) > max_size:
        raise ProtocolError(Reason.OVERSIZE, f"{len(raw)} bytes, limit {max_size}")
    try:
        text = raw.decode("utf-8")
        obj = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_parse_constant,
                         parse_int=_parse_int)
    except UnicodeDecodeError as exc:
        raise ProtocolError(Reason.MALFORMED, f"not UTF-8: {exc.reason}") from None
    except json.JSONDecodeError as exc:
        raise ProtocolError(Reason.MALFORMED, f"not JSON: {exc.msg} at char {exc.pos}") from None
    except RecursionError:
        raise ProtocolError(Reason.MALFORMED, "nested too deeply") from None
    if not isinstance(obj, dict):
        raise ProtocolError(Reason.NOT_OBJECT, f"top level is a {type(obj).__name__}")
    _reject_floats_and_nulls(obj, "")
    return obj


def _field(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def validate(obj: dict[str, Any]) -> Decoded:
    """Check an object against its model; the first problem becomes the error."""
    if obj.get("v") != PROTOCOL_VERSION:
        raise ProtocolError(
            Reason.BAD_VERSION, f"version {obj.get('v')!r}, expected {PROTOCOL_VERSION}", "v"
        )
    kind = obj.get("type")
    model_cls = MESSAGE_TYPES.get(kind) if isinstance(kind, str) else None
    if kind == "bid" and "sealed" in obj:
        model_cls = SealedBid
    if model_cls is None:
        raise ProtocolError(Reason.UNKNOWN_TYPE, f"unknown message type {kind!r}", "type")
    try:
        model = model_cls.model_validate(obj)
    except ValidationError as exc:
        err = exc.errors()[0]
        reason = _PYDANTIC_REASONS.get(err["type"], Reason.WRONG_TYPE)
        raise ProtocolError(reason, err["msg"], _field(err["loc"])) from None
    return Decoded(obj, model)


def decode(raw: bytes, max_size: int = MAX_PAYLOAD) -> Decoded:
    """Bytes to a validated message (tags and signatures are checked by `auth`)."""
    return validate(loads(raw, max_size))


#: canonical form for what the structs accept: keys sorted, no whitespace. It is
#: ``canonical.canonical`` for a payload of printable ASCII without escapes, which is all
#: ``decode_canonical`` lets through (escapes are spelt differently by the two encoders).
_ENCODER = msgspec.json.Encoder(order="sorted")
_PLAIN = msgspec.json.Decoder()
_TAG_MEMBER = b',"tag":"'
#: which struct to try, by the top-level ``"type"`` (the last one in a canonical payload:
#: only plain values follow it) and, for a bid, whether it is sealed; a wrong guess only
#: means "not sure"
_TYPE_MARK = b'"type":"'
_GUESSES = {b"telemetry": "telemetry", b"bid": "bid", b"status": "status"}


def _guess(payload: bytes) -> str | None:
    at = payload.rfind(_TYPE_MARK) + len(_TYPE_MARK)
    if at < len(_TYPE_MARK):
        return None
    schema = _GUESSES.get(payload[at:payload.find(b'"', at)])
    if schema == "bid" and b'"sealed":' in payload:
        return "sealed"
    return schema


def decode_canonical(payload: bytes) -> tuple[msgspec.Struct, bytes] | None:
    """(message as its ``fastcheck`` struct, the bytes its tag covers) for a canonical,
    valid gateway message, else None.

    Canonical: the payload is exactly ``canonical(message)`` (so no duplicate
    key, no whitespace, no float, no other spelling of a value). It is checked
    by validating into the struct (``fastcheck``: every number bounded before
    anything else converts it) and encoding that again. The bytes under the
    tag are then the payload with its ``"tag"`` member cut out, which is
    ``canonical(message without "tag")`` without encoding it again: the tag is
    checked over the received bytes. The top-level tag member is the last
    ``,"tag":"`` of the payload because every member after it (``ts``,
    ``type``, ``uptime_s``, ``v``) holds a plain value. None means "take
    ``decode``": a payload that is valid but not canonical is still accepted
    there (its tag is checked over the re-encoding), only slower; so is one
    with an escape in a string (``\\``) or a DEL, which only a status
    message's free text could hold. No message dict is built here: the check
    process only answers yes or no, and whoever needs the dict parses it
    (``decode_vouched``).
    """
    if not payload.isascii() or b"\\" in payload or b"\x7f" in payload:
        return None
    schema = _guess(payload)
    msg = None if schema is None else valid_payload(payload, schema)
    if msg is None or _ENCODER.encode(msg) != payload:
        return None
    cut = payload.rfind(_TAG_MEMBER)
    end = cut + len(_TAG_MEMBER) + 65  # 64 hex digits and the closing quote
    if cut < 0 or payload[end - 65:end - 1] != msg.tag.encode():
        return None
    return msg, payload[:cut] + payload[end:]


def decode_vouched(payload: bytes) -> dict[str, Any]:
    """The message of a payload ``decode_canonical`` accepted before (here or in the check
    process): parsed, not checked again. A plain parse: about a quarter of the checks, and
    a third of unpickling the parsed message from the other process."""
    return _PLAIN.decode(payload)


def encode(obj: dict[str, Any] | BaseModel) -> bytes:
    """The canonical wire bytes of a message (a model sends exactly the fields it was given)."""
    if isinstance(obj, BaseModel):
        obj = obj.model_dump(exclude_unset=True, exclude_none=True)
    return canonical(obj)

"""Admission of one MQTT message: a pure decision, no I/O.

Order of checks, cheapest and least trusting first: size, topic shape,
decoding (JSON, schema: edge.protocol.codec), topic agrees with the payload,
known gateway, HMAC tag, timestamp window, sequence window. The first failure
decides the reason code, which is what the counters are labelled with.

Sequence windows (after Sparkplug B; docs/protocol.md): telemetry and bids
share a gateway's data sequence, status messages count in their own space.
A window remembers the highest sequence number and which of the ``size``
numbers below it were seen (a bit mask), so
- a number above the highest is new; if it skips numbers, the skipped range
  is reported as a gap (late arrivals may still fill it); a jump of a whole
  window or more starts a fresh window at the new number (the skipped range
  is one counted gap), so the arithmetic is bounded by the window size, never
  by the jump a gateway chose;
- a number inside the window already seen is a ``duplicate`` (a QoS 1
  redelivery, or a copy replayed by someone);
- a number at or below the window's floor is a ``replay``: too old to tell
  apart from an attack, so it is refused.
Windows are immutable values: the caller keeps the new window only once the
message is persisted, so a failed write never advances a sequence.

Timestamps: ``ts`` must lie within ``past_s`` behind and ``future_s`` ahead
of the edge's clock. Two documented exceptions: replayed telemetry
(``hist``: true) may be up to ``hist_past_s`` old, because store-and-forward
exists for gateways that were offline for hours; and an ``offline`` status is
the MQTT last will, composed at connect time and delivered whenever the
connection dies, so only its sequence number protects it.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from edge.protocol import topics
from edge.protocol.auth import check_tag, tag_over
from edge.protocol.codec import Decoded, decode, decode_canonical, decode_vouched
from edge.protocol.errors import ProtocolError, Reason

_new = tuple.__new__  # a NamedTuple's own constructor is a Python call per message


@dataclass(frozen=True)
class Policy:
    max_payload: int = 16 * 1024
    past_ms: int = 300_000
    future_ms: int = 30_000
    hist_past_ms: int = 7 * 86_400_000
    window: int = 4096


class SeqWindow(NamedTuple):
    """Highest sequence seen and a mask: bit i set = ``high - i`` was seen.

    An immutable value (a tuple: one is made per accepted message, and a frozen
    dataclass's constructor costs about three times as much)."""

    high: int = -1
    mask: int = 0

    def check(self, seq: int, size: int) -> tuple[Reason | None, SeqWindow, tuple[int, int] | None]:
        """(refusal or None, window after accepting, gap (first, last) skipped or None).

        The first number ever seen opens the window without a gap: a gateway
        persists its sequence ahead in blocks and may start anywhere.
        """
        if seq > self.high:
            shift = seq - self.high
            if self.high < 0 or shift >= size:
                mask = 1  # nothing seen before is inside the new window
            else:
                mask = ((self.mask << shift) | 1) & ((1 << size) - 1)
            gap = (self.high + 1, seq - 1) if shift > 1 and self.high >= 0 else None
            return None, _new(SeqWindow, (seq, mask)), gap
        back = self.high - seq
        if back >= size:
            return Reason.REPLAY, self, None
        if self.mask >> back & 1:
            return Reason.DUPLICATE, self, None
        return None, _new(SeqWindow, (self.high, self.mask | (1 << back))), None

    def missing(self, size: int) -> int:
        """How many numbers inside the window were never seen (open gaps)."""
        span = min(size, self.high + 1)
        return span - bin(self.mask & ((1 << span) - 1)).count("1") if span > 0 else 0


class Accepted(NamedTuple):
    """An admitted message (a tuple, like ``SeqWindow``: one per message)."""

    gw: str
    space: str  # "data" (telemetry, bids) or "status"
    seq: int
    decoded: Decoded
    window: SeqWindow
    gap: tuple[int, int] | None
    #: the message's type (``decoded.raw["type"]``), read several times per message
    type: str

    @property
    def raw(self) -> dict[str, Any]:
        return self.decoded.raw


@dataclass(frozen=True)
class Rejected:
    reason: str
    gw: str | None
    detail: str
    field: str | None = None


def space_of(msg_type: str) -> str:
    return "status" if msg_type == "status" else "data"


def check_time(raw: Mapping[str, Any], now_ms: int, policy: Policy) -> None:
    ts = raw["ts"]
    if ts - now_ms > policy.future_ms:
        raise ProtocolError(Reason.FUTURE, f"ts is {ts - now_ms} ms ahead of the edge", "ts")
    if raw.get("type") == "status" and raw.get("state") == "offline":
        return
    limit = policy.hist_past_ms if raw.get("hist") is True else policy.past_ms
    if now_ms - ts > limit:
        raise ProtocolError(Reason.STALE, f"ts is {now_ms - ts} ms old (limit {limit})", "ts")


def admit(
    topic: str,
    payload: bytes,
    now_ms: int,
    site: str,
    keys: Mapping[str, bytes],
    windows: Mapping[tuple[str, str], SeqWindow],
    policy: Policy,
    checked: bool = False,
) -> Accepted | Rejected:
    """Decide about one message; never raises for bad input.

    A well-formed message from a known gateway is accepted by ``admit_fast``
    (or by ``admit_checked`` where ``checked`` says that ``precheck`` passed
    this topic and payload in the check process, ``edge.runtime.checks``: the
    payload is then only parsed again, not checked again); anything they do
    not accept goes through ``admit_reference``, which decides it (a refusal
    and its reason always come from there).
    """
    try:
        if checked:
            fast = admit_checked(decode_vouched(payload), now_ms, windows, policy)
        else:
            fast = admit_fast(topic, payload, now_ms, site, keys, windows, policy)
    except Exception:  # noqa: BLE001 - the reference path decides (and names the failure)
        fast = None
    if fast is not None:
        return fast
    return admit_reference(topic, payload, now_ms, site, keys, windows, policy)


def admit_fast(
    topic: str,
    payload: bytes,
    now_ms: int,
    site: str,
    keys: Mapping[str, bytes],
    windows: Mapping[tuple[str, str], SeqWindow],
    policy: Policy,
) -> Accepted | None:
    """The reference checks for a canonical payload, in fewer steps; None when unsure.

    The payload is checked once (``codec.decode_canonical``: the msgspec
    structs of ``fastcheck`` instead of the pydantic model, no re-encoding for
    the tag, whose HMAC is taken over the received bytes with the tag member
    cut out), then parsed into the message dict. It accepts exactly what
    ``admit_reference`` accepts for such a payload and answers None for
    everything else, refusals included. Two steps: ``precheck`` (the payload
    alone: no clock, no state) and ``admit_checked``.
    """
    if not precheck(topic, payload, site, keys, policy.max_payload):
        return None
    return admit_checked(decode_vouched(payload), now_ms, windows, policy)


def precheck(topic: str, payload: bytes, site: str, keys: Mapping[str, bytes],
             max_payload: int) -> bool:
    """Whether the payload is canonical, valid, on its own gateway's topic of this site
    and tagged with that gateway's key (False: not sure).

    A pure function of its arguments (no clock, no sequence state), so it may run
    anywhere, ahead of the batch, in another process (``edge.runtime.checks``).
    """
    if len(payload) > max_payload:
        return False
    where = topics.gateway_of(topic, site)
    if where is None:
        return False
    gw, kind = where
    key = keys.get(gw)
    if key is None:
        return False
    found = decode_canonical(payload)
    if found is None:
        return False
    msg, body = found
    return (msg.type == topics.GATEWAY_KINDS[kind] and msg.site == site and msg.gw == gw
            and hmac.compare_digest(tag_over(key, body), msg.tag))


def admit_checked(raw: dict[str, Any], now_ms: int,
                  windows: Mapping[tuple[str, str], SeqWindow],
                  policy: Policy) -> Accepted | None:
    """The rest of ``admit_fast`` for what ``precheck`` passed: the time and sequence
    windows. None when either refuses (the reference path names the reason)."""
    try:
        check_time(raw, now_ms, policy)
    except ProtocolError:
        return None
    gw, space = raw["gw"], space_of(raw["type"])
    seq = raw["seq"]
    refusal, window, gap = windows.get((gw, space), SeqWindow()).check(seq, policy.window)
    if refusal is not None:
        return None
    return _new(Accepted, (gw, space, seq, Decoded(raw), window, gap, raw["type"]))


def admit_reference(
    topic: str,
    payload: bytes,
    now_ms: int,
    site: str,
    keys: Mapping[str, bytes],
    windows: Mapping[tuple[str, str], SeqWindow],
    policy: Policy,
) -> Accepted | Rejected:
    """Every check in the documented order on any payload; the first failure is the reason."""
    gw: str | None = None
    try:
        if len(payload) > policy.max_payload:
            raise ProtocolError(
                Reason.OVERSIZE, f"{len(payload)} bytes, limit {policy.max_payload}"
            )
        where = topics.parse_gateway(topic, site)
        gw, kind = where.gw, where.kind
        decoded = decode(payload, policy.max_payload)
        raw = decoded.raw
        if raw["type"] != where.message_type:
            raise ProtocolError(
                Reason.TOPIC_MISMATCH, f"a {raw['type']!r} message on a {kind!r} topic", "type"
            )
        if raw["site"] != site or raw["gw"] != gw:
            raise ProtocolError(
                Reason.TOPIC_MISMATCH, "site or gw in the payload differs from the topic", "gw"
            )
        key = keys.get(gw)
        if key is None:
            raise ProtocolError(Reason.UNKNOWN_SENDER, f"gateway {gw!r} is not configured", "gw")
        check_tag(raw, key)
        check_time(raw, now_ms, policy)
        space = space_of(raw["type"])
        seq = raw["seq"]
        refusal, window, gap = windows.get((gw, space), SeqWindow()).check(seq, policy.window)
        if refusal is not None:
            raise ProtocolError(refusal, f"seq {seq} ({space}) already seen or too old", "seq")
        return Accepted(gw, space, seq, decoded, window, gap, raw["type"])
    except ProtocolError as exc:
        return Rejected(exc.reason.value, gw, exc.detail, exc.field)
    except (ValueError, TypeError, RecursionError) as exc:  # defence in depth: never crash
        return Rejected(Reason.MALFORMED.value, gw, f"{type(exc).__name__}: {exc}")
    except Exception as exc:  # noqa: BLE001 - a bug or MemoryError costs this message only
        return Rejected(Reason.ADMISSION_FAILED.value, gw, f"{type(exc).__name__}: {exc}"[:300])

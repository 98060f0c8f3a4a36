"""Hypothesis: random and mutated bytes into `decode` and `admit`.

`decode` may only answer a Decoded or a ProtocolError; `admit` may only
answer Accepted or Rejected (never raise), whatever the bytes, topic or
window state. A mutated message is accepted only when its tag is still the
HMAC of its canonical body under the sender's key, recomputed here with
hmac/hashlib and json alone (not with the code under test), and only then.
"""

from __future__ import annotations

import hashlib
import hmac
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge.protocol.codec import decode
from edge.protocol.errors import ProtocolError, Reason
from edge.runtime.admission import Accepted, Policy, Rejected, SeqWindow, admit
from tests.edge.helpers import bid, status, telemetry

SITE = "s1"
KEYS = {"gw-01": bytes([1]) * 32, "gw-02": bytes([2]) * 32}
NOW = 1_700_000_000_000
POLICY = Policy()
REASONS = {r.value for r in Reason}
FUZZ = settings(max_examples=400, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

SEEDS = [telemetry("gw-01", 7, NOW, KEYS["gw-01"]), status("gw-02", 3, NOW, KEYS["gw-02"]),
         bid("gw-01", 8, NOW, KEYS["gw-01"], 1_700_000_100, "sell", 1200, 90_000)]
TOPICS = {"telemetry": "site/s1/gw/gw-01/telemetry", "status": "site/s1/gw/gw-02/status",
          "bid": "site/s1/gw/gw-01/bid"}


def seed_topic(raw: bytes) -> str:
    for kind, t in TOPICS.items():
        if f'"type":"{kind}"'.encode() in raw:
            return t
    return TOPICS["telemetry"]


@st.composite
def mutated(draw) -> bytes:
    """A valid message, then a few byte-level edits: flip, insert, delete, splice, truncate."""
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "insert", "delete", "splice", "truncate"]))
        i = draw(st.integers(0, max(0, len(data) - 1)))
        if op == "flip" and data:
            data[i] ^= 1 << draw(st.integers(0, 7))
        elif op == "insert":
            data[i:i] = draw(st.binary(min_size=1, max_size=8))
        elif op == "delete" and data:
            del data[i:i + draw(st.integers(1, 8))]
        elif op == "splice":
            data[i:i] = draw(st.sampled_from(
                [b'"seq":9' + b"9" * 5000 + b",", b'1e999', b'-0', b'\xff\xfe', b'"\\ud800"',
                 b"[" * 3000, b'"ts":1.5,', b'"tag":"', b"null", b'"v":2,', b'"seq":-1,']))
        elif op == "truncate":
            del data[i:]
    return bytes(data)


def independent_tag_ok(payload: bytes) -> bool:
    """The tag check by hand: HMAC-SHA256 over sorted, compact JSON without the tag."""
    try:
        obj = json.loads(payload)
        body = {k: v for k, v in obj.items() if k != "tag"}
        canon = json.dumps(body, sort_keys=True, separators=(",", ":"),
                           ensure_ascii=False).encode()
        want = hmac.new(KEYS[obj["gw"]], canon, hashlib.sha256).hexdigest()
        return hmac.compare_digest(want, obj["tag"])
    except Exception:  # noqa: BLE001 - anything unparseable is simply "not valid"
        return False


def windows_strategy():
    w = st.builds(SeqWindow, high=st.integers(-1, 1 << 20), mask=st.integers(0, (1 << 64) - 1))
    return st.dictionaries(st.sampled_from([("gw-01", "data"), ("gw-02", "status")]), w,
                           max_size=2)


@FUZZ
@given(st.binary(max_size=4096))
def test_decode_random_bytes(raw):
    try:
        decode(raw)
    except ProtocolError as exc:
        assert exc.reason.value in REASONS


@FUZZ
@given(mutated())
def test_decode_mutated_messages(raw):
    try:
        decode(raw)
    except ProtocolError as exc:
        assert exc.reason.value in REASONS


@FUZZ
@given(st.binary(max_size=4096),
       st.sampled_from([*TOPICS.values(), "site/s1/gw/gw-09/bid", "site/x/gw/gw-01/bid",
                        "site/s1/gw//telemetry", "", "site/s1/gw/gw-01/telemetry/extra"]),
       windows_strategy())
def test_admit_random_bytes_never_raises(raw, topic, windows):
    out = admit(topic, raw, NOW, SITE, KEYS, windows, POLICY)
    assert isinstance(out, Rejected)  # random bytes never carry a valid tag
    assert out.reason in REASONS


@FUZZ
@given(mutated(), windows_strategy(), st.integers(-10**6, 10**6))
def test_admit_mutated_messages(raw, windows, skew_ms):
    topic = seed_topic(raw)
    out = admit(topic, raw, NOW + skew_ms, SITE, KEYS, windows, POLICY)
    assert isinstance(out, (Accepted, Rejected))
    if isinstance(out, Accepted):
        # only a message whose tag still verifies may get in (e.g. whitespace edits)
        assert independent_tag_ok(raw), raw
    else:
        assert out.reason in REASONS


def test_the_unmutated_seeds_are_accepted():
    for raw in SEEDS:
        assert independent_tag_ok(raw)
        assert isinstance(admit(seed_topic(raw), raw, NOW, SITE, KEYS, {}, POLICY), Accepted)

"""Ingest's fast path against the reference path, with hypothesis.

The fast path (edge.protocol.fastcheck, codec.decode_canonical,
admission.admit_fast) may only take what the reference path (the pydantic
models, codec.decode, admission.admit_reference) accepts, with the same
outcome; everything else it must hand over. Messages are valid ones with a
few fields replaced by values at and past every bound (or by other types),
dropped or added, then tagged with the gateway's key (so the tag is not what
refuses them), or mutated byte by byte after tagging.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge.protocol.auth import add_tag
from edge.protocol.canonical import canonical
from edge.protocol.codec import decode, decode_canonical
from edge.protocol.errors import ProtocolError
from edge.protocol.fastcheck import gateway_message_ok
from edge.runtime.admission import Accepted, Policy, SeqWindow, admit, admit_reference
from tests.security.test_fuzz_admit import mutated

KEY = bytes([1]) * 32
KEYS = {"gw-01": KEY, "gw-02": bytes([2]) * 32}
NOW = 1_700_000_000_000
SETTINGS = settings(max_examples=600, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

READING = {"dev": "m1", "kind": "meter", "q": "good", "ts": NOW, "p_w": -1500,
           "e_imp_wh": 1000, "e_exp_wh": 10, "soc_pm": 500}
BASES = {
    "telemetry": {"v": 1, "type": "telemetry", "site": "s1", "gw": "gw-01", "seq": 7, "ts": NOW,
                  "hist": False, "readings": [READING, {**READING, "dev": "b1", "kind": "battery"}],
                  "energy": {"interval": 1_700_000_100, "imp_wh": 5, "exp_wh": 0, "gen_wh": 1,
                             "chg_wh": 2, "dis_wh": 3}},
    "bid": {"v": 1, "type": "bid", "site": "s1", "gw": "gw-01", "seq": 8, "ts": NOW,
            "interval": 1_700_000_100, "side": "sell", "qty_wh": 412, "price": 95_000,
            "round": 2},
    "sealed": {"v": 1, "type": "bid", "site": "s1", "gw": "gw-01", "seq": 9, "ts": NOW,
               "interval": 1_700_000_100, "side": "buy", "sealed": "ab" * 56, "kid": "cd" * 8,
               "round": 0},
    "status": {"v": 1, "type": "status", "site": "s1", "gw": "gw-01", "seq": 3, "ts": NOW,
               "state": "online", "fw": "1.2.3", "uptime_s": 60, "counters": {"sent": 4}},
}
for _base in BASES.values():
    _base["tag"] = "0" * 64  # the checks see a tag of the right form; _tagged sets the real one
TOPICS = {"telemetry": "site/s1/gw/gw-01/telemetry", "bid": "site/s1/gw/gw-01/bid",
          "status": "site/s1/gw/gw-01/status"}
FIELDS = sorted({k for b in BASES.values() for k in b} | set(READING) | {"extra", "Type"})

#: every bound of the models, one past it, and the other JSON types
EDGES = [0, 1, -1, 2, 1000, 1001, 32, 33, (1 << 31) - 1, 1 << 31, (1 << 31) + 1, -(1 << 31),
         -(1 << 31) - 1, 1 << 40, (1 << 40) + 1, (1 << 53) - 1, 1 << 53, (1 << 63) - 1]
values = st.one_of(
    st.sampled_from(EDGES), st.integers(-(1 << 64), 1 << 64), st.booleans(), st.none(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(["", "s1", "gw-01", "gw/01", "x" * 32, "x" * 33, "ab" * 32, "AB" * 32,
                     "ab" * 56, "cd" * 8, "telemetry", "bid", "status", "buy", "sell", "meter",
                     "pv", "battery", "good", "stale", "nodata", "online", "offline", "ü",
                     "a\n", "1"]),
    st.text(max_size=40),
    st.lists(st.sampled_from([READING, {"dev": "m1"}, 1, "x"]), max_size=34),
    st.dictionaries(st.text(max_size=4), st.integers(-1, 1 << 54), max_size=34),
    st.just({**READING, "q": "bad"}), st.just({"interval": 1, "imp_wh": 2, "exp_wh": 3}),
)


@st.composite
def edited(draw) -> tuple[str, dict]:
    """A valid message with 0-3 fields (top level or in a reading) replaced, dropped or added."""
    name = draw(st.sampled_from(sorted(BASES)))
    obj = json.loads(json.dumps(BASES[name]))
    for _ in range(draw(st.integers(0, 3))):
        target = obj
        if "readings" in obj and isinstance(obj["readings"], list) and obj["readings"] \
                and isinstance(obj["readings"][0], dict) and draw(st.booleans()):
            target = obj["readings"][0]
        key = draw(st.sampled_from(FIELDS))
        if draw(st.integers(0, 3)) == 0:
            target.pop(key, None)
        else:
            target[key] = copy.deepcopy(draw(values))  # never share READING
    kind = name if name != "sealed" else "bid"
    return kind, obj


def model_accepts(obj: dict) -> bool:
    """The reference: ``decode`` (no null, no float anywhere, then the model) of its JSON."""
    try:
        decode(json.dumps(obj).encode())
    except ProtocolError:
        return False
    return True


def test_valid_messages_take_the_fast_way():
    for name, obj in BASES.items():
        assert gateway_message_ok(obj), name
        assert model_accepts(obj), name
        payload = canonical(add_tag(obj, KEY))
        found = decode_canonical(payload)
        assert found is not None, name
        body = {k: v for k, v in obj.items() if k != "tag"}
        assert found[1] == canonical(body)  # the bytes under the tag, cut from the payload


@SETTINGS
@given(edited())
def test_the_plain_checks_accept_what_the_models_accept(case):
    _, obj = case
    assert gateway_message_ok(obj) == model_accepts(obj), repr(obj)


@SETTINGS
@given(st.one_of(edited().map(lambda c: _tagged(c[1])), mutated()))
def test_decode_canonical_agrees_with_decode(payload):
    found = decode_canonical(payload)
    if found is None:
        return
    msg, body = found
    raw = json.loads(payload)
    assert decode(payload).raw == raw  # the reference path takes it too, as the same message
    assert canonical(raw) == payload
    assert body == canonical({k: v for k, v in raw.items() if k != "tag"})
    assert (msg.type, msg.site, msg.gw, msg.tag) == (raw["type"], raw["site"], raw["gw"],
                                                     raw["tag"])
    want = hmac.new(KEY, body, hashlib.sha256).hexdigest()  # the tag over the body, by hand
    assert (want == msg.tag) == (raw["tag"] == want)


def _tagged(obj: dict) -> bytes:
    try:
        return canonical(add_tag(obj, KEY))
    except ValueError:  # floats: send them as the hostile gateway would
        return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


windows = st.dictionaries(
    st.sampled_from([("gw-01", "data"), ("gw-01", "status")]),
    st.builds(SeqWindow, high=st.integers(-1, 20), mask=st.integers(0, (1 << 8) - 1)),
    max_size=2)


@SETTINGS
@given(st.one_of(edited().map(lambda c: (TOPICS[c[0]], _tagged(c[1]))),
                 mutated().map(lambda p: (TOPICS["telemetry"], p)),
                 st.tuples(st.sampled_from(sorted(TOPICS.values())),
                           edited().map(lambda c: _tagged(c[1])))),
       windows, st.integers(-400_000, 400_000))
def test_admit_decides_as_the_reference(case, wins, skew_ms):
    topic, payload = case
    fast = admit(topic, payload, NOW + skew_ms, "s1", KEYS, wins, Policy())
    ref = admit_reference(topic, payload, NOW + skew_ms, "s1", KEYS, wins, Policy())
    assert fast == ref
    if isinstance(fast, Accepted):
        assert fast.decoded.model == ref.decoded.model  # built on demand, the same


def test_a_version_of_true_is_refused_by_both_paths():
    """JSON ``true`` is not the version 1 (pydantic's Literal[1] would let True == 1 in)."""
    for name, base in BASES.items():
        obj = {**base, "v": True}
        assert not gateway_message_ok(obj) and not model_accepts(obj), name

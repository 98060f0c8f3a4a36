"""Admission: one test per refusal reason, plus sequence windows and gaps."""

from __future__ import annotations

import json

import pytest

from edge.protocol.auth import add_tag
from edge.protocol.canonical import canonical
from edge.runtime.admission import Accepted, Policy, Rejected, SeqWindow, admit, precheck
from tests.edge.helpers import SITE, bid, status, telemetry, topic

KEY = bytes(range(32))
KEYS = {"gw1": KEY, "gw2": bytes(32)}
NOW = 1_700_000_000_000
POLICY = Policy(max_payload=4096, past_ms=300_000, future_ms=30_000, hist_past_ms=86_400_000,
                window=64)


def run(t: str, payload: bytes, windows=None, now=NOW):
    return admit(t, payload, now, SITE, KEYS, windows or {}, POLICY)


def reason(t: str, payload: bytes, **kw) -> str:
    out = run(t, payload, **kw)
    assert isinstance(out, Rejected), out
    return out.reason


def test_accepts_a_good_telemetry_message():
    out = run(topic("gw1", "telemetry"), telemetry("gw1", 5, NOW, KEY))
    assert isinstance(out, Accepted)
    assert (out.gw, out.space, out.seq, out.type) == ("gw1", "data", 5, "telemetry")
    assert out.window == SeqWindow(5, 1)
    assert out.gap is None  # the first message sets the window, no gap before it


def test_oversize_is_refused_before_decoding():
    assert reason(topic("gw1", "telemetry"), b"{" + b" " * 5000 + b"}") == "oversize"


@pytest.mark.parametrize("payload, want", [
    (b"\xff\xfe", "malformed"),
    (b"{not json", "malformed"),
    (b"[1,2]", "not_object"),
    (b'{"a":1,"a":2}', "duplicate_key"),
    (b'{"v":1.5}', "float_not_allowed"),
    (b'{"v":null}', "null_not_allowed"),
    (b'{"v":2,"type":"telemetry"}', "bad_version"),
    (b'{"v":1,"type":"weather"}', "unknown_type"),
])
def test_bad_bytes_get_their_reason(payload, want):
    assert reason(topic("gw1", "telemetry"), payload) == want


def test_schema_errors_name_their_reason():
    body = json.loads(telemetry("gw1", 1, NOW, KEY))
    body["extra"] = 1
    assert reason(topic("gw1", "telemetry"), canonical(body)) == "unknown_field"
    body = json.loads(telemetry("gw1", 1, NOW, KEY))
    del body["readings"]
    assert reason(topic("gw1", "telemetry"), canonical(body)) == "missing_field"
    body = json.loads(telemetry("gw1", 1, NOW, KEY))
    body["seq"] = -1
    assert reason(topic("gw1", "telemetry"), canonical(body)) == "out_of_range"
    body = json.loads(telemetry("gw1", 1, NOW, KEY))
    body["seq"] = "1"
    assert reason(topic("gw1", "telemetry"), canonical(body)) == "wrong_type"


def test_topic_must_match_payload_and_site():
    good = telemetry("gw1", 1, NOW, KEY)
    assert reason(topic("gw2", "telemetry"), good) == "topic_mismatch"  # gw spoofing
    assert reason(topic("gw1", "bid"), good) == "topic_mismatch"  # wrong kind
    assert reason("site/other/gw/gw1/telemetry", good) == "topic_mismatch"
    assert reason("site/s1/gw/gw1", good) == "topic_mismatch"


def test_unknown_gateway_and_bad_tag():
    assert reason(topic("gw9", "telemetry"), telemetry("gw9", 1, NOW, KEY)) == "unknown_sender"
    assert reason(topic("gw1", "telemetry"), telemetry("gw1", 1, NOW, bytes(32))) == "bad_tag"
    body = json.loads(telemetry("gw1", 1, NOW, KEY))
    body["readings"][0]["p_w"] += 1  # tampered after tagging
    assert reason(topic("gw1", "telemetry"), canonical(body)) == "bad_tag"


def test_timestamp_window():
    t = topic("gw1", "telemetry")
    assert reason(t, telemetry("gw1", 1, NOW - 300_001, KEY)) == "stale_timestamp"
    assert reason(t, telemetry("gw1", 1, NOW + 30_001, KEY)) == "future_timestamp"
    assert isinstance(run(t, telemetry("gw1", 1, NOW - 300_000, KEY)), Accepted)
    # replayed store-and-forward data may be old, up to hist_past
    assert isinstance(run(t, telemetry("gw1", 1, NOW - 3_600_000, KEY, hist=True)), Accepted)
    assert reason(t, telemetry("gw1", 1, NOW - 86_400_001, KEY, hist=True)) == "stale_timestamp"
    # the last will is composed at connect time: only its sequence protects it
    will = status("gw1", 3, NOW - 86_400_000 * 3, KEY, state="offline")
    assert isinstance(run(topic("gw1", "status"), will), Accepted)
    birth = status("gw1", 3, NOW - 86_400_000 * 3, KEY, state="online")
    assert reason(topic("gw1", "status"), birth) == "stale_timestamp"


def test_sequence_window_duplicates_replays_and_gaps():
    t = topic("gw1", "telemetry")
    windows: dict = {}

    def take(seq):
        out = run(t, telemetry("gw1", seq, NOW, KEY), windows=windows)
        if isinstance(out, Accepted):
            windows[(out.gw, out.space)] = out.window
        return out

    assert take(10).gap is None
    assert take(11).gap is None
    gap = take(15)
    assert gap.gap == (12, 14)
    assert windows[("gw1", "data")].missing(64) == 10 + 3  # 0..9 never seen, and 12..14
    assert take(13).gap is None  # a late arrival fills the gap
    assert take(13).reason == "duplicate"
    assert take(11).reason == "duplicate"
    take(200)  # moves the window far ahead
    assert take(100).reason == "replay"  # 200 - 100 >= 64: too old to tell
    assert isinstance(take(150), Accepted)  # inside the window, never seen


def test_status_has_its_own_sequence_space():
    windows = {("gw1", "data"): SeqWindow(100, 1)}
    out = run(topic("gw1", "status"), status("gw1", 1, NOW, KEY), windows=windows)
    assert isinstance(out, Accepted) and out.space == "status"


def test_bids_are_admitted_like_the_rest():
    out = run(topic("gw1", "bid"), bid("gw1", 1, NOW, KEY, 1_700_000_100, "buy", 500, 90_000))
    assert isinstance(out, Accepted) and out.type == "bid"
    bad = add_tag({"v": 1, "type": "bid", "site": SITE, "gw": "gw1", "seq": 2, "ts": NOW,
                   "interval": 0, "side": "hold", "qty_wh": 1, "price": 1}, KEY)
    assert reason(topic("gw1", "bid"), canonical(bad)) == "bad_format"


def test_a_jump_beyond_the_window_resets_it_with_one_gap():
    # 2**53 - 1 is the largest sequence number the protocol allows; shifting a mask by it
    # would need a petabyte: the window starts afresh at the new number instead
    w = SeqWindow(10, 0b111)
    refusal, after, gap = w.check(2**53 - 1, 64)
    assert refusal is None and after == SeqWindow(2**53 - 1, 1) and gap == (11, 2**53 - 2)
    # a jump of exactly the window size also starts afresh; one less still shifts
    assert w.check(10 + 64, 64)[1] == SeqWindow(74, 1)
    assert w.check(10 + 63, 64)[1] == SeqWindow(73, (0b111 << 63 | 1) & (2**64 - 1))
    # after the reset the old numbers are too old to tell from a replay
    assert after.check(11, 64)[0] == "replay"


def test_a_poison_sequence_costs_only_itself():
    t = topic("gw1", "telemetry")
    windows = {("gw1", "data"): SeqWindow(5, 1)}
    # a shift by 2**39 would need 64 GiB (the helper's meter reading grows with seq,
    # so 2**39 keeps it inside the protocol's energy bound)
    out = run(t, telemetry("gw1", 2**39, NOW, KEY), windows=windows)
    assert isinstance(out, Accepted) and out.gap == (6, 2**39 - 1)
    assert out.window == SeqWindow(2**39, 1)


def test_precheck_answers_only_for_what_it_can_vouch_for():
    """The fast path's payload step: a canonical, tagged message of its own gateway's topic
    (no clock: a stale one passes here, the windows refuse it later), else not sure."""
    good = telemetry("gw1", 11, NOW - 400_000, KEY)
    assert precheck(topic("gw1", "telemetry"), good, SITE, KEYS, 4096) is True
    spaced = canonical({"a": 1}).replace(b":", b": ")
    escaped = status("gw1", 1, NOW, KEY).replace(b'"state"', b'"fw":"a\\u00fc","state"')
    for t, p in [(topic("gw1", "telemetry"), telemetry("gw1", 1, NOW, bytes(32))),
                 (topic("gw1", "status"), telemetry("gw1", 1, NOW, KEY)),
                 (topic("gw1", "telemetry"), spaced),
                 (topic("gw1", "status"), escaped),
                 (topic("gw1", "telemetry"), good + b" " * 5000)]:
        assert precheck(t, p, SITE, KEYS, 4096) is False

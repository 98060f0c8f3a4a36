"""The payload checks in their own process change no decision, no order and lose nothing.

``admit`` given the check process's answer (``precheck``) must decide every
message exactly as ``admit`` deciding alone: accepted with the same fields,
or refused with the same reason. The expected verdicts are written out by
hand per case (accepted, or the reason code the reference path names).
"""

from __future__ import annotations

import queue

import pytest

from edge.runtime.admission import Accepted, Policy, Rejected, SeqWindow, admit, precheck
from edge.runtime.checks import Checker
from edge.runtime.ingest import Incoming
from tests.edge.helpers import SITE, bid, status, telemetry, topic

KEY = bytes(range(32))
KEYS = {"gw1": KEY, "gw2": bytes(32)}
NOW = 1_700_000_000_000
POLICY = Policy(max_payload=4096, past_ms=300_000, future_ms=30_000, hist_past_ms=86_400_000,
                window=64)
SEEN = {("gw1", "data"): SeqWindow(10, 1)}  # gw1 has sent data seq 10

CASES = [  # (topic, payload, expected: "accepted" or the refusal's reason)
    (topic("gw1", "telemetry"), telemetry("gw1", 11, NOW, KEY), "accepted"),
    (topic("gw1", "bid"), bid("gw1", 12, NOW, KEY, 1_700_000_100, "buy", 100, 90_000),
     "accepted"),
    (topic("gw1", "status"), status("gw1", 1, NOW, KEY), "accepted"),
    (topic("gw1", "telemetry"), telemetry("gw1", 10, NOW, KEY), "duplicate"),
    (topic("gw1", "telemetry"), telemetry("gw1", 11, NOW - 400_000, KEY), "stale_timestamp"),
    (topic("gw1", "telemetry"), telemetry("gw1", 11, NOW + 60_000, KEY), "future_timestamp"),
    (topic("gw1", "telemetry"), telemetry("gw1", 11, NOW, bytes(32)), "bad_tag"),
    (topic("gw2", "telemetry"), telemetry("gw1", 11, NOW, KEY), "topic_mismatch"),
    (topic("gw9", "telemetry"), telemetry("gw9", 1, NOW, KEY), "unknown_sender"),
    (topic("gw1", "telemetry"), b"{not json", "malformed"),
]


def verdict(out: Accepted | Rejected) -> str:
    return "accepted" if isinstance(out, Accepted) else out.reason


@pytest.mark.parametrize("t, payload, want", CASES)
def test_a_checked_answer_decides_as_admission_alone(t, payload, want):
    alone = admit(t, payload, NOW, SITE, KEYS, SEEN, POLICY)
    checked = precheck(t, payload, SITE, KEYS, POLICY.max_payload)
    assert verdict(alone) == want
    assert admit(t, payload, NOW, SITE, KEYS, SEEN, POLICY, checked) == alone


def _drain(q: queue.SimpleQueue, n: int) -> list[Incoming]:
    return [q.get(timeout=30) for _ in range(n)]


def test_the_checker_hands_every_message_on_in_order_with_its_answer():
    source: queue.SimpleQueue[Incoming] = queue.SimpleQueue()
    c = Checker(source, SITE, KEYS, 4096)
    c.start()
    try:
        msgs = [Incoming(t, p, i, 1, NOW) for i, (t, p, _) in enumerate(CASES * 120)]
        for m in msgs:
            source.put(m)
        out = _drain(c.out, len(msgs))
    finally:
        c.stop()
    assert [m[:5] for m in out] == [m[:5] for m in msgs]  # nothing lost, nothing moved
    for m in out:
        assert m.checked == precheck(m.topic, m.payload, SITE, KEYS, 4096)
    assert sum(m.checked for m in out) == 6 * 120  # all but the last four
    assert not c.failed


def test_a_dead_worker_costs_only_time():
    source: queue.SimpleQueue[Incoming] = queue.SimpleQueue()
    c = Checker(source, SITE, KEYS, 4096)
    c.start()
    try:
        c._proc.kill()
        c._proc.join(10)
        m = Incoming(CASES[0][0], CASES[0][1], 1, 1, NOW)
        source.put(m)
        assert _drain(c.out, 1) == [m]  # handed on unchecked: the writer admits it in full
        assert c.failed
    finally:
        c.stop()


def test_a_payload_over_the_limit_is_not_sent_to_the_worker():
    source: queue.SimpleQueue[Incoming] = queue.SimpleQueue()
    c = Checker(source, SITE, KEYS, 4096)
    c.start()
    sent: list[int] = []
    conn = c._conn
    send = conn.send_bytes

    def counted(data: bytes) -> None:  # the real pipe, its writes' sizes recorded
        sent.append(len(data))
        send(data)

    conn.send_bytes = counted
    try:
        t, good, _ = CASES[0]
        big = Incoming(t, b"x" * 1_000_000, 2, 1, NOW)
        source.put(big)
        assert _drain(c.out, 1) == [big]  # unchecked: the writer refuses it in full
        source.put(Incoming(t, good, 1, 1, NOW))
        assert _drain(c.out, 1)[0].checked  # the worker still answers
    finally:
        c.stop()
    assert not c.failed
    assert len(sent) == 2 and max(sent) < 1_000  # the megabyte never went down the pipe

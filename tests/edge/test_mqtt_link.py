"""The edge's MQTT link against a real Mosquitto: a batch's PUBACKs go out as one write.

``MqttLink.ack`` queues all PUBACKs of a committed batch in one packet (paho has no
public call for that). What must hold, seen from the broker: a message acknowledged
that way is never delivered again to the persistent session, and one not
acknowledged is.
"""

from __future__ import annotations

import queue
import time

from edge.runtime.config import MqttConfig
from edge.runtime.ingest import Incoming, MqttLink
from tests.kit.edge import wait_until


def _take(link: MqttLink, n: int, timeout: float) -> list[Incoming]:
    out: list[Incoming] = []
    end = time.monotonic() + timeout
    while len(out) < n and time.monotonic() < end:
        try:
            out.append(link.inbound.get(timeout=0.1))
        except queue.Empty:
            pass
    return out


def test_a_batch_acknowledged_in_one_write_is_not_redelivered(broker):
    cfg = MqttConfig(host=broker.host, port=broker.port, client_id="edge-ack-test", tls=False)
    link = MqttLink(cfg, "s1")
    link.start()
    wait_until(link.connected.is_set, what="edge connected")
    pub = broker.paho("pub")
    pub.loop_start()
    # publish until the subscription is in place (the first message arrives), then 40 more
    first: list[Incoming] = []
    for i in range(100):
        pub.publish("site/s1/gw/gw-01/telemetry", b"probe%d" % i, qos=1).wait_for_publish(5)
        first = _take(link, 1, 0.2)
        if first:
            break
    assert first, "the link never received the probe"
    for i in range(40):
        pub.publish("site/s1/gw/gw-01/telemetry", b"m%d" % i, qos=1).wait_for_publish(5)
    got = [m for m in _take(link, 100, 3.0) if m.payload.startswith(b"m")]
    assert sorted(m.payload for m in got) == sorted(b"m%d" % i for i in range(40))
    acked, unacked = got[:25], got[25:]
    link.ack(first + acked)  # one call, one packet on the wire
    time.sleep(0.5)
    link.stop()
    pub.loop_stop()
    pub.disconnect()

    again = MqttLink(cfg, "s1")  # the same client id: the broker's persistent session
    again.start()
    try:
        wait_until(again.connected.is_set, what="edge reconnected")
        redelivered = _take(again, 100, 3.0)
    finally:
        again.stop()
    assert sorted(m.payload for m in redelivered) == sorted(m.payload for m in unacked)


def test_losing_the_broker_is_warned_and_counted_but_our_own_stop_is_not(broker, caplog):
    caplog.set_level("INFO", logger="carbon_edge.ingest")
    cfg = MqttConfig(host=broker.host, port=broker.port, client_id="edge-drop-test", tls=False)
    link = MqttLink(cfg, "s1")
    link.start()
    wait_until(link.connected.is_set, what="edge connected")
    link.stop()
    assert link.disconnects == 0
    assert not [r for r in caplog.records if r.levelname == "WARNING"]

    other = MqttLink(cfg, "s1")
    other.start()
    try:
        wait_until(other.connected.is_set, what="edge connected again")
        broker.kill()
        wait_until(lambda: not other.connected.is_set(), what="the loss noticed")
        assert other.disconnects == 1
        assert [r.getMessage() for r in caplog.records if r.levelname == "WARNING"] == [
            "disconnected from broker; paho reconnects with back-off"]
    finally:
        other.stop()

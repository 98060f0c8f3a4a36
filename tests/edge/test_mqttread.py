"""The chunked MQTT reader takes packets apart exactly as MQTT 3.1.1 lays them out.

The packets are written out by hand from the specification (fixed header:
type and flags, then the remaining length in base-128 digits, least
significant first; PUBLISH: a two-byte topic length, the topic, a two-byte
message id for QoS 1, the payload), and fed to the reader cut at every byte
position, so a packet split across socket reads, or several in one, is
handed over once and whole, in order. Packets other than QoS 0/1 PUBLISH go
to paho's handler with the command byte and body paho's own reader would give
it. The reader against a real broker: tests/edge/test_mqtt_link.py.
"""

from __future__ import annotations

import paho.mqtt.client as mqtt
from paho.mqtt.client import MQTTErrorCode

from edge.runtime.mqttread import ChunkedReader


def publish(topic: bytes, payload: bytes, qos: int, mid: int = 0) -> bytes:
    body = len(topic).to_bytes(2, "big") + topic + (mid.to_bytes(2, "big") if qos else b"")
    body += payload
    return bytes([0x30 | qos << 1]) + varint(len(body)) + body


def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        n, digit = divmod(n, 128)
        out.append(digit | (128 if n else 0))
        if not n:
            return bytes(out)


class Sock:
    """Stands for a connected socket (paho closes it when the client goes)."""

    def close(self) -> None:
        pass


class Fake(ChunkedReader):
    """The reader fed from a list of chunks instead of a socket; paho's handler recorded."""

    def __init__(self, chunks: list[bytes], max_payload: int = 1 << 20) -> None:
        super().__init__(mqtt.CallbackAPIVersion.VERSION2, client_id="t", manual_ack=True,
                         max_payload=max_payload)
        self.chunks = chunks
        self._sock = Sock()
        self.got: list[tuple] = []
        self.handled: list[tuple[int, bytes]] = []
        self.on_publishes = self.got.extend

    def _sock_recv(self, bufsize: int) -> bytes:
        if not self.chunks:
            raise BlockingIOError
        return self.chunks.pop(0)

    def _packet_handle(self) -> MQTTErrorCode:
        p = self._in_packet
        self.handled.append((p["command"], bytes(p["packet"])))
        return MQTTErrorCode.MQTT_ERR_SUCCESS


def run(stream: bytes, cuts: list[int], max_payload: int = 1 << 20) -> Fake:
    edges = [0, *cuts, len(stream)]
    c = Fake([stream[a:b] for a, b in zip(edges, edges[1:], strict=False) if b > a], max_payload)
    while c.chunks:
        assert c._packet_read() == MQTTErrorCode.MQTT_ERR_AGAIN
    return c


BIG = bytes(range(256)) * 2  # 512 bytes: a two-byte remaining length
SUBACK = bytes([0x90, 3, 0, 7, 1])
STREAM = (publish(b"site/s1/gw/g1/telemetry", b"{}", 1, 513)
          + SUBACK
          + publish(b"a/b", BIG, 0)
          + publish(b"x", b"", 1, 65535))
EXPECTED = [("site/s1/gw/g1/telemetry", b"{}", 513, 1), ("a/b", BIG, 0, 0), ("x", b"", 65535, 1)]


def test_the_varint_here_is_the_specifications():
    assert varint(0) == b"\x00" and varint(127) == b"\x7f"
    assert varint(128) == b"\x80\x01" and varint(16_383) == b"\xff\x7f"
    assert varint(321) == b"\xc1\x02"  # the specification's own example


def test_every_split_of_the_stream_gives_the_same_packets_in_order():
    for cut in range(1, len(STREAM)):
        c = run(STREAM, [cut])
        assert c.got == EXPECTED, cut
        assert c.handled == [(0x90, bytes([0, 7, 1]))], cut
        assert c._rbuf == b""


def test_byte_by_byte_and_all_at_once():
    assert run(STREAM, list(range(1, len(STREAM)))).got == EXPECTED
    assert run(STREAM, []).got == EXPECTED


def test_qos2_goes_to_paho_and_keeps_the_order():
    q2 = bytes([0x34]) + varint(2 + 1 + 2 + 3) + b"\x00\x01t\x00\x09abc"
    c = run(publish(b"t", b"1", 1, 1) + q2 + publish(b"t", b"2", 1, 2), [])
    assert c.got == [("t", b"1", 1, 1), ("t", b"2", 2, 1)]
    assert c.handled == [(0x34, b"\x00\x01t\x00\x09abc")]


def test_a_publish_too_short_for_its_topic_goes_to_paho():
    bad = bytes([0x32, 3, 0, 9, 65])  # says a 9-byte topic, holds one byte
    c = run(bad, [])
    assert c.got == [] and c.handled == [(0x32, bytes([0, 9, 65]))]


def test_a_fifth_length_byte_is_a_protocol_error():
    c = Fake([bytes([0x30, 0x80, 0x80, 0x80, 0x80, 0x01])])
    assert c._packet_read() == MQTTErrorCode.MQTT_ERR_PROTOCOL


def test_an_empty_read_is_a_lost_connection():
    c = Fake([b""])
    assert c._packet_read() == MQTTErrorCode.MQTT_ERR_CONN_LOST


def test_a_new_socket_forgets_a_partial_packet():
    c = Fake([STREAM[:5]])
    c._packet_read()
    assert c._rbuf == STREAM[:5]
    c._sock = Sock()  # paho reconnected
    c.chunks = [publish(b"t", b"p", 1, 3)]
    c._packet_read()
    assert c.got == [("t", b"p", 3, 1)]


def test_a_packet_of_many_reads_is_taken_apart_once_it_is_whole():
    payload = bytes(range(256)) * 4096  # 1 MiB: a four-byte remaining length
    packet = publish(b"t", payload, 1, 7)
    takes: list[int] = []

    class Counting(Fake):
        def _take(self, buf: bytes) -> tuple[MQTTErrorCode, int, int, int]:
            takes.append(len(buf))
            return super()._take(buf)

    reads = [packet[a:a + 1024] for a in range(0, len(packet), 1024)]
    c = Counting(reads + [SUBACK])
    while c.chunks:
        assert c._packet_read() == MQTTErrorCode.MQTT_ERR_AGAIN
    assert c.got == [("t", payload, 7, 1)] and c.handled == [(0x90, bytes([0, 7, 1]))]
    # the first read (header known: 1 + 4 + 2 + 1 + 2 + 1 MiB long), the read that completes
    # it, then the SUBACK on its own: the partial packet is not re-read at every read
    assert takes == [1024, len(packet), len(SUBACK)]
    assert c._rbuf == b""


# An oversize PUBLISH: its first max_payload + 1 payload bytes are handed over (admission
# refuses it as oversize and it is acknowledged), the rest is dropped as it arrives.
OVER = (publish(b"site/s1/gw/g1/bid", bytes(range(100)), 1, 9) + SUBACK
        + publish(b"t", b"ok", 1, 10) + publish(b"u", bytes(20), 0))


def test_an_oversize_publish_is_cut_at_every_split():
    want = [("site/s1/gw/g1/bid", bytes(range(17)), 9, 1), ("t", b"ok", 10, 1),
            ("u", bytes(17), 0, 0)]
    for cuts in [[], list(range(1, len(OVER)))] + [[k] for k in range(1, len(OVER))]:
        c = run(OVER, cuts, max_payload=16)
        assert c.got == want, cuts
        assert c.handled == [(0x90, bytes([0, 7, 1]))], cuts
        assert c._rbuf == b"" and c._skip == 0, cuts


def test_a_huge_publish_is_never_held():
    """32 MiB announced: the reader holds at most the kept part and one read."""
    head = publish(b"t", b"", 1, 5)[2:]  # topic and mid
    body_len = len(head) + (32 << 20)
    packet_head = bytes([0x32]) + varint(body_len) + head

    def reads():
        yield packet_head
        left = 32 << 20
        while left:
            n = min(left, 256 * 1024)
            yield bytes(n)
            left -= n
        yield publish(b"t", b"after", 1, 6)

    c = Fake(list(reads()), max_payload=16 * 1024)
    held = 0
    while c.chunks:
        assert c._packet_read() == MQTTErrorCode.MQTT_ERR_AGAIN
        held = max(held, len(c._rbuf))
    assert c.got == [("t", bytes(16 * 1024 + 1), 5, 1), ("t", b"after", 6, 1)]
    assert held <= 16 * 1024 + 16

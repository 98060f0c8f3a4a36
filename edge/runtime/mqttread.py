"""A paho client that reads the socket in large chunks and hands PUBLISH packets over in bulk.

Why: paho reads one packet at a time (three ``recv`` calls: the command
byte, the remaining length byte by byte, the body), then builds an
``MQTTMessage``, a message-info object and runs its topic matcher before it
calls ``on_message``: about 26 us of one core per message on the reference
host, a third of the edge's whole per-message cost (docs/edge.md, "Where
ingest time goes"). Here ``_packet_read`` takes whatever the socket holds (up
to ``CHUNK`` bytes) in one call, cuts every complete packet out of it, and
gives the QoS 0 and 1 PUBLISH packets to ``on_publishes`` as a list of
``(topic, payload, mid, qos)``, one call per chunk. Everything else
(CONNACK, SUBACK, PUBACK of our own publishes, PINGRESP, QoS 2 flows, and a
PUBLISH this reader cannot take apart) goes to paho's own ``_packet_handle``
exactly as paho's reader would pass it, in the order received, so sessions,
keep-alive, acknowledgements and reconnects stay paho's.

What it relies on in paho (2.x, pinned in pyproject): ``_packet_read`` is
called when the socket is readable (or an SSL socket has bytes pending) and
returns an ``MQTTErrorCode``; ``_in_packet`` is the dict ``_packet_handle``
reads; ``_sock_recv`` raises ``BlockingIOError`` when nothing is there.
tests/edge/test_mqtt_link.py runs the link against a real broker. Only MQTT
3.1.1 is taken apart here (the edge's protocol); an MQTT 5 client falls back
to paho's reader.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.client import MQTTErrorCode
from paho.mqtt.enums import MQTTProtocolVersion

#: bytes asked of the socket per read (the kernel hands over what it has, up to this)
CHUNK = 256 * 1024

#: the default largest payload held whole: the largest ``admission.max_payload`` a site may set
MAX_PAYLOAD = 1 << 20

#: (topic, payload, mid, qos) of one PUBLISH; mid is 0 for QoS 0
Publish = tuple[str, bytes, int, int]


class ChunkedReader(mqtt.Client):
    """``paho.mqtt.client.Client`` with the bulk reader above; ``on_publishes`` gets the
    PUBLISH packets (``on_message`` only those paho's own path handles: QoS 2)."""

    def __init__(self, *args: Any, max_payload: int = MAX_PAYLOAD, **kwargs: Any) -> None:
        """``max_payload``: the largest PUBLISH payload held whole (admission's limit); of a
        larger one only the first ``max_payload + 1`` bytes are kept and handed over, so it is
        refused as oversize and acknowledged like any other refusal, and the rest is dropped
        as it arrives. Why: MQTT allows 256 MiB per packet, and a gateway that sent that much
        must not make the edge hold it."""
        super().__init__(*args, **kwargs)
        self.on_publishes: Callable[[list[Publish]], None] | None = None
        self.max_payload = max_payload
        #: bytes read and not yet handled: the start of one incomplete packet
        self._rbuf = bytearray()
        #: the length that packet will have once whole (0: its header is not whole yet)
        self._need = 0
        #: bytes still to drop of an oversize PUBLISH already handed over cut
        self._skip = 0
        self._rsock: Any = None

    def _packet_read(self) -> MQTTErrorCode:
        if self._protocol == MQTTProtocolVersion.MQTTv5:
            return super()._packet_read()
        if self._rsock is not self._sock:  # a new connection: nothing read before counts
            self._rbuf, self._need, self._skip, self._rsock = bytearray(), 0, 0, self._sock
        try:
            data = self._sock_recv(CHUNK)
        except BlockingIOError:
            return MQTTErrorCode.MQTT_ERR_AGAIN
        except OSError as err:
            self._easy_log(mqtt.MQTT_LOG_ERR, "failed to receive on socket: %s", err)
            return MQTTErrorCode.MQTT_ERR_CONN_LOST
        if not data:
            return MQTTErrorCode.MQTT_ERR_CONN_LOST
        with self._msgtime_mutex:
            self._last_bytes_received = mqtt.time_func()
        if self._skip:  # the tail of an oversize PUBLISH
            drop = min(self._skip, len(data))
            self._skip -= drop
            data = data[drop:]
            if not data:
                return MQTTErrorCode.MQTT_ERR_AGAIN
        if self._rbuf:
            # a packet larger than one read: append (amortised linear) and take it apart once
            # it is whole, not copy and re-read everything held at every read (a packet of
            # n reads cost n^2/2 reads' worth of copying)
            self._rbuf += data
            if len(self._rbuf) < self._need:
                return MQTTErrorCode.MQTT_ERR_AGAIN
            buf = bytes(self._rbuf)
        else:
            buf = data
        rc, used, self._need, self._skip = self._take(buf)
        self._rbuf = bytearray(buf[used:])  # an incomplete packet: at most about one read
        return rc if rc != MQTTErrorCode.MQTT_ERR_SUCCESS else MQTTErrorCode.MQTT_ERR_AGAIN

    def _take(self, buf: bytes) -> tuple[MQTTErrorCode, int, int, int]:
        """Handle every complete packet in ``buf``; (paho's error code or success, bytes used,
        the whole length of the incomplete packet left over, 0 when its header is not whole,
        bytes to drop of an oversize PUBLISH handed over cut)."""
        pos, end = 0, len(buf)
        batch: list[Publish] = []
        while pos < end:
            head = _fixed_header(buf, pos)
            if head is None:
                break  # the remaining length is not complete yet: need unknown
            length, i = head
            if length < 0:  # a fifth length byte: not MQTT
                self._deliver(batch)
                return MQTTErrorCode.MQTT_ERR_PROTOCOL, pos, 0, 0
            stop = i + length
            if stop > end:
                kept = self._kept(buf, pos, i, stop)
                if kept < stop and kept <= end:  # an oversize PUBLISH: hand its start over
                    batch.append(self._cut(buf, pos, i, kept, stop))
                    self._deliver(batch)
                    return MQTTErrorCode.MQTT_ERR_SUCCESS, end, 0, stop - end  # drop the rest
                self._deliver(batch)
                # body not complete yet (of an oversize PUBLISH, the part that is kept)
                return MQTTErrorCode.MQTT_ERR_SUCCESS, pos, kept - pos, 0
            cmd = buf[pos]
            qos = (cmd >> 1) & 3
            if cmd & 0xF0 == mqtt.PUBLISH and qos < 2 and length >= 2:
                at = i + 2 + (buf[i] << 8 | buf[i + 1])
                if at + 2 * qos <= stop:
                    topic = buf[i + 2:at].decode("utf-8", "surrogateescape")
                    mid = buf[at] << 8 | buf[at + 1] if qos else 0
                    body = at + 2 * qos  # an oversize payload is cut whole or not
                    batch.append((topic, buf[body:min(stop, body + self.max_payload + 1)], mid,
                                  qos))
                    pos = stop
                    continue
            self._deliver(batch)
            batch = []
            rc = self._handle_one(cmd, buf[pos + 1:i], buf[i:stop], length)
            pos = stop
            if rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                return rc, pos, 0, 0
        self._deliver(batch)
        return MQTTErrorCode.MQTT_ERR_SUCCESS, pos, 0, 0

    def _kept(self, buf: bytes, pos: int, i: int, stop: int) -> int:
        """Where the part of the incomplete packet at ``pos`` that is held ends: the whole
        packet, unless it is a QoS 0/1 PUBLISH whose header is here and whose payload is over
        ``max_payload``: then its header and ``max_payload + 1`` payload bytes."""
        cmd, end = buf[pos], len(buf)
        qos = (cmd >> 1) & 3
        if cmd & 0xF0 != mqtt.PUBLISH or qos == 2:
            return stop
        if i + 2 > end:  # the topic's length first, then the rest is known
            return min(stop, i + 2)
        body = i + 2 + (buf[i] << 8 | buf[i + 1]) + 2 * qos  # where the payload starts
        return min(stop, body + self.max_payload + 1)

    def _cut(self, buf: bytes, pos: int, i: int, kept: int, stop: int) -> Publish:
        """The cut PUBLISH of an oversize packet whose kept part (to ``kept``) is in ``buf``."""
        qos = (buf[pos] >> 1) & 3
        at = i + 2 + (buf[i] << 8 | buf[i + 1])
        topic = buf[i + 2:at].decode("utf-8", "surrogateescape")
        mid = buf[at] << 8 | buf[at + 1] if qos else 0
        self._easy_log(mqtt.MQTT_LOG_WARNING, "PUBLISH on %s: payload of %d bytes cut at %d",
                       topic, stop - at - 2 * qos, self.max_payload + 1)
        return topic, buf[at + 2 * qos:kept], mid, qos

    def _deliver(self, batch: list[Publish]) -> None:
        if batch and self.on_publishes is not None:
            self.on_publishes(batch)

    def _handle_one(self, cmd: int, length_bytes: bytes, body: bytes,
                    length: int) -> MQTTErrorCode:
        """One packet through paho's own handler, set up as paho's reader leaves it."""
        self._in_packet = {
            "command": cmd, "have_remaining": 1, "remaining_count": list(length_bytes),
            "remaining_mult": 1, "remaining_length": length, "packet": bytearray(body),
            "to_process": 0, "pos": 0,
        }
        try:
            rc = self._packet_handle()
        except mqtt.MalformedPacket as exc:
            self._easy_log(mqtt.MQTT_LOG_DEBUG, "Received malformed packet: %s", exc)
            rc = MQTTErrorCode.MQTT_ERR_PROTOCOL
        self._in_packet = {
            "command": 0, "have_remaining": 0, "remaining_count": [], "remaining_mult": 1,
            "remaining_length": 0, "packet": bytearray(b""), "to_process": 0, "pos": 0,
        }
        return rc


def _fixed_header(buf: bytes, pos: int) -> tuple[int, int] | None:
    """(remaining length, index of the body) of the packet at ``pos``; None while the length
    is incomplete, length -1 when it runs past the four bytes MQTT allows."""
    length, shift, i, end = 0, 0, pos + 1, len(buf)
    while i < end:
        b = buf[i]
        i += 1
        length |= (b & 127) << shift
        if not b & 128:
            return length, i
        shift += 7
        if shift >= 28:
            return -1, i
    return None

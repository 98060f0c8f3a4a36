"""A small MQTT 3.1.1 client (OASIS standard, 2014) on asyncio streams.

Why our own: micropython-lib's umqtt cannot be installed here, has no
outbox and dies on a broker restart. This client does QoS 0 and 1 (publish
and subscribe), keepalive with PINGREQ/PINGRESP, a last will, and TLS
through MicroPython's ssl/tls module. It keeps no queue itself: the caller
owns delivery (store.py) and hears about PUBACKs through `on_puback`, and
about the end of a session through `dead` (an Event); reconnecting is the
caller's job (app.py), with back-off.
"""

import struct

try:
    import asyncio
except ImportError:  # pragma: no cover
    import uasyncio as asyncio

import time

from gateway.streams import close_quietly

CONNECT, CONNACK, PUBLISH, PUBACK = 0x10, 0x20, 0x30, 0x40
SUBSCRIBE, SUBACK, PINGREQ, PINGRESP, DISCONNECT = 0x82, 0x90, 0xC0, 0xD0, 0xE0
CONNACK_CODES = {1: "unacceptable protocol version", 2: "identifier rejected",
                 3: "server unavailable", 4: "bad user name or password",
                 5: "not authorised"}


class MQTTError(Exception):
    pass


def varlen(n):
    if n > 268435455:
        raise MQTTError("packet too large")
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _s(b):
    if isinstance(b, str):
        b = b.encode()
    return struct.pack(">H", len(b)) + b


def packet(first, body):
    return bytes([first]) + varlen(len(body)) + body


def connect_packet(client_id, keepalive, clean=True, will=None, user=None, password=None):
    """will: (topic, payload, qos, retain) or None."""
    flags = 0x02 if clean else 0
    tail = _s(client_id)
    if will is not None:
        topic, payload, qos, retain = will
        flags |= 0x04 | (qos << 3) | (0x20 if retain else 0)
        tail += _s(topic) + _s(payload)
    if user is not None:
        flags |= 0x80
        tail += _s(user)
        if password is not None:
            flags |= 0x40
            tail += _s(password)
    return packet(CONNECT, _s(b"MQTT") + bytes([4, flags]) + struct.pack(">H", keepalive) + tail)


def publish_packet(topic, payload, qos=0, retain=False, pid=0, dup=False):
    first = PUBLISH | (qos << 1) | (1 if retain else 0) | (0x08 if dup else 0)
    body = _s(topic) + (struct.pack(">H", pid) if qos else b"") + payload
    return packet(first, body)


def subscribe_packet(pid, topics):
    body = struct.pack(">H", pid)
    for t, q in topics:
        body += _s(t) + bytes([q])
    return packet(SUBSCRIBE, body)


def parse_publish(first, body):
    """-> (topic, payload, qos, retain, pid)."""
    n = struct.unpack(">H", body[:2])[0]
    topic = bytes(body[2:2 + n]).decode()
    qos = (first >> 1) & 3
    pos = 2 + n
    pid = 0
    if qos:
        pid = struct.unpack(">H", body[pos:pos + 2])[0]
        pos += 2
    return topic, bytes(body[pos:]), qos, bool(first & 1), pid


class Client:
    def __init__(self, client_id, host, port=1883, keepalive=30, ssl=None,
                 server_hostname=None, will=None, user=None, password=None,
                 on_message=None, on_puback=None, max_packet=32 * 1024):
        self.client_id = client_id
        self.host = host
        self.port = port
        self.keepalive = keepalive
        self.ssl = ssl
        self.server_hostname = server_hostname
        self.will = will
        self.user = user
        self.password = password
        self.on_message = on_message
        self.on_puback = on_puback
        self.max_packet = max_packet
        self.connected = False
        self.dead = asyncio.Event()
        self._r = self._w = None
        self._pid = 0
        self._tasks = []
        self._last_tx = self._last_rx = 0
        self._wlock = asyncio.Lock()
        self.error = None

    def next_pid(self):
        self._pid = self._pid % 65535 + 1
        return self._pid

    async def _read_packet(self):
        first = (await self._r.readexactly(1))[0]
        n = 0
        mult = 1
        for _ in range(4):
            b = (await self._r.readexactly(1))[0]
            n += (b & 0x7F) * mult
            mult <<= 7
            if not b & 0x80:
                break
        else:
            raise MQTTError("malformed remaining length")
        if n > self.max_packet:
            raise MQTTError("incoming packet of %d bytes exceeds %d" % (n, self.max_packet))
        body = await self._r.readexactly(n) if n else b""
        self._last_rx = time.ticks_ms()
        return first, body

    async def _send(self, data):
        async with self._wlock:
            self._w.write(data)
            await self._w.drain()
        self._last_tx = time.ticks_ms()

    async def connect(self, timeout_ms=5000):
        """Open the session (clean) and wait for CONNACK; raise MQTTError or OSError."""
        self.dead = asyncio.Event()
        self.error = None
        kw = {}
        if self.ssl is not None:
            kw["ssl"] = self.ssl
            if self.server_hostname:
                kw["server_hostname"] = self.server_hostname
        try:
            self._r, self._w = await asyncio.wait_for_ms(
                asyncio.open_connection(self.host, self.port, **kw), timeout_ms)
            await self._send(connect_packet(self.client_id, self.keepalive, True, self.will,
                                            self.user, self.password))
            first, body = await asyncio.wait_for_ms(self._read_packet(), timeout_ms)
        except asyncio.TimeoutError:
            await self._close()
            raise MQTTError("no CONNACK within %d ms" % timeout_ms)
        except Exception:
            await self._close()
            raise
        if first & 0xF0 != CONNACK or len(body) != 2:
            await self._close()
            raise MQTTError("expected CONNACK, got packet type 0x%02x" % first)
        if body[1]:
            await self._close()
            raise MQTTError("connection refused: " + CONNACK_CODES.get(body[1], str(body[1])))
        self.connected = True
        self._tasks = [asyncio.create_task(self._reader()), asyncio.create_task(self._pinger())]

    async def _close(self):
        self.connected = False
        w = self._w
        self._r = self._w = None
        await close_quietly(w)

    async def _fail(self, err):
        if self.error is None:
            self.error = err
        await self._close()
        self.dead.set()

    async def _reader(self):
        try:
            while True:
                first, body = await self._read_packet()
                t = first & 0xF0
                if t == PUBLISH:
                    topic, payload, qos, retain, pid = parse_publish(first, body)
                    if qos == 1:
                        await self._send(packet(PUBACK, struct.pack(">H", pid)))
                    elif qos == 2:
                        raise MQTTError("QoS 2 delivery is not supported (subscribe with QoS <= 1)")
                    if self.on_message:
                        self.on_message(topic, payload, retain)
                elif t == PUBACK:
                    if self.on_puback:
                        self.on_puback(struct.unpack(">H", body[:2])[0])
                elif t in (SUBACK, PINGRESP):
                    if t == SUBACK and 0x80 in body[2:]:
                        raise MQTTError("subscription refused by the broker")
                else:
                    raise MQTTError("unexpected packet type 0x%02x" % first)
        except asyncio.CancelledError:
            raise
        except Exception as e:
            await self._fail(e)

    async def _pinger(self):
        # PINGREQ when we have been quiet for half the keepalive; the session
        # is dead when the broker has been silent for 1.5 keepalives.
        ka = self.keepalive * 1000
        try:
            while self.connected:
                await asyncio.sleep_ms(min(ka // 4, 1000) or 250)
                now = time.ticks_ms()
                if time.ticks_diff(now, self._last_rx) > ka * 3 // 2:
                    raise MQTTError("broker silent for %d s" % (self.keepalive * 3 // 2))
                if time.ticks_diff(now, self._last_tx) > ka // 2:
                    await self._send(packet(PINGREQ, b""))
        except asyncio.CancelledError:
            raise
        except Exception as e:
            await self._fail(e)

    async def publish(self, topic, payload, qos=1, retain=False, dup=False):
        """Send one PUBLISH; returns the packet id (0 for QoS 0). Raises if not connected."""
        if not self.connected:
            raise MQTTError("not connected")
        pid = self.next_pid() if qos else 0
        try:
            await self._send(publish_packet(topic, payload, qos, retain, pid, dup))
        except Exception as e:
            await self._fail(e)
            raise MQTTError("publish failed: %r" % (e,))
        return pid

    async def subscribe(self, topics):
        await self._send(subscribe_packet(self.next_pid(), topics))

    async def disconnect(self):
        if self.connected:
            try:
                await self._send(packet(DISCONNECT, b""))
            except Exception:
                pass
        await self.stop()

    async def stop(self):
        for t in self._tasks:
            t.cancel()
        self._tasks = []
        await self._close()
        self.dead.set()

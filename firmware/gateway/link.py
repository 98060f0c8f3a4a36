"""The MQTT session: connect with back-off, birth and will, send the queue in order.

One session at a time: connect (TLS when configured, exponential back-off
on failure), publish the retained birth status, subscribe to the downlink
topics, then send stored messages in order with up to `inflight`
unacknowledged. A message leaves the on-flash queue only on its PUBACK, in
order; after a lost session the unacknowledged ones are sent again from the
queue head.
"""

import json
import time

try:
    import asyncio
except ImportError:  # pragma: no cover
    import uasyncio as asyncio

from gateway import messages, mqtt, topics
from gateway.log import log


def der(path):
    """A certificate or key file as DER: MicroPython's mbedTLS binding takes DER only."""
    from binascii import a2b_base64

    with open(path, "rb") as f:
        data = f.read()
    if not data.lstrip().startswith(b"-----BEGIN"):
        return data
    lines = [x.strip() for x in data.splitlines()]
    body = [x for x in lines if x and not x.startswith(b"-----") and b":" not in x]
    end = [i for i, x in enumerate(lines) if x.startswith(b"-----END")]
    if end:  # the first object only (a chain file's leaf)
        first = lines[:end[0]]
        body = [x for x in first if x and not x.startswith(b"-----") and b":" not in x]
    return a2b_base64(b"".join(body))


def tls_context(tls):
    """Client context: verify the broker against our CA, present the gateway's certificate."""
    try:
        import ssl
    except ImportError:
        import tls as ssl
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(cadata=der(tls["ca"]))
    if tls.get("cert"):
        ctx.load_cert_chain(der(tls["cert"]), der(tls["key"]))
    ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


class Link:
    """Keeps one MQTT session up and drains the queue through it.

    `on_message(topic, payload, retain)` gets every downlink message;
    `counters` is the gateway's shared counter dict (also sent in the birth).
    """

    def __init__(self, cfg, queue, mac, clock, bdseq, counters, on_message):
        self.m = cfg["mqtt"]
        self.site, self.gw = cfg["site"], cfg["gw"]
        self.queue = queue
        self.mac = mac
        self.clock = clock
        self.bdseq = bdseq
        self.c = counters
        self.on_message = on_message
        self.inflight = []  # [pid, acked] in send order
        self.wake = asyncio.Event()
        self.client = None
        self.connected_at = None
        self.boot_ticks = time.ticks_ms()

    def count(self, k, n=1):
        self.c[k] = self.c.get(k, 0) + n

    @property
    def busy(self):
        """Messages are in flight: the queue must not rewrite its head segment."""
        return bool(self.inflight)

    def uptime_s(self):
        return time.ticks_diff(time.ticks_ms(), self.boot_ticks) // 1000

    def on_puback(self, pid):
        for e in self.inflight:
            if e[0] == pid:
                e[1] = True
                break
        else:
            self.count("puback_unknown")
            return
        while self.inflight and self.inflight[0][1]:
            self.inflight.pop(0)
            self.queue.ack_head()
            self.count("acked")
        self.wake.set()

    def _status(self, seq, state, now, counters=None):
        return messages.status(self.site, self.gw, seq, now, state, self.uptime_s(), counters)

    async def run(self):
        m = self.m
        lo, hi = m["backoff_ms"]
        backoff = lo
        ssl = None
        status_topic = topics.gateway(self.site, self.gw, "status")
        while True:
            if m.get("tls") and ssl is None:
                try:
                    ssl = tls_context(m["tls"])
                except Exception as e:  # noqa - a bad certificate file must not kill the link
                    self.count("tls_config_error")
                    log("tls_config_error", msg=str(e) or repr(e))
                    await asyncio.sleep_ms(hi)
                    continue
            try:
                bd = self.bdseq.take()
                will = messages.seal(self._status(2 * bd + 1, "offline", self.clock.now_ms()),
                                     self.mac)
                c = mqtt.Client(m.get("client_id", self.gw), m["host"], m["port"],
                                m["keepalive_s"], ssl, (m.get("tls") or {}).get("server_hostname"),
                                (status_topic, will, 1, True), m.get("user"),
                                m.get("password"), self.on_message, self.on_puback)
                await c.connect()
            except Exception as e:  # noqa - any failure means: wait, then retry
                self.count("mqtt_connect_fail")
                log("mqtt_connect_fail", msg=str(e) or repr(e), retry_ms=backoff)
                await asyncio.sleep_ms(backoff)
                backoff = min(hi, backoff * 2)
                continue
            backoff = lo
            self.client = c
            self.connected_at = self.clock.now_ms()
            self.count("mqtt_connects")
            log("mqtt_connected", bdseq=bd, pending=self.queue.pending())
            try:
                birth = self._status(2 * bd, "online", self.connected_at, self.c)
                await c.publish(status_topic, messages.seal(birth, self.mac), 1, True)
                await c.subscribe(topics.downlink(self.site))
                await self.sender(c, m["inflight"])
            except Exception as e:  # noqa
                log("mqtt_session_error", msg=str(e) or repr(e))
            await c.stop()
            self.client = None
            self.inflight = []  # unacked messages are sent again from the queue head
            self.count("mqtt_lost")
            log("mqtt_lost", msg=str(c.error), pending=self.queue.pending())
            await asyncio.sleep_ms(lo)

    async def sender(self, c, window):
        while not c.dead.is_set():
            while len(self.inflight) < window and c.connected:
                raw = self.queue.read(len(self.inflight))
                if raw is None:
                    break
                msg = json.loads(raw)
                if msg["type"] == "telemetry" and msg["ts"] < self.connected_at:
                    msg["hist"] = True  # it waited in the buffer across an outage
                pid = await c.publish(topics.gateway(self.site, self.gw, msg["type"]),
                                      messages.seal(msg, self.mac), 1)
                self.inflight.append([pid, False])
                self.count("sent_" + msg["type"])
            self.wake.clear()
            try:
                await asyncio.wait_for_ms(self.wake.wait(), 200)
            except asyncio.TimeoutError:
                pass

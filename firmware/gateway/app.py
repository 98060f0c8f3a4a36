"""The gateway: poll, account, bid, dispatch, sign, buffer and publish.

Three cooperative loops share one asyncio event loop:
- the scheduler ticks every `poll_ms` (real time): starts a poll task for
  every device that is due and not still busy (so one slow device never
  holds up the others), books counter energy, closes market intervals
  (telemetry with `energy`, then the bid for the next interval), dispatches
  the battery, samples memory and feeds the watchdog;
- the link keeps an MQTT session up (reconnect with exponential back-off),
  sends the birth message and the stored messages in order with up to
  `inflight` unacknowledged, and deletes a message only on its PUBACK;
- incoming price signals and clearing results arrive through callbacks.
Every message is written to the on-flash queue before it is sent.
"""

import gc
import json
import time

try:
    import asyncio
except ImportError:  # pragma: no cover
    import uasyncio as asyncio

from gateway import messages, mqtt, policy
from gateway.devices import Device
from gateway.energy import IntervalAccount
from gateway.fsutil import makedirs
from gateway.hmac256 import HMAC
from gateway.log import log, set_clock
from gateway.clock import Clock
from gateway.mbtcp import TcpMaster
from gateway.seqfile import PersistentCounter
from gateway.store import Queue

KEEP_RESULTS = 8
KEEP_PRICES = 8


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


STATUSES = ("filled", "partial", "unfilled", "excluded")


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def check_result(msg):
    """The fields of a clearing result the gateway acts on; ValueError names the bad one."""
    if not _is_int(msg.get("interval")):
        raise ValueError("result interval must be an integer")
    if not _is_int(msg.get("round")) or msg["round"] < 0:
        raise ValueError("result round must be a non-negative integer")
    if not isinstance(msg.get("final"), bool):
        raise ValueError("result final must be true or false")
    if msg.get("price") is not None and not _is_int(msg["price"]):
        raise ValueError("result price must be an integer")
    fills = msg.get("fills")
    if not isinstance(fills, list):
        raise ValueError("result fills must be a list")
    for i, f in enumerate(fills):
        if (not isinstance(f, dict) or not isinstance(f.get("gw"), str)
                or f.get("side") not in ("buy", "sell") or f.get("status") not in STATUSES
                or not _is_int(f.get("qty_wh"))):
            raise ValueError("result fills[%d] malformed" % i)


def check_price(msg, gw):
    """This gateway's adder from a price signal; ValueError names the bad field."""
    for k in ("valid_from", "valid_to", "ts"):
        if not _is_int(msg.get(k)):
            raise ValueError("price signal %s must be an integer" % k)
    if msg["valid_to"] <= msg["valid_from"]:
        raise ValueError("price signal valid_to must be after valid_from")
    adders = msg.get("adders", {})
    if not isinstance(adders, dict):
        raise ValueError("price signal adders must be an object")
    a = adders.get(gw, 0)
    if not _is_int(a) or not 0 <= a <= policy.MAX_PRICE:
        raise ValueError("price signal adders[%s] must be an integer in 0..%d"
                         % (gw, policy.MAX_PRICE))
    return a


class Gateway:
    def __init__(self, cfg):
        self.cfg = cfg
        ck = cfg["clock"]
        self.clock = Clock(ck.get("accel", 1), ck.get("start_ms"))
        set_clock(self.clock)
        self.site, self.gw = cfg["site"], cfg["gw"]
        self.mac = HMAC(bytes.fromhex(cfg["key_hex"]))
        d = cfg["data_dir"]
        makedirs(d)
        self.c = {}
        self.seq = PersistentCounter(d + "/seq", cfg["seq_block"])
        self.bdseq = PersistentCounter(d + "/bdseq", 1)
        q = cfg["queue"]
        self.queue = Queue(d + "/queue", q["max_bytes"], q["seg_records"], self.c)
        self.devices = self._devices(cfg["devices"])
        self.batteries = [x for x in self.devices if x.kind == "battery"]
        self.account = IntervalAccount(cfg["interval_s"], self.clock.now_ms())
        self.base = "site/%s/gw/%s/" % (self.site, self.gw)
        self.pol = cfg["policy"]
        self.behind = bool(self.pol.get("battery_behind_meter"))
        self.prices = []  # (valid_from, valid_to, ts, adder) in arrival order
        self.results = {}  # interval -> latest result dict
        self.bids = {}  # interval -> (side, qty, price in force, its round, reservation)
        self.last_energy = None
        self.inflight = []  # [pid, acked]
        self.wake = asyncio.Event()
        self.client = None
        self.connected_at = None
        self.boot_ticks = time.ticks_ms()
        self.mem_peak = 0
        self.mem_next = 0
        self.ticks = 0
        self.cycle = None  # (tick start ticks_ms, devices started)
        self.setpoint_w = None
        self.setpoint_task = None
        self.setpoint_task_done = True

    def _devices(self, cfgs):
        masters = {}
        out = []
        for dc in cfgs:
            if dc.get("transport", "tcp") == "tcp":
                key = ("tcp", dc.get("host", "127.0.0.1"), dc["port"])
                if key not in masters:
                    masters[key] = TcpMaster(key[1], key[2], dc.get("timeout_ms", 300))
            else:
                from gateway.rtu import RtuMaster
                from gateway.uart import open_uart

                key = ("rtu", dc["uart"])
                if key not in masters:
                    masters[key] = RtuMaster(open_uart(dc), dc.get("timeout_ms", 200),
                                             dc.get("retries", 1))
            out.append(Device(dc, masters[key], self.clock, self.c))
        return out

    def count(self, k, n=1):
        self.c[k] = self.c.get(k, 0) + n

    # ------------------------------------------------------------------ messages
    def enqueue(self, msg):
        raw = json.dumps(msg).encode()  # canonicalised and tagged when sent
        ok = self.queue.append(raw, msg["type"], msg.get("interval"),
                               self.account.start + self.cfg["interval_s"],
                               busy=bool(self.inflight))
        if ok:
            self.count("queued_" + msg["type"])
            self.wake.set()
        else:
            log("queue_full", type=msg["type"], seq=msg["seq"], bytes=self.queue.total_bytes)
        return ok

    def readings(self, now):
        return [d.reading(now) for d in self.devices]

    def emit_telemetry(self, now, energy=None):
        rs = self.readings(now)
        chunks = [rs[i:i + messages.MAX_READINGS]
                  for i in range(0, len(rs), messages.MAX_READINGS)] or [[]]
        for i, chunk in enumerate(chunks):
            self.enqueue(messages.telemetry(self.site, self.gw, self.seq.take(), now, chunk,
                                            energy if i == 0 else None))

    def make_bid(self, interval, now):
        """The round-0 quote for `interval`, `margin` beyond the reservation (no adder)."""
        if self.last_energy is None:
            return
        q = policy.quote(policy.forecast_surplus_wh(self.last_energy, self.behind), self.pol)
        if q is None:
            return
        side, qty, price = q
        prev = self.bids.get(interval)
        if prev is not None and prev[:3] == (side, qty, price):
            return  # several intervals closed at once: the same quote is sent once
        self.bids[interval] = (side, qty, price, 0, policy.reservation(side, self.pol))
        for k in [k for k in self.bids if k < interval - 2 * self.cfg["interval_s"]]:
            del self.bids[k]
        self.send_bid(interval, now, side, qty, price, 0)

    def send_bid(self, interval, now, side, qty, price, round_):
        self.enqueue(messages.bid(self.site, self.gw, self.seq.take(), now, interval,
                                  side, qty, price, round_))
        log("bid", interval=interval, side=side, qty_wh=qty, price=price, round=round_)

    def revise_bid(self, msg):
        """After a non-final round: re-bid for the next round if policy.revise moves the quote.

        Silence is the answer when the quote stays (filled, at the
        reservation or at the price): the edge ends the rounds when nobody
        revises. Only results at or after the round of the quote in force
        count, so a duplicate of an older result never moves the quote twice.
        The published price is in the edge's adjusted terms: it is read with
        the adder the edge clears this interval with (policy.adder_for).
        """
        iv, rnd = msg["interval"], msg["round"]
        bid = self.bids.get(iv)
        if bid is None or msg["final"] or rnd < bid[3]:
            return
        side, qty, price, _, reserve = bid
        mine = [f for f in msg["fills"] if f["gw"] == self.gw]
        if not mine or mine[0]["side"] != side:
            # the edge holds no quote of ours on this side: a revision would be refused
            self.count("revise_not_in_book")
            log("revise_not_in_book", interval=iv, round=rnd)
            return
        a = policy.adder_for(self.prices, iv)
        new = policy.revise(side, price, reserve, mine[0]["status"],
                            policy.quoted_price(side, msg.get("price"), a), self.pol["tick"])
        if new == price:
            return
        self.bids[iv] = (side, qty, new, rnd + 1, reserve)
        self.count("revisions")
        self.send_bid(iv, self.clock.now_ms(), side, qty, new, rnd + 1)

    # ------------------------------------------------------------------ scheduler
    async def scheduler(self, wdt):
        poll_ms = self.cfg["poll_ms"]
        every = self.cfg["telemetry_every"]
        next_t = time.ticks_ms()
        while True:
            self._close_cycle()
            start = time.ticks_ms()
            now = self.clock.now_ms()
            started = 0
            for d in self.devices:
                if d.due(now):
                    d.busy = True
                    asyncio.create_task(d.poll())
                    started += 1
            self.cycle = (start, started)
            for d in self.devices:
                for field, wh in d.take_booked():
                    self.account.add(field, wh)
            for energy, partial in self.account.roll(now):
                if partial:
                    energy_msg = None
                    log("interval_partial", interval=energy["interval"])
                else:
                    energy_msg = energy
                    self.last_energy = energy
                self.emit_telemetry(now, energy_msg)
                self.make_bid(self.account.start + self.cfg["interval_s"], now)
            self.ticks += 1
            if self.ticks % every == 0:
                self.emit_telemetry(now)
            self.dispatch(now)
            self.sample_memory(now)
            if wdt is not None:
                wdt.feed()
            next_t = time.ticks_add(next_t, poll_ms)
            wait = time.ticks_diff(next_t, time.ticks_ms())
            if wait < 0:  # fell behind: skip, do not burst
                self.count("tick_overrun")
                next_t = time.ticks_ms()
                wait = 0
            await asyncio.sleep_ms(wait)

    def _close_cycle(self):
        """Cycle time = tick start to the last device's reply; a device still busy is a miss."""
        if self.cycle is None or not self.cycle[1]:
            return
        start, n = self.cycle
        busy = sum(1 for d in self.devices if d.busy)
        last = 0
        for d in self.devices:
            if not d.busy and d.done_ms and time.ticks_diff(d.done_ms, start) > last:
                last = time.ticks_diff(d.done_ms, start)
        self.count("cycles")
        miss = busy > 0 or last > self.cfg["poll_ms"]
        if miss:
            self.count("cycle_miss")
        if self.cfg["log_cycles"]:
            log("cycle", ms=last, n=n, busy=busy, miss=miss)

    def dispatch(self, now):
        if not self.batteries or not self.setpoint_task_done:
            return
        meters = [d for d in self.devices if d.kind == "meter"]
        if not meters or any(d.q != "good" for d in meters + self.batteries):
            return
        grid = sum(d.values.get("p_w") or 0 for d in meters)
        # a battery behind the meter shows in the meter's power: take it out
        bat = sum(d.values.get("p_w") or 0 for d in self.batteries) if self.behind else 0
        socs = [d.values.get("soc_pm") for d in self.batteries]
        soc = min(s for s in socs if s is not None) if any(s is not None for s in socs) else None
        res = self.results.get(self.account.start)
        traded = policy.traded_wh(res, self.gw) if res and res.get("final") else 0
        committed = traded * 3600 // self.cfg["interval_s"]
        w = policy.battery_setpoint_w(grid - bat, committed, soc, self.pol,
                                      sum(d.max_w for d in self.batteries),
                                      sum(d.max_w for d in self.batteries))
        if self.setpoint_w is not None and abs(w - self.setpoint_w) < self.pol["deadband_w"]:
            w = self.setpoint_w
        self.setpoint_w = w
        share = w // len(self.batteries)
        self.setpoint_task_done = False
        self.setpoint_task = asyncio.create_task(self._write_setpoints(share))

    async def _write_setpoints(self, w):
        try:
            for b in self.batteries:
                await b.setpoint(w, self.pol["revert_s"])
        finally:
            self.setpoint_task_done = True

    def sample_memory(self, now):
        a = gc.mem_alloc()
        if a > self.mem_peak:
            self.mem_peak = a
        gc.collect()
        if now >= self.mem_next:
            if self.mem_next:
                log("mem", peak=self.mem_peak, alloc=gc.mem_alloc(), free=gc.mem_free(),
                    pending=self.queue.pending())
            self.mem_peak = 0
            self.mem_next = now + self.cfg["mem_every_s"] * 1000

    # ------------------------------------------------------------------ incoming
    def on_message(self, topic, payload, retain):
        try:
            msg = json.loads(payload)
            if not isinstance(msg, dict) or msg.get("site") != self.site:
                raise ValueError("not an object for site %s" % self.site)
            signer = self.cfg.get("edge_signer")
            if signer and msg.get("signer") != signer:
                raise ValueError("signer is not the configured edge key")
            if topic.endswith("/price") and msg.get("type") == "price":
                self._price(msg)
            elif topic.endswith("/result") and msg.get("type") == "result":
                self._result(msg)
            else:
                raise ValueError("unexpected message type %r" % (msg.get("type"),))
        except Exception as e:  # noqa - a bad message is counted, never fatal
            self.count("rx_bad")
            log("rx_bad", topic=topic, msg=str(e))

    def _price(self, msg):
        """Keep a price signal for its adder: revisions read published prices with it.

        Signals that ended before the open interval are dropped; beyond
        KEEP_PRICES the oldest by ts goes, the one least likely to count
        (policy.adder_for takes the newest).
        """
        a = check_price(msg, self.gw)
        lo, hi, ts = msg["valid_from"], msg["valid_to"], msg["ts"]
        keep = [p for p in self.prices if p[1] > self.account.start]
        keep.append((lo, hi, ts, a))
        while len(keep) > KEEP_PRICES:
            oldest = 0
            for i in range(1, len(keep)):
                if keep[i][2] < keep[oldest][2]:
                    oldest = i
            keep.pop(oldest)
        self.prices = keep
        self.count("rx_price")
        log("price", valid_from=lo, valid_to=hi, ts=ts, adder=a)

    def _result(self, msg):
        check_result(msg)
        iv = msg["interval"]
        self.results[iv] = msg
        for k in sorted(self.results)[:-KEEP_RESULTS]:
            del self.results[k]
        self.count("rx_result")
        self.revise_bid(msg)

    # ------------------------------------------------------------------ link
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

    def topic_of(self, msg):
        return self.base + msg["type"]

    async def link(self):
        m = self.cfg["mqtt"]
        lo, hi = m["backoff_ms"]
        backoff = lo
        ssl = None
        while True:
            if m.get("tls") and ssl is None:
                try:
                    ssl = tls_context(m["tls"])
                except Exception as e:  # noqa - a bad certificate file must not kill the link
                    self.count("tls_config_error")
                    log("tls_config_error", msg=str(e) or repr(e))
                    await asyncio.sleep_ms(hi)
                    continue
            bd = self.bdseq.take()
            now = self.clock.now_ms()
            will = messages.seal(messages.status(self.site, self.gw, 2 * bd + 1, now, "offline",
                                                 self._uptime()), self.mac)
            c = mqtt.Client(m.get("client_id", self.gw), m["host"], m["port"], m["keepalive_s"],
                            ssl, (m.get("tls") or {}).get("server_hostname"),
                            (self.base + "status", will, 1, True), m.get("user"),
                            m.get("password"), self.on_message, self.on_puback)
            try:
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
                birth = messages.status(self.site, self.gw, 2 * bd, self.connected_at, "online",
                                        self._uptime(), self.c)
                await c.publish(self.base + "status", messages.seal(birth, self.mac), 1, True)
                await c.subscribe([("site/%s/market/+/result" % self.site, 1),
                                   ("site/%s/price" % self.site, 1)])
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
                pid = await c.publish(self.topic_of(msg), messages.seal(msg, self.mac), 1)
                self.inflight.append([pid, False])
                self.count("sent_" + msg["type"])
            self.wake.clear()
            try:
                await asyncio.wait_for_ms(self.wake.wait(), 200)
            except asyncio.TimeoutError:
                pass

    def _uptime(self):
        return time.ticks_diff(time.ticks_ms(), self.boot_ticks) // 1000

    # ------------------------------------------------------------------ main
    async def run(self):
        from gateway import watchdog

        wdt = watchdog.make(self.cfg["watchdog_ms"])
        log("boot", site=self.site, gw=self.gw, fw=messages.FW, devices=len(self.devices),
            pending=self.queue.pending(), seq=self.seq.next)
        asyncio.create_task(self.link())
        await self.scheduler(wdt)

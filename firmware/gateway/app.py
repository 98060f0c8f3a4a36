"""The gateway's scheduler: poll, account, bid, dispatch; the parts live in their modules.

Two cooperative loops share one asyncio event loop:
- the scheduler (here) ticks every `poll_ms` (real time): starts a poll task
  for every device that is due and not still busy (so one slow device never
  holds up the others), books counter energy, closes market intervals
  (telemetry with `energy`, then the bid for the next interval: bidding.py),
  dispatches the battery (dispatch.py), samples memory and feeds the watchdog;
- the link (link.py) keeps an MQTT session up and sends the on-flash queue;
  downlink messages (downlink.py) arrive through its callback and may move
  the quote in force.
Every message is written to the on-flash queue before it is sent.
"""

import gc
import json
import time

try:
    import asyncio
except ImportError:  # pragma: no cover
    import uasyncio as asyncio

from gateway import messages, policy, topics
from gateway.bidding import Bidder
from gateway.clock import Clock
from gateway.devices import Device
from gateway.dispatch import Dispatcher
from gateway.downlink import Downlink
from gateway.energy import IntervalAccount
from gateway.fsutil import makedirs
from gateway.hmac256 import HMAC
from gateway.link import Link
from gateway.log import log, set_clock
from gateway.mbtcp import TcpMaster
from gateway.seqfile import PersistentCounter
from gateway.store import Queue


class Gateway:
    def __init__(self, cfg):
        self.cfg = cfg
        ck = cfg["clock"]
        self.lockstep = None
        if ck.get("lockstep"):  # the simulator's stepped clock (gateway/lockstep.py)
            from gateway.lockstep import Lockstep, SteppedClock

            self.lockstep = Lockstep(ck["lockstep"])
            self.clock = SteppedClock(ck.get("start_ms", 0), ck.get("accel", 1))
        else:
            self.clock = Clock(ck.get("accel", 1), ck.get("start_ms"), ck.get("wall_ms"))
        set_clock(self.clock)
        self.site, self.gw = cfg["site"], cfg["gw"]
        d = cfg["data_dir"]
        makedirs(d)
        self.c = {}
        self.seq = PersistentCounter(d + "/seq", cfg["seq_block"])
        q = cfg["queue"]
        self.queue = Queue(d + "/queue", q["max_bytes"], q["seg_records"], self.c)
        self.devices = self._devices(cfg["devices"])
        self.account = IntervalAccount(cfg["interval_s"], self.clock.now_ms())
        self.downlink = Downlink(self.site, self.gw, cfg["edge_signer"])
        self.bidder = Bidder(self.site, self.gw, cfg["policy"], cfg["interval_s"], self.seq,
                             self.enqueue, self.c, self.downlink.key_for, cfg["sealed"])
        self.dispatcher = Dispatcher(self.devices, cfg["policy"], cfg["interval_s"], self.gw)
        self.link = Link(cfg, self.queue, HMAC(bytes.fromhex(cfg["key_hex"])), self.clock,
                         PersistentCounter(d + "/bdseq", 1), self.c, self.on_message)
        self.last_energy = None
        self.carbon_sent = None  # (side, price, valid_from, valid_to) last sent
        self.mem_peak = 0
        self.mem_next = 0
        self.ticks = 0
        self.cycle = None  # (tick start ticks_ms, devices started)

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
                               busy=self.link.busy)
        if ok:
            self.count("queued_" + msg["type"])
            self.link.wake.set()
        else:
            log("queue_full", type=msg["type"], seq=msg["seq"], bytes=self.queue.total_bytes)
        return ok

    def emit_telemetry(self, now, energy=None):
        rs = [d.reading(now) for d in self.devices]
        chunks = [rs[i:i + messages.MAX_READINGS]
                  for i in range(0, len(rs), messages.MAX_READINGS)] or [[]]
        for i, chunk in enumerate(chunks):
            self.enqueue(messages.telemetry(self.site, self.gw, self.seq.take(), now, chunk,
                                            energy if i == 0 else None))

    def on_message(self, topic, payload, retain):
        if self.lockstep is not None:  # taken in after the step's tick (gateway/lockstep.py)
            self.lockstep.held.append((topic, payload, retain))
            return
        self.take_message(topic, payload, retain)

    def take_message(self, topic, payload, retain):
        """One downlink message: verified, kept and acted on, or counted and logged; never fatal.

        Refusals count as rx_forged, rx_bad, rx_stale or rx_replay (downlink.py); an organiser
        key not signed by the edge is rx_forged like any other.
        """
        try:
            kind, msg = self.downlink.accept(topic, payload, self.account.start)
        except Exception as e:  # noqa - a bad message is counted, never fatal
            ev = "rx_" + getattr(e, "reason", "bad")
            self.count(ev)
            log(ev, topic=topic, msg=str(e))
            self._took_downlink(topic)
            return
        self.count("rx_" + kind)
        try:
            self._act(kind, msg)
        finally:
            self._took_downlink(topic)

    def _took_downlink(self, topic):
        if self.lockstep is not None and topics.downlink_kind(self.site, topic) in ("result",
                                                                                    "key"):
            self.lockstep.downlinks += 1

    def _act(self, kind, msg):
        if kind == "price":
            self.carbon_bid(msg)
        elif kind == "result":
            self.bidder.revise(msg, self.downlink.adder_for(msg["interval"]),
                               self.clock.now_ms())
        elif kind == "key":
            self.bidder.on_key(msg["interval"], msg["round"], self.clock.now_ms())

    def carbon_bid(self, signal):
        """The carbon order this gateway's policy makes for a new price signal.

        policy.carbon_bid with the signal's advice: "advised" stays inside the
        hub's range. The decision is the gateway's carbon quote for the
        signal's validity, sent to the edge as a tagged ``carbon_bid`` message
        (the hub builds its carbon book from those on the edge chain); None
        (no order) is counted as carbon_no_bid. The same quote for the same
        validity is sent once: a retained signal delivered again on every
        reconnect must not flood the queue.
        """
        pol = self.cfg["policy"]
        mode = pol.get("carbon_bid", "off")
        if mode == "off":
            return
        advice = self.downlink.advice_for(signal["valid_from"])
        price = policy.carbon_bid(pol["carbon_side"], pol["carbon_limit"], advice, mode)
        if price is None:
            self.count("carbon_no_bid")
        else:
            self.count("carbon_bids")
        log("carbon_bid", side=pol["carbon_side"], price=price, mode=mode,
            valid_from=signal["valid_from"], valid_to=signal["valid_to"],
            advice=list(advice) if advice else None)
        quote = (pol["carbon_side"], price, signal["valid_from"], signal["valid_to"])
        if price is None or quote == self.carbon_sent:
            return
        if self.enqueue(messages.carbon_bid(self.site, self.gw, self.seq.take(),
                                            self.clock.now_ms(), *quote)):
            self.carbon_sent = quote

    # ------------------------------------------------------------------ scheduler
    async def scheduler(self, wdt):
        poll_ms = self.cfg["poll_ms"]
        next_t = time.ticks_ms()
        while True:
            self.tick(self.clock.now_ms(), wdt)
            next_t = time.ticks_add(next_t, poll_ms)
            wait = time.ticks_diff(next_t, time.ticks_ms())
            if wait < 0:  # fell behind: skip, do not burst
                self.count("tick_overrun")
                next_t = time.ticks_ms()
                wait = 0
            await asyncio.sleep_ms(wait)

    async def lockstep_scheduler(self, wdt):
        """The simulator's steps instead of real time: one tick each, acknowledged once
        everything it started is done (gateway/lockstep.py)."""
        from gateway.lockstep import write_ack

        ls = self.lockstep
        while True:
            step, now, downlinks = await ls.next_step(wdt)
            self.clock.ms = max(self.clock.ms, now)
            self.tick(self.clock.ms, wdt)
            await ls.settle(self, downlinks, wdt)
            write_ack(step, self.c.get("acked", 0), self.c.get("mqtt_connects", 0),
                      ls.downlinks)

    def tick(self, now, wdt):
        """One scheduler tick at market time `now`: polls, booking, intervals, dispatch."""
        self._close_cycle()
        start = time.ticks_ms()
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
            self.bidder.open(self.account.start + self.cfg["interval_s"], now,
                             self.last_energy)
        self.ticks += 1
        if self.ticks % self.cfg["telemetry_every"] == 0:
            self.emit_telemetry(now)
        self.dispatcher.step(self.downlink.final_result(self.account.start))
        self.sample_memory(now)
        if wdt is not None:
            wdt.feed()

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

    # ------------------------------------------------------------------ main
    async def run(self):
        from gateway import watchdog

        wdt = watchdog.make(self.cfg["watchdog_ms"])
        log("boot", site=self.site, gw=self.gw, fw=messages.FW, devices=len(self.devices),
            pending=self.queue.pending(), seq=self.seq.next)
        asyncio.create_task(self.link.run())
        if self.lockstep is not None:
            await self.lockstep_scheduler(wdt)
        else:
            await self.scheduler(wdt)

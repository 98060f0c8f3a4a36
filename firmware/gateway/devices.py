"""One polled device: SunSpec reads, quality flags, faults, back-off, counters.

Every device is polled on its own task so a silent or slow one never holds
up the others (on one RS-485 line they still share the bus, so a silent
device costs one short timeout, then backs off exponentially). Every
reading carries its own quality and time:
  good     read this cycle and physically plausible;
  stale    silent, erroring or stuck device: the last good values, `ts` = when read;
  invalid  read, but outside the device's physical range (values withheld);
  nodata   never read since start.
Counters (per device and kind) feed the status birth message and the log.
"""

import time

try:
    import asyncio
except ImportError:  # pragma: no cover
    import uasyncio as asyncio

from gateway import modbus, sunspec
from gateway.energy import CounterTrack, booking
from gateway.log import log

METER_MODELS = (201, 202, 203, 204)
INVERTER_MODELS = (101, 102, 103)


class Device:
    def __init__(self, cfg, master, clock, counters):
        self.name = cfg["name"]
        self.kind = cfg["kind"]
        self.unit = cfg.get("unit", 1)
        self.max_w = cfg["max_w"]
        self.timeout_ms = cfg.get("timeout_ms", 300)
        self.backoff_max_ms = cfg.get("backoff_max_ms", 30000)
        self.stuck_after_wh = cfg.get("stuck_after_wh", 5)
        self.master = master
        self.clock = clock
        self.c = counters  # the gateway's counter dict
        self.models = None
        self.values = None  # last good values
        self.good_ts = None
        self.q = "nodata"
        self.fails = 0
        self.retry_at = 0  # clock ms before which we do not poll (back-off)
        self.tracks = {"e_imp_wh": CounterTrack(), "e_exp_wh": CounterTrack()}
        self.busy = False
        self.done_ms = 0
        self.last_change_ts = None
        self.wchamax_w = None
        self.rate_sf = None
        self.written = None  # (mod, out_raw, in_raw) last written setpoint
        self.write_ts = 0
        self.booked = []  # (field, Wh) booked by the last poll, taken by the app
        self.res = 1  # counter resolution in Wh (TotWh_SF > 0 means coarser steps)
        self.invalid_ts = 0
        self.stuck_now = False

    def _count(self, what):
        k = "%s.%s" % (self.name, what)
        self.c[k] = self.c.get(k, 0) + 1
        self.c[what] = self.c.get(what, 0) + 1

    async def _read(self, address, count):
        pdu = modbus.read_holding_request(address, count)
        return await self.master.transact(self.unit, pdu, self.timeout_ms)

    async def _write(self, address, values):
        pdu = modbus.write_multiple_request(address, values)
        return await self.master.transact(self.unit, pdu, self.timeout_ms)

    # ---------------------------------------------------------------- polling
    def due(self, now_ms):
        return not self.busy and now_ms >= self.retry_at

    async def poll(self):
        """One poll; never raises (a crash here would be a stalled poller)."""
        self.busy = True
        try:
            if self.models is None:
                self.models = await sunspec.discover(self._read)
                log("discovered", dev=self.name, models=sorted(self.models.keys()))
            vals = await self._read_values()
            self._accept(vals)
            self.fails = 0
        except modbus.ModbusError as e:
            self._failed(e.kind, e)
        except sunspec.SunSpecError as e:
            self.models = None
            self._failed("sunspec", e)
        except Exception as e:  # noqa - counted and logged, the poller carries on
            self._failed("internal", e)
        finally:
            self.busy = False
            self.done_ms = time.ticks_ms()

    def _failed(self, kind, err):
        self._count(kind)
        self.fails += 1
        back = min(self.backoff_max_ms, 500 * (1 << min(self.fails - 1, 10)))
        # back-off is in real time: convert to clock ms
        self.retry_at = self.clock.now_ms() + back * self.clock.accel
        if self.values is not None or self.q != "nodata":
            self.q = "stale"
        if self.fails == 1 or self.fails % 20 == 0:
            log("device_error", dev=self.name, kind=kind, fails=self.fails, msg=str(err))

    async def _read_model(self, mid):
        addr, length = self.models[mid]
        regs = await self._read(addr, min(length + 2, modbus.MAX_READ))
        return sunspec.decode_model(mid, regs), regs

    async def _read_values(self):
        out = {}
        meter = self._first(METER_MODELS)
        if meter is not None:
            m, regs = await self._read_model(meter)
            sf = sunspec.sf_of(meter, regs, "TotWh_SF") or 0
            self.res = 10 ** sf if 0 < sf <= 10 else 1
            out["p_w"] = m.get("W")
            out["e_imp_wh"] = m.get("TotWhImp")
            out["e_exp_wh"] = m.get("TotWhExp")
        inv = self._first(INVERTER_MODELS)
        if inv is not None and meter is None:
            m, _ = await self._read_model(inv)
            out["p_w"] = -m["W"] if "W" in m else None  # generation = export
            out["e_exp_wh"] = m.get("WH")
        if 124 in self.models:
            m, regs = await self._read_model(124)
            out["soc_pm"] = m.get("ChaState")
            self.wchamax_w = m.get("WChaMax")
            self.rate_sf = sunspec.sf_of(124, regs, "InOutWRte_SF")
        if 802 in self.models:
            m, _ = await self._read_model(802)
            if "SoC" in m:
                out["soc_pm"] = m["SoC"]
        if not out:
            raise sunspec.SunSpecError("no model this gateway can read")
        return out

    def _first(self, ids):
        for i in ids:
            if i in self.models:
                return i
        return None

    def _accept(self, vals):
        now = self.clock.now_ms()
        p = vals.get("p_w")
        soc = vals.get("soc_pm")
        bad = None
        if p is not None and abs(p) > 2 * self.max_w:
            bad = "p_w %d W beyond 2 x rating %d W" % (p, self.max_w)
        elif soc is not None and not 0 <= soc <= 1000:
            bad = "state of charge %d per mille" % soc
        else:
            for k in ("e_imp_wh", "e_exp_wh"):
                v = vals.get(k)
                if v is not None and not self.tracks[k].plausible(v, now, self.max_w, self.res):
                    bad = "%s jumped to %d Wh" % (k, v)
                    self.tracks[k].feed(v, now, self.max_w, self.res)  # counts towards a rebase
                    self._count("glitch")
                    break
        if bad is not None:
            self.q = "invalid"
            self.invalid_ts = now
            self._count("invalid")
            log("device_invalid", dev=self.name, msg=bad)
            return
        if self._stuck(vals, now):
            self.q = "stale"
            return
        booked = []
        for k in ("e_imp_wh", "e_exp_wh"):
            v = vals.get(k)
            if v is None:
                continue
            wh, event = self.tracks[k].feed(v, now, self.max_w, self.res)
            if event is not None:
                self._count(event)
                log("counter_" + event, dev=self.name, counter=k, value=v, booked=wh)
            f = booking(self.kind, k)
            if f is not None and wh:
                booked.append((f, wh))
        self.booked.extend(booked)
        self.values = vals
        self.good_ts = now
        self.q = "good"

    def _stuck(self, vals, now):
        """Counters frozen while the power says energy must have moved."""
        prev = self.values
        if prev is None:
            self.last_change_ts = now
            return False
        same = all(vals.get(k) == prev.get(k) for k in ("p_w", "e_imp_wh", "e_exp_wh", "soc_pm"))
        if not same or prev.get("e_imp_wh") is None:
            self.last_change_ts = now
            if self.stuck_now:
                self.stuck_now = False
                log("device_unstuck", dev=self.name)
            return False
        p = abs(prev.get("p_w") or 0)
        expected = p * (now - self.last_change_ts) // 3600000
        if expected > self.stuck_after_wh:
            if not self.stuck_now:
                self.stuck_now = True
                self._count("stuck")
                log("device_stuck", dev=self.name, p_w=p, expected_wh=expected)
            self.good_ts = self.last_change_ts
            return True
        return False

    def reading(self, now):
        """This device's entry in a telemetry message."""
        r = {"dev": self.name, "kind": self.kind, "q": self.q}
        if self.q == "nodata" or self.values is None:
            r["q"] = "nodata" if self.values is None and self.q != "invalid" else self.q
            r["ts"] = now
            return r
        if self.q == "invalid":
            r["ts"] = self.invalid_ts
            return r
        r["ts"] = self.good_ts
        for k in ("p_w", "e_imp_wh", "e_exp_wh", "soc_pm"):
            v = self.values.get(k)
            if v is not None:
                r[k] = v
        return r

    def take_booked(self):
        b = self.booked
        self.booked = []
        return b

    # ---------------------------------------------------------------- battery control
    async def setpoint(self, w, revert_s):
        """Command the battery (positive = charge) through SunSpec model 124."""
        if self.models is None or 124 not in self.models or not self.wchamax_w:
            return False
        sf = self.rate_sf if self.rate_sf is not None else -2
        from gateway.policy import rate_raw

        raw = rate_raw(w, self.wchamax_w, sf)
        mod = (1 if w > 0 else 2) if w and raw else 0
        want = (mod, raw if w < 0 else 0, raw if w > 0 else 0)
        now = self.clock.now_ms()
        fresh = now - self.write_ts < revert_s * 1000 // 3
        if want == self.written and fresh:
            return False
        addr = self.models[124][0]
        try:
            if self.written is None:
                await self._write(addr + 15, [revert_s])  # InOutWRte_RvrtTms
            await self._write(addr + 12, [want[1], want[2]])  # OutWRte, InWRte
            await self._write(addr + 5, [mod])  # StorCtl_Mod
        except modbus.ModbusError as e:
            self._count("write_" + e.kind)
            log("setpoint_failed", dev=self.name, w=w, msg=str(e))
            return False
        self.written = want
        self.write_ts = now
        self._count("setpoints")
        return True

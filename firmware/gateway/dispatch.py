"""Battery dispatch every tick: follow the final result, keep the rest off the grid.

The setpoint comes from policy.battery_setpoint_w on the meters' and
batteries' latest good readings and the energy traded in the current
interval's final result; it is held within `deadband_w` and written to the
batteries by one task at a time (a slow battery never queues writes).
"""

try:
    import asyncio
except ImportError:  # pragma: no cover
    import uasyncio as asyncio

from gateway import policy


class Dispatcher:
    def __init__(self, devices, pol, interval_s, gw):
        self.meters = [d for d in devices if d.kind == "meter"]
        self.batteries = [d for d in devices if d.kind == "battery"]
        self.pol = pol
        self.behind = bool(pol.get("battery_behind_meter"))
        self.interval_s = interval_s
        self.gw = gw
        self.setpoint_w = None
        self.writing = False

    def step(self, result):
        """One dispatch decision; `result` is the current interval's final result or None."""
        if not self.batteries or self.writing:
            return
        if not self.meters or any(d.q != "good" for d in self.meters + self.batteries):
            return
        grid = sum(d.values.get("p_w") or 0 for d in self.meters)
        # a battery behind the meter shows in the meter's power: take it out
        bat = sum(d.values.get("p_w") or 0 for d in self.batteries) if self.behind else 0
        socs = [d.values.get("soc_pm") for d in self.batteries]
        soc = min(s for s in socs if s is not None) if any(s is not None for s in socs) else None
        traded = policy.traded_wh(result, self.gw) if result else 0
        committed = traded * 3600 // self.interval_s
        max_w = sum(d.max_w for d in self.batteries)
        w = policy.battery_setpoint_w(grid - bat, committed, soc, self.pol, max_w, max_w)
        if self.setpoint_w is not None and abs(w - self.setpoint_w) < self.pol["deadband_w"]:
            w = self.setpoint_w
        self.setpoint_w = w
        self.writing = True
        asyncio.create_task(self._write(w // len(self.batteries)))

    async def _write(self, w):
        try:
            for b in self.batteries:
                await b.setpoint(w, self.pol["revert_s"])
        finally:
            self.writing = False

"""Lock step with the simulator: market time from a tick file, one scheduler tick per step.

Simulator only (config `clock.lockstep` names the tick file; a field config
never sets it, and without it nothing here runs). The simulator writes
`step market_ms downlinks` to the tick file (atomically, by rename). For
each new step the gateway sets its clock to `market_ms`, runs one scheduler
tick, then waits until its device polls are back, its queue is sent and
acknowledged by the broker and it has taken in `downlinks` result and key
messages from the edge (so every revision they cause is sent too); downlink
messages are held and taken in only after the step's tick, so a revision
never depends on whether a result outran the tick file. Then it
writes `step acked connects downlinks` to `lockstep.ack` in its directory.
The simulator advances only when every gateway has acknowledged and its
edge has admitted every message the gateways sent: the same seed gives the
same readings, bids and clearing, whatever the machine's load.
"""

import os

try:
    import asyncio
except ImportError:  # pragma: no cover
    import uasyncio as asyncio

ACK = "lockstep.ack"
#: how often (real ms) the tick file and the settle conditions are looked at
POLL_MS = 2


class SteppedClock:
    """Market time set by the simulator's steps (now_ms never moves on its own)."""

    def __init__(self, start_ms, accel=1):
        self.start_ms = start_ms
        self.accel = accel
        self.ms = start_ms

    def now_ms(self):
        return self.ms

    def real_ms(self, sim_ms):
        return max(1, sim_ms // self.accel)


def read_tick(path):
    """(step, market_ms, downlinks) from the tick file, or None while there is none."""
    try:
        with open(path) as f:
            parts = f.read().split()
        return int(parts[0]), int(parts[1]), int(parts[2])
    except (OSError, ValueError, IndexError):
        return None


def write_ack(step, acked, connects, downlinks):
    tmp = ACK + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d %d %d %d\n" % (step, acked, connects, downlinks))
    os.rename(tmp, ACK)


class Lockstep:
    def __init__(self, path):
        self.path = path
        self.step = -1
        self.downlinks = 0  # result and key messages taken in (kept or refused)
        #: downlink messages held until the step's tick is done: whether one arrives
        #: before or after the gateway reads the step is the machine's timing, not the step's
        self.held = []

    async def next_step(self, wdt):
        """Wait for a step after the last one; returns (step, market_ms, downlinks)."""
        while True:
            t = read_tick(self.path)
            if t is not None and t[0] > self.step:
                self.step = t[0]
                return t
            if wdt is not None:
                wdt.feed()
            await asyncio.sleep_ms(POLL_MS)

    async def settle(self, gw, downlinks, wdt):
        """Wait until polls are back, the queue is acknowledged and the downlinks are in."""
        while True:
            while self.held:
                gw.take_message(*self.held.pop(0))
            link = gw.link
            if (link.client is not None and not link.busy and gw.queue.pending() == 0
                    and not any(d.busy for d in gw.devices) and self.downlinks >= downlinks):
                return
            if wdt is not None:
                wdt.feed()
            await asyncio.sleep_ms(POLL_MS)

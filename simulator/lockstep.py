"""Lock step: one stepped market clock for the whole simulated system.

In a lock-step day (``[day] lockstep = true``) nothing reads market time
from the wall clock: the simulator moves one ``SteppedWall`` forward by
``step_s`` of market time at a time and

1. brings the device servers' physics to it (``Fleet.advance``),
2. lets every edge do what is due (clear rounds, publish results) at it,
   counting the result and key messages it published,
3. writes the step to each gateway's tick file (firmware/gateway/
   lockstep.py), one gateway after the other: the gateway runs one
   scheduler tick at that market time and acknowledges once its polls are
   back, its queue is acknowledged by the broker and it has taken in every
   result and key published so far; the next gateway's turn comes when the
   edge has admitted (accepted or refused) as many messages as its gateways
   acknowledged, so the edge takes them in the step's order.

What each part does at a step depends only on the step, never on how fast
the machine got there, so two runs with the same seed clear the same.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge.clock import Clock, SteppedWall

TICK_FILE = "lockstep.tick"   # in each gateway's folder, as the ack
ACK_FILE = "lockstep.ack"
#: how long one step may take (wall seconds) before the day gives up
STEP_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class LockstepClock(Clock):
    """Market time from the simulator's stepped clock; wall time stays the system's
    (block timestamps and hub requests are checked against the hub's own clock)."""

    market: Callable[[], int] = field(default=lambda: 0, compare=False, repr=False)

    def at_wall_ms(self, wall_ms: float) -> int:
        return int(self.market())


class CountingPublish:
    """An edge link whose result and key publishes are counted (what gateways must take in)."""

    def __init__(self, link: Any) -> None:
        self._link = link
        self.downlinks = 0
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._link, name)

    def publish(self, topic: str, payload: bytes, retain: bool) -> None:
        if topic.endswith("/result") or topic.endswith("/key"):
            with self._lock:
                self.downlinks += 1
        self._link.publish(topic, payload, retain)


def read_ack(path: Path) -> tuple[int, int, int, int] | None:
    """(step, acked, connects, downlinks) from a gateway's ack file, or None."""
    try:
        step, acked, connects, downlinks = (int(x) for x in path.read_text().split())
    except (OSError, ValueError):
        return None
    return step, acked, connects, downlinks


def write_tick(path: Path, step: int, market_ms: int, downlinks: int) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(f"{step} {market_ms} {downlinks}\n")
    os.replace(tmp, path)


def admitted(edge: Any) -> int:
    """Messages the edge has decided on (accepted or refused), read under its market lock
    so a batch's commit and its market effects are both in."""
    with edge.market.lock:
        counters = edge.inbox.counters()
    return sum(v for k, v in counters.items()
               if k.startswith("accepted:") or k.startswith("rejected:"))


class Stepper:
    """Drives one day's parts in lock step (see the module docstring)."""

    def __init__(self, wall: SteppedWall, step_ms: int, out: Path) -> None:
        self.wall = wall
        self.step_ms = step_ms
        self.tick_file = out / TICK_FILE
        self.step_no = 0

    def now_ms(self) -> int:
        return self.wall()

    def step(self, subs: list[Any], advance: bool = True) -> None:
        """One step: advance, let the edges act, tick the gateways, wait for all of it.

        The gateways of a substation tick one after the other, each once the
        edge has admitted what the one before sent: the edge's book keeps
        orders in arrival order (it breaks price ties), so arrival order must
        be the step's, not the broker's. Substations step side by side.
        """
        if advance:
            self.wall.advance(self.step_ms)
        now = self.wall()
        self.step_no += 1
        for run in subs:
            fleet = run.fleet_host.fleet
            fleet.advance((now - fleet.clock.now_ms()) / 1000)
            run.edge.tick()
        deadline = time.monotonic() + STEP_TIMEOUT_S
        for i in range(max(len(run.gateways) for run in subs)):
            turn = [(run, run.gateways[i].id) for run in subs if i < len(run.gateways)]
            for run, gw in turn:
                write_tick(run.fw_dirs[gw] / TICK_FILE, self.step_no, now,
                           run.edge.link.downlinks)
            for run, gw in turn:
                self._wait(run, gw, deadline)

    def _wait(self, run: Any, gw: str, deadline: float) -> None:
        """Until `gw` acknowledged this step and its edge admitted all its gateways sent."""
        from simulator.day import SimError

        acked = False
        sent = 0
        while True:
            if not acked:
                ack = read_ack(run.fw_dirs[gw] / ACK_FILE)
                acked = ack is not None and ack[0] >= self.step_no
            if acked:
                sent = sum(a[1] + a[2] for a in (read_ack(run.fw_dirs[g.id] / ACK_FILE)
                                                 for g in run.gateways) if a is not None)
                if admitted(run.edge) >= sent:
                    return
            p = run.firmware[gw]
            if p.poll() is not None:
                raise SimError(f"gateway {gw} exited (code {p.returncode}) in lock step; "
                               f"see {run.fw_dirs[gw] / 'firmware.log'}")
            if time.monotonic() > deadline:
                what = (f"its edge admitted {admitted(run.edge)} of {sent} messages" if acked
                        else "no acknowledgement")
                raise SimError(f"lock step {self.step_no}, gateway {gw} of {run.id}: {what} "
                               f"within {STEP_TIMEOUT_S:.0f} s")
            time.sleep(0.002)

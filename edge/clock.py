"""The one source of "now" for the edge (and the hub helpers that share it).

Two times, one object:
- wall time (``wall_ms``): what a block's timestamp, a request signature, a
  pending transaction's age, a receipt and a status page carry; the hub checks
  these against its own wall clock, so they never run accelerated;
- market time (``now_ms``/``now_s``): which interval is open and when a round
  clears. In the field it equals wall time; in simulation
  ``market = origin_sim + (wall - origin_wall) * accel``, shared by the edge and
  the gateways through their configs so both agree on time.

Every part that needs the time is given a ``Clock`` instead of calling
``time.time()``, which is what makes a simulated day deterministic and lets a
test leap a whole market interval forward by moving a ``SteppedWall``. This
module is the only place in ``edge/`` that reads the system clock.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field


def system_wall_ms() -> int:
    """Milliseconds since the Unix epoch from the system clock."""
    return int(time.time() * 1000)


class SteppedWall:
    """A wall clock that moves only when told to: simulation steps and time-leap tests.

    Thread-safe, because the ingest writer, the ticker and the sync loop all
    read it while a driver advances it.
    """

    def __init__(self, start_ms: int) -> None:
        self._ms = int(start_ms)
        self._lock = threading.Lock()

    def __call__(self) -> int:
        with self._lock:
            return self._ms

    def advance(self, ms: int) -> int:
        """Move forward by ``ms`` (never backward); returns the new wall time."""
        if ms < 0:
            raise ValueError("a clock does not go backward")
        with self._lock:
            self._ms += int(ms)
            return self._ms

    def set(self, wall_ms: int) -> None:
        """Jump to ``wall_ms`` (forward only)."""
        with self._lock:
            if wall_ms < self._ms:
                raise ValueError("a clock does not go backward")
            self._ms = int(wall_ms)


@dataclass(frozen=True)
class Clock:
    """Market time and wall time from one wall source (``system_wall_ms`` by default)."""

    accel: float = 1.0
    origin_wall_ms: int = 0
    origin_sim_ms: int = 0
    wall: Callable[[], int] = field(default=system_wall_ms, compare=False, repr=False)

    @classmethod
    def make(cls, accel: float = 1.0, origin_wall_ms: int | None = None,
             origin_sim_ms: int | None = None,
             wall: Callable[[], int] = system_wall_ms) -> Clock:
        """A clock whose market time starts at ``origin_sim_ms`` now (both default to now)."""
        start = wall() if origin_wall_ms is None else origin_wall_ms
        return cls(accel, start, start if origin_sim_ms is None else origin_sim_ms, wall)

    def wall_ms(self) -> int:
        """Wall time in ms since the epoch (never accelerated)."""
        return int(self.wall())

    def at_wall_ms(self, wall_ms: float) -> int:
        """Market time at a given wall time."""
        return int(self.origin_sim_ms + (wall_ms - self.origin_wall_ms) * self.accel)

    def now_ms(self) -> int:
        """Market time in ms."""
        return self.at_wall_ms(self.wall())

    def now_s(self) -> float:
        """Market time in seconds (interval arithmetic works in seconds)."""
        return self.now_ms() / 1000

    def wall_seconds(self, sim_seconds: float) -> float:
        """How long ``sim_seconds`` of market time lasts on the wall clock."""
        return sim_seconds / self.accel


#: The field's clock: market time is wall time.
SYSTEM = Clock()

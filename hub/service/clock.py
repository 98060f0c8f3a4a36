"""The hub's one source of time: every module in hub/service asks a Clock, never `time`.

The application gets a clock at construction (`create_app(..., clock=...)`)
and hands it to whatever needs "now": signed-request windows, block receipt
stamps, the future-timestamp check, main-block and price-signal stamps,
registry dates. A test or a simulated day passes a `ManualClock` and moves
time by hand, so nothing in the hub depends on when the test happens to run.
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now_ms(self) -> int:
        """Wall time in unix milliseconds."""
        ...


class SystemClock:
    """The machine's wall clock."""

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000


class ManualClock:
    """A clock that moves only when told (tests, simulations)."""

    def __init__(self, now_ms: int) -> None:
        self._now = now_ms

    def now_ms(self) -> int:
        return self._now

    def advance(self, ms: int) -> None:
        if ms < 0:
            raise ValueError("a clock does not go backwards")
        self._now += ms


SYSTEM = SystemClock()

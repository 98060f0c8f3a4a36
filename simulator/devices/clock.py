"""The simulated clock every device reads: explicit steps or accelerated wall time.

Time is an integer count of milliseconds since the Unix epoch, so energy
integration (W x ms = mJ) stays in integers. With ``accel`` None the clock
moves only by ``advance()``: tests and reproducible runs use that. With an
``accel`` it also runs with the wall clock times that factor, so a 24 h day
can pass in a few minutes while a real gateway polls; ``advance()`` still
jumps it forward.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timezone


def parse_start(text: str) -> int:
    """ISO 8601 date or date-time (naive = UTC) -> ms since the epoch."""
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"start {text!r} is not an ISO 8601 date or date-time") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return int(dt.timestamp() * 1000)


class SimClock:
    """Monotonic simulated time in integer ms."""

    def __init__(self, start_ms: int, accel: float | None = None) -> None:
        if accel is not None and not accel > 0:
            raise ValueError(f"accel must be > 0, got {accel}")
        self.start_ms = int(start_ms)
        self.accel = accel
        self._offset_ms = 0
        self._wall0 = time.monotonic()
        self._lock = threading.Lock()

    def now_ms(self) -> int:
        with self._lock:
            now = self.start_ms + self._offset_ms
            if self.accel is not None:
                now += int((time.monotonic() - self._wall0) * 1000 * self.accel)
            return now

    def advance(self, seconds: float) -> int:
        """Jump forward; returns the new time. Time never goes backwards."""
        if seconds < 0:
            raise ValueError(f"cannot advance by a negative time ({seconds} s)")
        with self._lock:
            self._offset_ms += int(round(seconds * 1000))
        return self.now_ms()

    def elapsed_s(self) -> float:
        return (self.now_ms() - self.start_ms) / 1000.0

"""Wall time in ms that tests and benchmarks can accelerate.

now_ms = start + elapsed real time x accel. Elapsed time is accumulated from
ticks_ms differences at every call, so the ticks counter wrapping on a long
run never breaks it (call at least once per half wrap period, i.e. days).
"""

import time


def epoch_ms():
    try:
        return time.time_ns() // 1000000
    except AttributeError:  # ports without time_ns: seconds since 2000 on bare metal
        return (int(time.time()) + 946684800) * 1000


class Clock:
    def __init__(self, accel=1, start_ms=None, wall_ms=None):
        """`start_ms` is the clock's time at wall time `wall_ms` (default: at boot).

        With `wall_ms`, a gateway that boots late (a loaded simulator, a slow
        flash) still agrees with the edge's accelerated clock from its first tick.
        """
        self.accel = accel
        self.start_ms = epoch_ms() if start_ms is None else start_ms
        if start_ms is not None and wall_ms is not None:
            self.start_ms += max(0, epoch_ms() - wall_ms) * accel
        self._t = time.ticks_ms()
        self._elapsed = 0

    def now_ms(self):
        t = time.ticks_ms()
        self._elapsed += time.ticks_diff(t, self._t)
        self._t = t
        return self.start_ms + self._elapsed * self.accel

    def real_ms(self, sim_ms):
        """Real milliseconds that last `sim_ms` of clock time."""
        return max(1, sim_ms // self.accel)

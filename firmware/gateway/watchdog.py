"""Watchdog: machine.WDT on a board; on the unix port a thread stands in.

The stand-in kills the process (SIGKILL to itself) when the main loop has not
fed it for `timeout_ms`, so a hang ends the way it would on a board, and the
supervisor (systemd, the test fixture) restarts the firmware. A hang that
blocks the event loop cannot be caught by an asyncio task, hence a thread.
"""

import time

from gateway.log import log


class SoftWDT:
    def __init__(self, timeout_ms):
        import _thread

        self.timeout_ms = timeout_ms
        self._fed = time.ticks_ms()
        _thread.start_new_thread(self._watch, ())

    def feed(self):
        self._fed = time.ticks_ms()

    def _watch(self):
        import os

        while True:
            time.sleep_ms(max(50, self.timeout_ms // 10))
            if time.ticks_diff(time.ticks_ms(), self._fed) > self.timeout_ms:
                log("watchdog_reset", timeout_ms=self.timeout_ms)
                with open("/proc/self/stat") as f:
                    pid = f.read().split()[0]
                os.system("kill -9 " + pid)


def make(timeout_ms):
    try:
        import machine

        if hasattr(machine, "WDT"):
            return machine.WDT(timeout=timeout_ms)
    except ImportError:
        pass
    return SoftWDT(timeout_ms)

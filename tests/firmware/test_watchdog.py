"""The software watchdog on the unix port: fed, the firmware lives; starved, it is killed."""

from __future__ import annotations

import signal
import subprocess

import pytest

from tests.kit.firmware import MICROPYTHON, NO_MP, mp_env

FED_THEN_STARVED = """
import time
from gateway import watchdog
wdt = watchdog.make(300)
for _ in range(10):          # 1 s of feeding every 100 ms: longer than the timeout
    time.sleep_ms(100)
    wdt.feed()
print("fed")
time.sleep_ms(3000)          # a hang: nobody feeds
print("survived")
"""


def test_starved_watchdog_kills_a_hung_firmware():
    if MICROPYTHON is None:
        pytest.skip(NO_MP)
    p = subprocess.run([MICROPYTHON, "-c", FED_THEN_STARVED], capture_output=True, text=True,
                       timeout=30, env=mp_env())
    assert "fed" in p.stdout, p.stdout + p.stderr
    assert "survived" not in p.stdout
    assert p.returncode == -signal.SIGKILL
    assert "watchdog_reset" in p.stdout + p.stderr

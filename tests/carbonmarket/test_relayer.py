"""The relayer is a real process, SIGKILLed at each step of a transfer, then resumed.

After every kill and at the end: the peg's books hold on both chains, no
asset exists on both chains, and every transfer ends done (minted, the
rest burned and released) or returned (all of it burned back to C).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from hub.carbonmarket.peg import balance
from hub.carbonmarket.relayer import CRASH_ENV, STEPS, RelayerState

from .pegkit import make_peg

ROOT = Path(__file__).resolve().parents[2]


def relay(config: Path, crash_at: str | None = None) -> int:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop(CRASH_ENV, None)
    if crash_at:
        env[CRASH_ENV] = crash_at
    proc = subprocess.run([sys.executable, "-m", "hub.carbonmarket.relayer", "--config",
                           str(config), "--once"], env=env, capture_output=True, text=True,
                          timeout=60, cwd=ROOT)
    assert proc.returncode in (0, -signal.SIGKILL), proc.stderr[-2000:]
    return proc.returncode


def books_hold(peg) -> None:
    b = balance(peg.c, peg.e)
    assert b.ok, b.problems


#: Three steps run in the quick suite; the others are marked slow (about 5 s each).
QUICK = {"mint_submitted", "unlock_submitted", "finished"}


@pytest.mark.parametrize("step", [s if s in QUICK else pytest.param(s, marks=pytest.mark.slow)
                                  for s in STEPS])
def test_relayer_killed_at_each_step_resumes_to_done_or_returned(tmp_path, step):
    peg = make_peg(tmp_path)
    config = peg.relayer_config()
    killed = 0
    try:
        peg.c.lock("t1", "cec-5", "pvp-6", 9_000, now_ms=1)
        peg.c.lock("t2", "cec-11", "pvp-14", 4_000, now_ms=1)

        def round_trip() -> None:
            nonlocal killed
            for _ in range(2):  # a step may only be reached once the sides have acted
                killed += relay(config, step) == -signal.SIGKILL
                books_hold(peg)
                peg.process()  # the sides take what reached their boxes before the kill
                books_hold(peg)
            relay(config)  # resumed
            peg.process()
            books_hold(peg)

        round_trip()
        assert set(peg.e.minted) == {"t1", "t2"}
        peg.spend("t1", 2_500, "bill-2026-11", now_ms=3, gw="pvp-6")
        peg.burn("t1", 6_500, now_ms=4, gw="pvp-6")
        peg.burn("t2", 4_000, now_ms=4, gw="pvp-14")
        round_trip()
        relay(config)  # the pass after the last release records the end
        b = balance(peg.c, peg.e)
        assert b.ok and b.to_mint == 0 and b.to_release == 0
        assert (b.locked_c, b.released_c, b.outstanding_e, b.spent_e) == \
            (13_000, 10_500, 0, 2_500)
        assert peg.c.released == {"t1": 6_500, "t2": 4_000}
        state = RelayerState(str(tmp_path / "relayer.db"))
        assert state.stages() == {"t1": "done", "t2": "returned"}
        state.close()
        assert killed >= 1, f"the relayer never reached step {step!r}"
        assert peg.c.chain.verify().ok and peg.e.chain.verify().ok
    finally:
        peg.c.close()
        peg.e.close()

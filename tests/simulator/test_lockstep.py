"""Lock step: two runs of a day with the same seed clear the same; another seed does not.

Three shortened days of the default scenario (two substations, ten firmware
gateways on the MicroPython unix port, their brokers, devices, edges and the
hub, every part real) with `[day] lockstep = true`: two with seed 7, one
with seed 8. `sim compare` must find no difference between the first two
(exit 0, every row compared) and some between seed 7 and seed 8 (the
devices' random draws move the metered energy and so the quantities bid).
About two to three minutes per day on two cores, hence slow.
"""

from __future__ import annotations

import shutil

import pytest

from edge.cli import main
from simulator.day import SimError, run_scenario
from simulator.scenario import load_scenario, parse_scenario

pytestmark = [
    pytest.mark.skipif(shutil.which("mosquitto") is None and
                       not shutil.os.path.exists("/usr/sbin/mosquitto"),
                       reason="mosquitto is not installed (apt-get install mosquitto)"),
]

INTERVALS = 2


def lockstep_day(seed: int):
    sc = load_scenario("ieee33-pv").shortened(intervals=INTERVALS, start="11:00")
    return sc.model_copy(update={"seed": seed,
                                 "day": sc.day.model_copy(update={"lockstep": True})})


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    out = {}
    for name, seed in (("a", 7), ("b", 7), ("other", 8)):
        d = tmp_path_factory.mktemp(f"lockstep-{name}")
        out[name] = (run_scenario(lockstep_day(seed), d), d)
    return out


@pytest.mark.slow
def test_the_same_seed_gives_the_same_clearing(runs, capsys):
    (rec, a), (_, b) = runs["a"], runs["b"]
    broken = [i for i in rec.invariants if not i.ok]
    assert not broken, broken
    assert main(["sim", "compare", str(a), str(b)]) == 0
    # every interval of both substations and every gateway-interval was compared
    gateways = len(lockstep_day(7).gateways)
    assert capsys.readouterr().out.strip() == (
        f"same clearing: {2 * INTERVALS} substation-intervals, "
        f"{gateways * INTERVALS} gateway-intervals")
    assert sum(r.volume_wh for r in rec.interval_rows) > 0, "nothing traded: nothing compared"


@pytest.mark.slow
def test_another_seed_clears_differently(runs, capsys):
    (_, a), (_, other) = runs["a"], runs["other"]
    assert main(["sim", "compare", str(a), str(other)]) == 1
    assert capsys.readouterr().out.strip()


def test_step_must_divide_the_interval():
    data = {"name": "x", "day": {"lockstep": True, "interval_s": 900, "step_s": 7},
            "substations": [{"id": "s"}],
            "gateways": [{"id": "g", "substation": "s", "bus": 1, "role": "cec",
                          "meter": {"load": "household", "load_peak_w": 1000}}]}
    with pytest.raises(Exception, match="step_s 7 must divide interval_s 900"):
        parse_scenario(data)


def test_faults_are_refused_in_lock_step(tmp_path):
    sc = load_scenario("faults")
    sc = sc.model_copy(update={"day": sc.day.model_copy(update={"lockstep": True})})
    with pytest.raises(SimError, match="faults are not injected in lock step"):
        run_scenario(sc, tmp_path / "run")

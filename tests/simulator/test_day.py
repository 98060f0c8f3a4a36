"""The whole system's day, shortened: every part real, the invariants hold, the report draws.

Runs the default scenario over a few trading intervals at midday (PV is up, so
prosumers sell and consumers buy) on loopback: the hub, two substations each
with its broker, devices, firmware gateways on the MicroPython unix port and
an edge. About two minutes on two cores: CI runs it, as the main job deserves.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys

import pytest

from simulator.books import read_chain
from simulator.day import ROOT, run_scenario
from simulator.scenario import load_scenario

pytestmark = [
    pytest.mark.skipif(shutil.which("mosquitto") is None and
                       not shutil.os.path.exists("/usr/sbin/mosquitto"),
                       reason="mosquitto is not installed (apt-get install mosquitto)"),
]


@pytest.fixture(scope="module")
def day(tmp_path_factory):
    out = tmp_path_factory.mktemp("day")
    sc = load_scenario("ieee33-pv").shortened(intervals=4, start="11:00")
    rec = run_scenario(sc, out)
    return rec, out


def test_every_invariant_holds(day):
    rec, _ = day
    broken = [i for i in rec.invariants if not i.ok]
    assert not broken, broken
    names = {i.name for i in rec.invariants}
    assert any("anchored" in n for n in names) and any("carbon" in n for n in names)
    assert any("fixed point" in n for n in names) and any("sealed" in n for n in names)


def test_the_default_day_bids_sealed(day):
    """Every bid on the edges' chains is a commitment; each round's opening comes after."""
    _, out = day
    for s in ("north", "south"):
        kinds = [t.tx.get("type") for t in read_chain(out / s / "edge" / "chain.db")]
        assert kinds.count("sealed_bid") > 0 and kinds.count("bid") == 0, s


def test_both_substations_cleared_every_interval_and_traded(day):
    rec, _ = day
    for s in ("north", "south"):
        rows = [r for r in rec.interval_rows if r.substation == s]
        assert len(rows) == 4, (s, rows)
    assert sum(r.volume_wh for r in rec.interval_rows) > 0
    assert rec.carbon_rows, "the feeder was never traced"


def test_report_folder_and_chromium(day, browser):
    rec, out = day
    data = json.loads((out / "report.json").read_text())
    assert data["ok"] is True and data["scenario"] == "ieee33-pv"
    for f in ("intervals.csv", "gateways.csv", "carbon.csv", "emissions.csv", "report.html"):
        assert (out / f).stat().st_size > 0, f
    assert (out / "north" / "edge" / "chain.db").exists()
    shot = browser.render((out / "report.html").as_uri(), width=1300, height=2600)
    for key in ("price", "volume", "intensity", "emissions", "heights"):
        assert f'id="chart-{key}"' in shot.dom
    assert shot.distinct_colours() > 50


@pytest.mark.slow
def test_faults_scenario_keeps_every_invariant(tmp_path):
    """Broker killed, hub down an hour, a gateway rebooted, a garbage meter, a skewed clock
    and a poison message, all in one shortened day: nothing breaks, each fault is reported."""
    rec = run_scenario(load_scenario("faults"), tmp_path / "faults")
    broken = [i for i in rec.invariants if not i.ok]
    assert not broken, broken
    assert sorted(f.kind for f in rec.faults) == sorted(
        ["broker-restart", "hub-down", "gateway-reboot", "meter-garbage", "clock-skew",
         "poison"])
    assert all(f.effect for f in rec.faults)
    assert sum(r.volume_wh for r in rec.interval_rows) > 0


def test_the_carbon_market_ran_over_the_day(day):
    """PVPs earned quota from proven generation, CECs bought it, every payment was minted."""
    rec, _ = day
    assert any(a.role == "pvp" and a.basis_wh > 0 and a.verified_g > 0
               for a in rec.carbon_accounts)
    assert rec.carbon_trades and all(t.minted for t in rec.carbon_trades if t.turnover_micro)
    assert any(i.name.startswith("peg books balance") and i.ok for i in rec.invariants)


def test_replay_rebuilds_every_edge_chain_byte_for_byte(day, capsys):
    """`sim replay`: each edge's chain rebuilt from its journal has the recorded block hashes."""
    from simulator import cli

    rec, out = day
    [own] = [i for i in rec.invariants if i.name.startswith("every edge chain replays")]
    assert own.ok, own  # the run checked it itself, and so does the command
    code = cli.cmd_replay(argparse.Namespace(run_dir=out))
    lines = capsys.readouterr().out.splitlines()
    assert code == 0, lines
    for s in ("north", "south"):
        [line] = [x for x in lines if x.startswith(f"{s}:")]
        blocks = int(line.split()[1])
        height = max(h.height for h in rec.heights if h.substation == s)
        assert blocks == height + 1 and "identical" in line, (line, height)


def test_replay_of_a_tampered_journal_says_where_it_diverged(day, tmp_path):
    """One telemetry payload changed in north's journal: the replay refuses it (its tag no
    longer checks), exits 1 and names the height where the chains part, in one line."""
    _, out = day
    copy = tmp_path / "run"
    shutil.copytree(out / "north" / "edge", copy / "north" / "edge",
                    ignore=shutil.ignore_patterns("inbox.db*"))
    shutil.copy(out / "north" / "edge.pem", copy / "north" / "edge.pem")
    journal = copy / "north" / "edge" / "journal.jsonl"
    lines = journal.read_text().splitlines()
    n = next(i for i, x in enumerate(lines) if '"k":"batch"' in x and '"type":"telemetry"' in x)
    entry = json.loads(lines[n])
    m = next(m for m in entry["msgs"] if m["type"] == "telemetry")
    body = json.loads(m["p"])
    body["ts"] += 1
    m["p"] = json.dumps(body)
    lines[n] = json.dumps(entry)
    journal.write_text("\n".join(lines) + "\n")
    r = subprocess.run([sys.executable, "-m", "simulator", "replay", str(copy)],
                       capture_output=True, text=True, timeout=120,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert r.returncode == 1, r
    [err] = [x for x in r.stderr.splitlines() if x.startswith("north:")]
    assert "diverged at height" in err and "(admission)" in err and f"line {n + 1}" in err


def test_replay_of_a_folder_without_journals_is_a_usage_error(tmp_path):
    r = subprocess.run([sys.executable, "-m", "simulator", "replay", str(tmp_path)],
                       capture_output=True, text=True, timeout=60,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert r.returncode == 2 and "no edge journal" in r.stderr
    assert len([x for x in r.stderr.splitlines() if x.strip()]) == 1, r.stderr


def test_the_carbon_book_came_from_the_gateways_carbon_bids(day):
    """gateway_policy "limit": every PVP and CEC gateway sent its carbon bid over the wire, its
    edge chained it as received, and the book's prices are those bids (the scenario's limits:
    a PVP sells at pvp_ask, cec-12 at cec_ask, the other CECs buy at cec_bid)."""
    rec, out = day
    sc = load_scenario("ieee33-pv")
    cm = sc.carbon_market
    assert cm.gateway_policy == "limit"
    want = {g.id: ("sell", cm.pvp_ask) if g.role == "pvp" else
            ("sell", cm.cec_ask) if g.id in cm.cec_sells else ("buy", cm.cec_bid)
            for g in sc.gateways if g.role in ("pvp", "cec")}
    seen: dict[str, tuple[str, int]] = {}
    for s in ("north", "south"):
        for t in read_chain(out / s / "edge" / "chain.db"):
            if t.tx.get("type") == "carbon_bid":
                seen[t.tx["gw"]] = (t.tx["side"], t.tx["price"])
    assert seen == want
    refused = rec.carbon_evidence_refused
    assert "book_hub_not_read" not in refused and "book_malformed" not in refused
    for a in rec.carbon_accounts:
        side = "sell" if a.role == "pvp" or a.verified_g > 0 else "buy"
        assert a.price == (want[a.participant][1] if want[a.participant][0] == side else 0), a

"""Scenario files: every shipped one loads, and every mistake names the key and the fix."""

import pytest

from simulator.scenario import (
    ScenarioError,
    load_scenario,
    parse_scenario,
    resolve,
    shipped,
)

MINIMAL = {
    "name": "t",
    "substations": [{"id": "s1"}],
    "gateways": [{"id": "g1", "substation": "s1", "bus": 3}],
}


def test_the_four_scenarios_ship_and_load():
    assert set(shipped()) >= {"ieee33-pv", "pjm5-carbon", "green-p2p", "faults"}
    for name in shipped():
        s = load_scenario(name)
        assert s.name == name
        assert s.gateways and s.substations


def test_default_is_the_ieee33_feeder_of_the_carbon_market_case():
    s = load_scenario()
    assert s.grid.case == "case33bw" and s.day.intervals == 96
    assert [sub.id for sub in s.substations] == ["north", "south"]
    # nodes 6, 14, 18, 20, 24, 32 (PVP) and 5, 11, 12, 22 (CEC); pandapower bus = node - 1
    assert sorted(g.bus + 1 for g in s.gateways if g.role == "pvp") == [6, 14, 18, 20, 24, 32]
    assert sorted(g.bus + 1 for g in s.gateways if g.role == "cec") == [5, 11, 12, 22]


def test_start_and_intervals_shorten_the_day():
    s = load_scenario().shortened(intervals=4, start="11:00")
    assert s.day.intervals == 4
    # 2024-06-21T11:00Z
    assert s.day.start_ms == 1718928000000 + 11 * 3_600_000
    with pytest.raises(ValueError):
        load_scenario().shortened(start="25:00")


@pytest.mark.parametrize("mutate, words", [
    (lambda d: d.update(colour="red"), ["colour", "unknown key"]),
    (lambda d: d["gateways"][0].update(substation="nowhere"), ["nowhere", "[[substations]]"]),
    (lambda d: d["gateways"][0].update(bus=-1), ["gateways.0.bus"]),
    (lambda d: d.update(day={"start": "9:5"}), ["day", "HH:MM"]),
    (lambda d: d.pop("gateways"), ["gateways", "required"]),
    (lambda d: d.update(faults=[{"at": "10:00", "kind": "poison"}]), ["poison", "target"]),
    (lambda d: d.update(faults=[{"at": "10:00", "kind": "earthquake"}]), ["faults.0.kind"]),
    (lambda d: d["gateways"].append(dict(d["gateways"][0])), ["unique"]),
])
def test_mistakes_name_the_key(mutate, words):
    data = {k: (list(v) if isinstance(v, list) else v) for k, v in MINIMAL.items()}
    data["gateways"] = [dict(g) for g in MINIMAL["gateways"]]
    mutate(data)
    with pytest.raises(ScenarioError) as exc:
        parse_scenario(data, "x.toml")
    msg = str(exc.value)
    assert msg.startswith("x.toml: ")
    for w in words:
        assert w in msg, msg


def test_unknown_names_and_bad_files(tmp_path):
    with pytest.raises(ScenarioError, match="choose one of"):
        resolve("no-such-scenario")
    bad = tmp_path / "bad.toml"
    bad.write_text("name = [unclosed")
    with pytest.raises(ScenarioError, match="not valid TOML"):
        load_scenario(str(bad))
    with pytest.raises(ScenarioError, match="no scenario file"):
        load_scenario(str(tmp_path / "missing.toml"))

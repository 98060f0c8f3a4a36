"""The simulator pointed at a real edge by `[[substations]] edge_url`: it starts no edge or
broker for that substation, only its devices and firmware gateways.

The "real" installation is started by the test kit outside the simulator: a
hub over HTTPS, a Mosquitto with TLS and the shipped ACL, and `carbon-edge
edge run` for substation north, registered at the hub by its operator and
syncing there (trusting the hub's CA with `[sync] ca`). Its market clock is
set to the scenario's speed, some intervals before the day. The credentials
folder is what that edge's operator hands out. A shortened day with north
targeting the edge: north's gateways trade through it, and the invariants the
simulator can check from outside hold (its chain as the hub holds it
verifies, its head is anchored, money and energy balance, limits hold).
"""

from __future__ import annotations

import math
import re
import ssl
import time

import pytest

from edge.chain.keys import load_private_key
from simulator.broker import make_certs
from simulator.day import LEAD_IN_INTERVALS, LEAD_IN_WALL_S, SimError, gw_key, run_scenario
from simulator.edgeremote import RemoteEdge, RemoteEdgeError
from simulator.hubproc import HubProcess
from simulator.procs import free_port
from simulator.scenario import ScenarioError, Substation, load_scenario, parse_scenario


@pytest.fixture
def installation(tmp_path, broker_factory, edge_factory):
    """A real hub, and north's real broker and edge on the scenario's clock."""
    sc = load_scenario("ieee33-pv").shortened(intervals=2, start="11:00")
    north = [g.id for g in sc.gateways_of("north")]
    certs = make_certs(tmp_path / "hub-tls", [])
    hub = HubProcess(f"sqlite:///{tmp_path / 'hub.db'}", tmp_path / "hub", main_interval_s=2,
                     extra_args=["--ssl-certfile", str(certs.server_cert),
                                 "--ssl-keyfile", str(certs.server_key)],
                     scheme="https",
                     verify=ssl.create_default_context(cafile=str(certs.ca))).start()
    broker = broker_factory(tls=True, acl=True, gateways=north)
    lead = max(LEAD_IN_INTERVALS, math.ceil(LEAD_IN_WALL_S / sc.day.wall_s_per_interval)) + 8
    m = sc.market
    edge = edge_factory(
        broker, {g: gw_key(g).hex() for g in north}, site="north", start=False,
        market={"interval_s": sc.day.interval_s, "gate_s": m.gate_s, "round_s": m.round_s,
                "max_rounds": m.max_rounds, "default_intensity_g_kwh": m.default_intensity_g_kwh,
                "sealed": m.sealed},
        clock={"accel": float(sc.day.accel), "origin_wall_ms": int(time.time() * 1000),
               "origin_sim_ms": sc.day.start_ms - lead * sc.day.interval_s * 1000},
        admission={"past_s": 4 * 3600, "future_s": 3600},
        pl={"backend": "sim"}, log={"json": True, "level": "warning"},
        sync={"url": hub.url, "hub_id": hub.hub_id, "ca": str(certs.ca), "interval_s": 1.0})
    hub.register(load_private_key(edge.key_path), site="north")
    edge.start()
    creds = broker.certs.ca.parent      # ca.pem, GW.pem, GW.key: what the operator hands out
    for g in north:
        (creds / f"{g}.hmac").write_text(gw_key(g).hex() + "\n")
    data = sc.model_dump(mode="json")
    data["hub"] = {**data["hub"], "url": hub.url, "ca": str(certs.ca),
                   "operator_token_file": str(tmp_path / "hub" / "operator-token")}
    data["substations"] = [
        {**s, "edge_url": edge.url, "broker_port": broker.port, "credentials": str(creds)}
        if s["id"] == "north" else s for s in data["substations"]]
    yield parse_scenario(data), hub, edge
    edge.stop()
    hub.stop()


@pytest.mark.slow
def test_a_day_with_a_real_edge_keeps_the_invariants_checkable_from_outside(
        installation, tmp_path):
    sc, hub, edge = installation
    out = tmp_path / "day"
    rec = run_scenario(sc, out)
    broken = [i for i in rec.invariants if not i.ok]
    assert not broken, broken
    assert not (out / "north" / "mosquitto.conf").exists(), "the simulator started a broker"
    north = [r for r in rec.interval_rows if r.substation == "north"]
    assert len(north) == 2 and sum(r.volume_wh for r in north) > 0, north
    final = [h for h in rec.heights if h.substation == "north"][-1]
    assert final.height >= 1 and final.anchored >= final.height
    # the chain the day was checked on is the real edge's, as the hub holds it
    st = edge.status()
    assert st["chain"]["height"] >= final.height
    assert (out / "north" / "edge" / "chain.db").exists()
    assert rec.accepted["north"].get("telemetry", 0) > 0


@pytest.mark.slow
def test_the_real_edge_is_checked_before_the_day_starts(installation, tmp_path):
    sc, hub, edge = installation
    data = sc.model_dump(mode="json")
    north = data["substations"][0]
    assert north["id"] == "north"
    bad = {**north, "edge_url": f"http://127.0.0.1:{free_port()}"}
    with pytest.raises(SimError, match=r"^substations\[0\]\.edge_url: cannot read"):
        run_scenario(parse_scenario({**data, "substations": [bad, *data["substations"][1:]]}),
                     tmp_path / "a")
    wrong = Substation(**{**north, "id": "south"})
    gws = sc.gateways_of("north")
    with pytest.raises(RemoteEdgeError, match=r"\.id: the edge at .* is site 'north'"):
        RemoteEdge(wrong, "substations[1]", gws).connect()
    fast = {**data, "day": {**data["day"], "wall_s_per_interval": 0.9}}
    want = re.escape(f"{sc.day.wall_s_per_interval:g}")   # what the real edge runs at
    with pytest.raises(SimError, match=r"^day\.wall_s_per_interval: .*fix: set "
                                       rf"wall_s_per_interval = {want}$"):
        run_scenario(parse_scenario(fast), tmp_path / "b")
    late = {**data, "day": {**data["day"], "start": "06:00"}}
    with pytest.raises(SimError, match=r"^day\.start: the real edge's market time is already"):
        run_scenario(parse_scenario(late), tmp_path / "c")


def test_missing_credentials_name_the_file_and_the_layout(tmp_path):
    sc = load_scenario("ieee33-pv")
    sub = Substation(id="north", edge_url="http://127.0.0.1:1", broker_port=8883,
                     credentials="x")
    gws = sc.gateways_of("north")
    (tmp_path / "creds").mkdir()
    with pytest.raises(RemoteEdgeError, match=r"credentials: no broker CA .*ca\.pem"):
        RemoteEdge(sub.model_copy(update={"credentials": str(tmp_path / "creds")}),
                   "substations[0]", gws)
    (tmp_path / "creds" / "ca.pem").write_text("x")
    with pytest.raises(RemoteEdgeError, match=rf"no {gws[0].id}\.pem for gateway"):
        RemoteEdge(sub.model_copy(update={"credentials": str(tmp_path / "creds")}),
                   "substations[0]", gws)
    for g in gws:
        for ext in ("pem", "key"):
            (tmp_path / "creds" / f"{g.id}.{ext}").write_text("x")
        (tmp_path / "creds" / f"{g.id}.hmac").write_text("nothex")
    with pytest.raises(RemoteEdgeError, match=r"\.hmac is not 64 hex digits"):
        RemoteEdge(sub.model_copy(update={"credentials": str(tmp_path / "creds")}),
                   "substations[0]", gws)


@pytest.mark.parametrize("edit, words", [
    ({"edge_url": "http://e:8080"}, "needs broker_port"),
    ({"edge_url": "http://e:8080", "broker_port": 8883}, "needs credentials"),
    ({"edge_url": "e:8080", "broker_port": 8883, "credentials": "c"}, "status page"),
    ({"broker_port": 8883}, "for a real edge"),
])
def test_incomplete_real_edge_settings_name_the_key(edit, words):
    data = load_scenario("ieee33-pv").model_dump(mode="json")
    data["hub"] = {**data["hub"], "url": "https://h:1", "operator_token_file": "t"}
    data["substations"][0] = {**data["substations"][0], **edit}
    with pytest.raises(ScenarioError, match=r"substations\.0") as err:
        parse_scenario(data)
    assert words in str(err.value)


def test_a_real_edge_needs_a_real_hub_and_keeps_its_broker():
    data = load_scenario("ieee33-pv").model_dump(mode="json")
    data["substations"][0] = {**data["substations"][0], "edge_url": "http://e:8080",
                              "broker_port": 8883, "credentials": "c"}
    with pytest.raises(ScenarioError, match=r"set \[hub\] url"):
        parse_scenario(data)
    data["hub"] = {**data["hub"], "url": "https://h:1", "operator_token_file": "t"}
    data["faults"] = [{"at": "11:00", "kind": "broker-restart"}]
    with pytest.raises(ScenarioError, match="not the simulator's to kill"):
        parse_scenario(data)


def test_an_edge_that_syncs_to_no_hub_is_refused(broker_factory, edge_factory):
    sc = load_scenario("ieee33-pv")
    north = sc.gateways_of("north")
    broker = broker_factory(tls=True, acl=True, gateways=[g.id for g in north])
    edge = edge_factory(broker, {g.id: gw_key(g.id).hex() for g in north}, site="north")
    creds = broker.certs.ca.parent
    for g in north:
        (creds / f"{g.id}.hmac").write_text(gw_key(g.id).hex())
    sub = Substation(id="north", edge_url=edge.url, broker_port=broker.port,
                     credentials=str(creds))
    with pytest.raises(RemoteEdgeError, match=r"^substations\[0\]\.edge_url: .* syncs to no "
                                              r"hub.*fix: give it a \[sync\]"):
        RemoteEdge(sub, "substations[0]", north).connect()

"""The simulator pointed at a real hub by `[hub] url`: it starts no hub of its own.

The "real" hub is `carbon-edge hub serve` over HTTPS with a throw-away CA,
started by the test kit outside the simulator and making no main blocks on
its own (a real hub's schedule is its operator's). A shortened day targets it
by URL, CA and operator token file: the edges register and sync there, the
day's invariants hold against it, and it holds every edge's chain. The
refusals (unreachable URL, missing or wrong CA, wrong pinned id, wrong token,
incomplete settings) each name the key and the fix.
"""

from __future__ import annotations

import shutil
import ssl
from pathlib import Path

import pytest

from edge.chain.keys import load_private_key, public_id
from simulator.broker import make_certs
from simulator.day import SimError, run_scenario
from simulator.hubproc import HubProcess
from simulator.hubremote import RemoteHub, RemoteHubError
from simulator.procs import free_port
from simulator.scenario import Hub, ScenarioError, load_scenario, parse_scenario

needs_mosquitto = pytest.mark.skipif(
    shutil.which("mosquitto") is None and not Path("/usr/sbin/mosquitto").exists(),
    reason="mosquitto is not installed (apt-get install mosquitto)")


@pytest.fixture(scope="module")
def real_hub(tmp_path_factory):
    work = tmp_path_factory.mktemp("real-hub")
    certs = make_certs(work / "tls", [])
    trust = ssl.create_default_context(cafile=str(certs.ca))
    hub = HubProcess(f"sqlite:///{work / 'hub.db'}", work, main_interval_s=0,
                     extra_args=["--ssl-certfile", str(certs.server_cert),
                                 "--ssl-keyfile", str(certs.server_key)],
                     scheme="https", verify=trust).start()
    yield hub, certs.ca, work / "operator-token"
    hub.stop()


def targeting(real_hub, **hub: object):
    """The default scenario, two intervals at midday, its [hub] pointed at `real_hub`."""
    proc, ca, token = real_hub
    sc = load_scenario("ieee33-pv").shortened(intervals=2, start="11:00")
    data = sc.model_dump(mode="json")
    data["hub"] = {**data["hub"], "url": proc.url, "ca": str(ca),
                   "operator_token_file": str(token), "hub_id": proc.hub_id, **hub}
    return parse_scenario(data)


@pytest.mark.slow
@needs_mosquitto
def test_a_day_against_a_real_hub_anchors_every_edge_there(real_hub, tmp_path):
    proc = real_hub[0]
    out = tmp_path / "day"
    rec = run_scenario(targeting(real_hub), out)
    broken = [i for i in rec.invariants if not i.ok]
    assert not broken, broken
    assert any("anchored" in i.name for i in rec.invariants)
    assert not (out / "hub").exists() or not list((out / "hub").glob("*.db")), \
        "the simulator started a hub of its own"
    from hub.service.ingest import head_of

    db = proc.database()
    try:
        for s in ("north", "south"):
            edge_id = public_id(load_private_key(out / s / "edge.pem").public_key())
            final = [h for h in rec.heights if h.substation == s][-1]
            assert final.height >= 1 and final.anchored == final.height, final
            assert head_of(db, edge_id).height == final.height, s   # the real hub holds it
    finally:
        db.close()
    assert any(a.role == "pvp" and a.verified_g > 0 for a in rec.carbon_accounts), \
        "no PV reading was proven through the real hub's API"


def test_an_unreachable_url_names_hub_url(real_hub):
    cfg = Hub(url=f"https://127.0.0.1:{free_port()}", ca=str(real_hub[1]),
              operator_token_file=str(real_hub[2]))
    with pytest.raises(RemoteHubError, match=r"^hub\.url: cannot reach .*fix: start the hub"):
        RemoteHub(cfg).connect()


def test_a_missing_or_wrong_ca_names_hub_ca(real_hub, tmp_path):
    proc, _, token = real_hub
    cfg = Hub(url=proc.url, ca=str(tmp_path / "nope.pem"), operator_token_file=str(token))
    with pytest.raises(RemoteHubError, match=r"^hub\.ca: no file at .*fix: give the PEM"):
        RemoteHub(cfg)
    other = make_certs(tmp_path / "other", []).ca   # a CA that did not sign the hub's cert
    cfg = Hub(url=proc.url, ca=str(other), operator_token_file=str(token))
    with pytest.raises(RemoteHubError, match=r"^hub\.ca: the certificate .* not trusted"):
        RemoteHub(cfg).connect()


def test_a_wrong_pin_or_token_names_its_key(real_hub, tmp_path):
    proc, ca, token = real_hub
    cfg = Hub(url=proc.url, ca=str(ca), operator_token_file=str(token), hub_id="ab" * 32)
    with pytest.raises(RemoteHubError, match=r"^hub\.hub_id: the hub at .* is [0-9a-f]{64}"):
        RemoteHub(cfg).connect()
    bad = tmp_path / "token"
    bad.write_text("x" * 32 + "\n")
    hub = RemoteHub(Hub(url=proc.url, ca=str(ca), operator_token_file=str(bad))).connect()
    assert hub.hub_id == proc.hub_id   # learnt from /v1/hub when not pinned
    from edge.chain.keys import generate_key

    with pytest.raises(RemoteHubError, match=r"^hub\.operator_token_file: the hub refused"):
        hub.register(generate_key(), site="north")
    bad.write_text("short\n")
    with pytest.raises(RemoteHubError, match=r"^hub\.operator_token_file: .* no operator token"):
        RemoteHub(Hub(url=proc.url, ca=str(ca), operator_token_file=str(bad)))


def test_the_day_refuses_an_unreachable_hub_before_starting_anything(tmp_path, real_hub):
    sc = targeting(real_hub, url=f"https://127.0.0.1:{free_port()}", hub_id="")
    with pytest.raises(SimError, match=r"^hub\.url: cannot reach"):
        run_scenario(sc, tmp_path / "day")
    assert not (tmp_path / "day" / "north" / "edge").exists()


@pytest.mark.parametrize("hub, words", [
    ({"url": "https://h:1"}, "needs operator_token_file"),
    ({"url": "http://h:1", "operator_token_file": "t"}, "allow_insecure_http"),
    ({"url": "h:1", "operator_token_file": "t"}, "base URL"),
    ({"url": "https://h:1/v1", "operator_token_file": "t"}, "base URL"),
    ({"url": "https://h:1", "operator_token_file": "t", "hub_id": "xyz"}, "64 lowercase hex"),
    ({"ca": "ca.pem"}, "ca is for a real hub"),
    ({"operator_token_file": "t"}, "operator_token_file is for a real hub"),
])
def test_incomplete_real_hub_settings_name_the_key_and_the_fix(hub, words):
    data = load_scenario("ieee33-pv").model_dump(mode="json")
    data["hub"] = {**data["hub"], **hub}
    data["faults"] = []
    with pytest.raises(ScenarioError, match=r": hub: ") as err:
        parse_scenario(data)
    assert words in str(err.value)


def test_a_hub_down_fault_is_refused_for_a_real_hub():
    data = load_scenario("faults").model_dump(mode="json")
    data["hub"] = {**data["hub"], "url": "https://h:1", "operator_token_file": "t"}
    with pytest.raises(ScenarioError, match="does not stop a real hub"):
        parse_scenario(data)


def test_file_settings_are_relative_to_the_scenario(tmp_path):
    text = (Path(__file__).resolve().parents[2] / "simulator/scenarios/ieee33-pv.toml"
            ).read_text()
    assert "[hub]" in text
    token = tmp_path / "elsewhere" / "token"  # absolute: kept as it is
    text = text.replace("[hub]", '[hub]\nurl = "https://hub.example.org"\nca = "ca.pem"\n'
                                 f'operator_token_file = "{token}"', 1)
    p = tmp_path / "scenario" / "s.toml"
    p.parent.mkdir()
    p.write_text(text)
    sc = load_scenario(str(p))
    assert (sc.hub.ca, sc.hub.operator_token_file) == (str(p.parent / "ca.pem"), str(token))


def test_a_simulated_hub_database_with_a_real_hub_is_refused(tmp_path, real_hub):
    with pytest.raises(SimError, match=r"^--hub-db .*fix: drop --hub-db"):
        run_scenario(targeting(real_hub), tmp_path / "day", hub_db="sqlite:///x.db")


@needs_mosquitto
def test_the_cli_says_an_unreachable_hub_in_one_line_and_exits_2(tmp_path):
    import subprocess
    import sys

    text = (Path(__file__).resolve().parents[2] / "simulator/scenarios/ieee33-pv.toml"
            ).read_text()
    (tmp_path / "token").write_text("t" * 32 + "\n")
    text = text.replace("[hub]", f'[hub]\nurl = "https://127.0.0.1:{free_port()}"\n'
                                 'operator_token_file = "token"', 1)
    (tmp_path / "s.toml").write_text(text)
    out = subprocess.run([sys.executable, "-m", "simulator", "run", "--scenario",
                          str(tmp_path / "s.toml"), "--out", str(tmp_path / "day"), "--quiet"],
                         capture_output=True, text=True, timeout=120,
                         cwd=Path(__file__).resolve().parents[2])
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "hub.url: cannot reach" in lines[0] and "fix:" in lines[0], lines

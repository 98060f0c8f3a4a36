"""``carbon-edge devices``: config errors, map, day, and a served fleet driven by the CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from edge.cli import main
from simulator.devices import control
from simulator.devices.config import ConfigError, config_from_flags, parse_config
from simulator.devices.fleet import Fleet

ROOT = Path(__file__).resolve().parents[2]


def run_cli(*args: str, capsys) -> tuple[int, str, str]:
    code = main(["devices", *args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    "data,field",
    [
        ({"servers": []}, "servers"),
        ({"servers": [{"name": "a", "devices": [{"kind": "meter", "unit": 0}]}]},
         "servers.0.devices.0.meter.unit"),
        ({"servers": [{"name": "a", "devices": [{"kind": "meter", "unit": 1},
                                                {"kind": "battery", "unit": 1}]}]},
         "unit id 1 is used twice"),
        ({"servers": [{"name": "a", "devices": [{"kind": "battery", "unit": 2,
                                                 "soc_min_pct": 50, "soc_max_pct": 40}]}]},
         "soc_min_pct"),
        ({"servers": [{"name": "a", "devices": [{"kind": "meter", "unit": 1, "pv_kw": 5}]}]},
         "pv_kw"),
        ({"start": "someday",
          "servers": [{"name": "a", "devices": [{"kind": "meter", "unit": 1}]}]}, "ISO 8601"),
        ({"servers": [{"name": "a", "devices": [{"unit": 1}]}]}, "'kind' is required"),
        ({"servers": [{"name": "a", "devices": [{"kind": "pump", "unit": 1}]}]}, "not 'pump'"),
        ({"servers": [{"name": "a", "devices": [{"kind": "meter", "unit": 1}]},
                      {"name": "a", "devices": [{"kind": "meter", "unit": 2}]}]}, "used twice"),
    ],
)  # fmt: skip
def test_bad_configs_name_the_field(data, field):
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        parse_config(data)


def test_flags_build_a_fleet():
    cfg = config_from_flags(5, 2, per_device=True, port=15020)
    assert [s.port for s in cfg.servers] == list(range(15020, 15027))
    units = [d.unit for s in cfg.servers for d in s.devices]
    assert units == list(range(1, 8))
    assert cfg.servers[4].devices[0].load == "commercial"
    with pytest.raises(ConfigError, match="at least one"):
        config_from_flags(0, 0)
    with pytest.raises(ConfigError, match="247"):
        config_from_flags(300, 0)


def test_map_lists_the_documented_addresses(capsys):
    code, out, _ = run_cli("map", "--kind", "battery", "--json", capsys=capsys)
    assert code == 0
    rows = json.loads(out)
    by = {(r["model"], r["point"]): r for r in rows}
    assert by[(None, "SunS")]["address"] == 40000 and by[(None, "SunS")]["mbpoll"] == 40001
    assert by[(124, "InWRte")]["address"] == 40083 and by[(124, "InWRte")]["access"] == "RW"
    assert by[(124, "ChaState")]["access"] == "R"
    assert by[(203, "W")]["address"] == 40114 and by[(203, "W")]["sf"] == "W_SF"
    assert by[(0xFFFF, "ID")]["address"] == 40203


def test_day_is_seeded(tmp_path, capsys):
    cfg = tmp_path / "devices.json"
    devices = [{"kind": "meter", "unit": 1, "pv_kwp": 6.0}, {"kind": "battery", "unit": 2}]
    cfg.write_text(json.dumps({"seed": 4, "servers": [{"name": "s", "devices": devices}]}))
    code, out1, _ = run_cli("day", "--config", str(cfg), "--json", capsys=capsys)
    assert code == 0
    _, out2, _ = run_cli("day", "--config", str(cfg), "--json", capsys=capsys)
    _, out3, _ = run_cli("day", "--config", str(cfg), "--seed", "5", "--json", capsys=capsys)
    assert out1 == out2 and out1 != out3
    rows = json.loads(out1)["devices"]
    assert rows[0]["export_wh"] > 10_000 and rows[0]["import_wh"] > 1_000
    assert rows[1]["soc_pct"] == 50.0  # an uncommanded battery idles


def test_usage_errors_exit_2(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    code, _, err = run_cli("day", "--config", str(bad), capsys=capsys)
    assert code == 2 and "not JSON" in err
    bad.write_text(json.dumps({"servers": [{"name": "x", "devices": [
        {"kind": "meter", "unit": 999}]}]}))  # fmt: skip
    code, _, err = run_cli("serve", "--config", str(bad), capsys=capsys)
    assert code == 2 and "servers.0.devices.0.meter.unit" in err
    code, _, err = run_cli("status", "--control", "nonsense", capsys=capsys)
    assert code == 2 and "HOST:PORT" in err
    code, _, err = run_cli("day", "--hours", "0", capsys=capsys)
    assert code == 2 and "--hours" in err


def test_control_requests_are_checked():
    fleet = Fleet(config_from_flags(1, 0))
    bad = [
        ([], "JSON object"),
        ({"op": "explode"}, "unknown op"),
        ({"op": "fault", "kind": "stuck"}, "device"),
        ({"op": "fault", "device": "bus/1"}, "kind"),
        ({"op": "fault", "device": "bus/1", "kind": "exception", "code": "4"}, "integer"),
        ({"op": "fault", "device": "bus/1", "kind": "stuck", "duration_s": -1}, "duration_s"),
        ({"op": "advance"}, "seconds is required"),
        ({"op": "advance", "seconds": -5}, ">= 0"),
        ({"op": "reboot", "device": "bus/1", "down_s": "x"}, "number"),
        ({"op": "clear", "device": "nope"}, "no device"),
    ]
    for req, msg in bad:
        reply = control.handle(fleet, req)
        assert reply["ok"] is False and msg in reply["error"], (req, reply)
    assert fleet.stats["control_rejected"] == len(bad)
    assert control.handle(fleet, {"op": "advance", "seconds": 60})["ok"]
    assert control.handle(fleet, {"op": "status"})["elapsed_s"] == 60.0


def test_serve_fault_and_status_through_the_cli():
    """A real `serve` process, commanded by `fault`/`advance`/`status` processes."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    cli = [sys.executable, "-m", "edge.cli", "devices"]
    serve = subprocess.Popen(
        [*cli, "serve", "--meters", "1", "--batteries", "1", "--accel", "0", "--duration", "60"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT,
    )  # fmt: skip
    try:
        info = json.loads(serve.stdout.readline())
        port = info["servers"][0]["port"]
        ctl = f"127.0.0.1:{info['control']['port']}"
        assert info["devices"] == {"bus/1": {"server": "bus", "unit": 1},
                                   "bus/2": {"server": "bus", "unit": 2}}  # fmt: skip

        def cmd(*args: str) -> subprocess.CompletedProcess:
            return subprocess.run([*cli, *args], capture_output=True, text=True, env=env,
                                  cwd=ROOT, timeout=60)  # fmt: skip

        r = cmd("read", "--port", str(port), "--unit", "1", "--json")
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["1"]["Mn"] == "CarbonEdge-Sim"
        r = cmd("advance", "--control", ctl, "--seconds", "7200", "--json")
        assert r.returncode == 0 and json.loads(r.stdout)["now_ms"] == info["start_ms"] + 7_200_000
        r = cmd("fault", "--control", ctl, "--device", "bus/1", "--kind", "exception")
        assert r.returncode == 0, r.stderr
        r = cmd("read", "--port", str(port), "--unit", "1", "--timeout", "0.5")
        assert r.returncode == 1 and "exception 4" in r.stderr
        r = cmd("status", "--control", ctl, "--json")
        devices = {d["name"]: d for d in json.loads(r.stdout)["devices"]}
        assert devices["bus/1"]["faults"] == ["exception"]
        assert devices["bus/1"]["physics"]["import_wh"] > 0
        r = cmd("fault", "--control", ctl, "--device", "bus/9", "--kind", "stuck")
        assert r.returncode == 2 and "no device named 'bus/9'" in r.stderr
        r = cmd("clear", "--control", ctl, "--device", "bus/1")
        assert r.returncode == 0
        r = cmd("read", "--port", str(port), "--unit", "1", "--json")
        assert r.returncode == 0
    finally:
        serve.send_signal(signal.SIGTERM)
        assert serve.wait(timeout=20) == 0
        serve.stdout.close()
        serve.stderr.close()


def test_served_devices_live_in_real_time_by_default():
    import subprocess
    import sys
    import time

    env = dict(os.environ, PYTHONPATH=str(ROOT))
    p = subprocess.Popen([sys.executable, "-m", "edge.cli", "devices", "serve", "--meters", "1",
                          "--batteries", "0", "--duration", "30"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                         cwd=ROOT)
    try:
        line = p.stdout.readline()
        assert line, "serve printed nothing"
        info = json.loads(line)
        assert info["accel"] == 1.0
        ctl = f"{info['control']['host']}:{info['control']['port']}"
        time.sleep(1.0)
        r = subprocess.run([sys.executable, "-m", "edge.cli", "devices", "status", "--control",
                            ctl, "--json"], capture_output=True, text=True, timeout=30, env=env,
                           cwd=ROOT)
        assert r.returncode == 0, r.stderr
        moved = json.loads(r.stdout)["now_ms"] - info["start_ms"]
        assert moved >= 1000, moved          # at least the second we waited
    finally:
        p.terminate()
        p.wait(10)

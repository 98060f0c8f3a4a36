"""Config: a good file loads; each mistake names its key and a fix."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from edge.chain.keys import generate_key, save_private_key
from edge.runtime.config import ConfigError, check_runtime_files, load_config

ROOT = Path(__file__).resolve().parents[2]
KEYHEX = "00" * 32

GOOD = f"""
[site]
id = "s1"
data_dir = "data"
edge_key = "edge.pem"

[mqtt]
host = "127.0.0.1"
port = 8883
ca = "ca.pem"
cert = "edge-cert.pem"
key = "edge-key.pem"

[market]
interval_s = 900
gate_s = 60

[[gateways]]
id = "gw-01"
key_hex = "{KEYHEX}"

[[meters]]
id = "feeder"
host = "127.0.0.1"
port = 5020
"""


@pytest.fixture
def site(tmp_path: Path) -> Path:
    for name in ("ca.pem", "edge-cert.pem", "edge-key.pem"):
        (tmp_path / name).write_text("x")
    (tmp_path / "edge-key.pem").chmod(0o600)  # a private key: the owner's only
    save_private_key(generate_key(), tmp_path / "edge.pem")
    return tmp_path


def write(site: Path, text: str) -> Path:
    p = site / "site.toml"
    p.write_text(text)
    return p


def problems(site: Path, text: str) -> list[str]:
    with pytest.raises(ConfigError) as err:
        load_config(write(site, text))
    return err.value.problems


def test_good_config_loads_with_paths_relative_to_the_file(site):
    cfg = load_config(write(site, GOOD))
    assert cfg.site.data_dir == site / "data"
    assert cfg.mqtt.ca == site / "ca.pem"
    assert cfg.gateway_keys() == {"gw-01": bytes(32)}
    assert cfg.meters[0].port == 5020 and cfg.meters[0].unit == 1
    assert cfg.site.chain() == "edge-s1"
    assert check_runtime_files(cfg) == []


def test_the_shipped_example_is_valid():
    cfg = load_config(ROOT / "docs" / "examples" / "site.toml")
    assert cfg.market.interval_s == 900 and cfg.mqtt.tls
    # on this machine the field paths do not exist, and each is reported by key
    found = check_runtime_files(cfg)
    for key in ("gateways[0].key_file", "mqtt.ca", "mqtt.cert", "mqtt.key", "site.edge_key"):
        assert any(p.startswith(key) for p in found), (key, found)


@pytest.mark.parametrize("edit, key, words", [
    (('interval_s = 900', 'interval_s = "x"'), "market.interval_s", "integer"),
    (('gate_s = 60', 'gate_s = 900'), "market", "gate_s"),
    (('id = "s1"', 'id = "s 1!"'), "site.id", "fix: use 1-32 characters"),
    (('port = 8883', 'port = 70000'), "mqtt.port", "fix: give a TCP port"),
    ((f'key_hex = "{KEYHEX}"', 'key_hex = "abc"'), "gateways[0].key_hex", "64 hex digits"),
    (('[market]', '[market]\ninterval = 5'), "market.interval", "not a known key"),
    (('edge_key = "edge.pem"\n', ''), "site.edge_key", "required"),
    (('port = 5020', 'port = 5020\nunit = 0'), "meters[0].unit", "Modbus unit id"),
])
def test_each_mistake_names_its_key(site, edit, key, words):
    lines = problems(site, GOOD.replace(*edit))
    assert any(line.startswith(key) and words in line for line in lines), lines


def test_tls_files_must_exist_and_be_given(site):
    (site / "ca.pem").unlink()
    cfg = load_config(write(site, GOOD))
    assert any(p.startswith("mqtt.ca: no file") for p in check_runtime_files(cfg))
    text = GOOD.replace('ca = "ca.pem"\n', "")
    assert any("ca" in p and "tls = false" in p for p in problems(site, text))


def test_gateways_required_and_unique(site):
    no_gw = GOOD.split("[[gateways]]")[0]
    assert any(p.startswith("gateways") and "required" in p for p in problems(site, no_gw))
    dup = GOOD + f'\n[[gateways]]\nid = "gw-01"\nkey_hex = "{KEYHEX}"\n'
    assert any("appears twice" in p for p in problems(site, dup))


def test_not_toml_and_missing_file(site):
    assert "not valid TOML" in problems(site, "[site\n")[0]
    with pytest.raises(ConfigError, match="no config file"):
        load_config(site / "nope.toml")


def test_key_file_too_open_is_reported(site):
    cfg = load_config(write(site, GOOD))
    (site / "edge.pem").chmod(0o644)
    assert any(p.startswith("site.edge_key") and "chmod 600" in p
               for p in check_runtime_files(cfg))


def test_check_config_cli_exit_codes(site):
    good = write(site, GOOD)
    run = [sys.executable, "-m", "edge.cli", "edge", "check-config", "--json", "--config"]
    out = subprocess.run([*run, str(good)], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    bad = site / "bad.toml"
    bad.write_text(GOOD.replace("interval_s = 900", "interval_s = 0"))
    out = subprocess.run([*run, str(bad)], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 1
    assert "market.interval_s" in out.stdout
    out = subprocess.run([sys.executable, "-m", "edge.cli", "edge", "run", "--config", str(bad)],
                         capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 2 and "market.interval_s" in out.stderr


@pytest.mark.parametrize("url, allow, ok", [
    ("https://hub.example.org", False, True),
    ("http://hub.example.org", False, False),   # plain http needs the explicit test switch
    ("http://127.0.0.1:8000", True, True),
    ("ftp://hub.example.org", True, False),
])
def test_plain_http_hub_only_when_the_config_says_it_is_a_test(site, url, allow, ok):
    text = GOOD + (f'\n[sync]\nurl = "{url}"\nhub_id = "{"ab" * 32}"\n'
                   + ("allow_insecure_http = true\n" if allow else ""))
    if ok:
        assert load_config(write(site, text)).sync.url == url
    else:
        found = problems(site, text)
        assert any(p.startswith("sync") for p in found), found
        if url.startswith("http://"):
            assert any("allow_insecure_http" in p for p in found), found


def test_a_private_hub_ca_is_a_file_relative_to_the_config(site):
    text = GOOD + f'\n[sync]\nurl = "https://hub.example.org"\nhub_id = "{"ab" * 32}"\n' \
                  'ca = "hub-ca.pem"\n'
    cfg = load_config(write(site, text))
    assert cfg.sync.ca == site / "hub-ca.pem"
    found = check_runtime_files(cfg)
    assert any(p.startswith("sync.ca: no file") and "trust store" in p for p in found), found
    (site / "hub-ca.pem").write_text("x")
    assert not any(p.startswith("sync.ca") for p in check_runtime_files(cfg))

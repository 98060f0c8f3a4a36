"""Secrets on disk: one permission and format policy for every key the edge holds.

The edge's Ed25519 key was already refused when group/others could read it;
the gateways' HMAC keys and the MQTT TLS client key now go through the same
check (edge.chain.keys.check_secret_file), and `edge check-config` names each
defect. `chain keygen --force` replaces a planted symlink instead of writing
through it, and `protocol validate --key ""` is a bad key, not "no key".
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from edge.chain.keys import generate_key, save_private_key
from tests.edge.helpers import telemetry

ROOT = Path(__file__).resolve().parents[2]


def cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "edge.cli", *args], cwd=cwd,
                          capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})


def site(tmp: Path, gw_key: str, gw_mode: int = 0o600, tls_mode: int = 0o600) -> Path:
    save_private_key(generate_key(), tmp / "edge.pem")
    for name in ("ca.pem", "cert.pem", "tls.key"):
        (tmp / name).write_text("x")
    (tmp / "tls.key").chmod(tls_mode)
    (tmp / "gw-01.key").write_text(gw_key)
    (tmp / "gw-01.key").chmod(gw_mode)
    (tmp / "site.toml").write_text(
        '[site]\nid = "s1"\ndata_dir = "data"\nedge_key = "edge.pem"\n'
        '[mqtt]\nca = "ca.pem"\ncert = "cert.pem"\nkey = "tls.key"\n'
        '[[gateways]]\nid = "gw-01"\nkey_file = "gw-01.key"\n')
    return tmp / "site.toml"


def check(tmp: Path, **kw) -> tuple[int, list[str]]:
    r = cli("edge", "check-config", "--json", "--config", str(site(tmp, **kw)), cwd=tmp)
    return r.returncode, json.loads(r.stdout)["problems"]


def test_good_key_files_pass(tmp_path):
    assert check(tmp_path, gw_key="ab" * 32 + "\n") == (0, [])


@pytest.mark.parametrize("kw, words", [
    ({"gw_key": "ab" * 32, "gw_mode": 0o644}, "gateways[0].key_file: "),
    ({"gw_key": "ab" * 31}, "holds 62 characters; a key is 64 hex digits"),
    ({"gw_key": "zz" * 32}, "is not hex"),
    ({"gw_key": "\xff" * 64}, "is not hex"),
    ({"gw_key": "ab" * 32, "tls_mode": 0o640}, "mqtt.key: "),
])
def test_each_key_defect_is_named(tmp_path, kw, words):
    rc, problems = check(tmp_path, **kw)
    assert rc == 1
    assert len(problems) == 1 and words in problems[0], problems
    if "mode" in str(kw):
        assert "chmod 600" in problems[0]


def test_run_refuses_an_open_gateway_key(tmp_path):
    path = site(tmp_path, "ab" * 32, gw_mode=0o604)
    r = cli("edge", "run", "--config", str(path), cwd=tmp_path)
    assert r.returncode == 2 and "gw-01.key is readable by others" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_keygen_force_never_writes_through_a_symlink(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    (tmp_path / "k.pem").symlink_to(victim)
    r = cli("chain", "keygen", "--out", "k.pem", cwd=tmp_path)
    assert r.returncode == 2  # an existing name, a symlink included, is never overwritten
    r = cli("chain", "keygen", "--out", "k.pem", "--force", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert victim.read_text() == "precious"
    assert not (tmp_path / "k.pem").is_symlink()
    assert oct((tmp_path / "k.pem").stat().st_mode & 0o777) == "0o600"
    # a dangling symlink is not followed either
    (tmp_path / "d.pem").symlink_to(tmp_path / "elsewhere.pem")
    assert cli("chain", "keygen", "--out", "d.pem", cwd=tmp_path).returncode == 2
    assert not (tmp_path / "elsewhere.pem").exists()
    assert cli("chain", "keygen", "--out", str(tmp_path), "--force", cwd=tmp_path).returncode == 2


def test_validate_with_an_empty_key_is_refused_not_skipped(tmp_path):
    (tmp_path / "m.json").write_bytes(telemetry("gw-01", 1, 1_700_000_000_000, b"\x01" * 32))
    r = cli("protocol", "validate", "--file", "m.json", "--key", "", cwd=tmp_path)
    assert r.returncode == 2 and "--key" in r.stderr and "tag not checked" not in r.stdout
    r = cli("protocol", "validate", "--file", "m.json", "--key", "01" * 32, cwd=tmp_path)
    assert r.returncode == 0 and r.stdout.strip() == "ok: telemetry"
    r = cli("protocol", "validate", "--file", "m.json", "--key", "02" * 32, cwd=tmp_path)
    assert r.returncode == 1

"""`make hls-csim`: the C simulation test benches build with -Werror and pass."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_csim_test_benches_pass(csim):
    out = csim("tb_sha256", [str(ROOT / "hls" / "tb" / "sha256_vectors.txt")])
    assert "checks passed (157 file vectors, FIPS examples, million 'a')" in out
    passed, total = out.split()[1].split("/")
    assert passed == total and int(total) >= 300
    out = csim("tb_clearing", [])
    passed, total = out.split()[1].split("/")
    assert passed == total and int(total) > 30_000


def test_make_hls_csim(tmp_path):
    if not shutil.which("make") or not shutil.which("g++"):
        pytest.skip("make or g++ missing")
    proc = subprocess.run(["make", "-C", str(ROOT / "hls"), "csim", f"BUILD={tmp_path}"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    assert "tb_sha256: " in proc.stdout and "tb_clearing: " in proc.stdout


def test_vectors_file_is_what_the_generator_writes():
    gen = subprocess.run([sys.executable, str(ROOT / "hls" / "tb" / "gen_vectors.py")],
                         capture_output=True, text=True, check=True)
    assert gen.stdout == (ROOT / "hls" / "tb" / "sha256_vectors.txt").read_text()


def test_tool_less_targets_fail_with_one_sentence():
    for target, tool in (("hls", "vitis_hls"), ("overlay", "vivado")):
        if shutil.which(tool):
            continue
        proc = subprocess.run(["make", "-C", str(ROOT), target], capture_output=True, text=True)
        assert proc.returncode != 0
        assert f"{tool} is not on PATH" in proc.stdout

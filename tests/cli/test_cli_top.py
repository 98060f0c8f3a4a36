"""The top of the command line: `carbon-edge --version` and every leaf's help."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from edge.cli import main

ROOT = Path(__file__).resolve().parents[2]


def test_version_is_one_line_with_the_projects_version(capsys):
    expected = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out == f"carbon-edge {expected}\n"


def test_version_from_the_console_script():
    expected = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-m", "edge.cli", "--version"], env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"carbon-edge {expected}"

"""Repository-wide contracts: the edge runs on Python 3.10, every CLI component loads."""

from __future__ import annotations

import glob
import os
import subprocess
import sys
from pathlib import Path

import pytest

from edge.cli import components

ROOT = Path(__file__).resolve().parent.parent


def _python310() -> str | None:
    found = glob.glob(os.path.expanduser("~/.pyenv/versions/3.10*/bin/python3.10"))
    for name in ["python3.10", *found]:
        path = name if os.path.isabs(name) else None
        if path is None:
            from shutil import which

            path = which(name)
        if path and subprocess.run([path, "-c", "pass"], capture_output=True).returncode == 0:
            return path
    return None


def test_edge_compiles_on_python_310(tmp_path):
    """The PYNQ image runs Python 3.10: no syntax from later versions in edge/."""
    python = _python310()
    if python is None:
        pytest.skip("no Python 3.10 interpreter on this machine")
    files = sorted(str(p) for p in (ROOT / "edge").rglob("*.py"))
    script = (
        "import sys\n"
        "bad = []\n"
        "for f in sys.argv[1:]:\n"
        "    try:\n"
        "        compile(open(f, encoding='utf-8').read(), f, 'exec')\n"
        "    except SyntaxError as e:\n"
        "        bad.append(f'{f}:{e.lineno}: {e.msg}')\n"
        "print('\\n'.join(bad)); sys.exit(1 if bad else 0)\n"
    )
    r = subprocess.run([python, "-c", script, *files], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_edge_imports_nothing_heavy():
    """edge/ stays lean for a 1 GB board: no pandas, scipy, hub or simulator imports."""
    banned = ("pandas", "scipy", "pandapower", "sqlalchemy", "hub", "simulator", "matplotlib")
    offenders = []
    for path in (ROOT / "edge").rglob("*.py"):
        for n, text in enumerate(path.read_text().splitlines(), 1):
            stripped = text.strip()
            if stripped.startswith(("import ", "from ")):
                module = stripped.split()[1].split(".")[0]
                if module in banned:
                    offenders.append(f"{path.relative_to(ROOT)}:{n}: {stripped}")
    assert not offenders, "\n".join(offenders)


@pytest.mark.parametrize("component", sorted(components()))
def test_every_component_has_help(component):
    r = subprocess.run([sys.executable, "-m", "edge.cli", component, "--help"],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert "usage: carbon-edge " + component in r.stdout


def test_unknown_component_is_a_usage_error():
    r = subprocess.run([sys.executable, "-m", "edge.cli", "nonsense"], capture_output=True,
                       text=True, cwd=ROOT)
    assert r.returncode == 2 and "unknown component" in r.stderr

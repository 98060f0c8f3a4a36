"""The native SHA-256 loop is built at install time, never at run time, and its absence is said."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_setup_declares_the_extensions_as_optional():
    tree = ast.parse((ROOT / "setup.py").read_text())
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call)
             and getattr(n.func, "id", None) == "Extension"]
    found = {}
    for call in calls:
        kw = {k.arg: ast.literal_eval(k.value) for k in call.keywords}
        found[ast.literal_eval(call.args[0])] = kw
    assert set(found) == {"edge.chain._sha256batch", "edge.market._columns", "hub.allocation._walk"}
    for name, kw in found.items():
        assert kw["optional"] is True, name
        for src in kw["sources"]:
            assert (ROOT / src).exists(), src


def test_no_build_product_is_tracked():
    tracked = subprocess.run(["git", "ls-files", "*.so", "*.o", "*.pyd"], cwd=ROOT,
                             capture_output=True, text=True).stdout.split()
    assert tracked == []


def test_nothing_compiles_at_run_time():
    for path in ("edge/extensions.py", "edge/chain/native.py", "edge/market/clearing.py",
                 "hub/allocation/walk.py"):
        src = (ROOT / path).read_text()
        assert "subprocess" not in src and "ctypes" not in src, path


def test_missing_native_loop_is_said_once_and_in_pl_info():
    code = ("import logging; logging.basicConfig(level=logging.WARNING);"
            "from edge.chain import native, merkle;"
            "merkle.merkle_root([b'a']); merkle.merkle_root([b'b']); print(native.status())")
    env = {"CARBON_EDGE_NO_NATIVE": "1", "PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count("hashing with hashlib") == 1
    assert proc.stdout.strip() == "hashlib fallback: disabled by CARBON_EDGE_NO_NATIVE"
    info = subprocess.run([sys.executable, "-m", "edge.cli", "pl", "info", "--json"],
                          capture_output=True, text=True, env=env, cwd=ROOT)
    assert info.returncode == 0, info.stderr
    assert "hashlib fallback" in __import__("json").loads(info.stdout)["cpu_hasher"]


def test_merkle_root_without_native_equals_with_it():
    """Same root through hashlib (fallback) as through whatever this install has."""
    from edge.chain import merkle

    leaves = [bytes([i % 256]) * (i % 150) for i in range(1001)]
    fallback = merkle.root_of_hashes(merkle.CPU.leaf_hashes(leaves), merkle.CPU)
    assert merkle.merkle_root(leaves) == fallback


def test_an_extension_that_is_not_built_is_said_with_how_to_build_it(caplog):
    import logging

    from edge.extensions import optional

    log = logging.getLogger("test.extensions")
    with caplog.at_level("WARNING", logger="test.extensions"):
        assert optional("edge.chain._no_such_extension", "native thing", "doing it in Python",
                        log) is None
    (said,) = [r.getMessage() for r in caplog.records]
    assert said.startswith("native thing not built (No module named ")
    assert said.endswith("reinstall with a C compiler (pip install -e .) to build it: "
                         "doing it in Python")

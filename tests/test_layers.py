"""The direction of imports over the whole tree, checked on the source (AST), strings included.

    firmware            MicroPython modules and its own package only
    edge                the bottom layer of the CPython stack: no hub, simulator, bench, tests
    hub        -> edge  no simulator, bench, tests
    simulator  -> hub, edge
    bench      -> simulator, hub, edge (never tests)
    tests      -> anything

Besides ``import`` statements this reads module names written as strings:
``importlib.import_module("x")``, ``__import__("x")``, ``python -m x`` argument
lists and any string constant that is a dotted name inside a package of the
tree (``"hub.cli"``), so a layer cannot reach up by naming a module instead of
importing it. Docstrings are prose and are not read.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("edge", "hub", "simulator", "bench", "tests", "firmware")

#: layer -> top-level packages of the tree it must never name
FORBIDDEN = {
    "edge": {"hub", "simulator", "bench", "tests"},
    "hub": {"simulator", "bench", "tests"},
    "simulator": {"bench", "tests"},
    "bench": {"tests"},
}

#: What the firmware may import: MicroPython's own modules (and their u-prefixed
#: names) and the firmware's package.
MICROPYTHON = {
    "array", "asyncio", "binascii", "builtins", "cmath", "collections", "errno", "gc",
    "hashlib", "heapq", "io", "json", "math", "os", "platform", "random", "re", "select",
    "socket", "ssl", "struct", "sys", "time", "tls", "uasyncio", "uctypes", "zlib",
    "machine", "micropython", "network", "esp", "esp32", "neopixel", "_thread", "framebuf",
    "bluetooth", "btree", "cryptolib", "deflate", "vfs", "ubinascii", "uhashlib", "ujson",
    "uos", "ure", "uselect", "usocket", "ussl", "ustruct", "utime", "uerrno", "uio",
    "__future__", "gateway",
}

DOTTED = re.compile(r"^({})(\.[A-Za-z_][A-Za-z0-9_]*)+$".format("|".join(PACKAGES)))


def _docstrings(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                ids.add(id(body[0].value))
    return ids


def named_modules(path: Path, package: list[str] | None = None) -> list[tuple[int, str]]:
    """(line, module) for every module this file imports or names as a string.

    ``package`` is the dotted package the file is in (from its place in the tree
    when not given); relative imports resolve against it.
    """
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    here = package if package is not None else list(path.relative_to(ROOT).parts[:-1])
    out: list[tuple[int, str]] = []
    skip = _docstrings(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[: len(here) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            out.append((node.lineno, mod))
        elif isinstance(node, ast.Call):
            fn = node.func
            name = fn.attr if isinstance(fn, ast.Attribute) else getattr(fn, "id", "")
            if name in ("import_module", "__import__", "find_spec") and node.args:
                arg = node.args[0]
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    out.append((node.lineno, arg.value))
        elif isinstance(node, (ast.List, ast.Tuple)):
            items = [e.value if isinstance(e, ast.Constant) else None for e in node.elts]
            for a, b in zip(items, items[1:], strict=False):
                if a == "-m" and isinstance(b, str):
                    out.append((node.lineno, b))
        elif (isinstance(node, ast.Constant) and isinstance(node.value, str)
              and id(node) not in skip and DOTTED.match(node.value)):
            out.append((node.lineno, node.value))
    return out


def _files(layer: str) -> list[Path]:
    return sorted(p for p in (ROOT / layer).rglob("*.py") if "build" not in p.parts)


#: Known violations being moved by their owners; strict, so a fix turns the mark red.
PENDING: dict[str, str] = {}


@pytest.mark.parametrize("layer", [
    pytest.param(layer, marks=pytest.mark.xfail(strict=True, reason=PENDING[layer]))
    if layer in PENDING else layer
    for layer in sorted(FORBIDDEN)])
def test_no_layer_reaches_up(layer):
    offenders = []
    for path in _files(layer):
        for line, mod in named_modules(path):
            if mod.split(".")[0] in FORBIDDEN[layer]:
                offenders.append(f"{path.relative_to(ROOT)}:{line}: {mod}")
    assert not offenders, "\n".join(offenders)


def test_firmware_imports_only_micropython_modules():
    offenders = []
    for path in _files("firmware"):
        for line, mod in named_modules(path):
            if mod and mod.split(".")[0] not in MICROPYTHON:
                offenders.append(f"{path.relative_to(ROOT)}:{line}: {mod}")
    assert not offenders, "\n".join(offenders)


def test_protocol_is_below_the_chain():
    """edge.protocol (wire types, canonical bytes, identities) imports no other edge package
    (but the command-line conventions of edge.cli and edge.cliargs, for its own command)."""
    offenders = []
    for path in sorted((ROOT / "edge" / "protocol").rglob("*.py")):
        for line, mod in named_modules(path):
            parts = mod.split(".")
            bottom = ("protocol", "cli", "cliargs")
            if parts[0] == "edge" and len(parts) > 1 and parts[1] not in bottom:
                offenders.append(f"{path.relative_to(ROOT)}:{line}: {mod}")
    assert not offenders, "\n".join(offenders)


def test_the_checker_sees_every_kind_of_naming(tmp_path):
    """The reader finds plain, relative, importlib, `-m` and dotted-string names."""
    src = tmp_path / "probe.py"
    src.write_text(
        "import hub.cli\n"
        "from ..simulator import x\n"
        "import importlib\n"
        "importlib.import_module('simulator.cli')\n"
        "cmd = ['python', '-m', 'hub.cli']\n"
        "TABLE = {'hub': 'hub.carbon.cli'}\n")
    found = {m for _, m in named_modules(src, ["edge"])}  # as if it were edge/probe.py
    assert {"hub.cli", "simulator", "simulator.cli", "hub.carbon.cli"} <= found

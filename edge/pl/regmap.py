"""The overlay's register map, read from overlays/regmap.json.

The JSON file is the single source of every base address and argument offset:
the drivers (pynq and sim alike), the simulated MMIO, the Vitis HLS script and
the Vivado block design all read it, so no offset is written twice. Offsets
are what Vitis HLS generates for our top functions with 32-bit AXI addresses;
``python -m edge.pl.regmap check-hls hls/build`` compares them with the
generated ``x*_hw.h`` headers after synthesis.
"""

from __future__ import annotations

import json
import os
import re
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

#: Environment variables naming the files when no config does (e.g. on a board image).
REGMAP_ENV = "CARBON_EDGE_REGMAP"
HLS_ENV = "CARBON_EDGE_HLS"


def source_checkout() -> Path | None:
    """The source checkout this package runs from, if it is one (a development install).

    Recognised by its own layout (pyproject.toml, overlays/regmap.json and hls/
    next to the ``edge`` package), never assumed: an installed package has none,
    and then the files must be named by configuration.
    """
    root = Path(__file__).resolve().parent.parent.parent
    if ((root / "pyproject.toml").is_file() and (root / "overlays" / "regmap.json").is_file()
            and (root / "hls").is_dir() and (root / "edge" / "pl").is_dir()):
        return root
    return None


def _located(configured: str | os.PathLike[str] | None, env: str, in_checkout: str,
             missing: str) -> Path:
    """A file or folder: configured, else the environment variable `env`, else the checkout's."""
    if configured:
        return Path(configured)
    if os.environ.get(env):
        return Path(os.environ[env])
    root = source_checkout()
    if root is None:
        raise RegmapError(missing)
    return root / in_checkout


def regmap_path(configured: str | os.PathLike[str] | None = None) -> Path:
    """The register map: configured ([pl] regmap), else $CARBON_EDGE_REGMAP, else the checkout's."""
    return _located(configured, REGMAP_ENV, "overlays/regmap.json",
                    f"no register map configured: set [pl] regmap in the site config or "
                    f"{REGMAP_ENV} (the release's overlays/regmap.json)")


def hls_path(configured: str | os.PathLike[str] | None = None) -> Path:
    """The HLS kernel sources (for the sim back end): configured, $CARBON_EDGE_HLS, checkout."""
    return _located(configured, HLS_ENV, "hls",
                    f"no HLS sources configured: set {HLS_ENV} to the release's hls/ folder")


class RegmapError(ValueError):
    """The register map file is missing or malformed."""


@dataclass(frozen=True)
class Ctrl:
    """The HLS block-level control register (ap_ctrl_hs) and its bits."""

    offset: int
    ap_start: int
    ap_done: int
    ap_idle: int
    ap_ready: int
    auto_restart: int
    gie: int
    ier: int
    isr: int


@dataclass(frozen=True)
class KernelMap:
    name: str
    top: str
    vlnv: str
    instance: str
    base: int
    range: int
    hp_port: str
    args: dict[str, int]  # argument name -> offset, in the top function's order
    max_items: int


@dataclass(frozen=True)
class Regmap:
    part: str
    board_part: str
    clock_mhz: int
    alignment: int
    ctrl: Ctrl
    kernels: dict[str, KernelMap]

    def kernel(self, name: str) -> KernelMap:
        try:
            return self.kernels[name]
        except KeyError:
            raise RegmapError(f"no kernel {name!r} in the register map") from None


def _int(v: object, where: str) -> int:
    try:
        return int(v, 0) if isinstance(v, str) else int(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise RegmapError(f"{where}: {v!r} is not an integer") from None


def parse(doc: dict) -> Regmap:
    """Build a Regmap from the JSON document, naming the first bad field."""
    try:
        c = doc["ctrl"]
        bits = c["bits"]
        ctrl = Ctrl(
            offset=_int(c["offset"], "ctrl.offset"),
            ap_start=1 << bits["ap_start"],
            ap_done=1 << bits["ap_done"],
            ap_idle=1 << bits["ap_idle"],
            ap_ready=1 << bits["ap_ready"],
            auto_restart=1 << bits["auto_restart"],
            gie=_int(c["gie"], "ctrl.gie"),
            ier=_int(c["ier"], "ctrl.ier"),
            isr=_int(c["isr"], "ctrl.isr"),
        )
        vendor, library, version = doc["vendor"], doc["library"], doc["ip_version"]
        kernels = {}
        for name, k in doc["kernels"].items():
            args = {a: _int(off, f"kernels.{name}.args.{a}") for a, off in k["args"].items()}
            offs = sorted(args.values())
            if len(set(offs)) != len(offs) or offs[0] <= ctrl.isr:
                raise RegmapError(f"kernels.{name}.args: offsets overlap each other or ctrl")
            kernels[name] = KernelMap(
                name=name,
                top=k["top"],
                vlnv=f"{vendor}:{library}:{k['top']}:{version}",
                instance=k["instance"],
                base=_int(k["base"], f"kernels.{name}.base"),
                range=_int(k["range"], f"kernels.{name}.range"),
                hp_port=k["hp_port"],
                args=args,
                max_items=_int(k["max_items"], f"kernels.{name}.max_items"),
            )
        return Regmap(
            part=doc["part"],
            board_part=doc["board_part"],
            clock_mhz=_int(doc["clock_mhz"], "clock_mhz"),
            alignment=_int(doc["buffer_alignment"], "buffer_alignment"),
            ctrl=ctrl,
            kernels=kernels,
        )
    except KeyError as exc:
        raise RegmapError(f"register map lacks the field {exc.args[0]!r}") from None


@lru_cache(maxsize=4)
def load(path: str | None = None) -> Regmap:
    p = regmap_path(path)
    try:
        return parse(json.loads(p.read_text()))
    except FileNotFoundError:
        raise RegmapError(f"register map {p} not found (set CARBON_EDGE_REGMAP)") from None
    except json.JSONDecodeError as exc:
        raise RegmapError(f"register map {p} is not JSON: {exc}") from None


_HW_DEFINE = re.compile(r"#define\s+X\w+?_CONTROL_ADDR_(\w+?)_DATA\s+0x([0-9a-fA-F]+)")


def check_hw_header(kernel: KernelMap, text: str) -> list[str]:
    """Differences between the map and a Vitis-generated ``x<top>_hw.h`` (empty = agree)."""
    found = {m.group(1).lower(): int(m.group(2), 16) for m in _HW_DEFINE.finditer(text)}
    problems = []
    for arg, off in kernel.args.items():
        if arg not in found:
            problems.append(f"{kernel.name}.{arg}: not in the generated header")
        elif found[arg] != off:
            problems.append(
                f"{kernel.name}.{arg}: map says {off:#x}, HLS generated {found[arg]:#x}")
    for extra in sorted(set(found) - set(kernel.args)):
        problems.append(f"{kernel.name}.{extra}: generated by HLS but missing from the map")
    return problems


def check_hls(build_dir: str, regmap: Regmap | None = None) -> list[str]:
    """Check every kernel against the headers exported under hls/build (after `make hls`)."""
    regmap = regmap or load()
    problems = []
    for k in regmap.kernels.values():
        hits = list(Path(build_dir).glob(f"hls_{k.name}/**/x{k.top}_hw.h"))
        if not hits:
            problems.append(f"{k.name}: no x{k.top}_hw.h under {build_dir} (run make hls first)")
            continue
        problems += check_hw_header(k, hits[0].read_text())
    return problems


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] != "check-hls":
        print("usage: python -m edge.pl.regmap check-hls HLS_BUILD_DIR", file=sys.stderr)
        return 2
    problems = check_hls(argv[1])
    for p in problems:
        print(p, file=sys.stderr)
    print("register map agrees with the HLS headers" if not problems else "register map differs")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""One register map, consistent with the kernels' sources and the Python mirror of their ABI."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from edge.pl import abi, regmap

ROOT = Path(__file__).resolve().parents[2]


def defines(header: str) -> dict[str, int]:
    text = (ROOT / "hls" / header).read_text()
    return {k: int(v, 0) for k, v in re.findall(r"#define (\w+) (0x[0-9a-fA-F]+|\d+)u", text)}


def test_python_abi_mirrors_the_headers():
    d = defines("clearing.h") | defines("sha256.h")
    assert (d["SHA_MODE_PLAIN"], d["SHA_MODE_LEAF"], d["SHA_MODE_NODE"]) == (
        abi.SHA_MODE_PLAIN, abi.SHA_MODE_LEAF, abi.SHA_MODE_NODE)
    assert (d["CLR_MODE_UNIFORM"], d["CLR_MODE_MERIT"]) == (abi.CLR_MODE_UNIFORM,
                                                            abi.CLR_MODE_MERIT)
    assert (d["CLR_IN_WORDS_UNIFORM"], d["CLR_IN_WORDS_MERIT"], d["CLR_OUT_WORDS"],
            d["CLR_HDR_WORDS"]) == (abi.CLR_IN_WORDS_UNIFORM, abi.CLR_IN_WORDS_MERIT,
                                    abi.CLR_OUT_WORDS, abi.CLR_HDR_WORDS)
    assert d["CLR_HDR_BEATS"] * 2 == abi.CLR_HDR_WORDS
    assert [d[f"CLR_ST_{s.upper()}"] for s in abi.STATUS] == [0, 1, 2, 3]
    assert [d[k] for k in ("CLR_RG_NO_TRADE", "CLR_RG_BUYERS", "CLR_RG_SELLERS",
                           "CLR_RG_BALANCED")] == [0, 1, 2, 3]
    hdr = ["ERROR", "BAD_INDEX", "HAS_PRICE", "PRICE", "VOLUME_LO", "VOLUME_HI", "REGIME",
           "ITERATIONS"]
    assert [d[f"CLR_H_{h}"] for h in hdr] == list(range(8))
    assert set(abi.CLR_ERRORS) == {v for k, v in d.items() if k.startswith("CLR_ERR_")}


def test_map_arguments_follow_the_top_functions():
    """Vitis numbers s_axilite arguments in declaration order: the map must list them so."""
    rm = regmap.load()
    for k in rm.kernels.values():
        src = (ROOT / "hls" / f"{k.name}.cpp").read_text()
        sig = re.search(rf"^void {k.top}\(([^)]*)\)", src, re.M)
        assert sig, k.top
        names = [p.split()[-1].lstrip("*") for p in sig[1].replace("\n", " ").split(",")]
        assert names == list(k.args), k.name
        offsets = list(k.args.values())
        assert offsets == [0x10 + 8 * i for i in range(len(offsets))]  # 32-bit data + reserved


def test_vitis_header_check():
    k = regmap.load().kernel("sha256")
    good = "\n".join(f"#define XSHA256_BATCH_CONTROL_ADDR_{a.upper()}_DATA {o:#x}"
                     for a, o in k.args.items())
    assert regmap.check_hw_header(k, good) == []
    bad = good.replace("_COUNT_DATA 0x28", "_COUNT_DATA 0x2c")
    assert regmap.check_hw_header(k, bad) == ["sha256.count: map says 0x28, HLS generated 0x2c"]
    assert "missing from the map" in regmap.check_hw_header(
        k, good + "\n#define XSHA256_BATCH_CONTROL_ADDR_EXTRA_DATA 0x38")[0]


def test_check_hls_command_without_synthesis(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "edge.pl.regmap", "check-hls", str(tmp_path)],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 1 and "run make hls first" in proc.stderr


def test_malformed_maps_name_the_field(tmp_path):
    doc = json.loads((ROOT / "overlays" / "regmap.json").read_text())
    del doc["kernels"]["sha256"]["base"]
    with pytest.raises(regmap.RegmapError, match="lacks the field 'base'"):
        regmap.parse(doc)
    doc = json.loads((ROOT / "overlays" / "regmap.json").read_text())
    doc["kernels"]["clearing"]["args"]["n_b"] = "0x30"
    with pytest.raises(regmap.RegmapError, match="overlap"):
        regmap.parse(doc)
    doc["kernels"]["clearing"]["args"]["n_b"] = "zz"
    with pytest.raises(regmap.RegmapError, match="args.n_b: 'zz' is not an integer"):
        regmap.parse(doc)
    with pytest.raises(regmap.RegmapError, match="not found"):
        regmap.load(str(tmp_path / "nope.json"))


def test_overlay_tcl_addresses_come_from_the_map(tmp_path):
    out = tmp_path / "addresses.tcl"
    subprocess.run([sys.executable, str(ROOT / "overlays" / "gen_tcl.py"), str(out)],
                   check=True, cwd=ROOT)
    text = out.read_text()
    rm = regmap.load()
    for k in rm.kernels.values():
        assert f"{k.base:#010x}" in text and k.vlnv in text and k.hp_port in text
    assert rm.part in text


def test_the_map_and_sources_come_from_config_then_environment_then_checkout(tmp_path, monkeypatch):
    from pathlib import Path

    import edge.pl
    from edge.pl.regmap import hls_path, regmap_path, source_checkout

    monkeypatch.delenv("CARBON_EDGE_REGMAP", raising=False)
    monkeypatch.delenv("CARBON_EDGE_HLS", raising=False)
    root = source_checkout()  # this test runs from a checkout
    assert root is not None and regmap_path() == root / "overlays" / "regmap.json"
    monkeypatch.setenv("CARBON_EDGE_REGMAP", str(tmp_path / "env.json"))
    monkeypatch.setenv("CARBON_EDGE_HLS", str(tmp_path / "hls"))
    assert regmap_path() == tmp_path / "env.json" and hls_path() == tmp_path / "hls"
    assert regmap_path(tmp_path / "cfg.json") == tmp_path / "cfg.json"  # the config wins
    package = Path(edge.pl.__file__).parent
    assert package not in regmap_path().parents


def test_nothing_is_written_into_the_package(monkeypatch):
    from pathlib import Path

    import edge.pl
    from edge.pl import dispatch, simlib

    package = Path(edge.pl.__file__).resolve().parent.parent
    monkeypatch.delenv("CARBON_EDGE_PL_CACHE", raising=False)
    assert package not in simlib.cache_dir().resolve().parents
    assert package not in dispatch.CROSSOVER_PATH.resolve().parents

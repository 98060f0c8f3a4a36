"""carbon-edge pl: info, hash, clear, calibrate; JSON in, JSON out, exit codes."""

from __future__ import annotations

import hashlib
import json

import pytest

from edge.cli import main


@pytest.fixture(autouse=True)
def _lib(pl_cache, monkeypatch):
    monkeypatch.setenv("CARBON_EDGE_PL_CACHE", str(pl_cache))


def run(capsys, *argv):
    code = main(["pl", *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_info(capsys):
    code, out, _ = run(capsys, "info", "--json")
    res = json.loads(out)
    assert code == 0 and res["part"] == "xc7z045ffg900-2"
    assert res["kernels"]["sha256"]["args"]["count"] == "0x28"
    assert res["backends"]["sim"].startswith("ready") and "unavailable" in res["backends"]["pynq"]


@pytest.mark.parametrize("backend", ["cpu", "sim", "auto"])
def test_hash_modes(capsys, tmp_path, backend):
    msgs = [b"", b"abc", b"x" * 100]
    f = tmp_path / "m.json"
    f.write_text(json.dumps({"messages_hex": [m.hex() for m in msgs]}))
    code, out, _ = run(capsys, "hash", "--input", str(f), "--backend", backend, "--json")
    assert code == 0
    assert json.loads(out)["digests_hex"] == [hashlib.sha256(m).hexdigest() for m in msgs]
    code, out, _ = run(capsys, "hash", "--input", str(f), "--mode", "root", "--backend", backend,
                       "--json")
    from edge.chain.merkle import merkle_root

    assert json.loads(out)["root_hex"] == merkle_root(msgs).hex()


def test_hash_node_mode_and_bad_input(capsys, tmp_path):
    f = tmp_path / "d.json"
    d = [hashlib.sha256(b"a").digest(), hashlib.sha256(b"b").digest()]
    f.write_text(json.dumps({"digests_hex": [x.hex() for x in d]}))
    code, out, _ = run(capsys, "hash", "--input", str(f), "--mode", "node", "--backend", "sim",
                       "--json")
    assert json.loads(out)["digests_hex"] == [hashlib.sha256(b"\1" + d[0] + d[1]).hexdigest()]
    f.write_text(json.dumps({"digests_hex": [d[0].hex()]}))
    code, _, err = run(capsys, "hash", "--input", str(f), "--mode", "node")
    assert code == 2 and "even number of digests" in err
    f.write_text(json.dumps({"messages_hex": ["zz"]}))
    code, _, err = run(capsys, "hash", "--input", str(f))
    assert code == 2 and "messages_hex[0] is not a hex string" in err
    f.write_text("[1,")
    code, _, err = run(capsys, "hash", "--input", str(f))
    assert code == 2 and "not valid JSON" in err


def test_clear_p5_and_merit_on_every_backend(capsys, tmp_path):
    book = tmp_path / "book.json"
    book.write_text(json.dumps({"orders": [
        {"id": "s1", "side": "sell", "qty_wh": 100, "price": 10},
        {"id": "s2", "side": "sell", "qty_wh": 100, "price": 20},
        {"id": "b1", "side": "buy", "qty_wh": 150, "price": 40}],
        "generators": [{"id": "g1", "qmax_wh": 100, "price": 10},
                       {"id": "g2", "qmax_wh": 100, "price": 20}],
        "loads": [{"id": "l1", "qmax_wh": 150, "price": 30}]}))
    results = {}
    for be in ("cpu", "sim"):
        code, out, _ = run(capsys, "clear", "--book", str(book), "--backend", be, "--json")
        assert code == 0
        res = json.loads(out)
        assert res.pop("backend") == be
        results[be] = res
        code, out, _ = run(capsys, "clear", "--book", str(book), "--rules", "merit",
                           "--backend", be, "--json")
        m = json.loads(out)
        assert (m["price"], m["volume_wh"], m["gen_wh"]) == (20, 150, {"g1": 100, "g2": 50})
    assert results["cpu"] == results["sim"]
    assert (results["sim"]["price"], results["sim"]["volume_wh"]) == (20, 150)
    book.write_text(json.dumps({"orders": [{"id": "s", "side": "sell", "qty_wh": 0,
                                            "price": 1}]}))
    code, _, err = run(capsys, "clear", "--book", str(book), "--backend", "sim")
    assert code == 2 and "qty_wh 0 is outside" in err


def test_pynq_backend_unavailable_is_a_usage_error(capsys, tmp_path):
    f = tmp_path / "m.json"
    f.write_text(json.dumps({"messages_hex": []}))
    code, _, err = run(capsys, "hash", "--input", str(f), "--backend", "pynq")
    assert code == 2 and "pynq package is not installed" in err


def test_calibrate_quick(capsys, tmp_path):
    out_file = tmp_path / "xo.json"
    code, out, _ = run(capsys, "calibrate", "--quick", "--out", str(out_file), "--json")
    res = json.loads(out)
    assert code == 0 and res["sizes"] == [1, 10, 100, 1000]
    assert json.loads(out_file.read_text())["sim"]["clear_seconds"] == res["clear_seconds"]

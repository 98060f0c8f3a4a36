"""`sim replay` fed folders and journals that are not what it wants: one line, exit 2.

The replay of a real run is tested with the shortened day (tests/simulator/test_day.py)
and, without a broker, in tests/edge/test_replay.py; here every defect of the input
is refused in one sentence before any edge is built, never with a traceback.
"""

from __future__ import annotations

import json

import pytest

from edge.cli import main

CONFIG = {"k": "config", "v": 1, "config": {
    # the replay rebuilds in a folder of its own: these two are recorded, never opened
    "site": {"id": "s1", "data_dir": "unused-data", "edge_key": "unused-data/edge.pem"},
    "mqtt": {"tls": False}, "gateways": [{"id": "g1", "key_hex": "00" * 32}]}}


def run_folder(tmp_path, text: str | bytes, key: bool = True):
    d = tmp_path / "run" / "north" / "edge"
    d.mkdir(parents=True)
    (d / "journal.jsonl").write_bytes(text if isinstance(text, bytes) else text.encode())
    if key:
        from edge.chain.keys import generate_key, save_private_key

        save_private_key(generate_key(), d.parent / "edge.pem")
    return tmp_path / "run"


def lines(*entries) -> str:
    return "".join(json.dumps(e) + "\n" for e in entries)


CASES = {
    "empty journal": "",
    "not utf-8": b"\xff\xfe{}\n",
    "not json": "this is not json\n",
    "deep nesting": "[" * 100_000 + "]" * 100_000 + "\n",
    "first line not config": lines({"k": "tick", "now": 1, "wall": 1}),
    "config without site": lines({"k": "config", "v": 1, "config": {"mqtt": {}}}),
    "config invalid": lines({"k": "config", "v": 1, "config": {"site": {"id": "a/b"}}}),
    "5000-digit time": lines(CONFIG, {"k": "tick", "now": "9" * 5000, "wall": 1}),
    "time past 2^53": lines(CONFIG, {"k": "tick", "now": 2**60, "wall": 1}),
    "leap of centuries": lines(CONFIG, {"k": "start", "now": 1, "wall": 1},
                               {"k": "tick", "now": 2**52, "wall": 1}),
    "unknown kind": lines(CONFIG, {"k": "mystery", "now": 1, "wall": 1}),
    "batch without msgs": lines(CONFIG, {"k": "batch", "now": 1, "wall": 1}),
    "gateway id with a slash": lines(CONFIG, {"k": "batch", "now": 1, "wall": 1, "msgs": [
        {"type": "telemetry", "gw": "a/b", "recv": 1, "p": "{}"}]}),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_bad_journal_is_one_line_and_exit_2(case, tmp_path, capsys):
    folder = run_folder(tmp_path, CASES[case])
    code = main(["sim", "replay", str(folder)])
    err = [x for x in capsys.readouterr().err.splitlines() if x.strip()]
    assert code == 2 and len(err) == 1, (code, err)


def test_a_missing_edge_key_is_named(tmp_path, capsys):
    folder = run_folder(tmp_path, lines(CONFIG), key=False)
    assert main(["sim", "replay", str(folder)]) == 2
    assert "edge key" in capsys.readouterr().err


def test_a_chain_that_is_not_sqlite_is_refused(tmp_path, capsys):
    folder = run_folder(tmp_path, lines(CONFIG))
    (folder / "north" / "edge" / "chain.db").write_bytes(b"not sqlite at all" * 100)
    assert main(["sim", "replay", str(folder)]) == 2
    assert "not an edge chain" in capsys.readouterr().err


@pytest.mark.parametrize("what", ["missing", "a file", "no journal"])
def test_a_folder_that_is_not_a_run_is_refused(what, tmp_path, capsys):
    target = {"missing": tmp_path / "nope", "a file": tmp_path / "f",
              "no journal": tmp_path}[what]
    (tmp_path / "f").write_text("x")
    assert main(["sim", "replay", str(target)]) == 2
    err = [x for x in capsys.readouterr().err.splitlines() if x.strip()]
    assert len(err) == 1, err


def test_a_config_only_journal_replays_to_an_empty_chain(tmp_path, capsys):
    """A journal with nothing after its config line: no block, identical to no chain."""
    folder = run_folder(tmp_path, lines(CONFIG))
    assert main(["sim", "replay", str(folder)]) == 0
    assert capsys.readouterr().out.startswith("north: 0 blocks identical")

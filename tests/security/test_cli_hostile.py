"""Every command-line leaf, fed hostile inputs: one line and exit 2, never a traceback.

Each case starts from a valid invocation of a leaf and replaces one option
with a hostile value of that option's kind: a directory or a non-UTF-8,
5,000-digit, non-SQLite, empty or deeply nested file where a file belongs,
thousands of digits or out-of-range numbers where a number belongs, a port
past 65535, a key that is not hex. The command must refuse it (exit 1 or 2)
or accept it (exit 0), and never end in a traceback (exit 3). Runs
in-process (edge.cli.main) so hundreds of cases stay fast.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from edge.chain.keys import generate_key, public_id, save_private_key
from edge.cli import components, main
from tests.edge.helpers import telemetry

ROOT = Path(__file__).resolve().parents[2]
EX = ROOT / "docs" / "examples"
KEY_HEX = "00" * 32
#: a refusal takes well under a second; a case still running after this is a hang
LIMIT_S = 60

FILE_HOSTILE = ["directory", "not utf-8", "5000 digits", "not sqlite", "missing", "empty",
                "deep nesting", "undecodable name"]
INT_HOSTILE = ["9" * 5000, "-1", str(2 ** 70), "0x10"]
FLOAT_HOSTILE = ["nan", "inf", "-1e999", "9" * 5000]
PORT_HOSTILE = ["70000", "-1", "9" * 5000]
HEX_HOSTILE = ["zz" * 32, "", "0" * 5000, "ab"]
STR_HOSTILE = ["", "\udcff\udcfe", "x" * 5000]
OUT_HOSTILE = ["directory", "missing dir", "undecodable name"]

# leaf -> (valid argv after "<component> <leaf>", {option: kind})
LEAVES: dict[tuple[str, str], tuple[list[str], dict[str, str]]] = {
    ("protocol", "validate"): (["--file", "{msg}", "--key", KEY_HEX],
                               {"--file": "file", "--key": "hex", "--signer": "hex",
                                "--max-size": "int"}),
    ("protocol", "tag"): (["--file", "{msg}", "--key", KEY_HEX],
                          {"--file": "file", "--key": "hex"}),
    ("protocol", "canonical"): (["--file", "{msg}"], {"--file": "file"}),
    ("chain", "keygen"): (["--out", "{new}"], {"--out": "out"}),
    ("chain", "pubkey"): (["--key", "{pem}"], {"--key": "file"}),
    ("chain", "append-demo"): (["--db", "{newdb}", "--key", "{pem}", "--blocks", "1", "--txs", "1"],
                               {"--db": "file", "--key": "file", "--blocks": "int",
                                "--txs": "int", "--chain": "str"}),
    ("chain", "show"): (["--db", "{db}"], {"--db": "file", "--height": "int"}),
    ("chain", "verify"): (["--db", "{db}"], {"--db": "file", "--producer": "hex",
                                             "--trust": "file", "--inbox": "file"}),
    ("chain", "export"): (["--db", "{db}", "--height", "0"],
                          {"--db": "file", "--height": "int", "--out": "out"}),
    ("chain", "check-proof"): (["--file", "{export}"], {"--file": "file", "--producer": "hex",
                                                        "--tx": "int"}),
    ("market", "clear"): (["--book", str(EX / "market/book.json")],
                          {"--book": "file", "--rules": "file"}),
    ("market", "rounds"): (["--book", str(EX / "market/rounds.json"), "--max-rounds", "2"],
                           {"--book": "file", "--max-rounds": "int"}),
    ("pl", "hash"): (["--input", "{hashin}", "--backend", "cpu"], {"--input": "file",
                                                                  "--bitstream": "file"}),
    ("pl", "clear"): (["--book", str(EX / "market/book.json"), "--backend", "cpu"],
                      {"--book": "file", "--rules": "file", "--bitstream": "file"}),
    ("edge", "check-config"): (["--config", str(EX / "site.toml")], {"--config": "file"}),
    ("edge", "run"): (["--config", "{dir}"], {"--config": "file"}),
    ("edge", "status"): (["--url", "http://127.0.0.1:1"], {"--config": "file", "--url": "str"}),
    ("edge", "export"): (["--db-dir", "{tmp}", "--from", "2026-06-20", "--to", "2026-06-21",
                          "--csv", "-"],
                         {"--db-dir": "file", "--from": "str", "--to": "str", "--csv": "out"}),
    ("hub", "serve"): (["--db", "sqlite:///{tmp}/hub.db", "--hub-key", "{hubpem}",
                        "--port", "70000"],
                       {"--port": "port", "--workers": "int", "--main-interval": "float",
                        "--operator-token-file": "file", "--ssl-certfile": "file",
                        "--ssl-keyfile": "file"}),
    ("hub", "register-edge"): (["--db", "sqlite:///{tmp}/hub.db", "--name", "e1",
                                "--pubkey", "{pub}"],
                               {"--db": "str", "--name": "str", "--pubkey": "hex",
                                "--site": "str"}),
    ("hub", "revoke-edge"): (["--db", "sqlite:///{tmp}/hub.db", "--edge", "e1"],
                             {"--db": "str", "--edge": "str"}),
    ("hub", "make-main-block"): (["--db", "sqlite:///{tmp}/hub.db", "--hub-key", "{hubpem}"],
                                 {"--hub-key": "file"}),
    ("hub", "check-receipt"): (["--file", "{msg}", "--hub", "{pub}"],
                               {"--file": "file", "--hub": "hex", "--edge": "hex"}),
    ("hub", "publish-prices"): (["--db", "sqlite:///{tmp}/hub.db", "--hub-key", "{hubpem}",
                                 "--game", str(EX / "owen/market.json"), "--site", "s1",
                                 "--valid-from", "0", "--valid-to", "900", "--intensity", "400"],
                                {"--game": "file", "--p-low": "int", "--p-high": "int",
                                 "--valid-from": "int",
                                 "--valid-to": "int", "--intensity": "int", "--site": "str"}),
    ("carbon", "trace"): (["--snapshot", str(EX / "carbon/snapshot-case9-coal.json")],
                          {"--snapshot": "file", "--network": "file", "--outsource": "int"}),
    ("carbon", "series"): (["--case", "case9", "--profile", str(EX / "carbon/profile-day.json")],
                           {"--profile": "file", "--case": "str"}),
    ("carbon", "pecc"): (["--unit", str(EX / "carbon/coal-unit.json"), "--p-mw", "300"],
                         {"--unit": "file", "--p-mw": "float"}),
    ("owen", "value"): (["--game", str(EX / "owen/market.json")],
                        {"--game": "file", "--rounds": "int", "--seed": "int",
                         "--target-se": "float"}),
    ("owen", "prices"): (["--game", str(EX / "owen/market.json")],
                         {"--game": "file", "--p-low": "str", "--p-high": "str",
                          "--tiers": "str"}),
    ("carbon-market", "clear"): (["--book", str(EX / "carbon-market/book.json")],
                                 {"--book": "file"}),
    ("carbon-market", "advise"): (["--synthetic", "48", "--electricity", "50000", "--draws",
                                   "200"],
                                  {"--csv": "file", "--synthetic": "int", "--electricity": "int",
                                   "--level": "int", "--draws": "int"}),
    ("carbon-market", "relay"): (["--config", "{dir}", "--once"],
                                 {"--config": "file", "--interval": "float"}),
    ("devices", "fault"): (["--control", "127.0.0.1:1", "--device", "m1", "--kind", "offline"],
                           {"--control": "str", "--duration": "float", "--code": "int"}),
    ("devices", "advance"): (["--control", "127.0.0.1:1", "--seconds", "1"],
                             {"--control": "str", "--seconds": "float"}),
    ("devices", "status"): (["--control", "127.0.0.1:1"], {"--control": "str"}),
    ("devices", "read"): (["--port", "1", "--timeout", "0.2"],
                          {"--port": "port", "--unit": "int", "--timeout": "float",
                           "--serial": "file"}),
    ("devices", "day"): (["--meters", "1", "--batteries", "0", "--hours", "0.01"],
                         {"--config": "file", "--meters": "int", "--hours": "float",
                          "--start": "str"}),
}
#: leaves that only run a long job or serve: each is exercised through the leaves above
#: that share its parsing (pl info/calibrate, hub migrate/list-edges, carbon cases,
#: owen pjm5, devices serve/clear/map, sim run: a whole simulated day); sim replay and sim
#: compare take folders, not options: their hostile folders, journals and CSV files are in
#: tests/simulator/test_replay_cli.py and test_compare.py
NOT_HOSTILE_HERE = {("pl", "info"), ("pl", "calibrate"), ("hub", "migrate"),
                    ("hub", "list-edges"), ("carbon", "cases"), ("owen", "pjm5"),
                    ("devices", "serve"), ("devices", "clear"), ("devices", "map"),
                    ("sim", "run"), ("sim", "replay"), ("sim", "compare")}

VALUES = {"file": FILE_HOSTILE, "int": INT_HOSTILE, "float": FLOAT_HOSTILE,
          "port": PORT_HOSTILE, "hex": HEX_HOSTILE, "str": STR_HOSTILE, "out": OUT_HOSTILE}


#: leaves that build a power-flow network before they read the hostile option: seconds a case
SLOW_LEAVES = {("carbon", "series")}


def discovered() -> dict[tuple[str, str], list]:
    """Every leaf the command line has now, with its argparse actions."""
    import argparse
    import importlib

    leaves = {}
    for name, comp in components().items():
        p = argparse.ArgumentParser()
        importlib.import_module(comp.module).register(p)
        for a in p._actions:
            if isinstance(a, argparse._SubParsersAction):
                for leaf, lp in a.choices.items():
                    leaves[(name, leaf)] = [x for x in lp._actions if x.option_strings
                                            and x.nargs != 0 and x.dest != "help"]
    return leaves


def generic(actions) -> tuple[list[str], dict[str, str]]:
    """A leaf not described above: required options filled plainly, each option made hostile.

    Weaker than a described leaf (the plain fill may be refused before the hostile
    option is read) but no leaf goes unexercised; describe a new leaf in LEAVES.
    """
    base: list[str] = []
    opts: dict[str, str] = {}
    for a in actions:
        kind = {int: "int", float: "float"}.get(a.type, "str" if a.choices else "file")
        if a.choices:
            continue
        opts[a.option_strings[-1]] = kind
        if a.required:
            base += [a.option_strings[-1], "1" if kind in ("int", "float") else "{msg}"]
    return base, opts


ALL_LEAVES = discovered()
for _leaf, _actions in ALL_LEAVES.items():
    if _leaf not in LEAVES and _leaf not in NOT_HOSTILE_HERE:
        LEAVES[_leaf] = generic(_actions)


def cases():
    for (comp, leaf), (_, opts) in LEAVES.items():
        marks = [pytest.mark.slow] if (comp, leaf) in SLOW_LEAVES else []
        for opt, kind in opts.items():
            for value in VALUES[kind]:
                label = value if len(value) < 12 else f"{value[:6]}..({len(value)})"
                yield pytest.param(comp, leaf, opt, kind, value, marks=marks,
                                   id=f"{comp}-{leaf}{opt}={label!a}")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    import importlib

    for comp in components().values():  # import cost (pandapower: many seconds) paid once here
        importlib.import_module(comp.module)
    d = tmp_path_factory.mktemp("hostile")
    key = generate_key()
    save_private_key(key, d / "k.pem")
    save_private_key(generate_key(), d / "hub.pem")
    (d / "msg.json").write_bytes(telemetry("gw-01", 1, 1_700_000_000_000, bytes(32)))
    (d / "hashin.json").write_text('{"messages_hex": ["00", "abcd"]}')
    assert main(["chain", "append-demo", "--db", str(d / "c.db"), "--key", str(d / "k.pem"),
                 "--blocks", "2", "--txs", "3"]) == 0
    assert main(["chain", "export", "--db", str(d / "c.db"), "--height", "1",
                 "--out", str(d / "export.json")]) == 0
    hostile = d / "hostile"
    hostile.mkdir()
    (hostile / "a-directory").mkdir()
    (hostile / "not-utf8").write_bytes(b'{"a": "\xff\xfe\x80"}\n\xc3')
    (hostile / "digits").write_text('{"v": ' + "9" * 5000 + "}\nv = " + "9" * 5000 + "\n")
    (hostile / "not-sqlite").write_bytes(b"SQLite format 3\x00" + os.urandom(3000))
    (hostile / "empty").write_bytes(b"")
    (hostile / "deep").write_text("[" * 200_000 + "]" * 200_000)
    return {"dir": d, "pub": public_id(key.public_key()), "hostile": hostile}


def hostile_value(kind: str, value: str, files) -> str:
    h: Path = files["hostile"]
    if kind == "file":
        return str({"directory": h / "a-directory", "not utf-8": h / "not-utf8",
                    "5000 digits": h / "digits", "not sqlite": h / "not-sqlite",
                    "missing": h / "missing", "empty": h / "empty", "deep nesting": h / "deep",
                    "undecodable name": h / "\udcff\udcfe.json"}[value])
    if kind == "out":
        return str({"directory": h / "a-directory", "missing dir": h / "no" / "such" / "x",
                    "undecodable name": h / "out-\udcff"}[value])
    return value


class Hung(Exception):
    pass


def _alarm(*_a):
    raise Hung()


@pytest.mark.parametrize("comp,leaf,opt,kind,value", list(cases()))
def test_hostile_input_is_one_line_never_a_traceback(comp, leaf, opt, kind, value, files,
                                                     capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    base, _ = LEAVES[(comp, leaf)]
    fill = {"msg": files["dir"] / "msg.json", "pem": files["dir"] / "k.pem",
            "hubpem": files["dir"] / "hub.pem", "db": files["dir"] / "c.db",
            "newdb": tmp_path / "new.db", "new": tmp_path / "new.pem",
            "export": files["dir"] / "export.json", "hashin": files["dir"] / "hashin.json",
            "dir": files["hostile"] / "a-directory", "tmp": tmp_path, "pub": files["pub"]}
    argv = [comp, leaf, *[a.format(**fill) for a in base]]
    bad = hostile_value(kind, value, files)
    if opt in argv:
        argv[argv.index(opt) + 1] = bad
    else:
        argv += [opt, bad]
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(LIMIT_S)
    start = time.monotonic()
    try:
        try:
            rc = main(argv)
        except SystemExit as exc:  # argparse refusing a value
            rc = exc.code
    except Hung:
        pytest.fail(f"{comp} {leaf} {opt}: still running after {LIMIT_S} s instead of refusing")
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    out, err = capsys.readouterr()
    assert "Traceback" not in err, err[-2000:]
    assert rc in (0, 1, 2), (rc, err[-2000:])
    if rc == 2:
        lines = [ln for ln in err.splitlines() if ln.strip() and not ln.startswith(" ")
                 and not ln.startswith("usage:")]
        assert len(lines) == 1, err  # one sentence (argparse adds its usage line above)
    assert time.monotonic() - start < LIMIT_S


def test_every_leaf_is_covered():
    # described leaves that no longer exist are noticed (a renamed option or leaf)
    assert set(LEAVES) | NOT_HOSTILE_HERE == set(ALL_LEAVES)
    assert ("chain", "verify") in LEAVES and ("hub", "serve") in LEAVES

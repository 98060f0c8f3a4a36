"""The wire protocol: canonical bytes, every rejection reason, tags and signatures."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.chain.keys import generate_key
from edge.protocol import fills
from edge.protocol.auth import add_signature, add_tag, check_signature, check_tag
from edge.protocol.canonical import canonical
from edge.protocol.codec import decode, encode
from edge.protocol.errors import ProtocolError, Reason
from edge.protocol.messages import Bid, ClearingResult, FillOut, Telemetry

VECTORS = json.loads((Path(__file__).parent.parent / "vectors" / "protocol.json").read_text())
KEY = bytes.fromhex(VECTORS["key_hex"])


def bid(**over):
    base = {"v": 1, "type": "bid", "site": "s1", "gw": "gw-01", "seq": 8, "ts": 1_700_000_000_200,
            "interval": 1_700_000_100, "side": "sell", "qty_wh": 412, "price": 95_000, "round": 0,
            "tag": "0" * 64}
    base.update(over)
    return {k: v for k, v in base.items() if v is not ...}


def reject(raw: bytes | dict) -> ProtocolError:
    if isinstance(raw, dict):
        raw = json.dumps(raw).encode()
    with pytest.raises(ProtocolError) as info:
        decode(raw)
    return info.value


# --- canonical bytes ------------------------------------------------------

@pytest.mark.parametrize("case", VECTORS["canonical_only"])
def test_canonical_vectors(case):
    assert canonical(case["value"]).decode() == case["canonical"]


@pytest.mark.parametrize("vec", VECTORS["vectors"], ids=lambda v: v["message"]["type"])
def test_message_vectors_tag_and_decode(vec):
    msg = vec["message"]
    assert canonical(msg).decode() == vec["canonical_without_tag"]
    tagged = add_tag(msg, KEY)
    assert tagged["tag"] == vec["tag"]
    assert canonical(tagged).decode() == vec["wire"]
    decoded = decode(vec["wire"].encode())
    check_tag(decoded.raw, KEY)
    assert encode(decoded.model) == vec["wire"].encode()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=200)
@given(value=json_values)
def test_canonical_is_a_fixed_point_and_order_free(value):
    once = canonical(value)
    assert canonical(json.loads(once)) == once
    if isinstance(value, dict):
        assert canonical(dict(reversed(list(value.items())))) == once


@pytest.mark.parametrize("bad", [1.0, {"a": float("nan")}, {1: 2}, b"x", 2**63, [{"x": 0.5}]])
def test_canonical_refuses_ambiguous_values(bad):
    with pytest.raises(ValueError):
        canonical(bad)


def test_canonical_is_the_same_on_other_pythons(tmp_path):
    """Python 3.10 and 3.12 (when installed) produce the same bytes as this one."""
    script = (
        "import json,sys;v=json.load(open(sys.argv[1]));"
        "print(json.dumps([json.dumps(c['value'],sort_keys=True,separators=(',',':'),"
        "ensure_ascii=True) for c in v['canonical_only']]))"
    )
    path = Path(__file__).parent.parent / "vectors" / "protocol.json"
    ran = 0
    for version in ("3.10", "3.12"):
        exe = Path(os.path.expanduser("~/.pyenv/versions")).glob(f"{version}*/bin/python{version}")
        for python in exe:
            out = subprocess.run([python, "-c", script, path], capture_output=True, text=True)
            assert json.loads(out.stdout) == [c["canonical"] for c in VECTORS["canonical_only"]]
            ran += 1
    if not ran:
        pytest.skip("no Python 3.10 or 3.12 installed beside this one")


# --- rejections, one per reason -------------------------------------------

@pytest.mark.parametrize(
    "raw,reason,field",
    [
        (b"x" * 20000, Reason.OVERSIZE, None),
        (b"{not json", Reason.MALFORMED, None),
        (b"\xff\xfe", Reason.MALFORMED, None),
        (b"[1,2]", Reason.NOT_OBJECT, None),
        (b'{"v":1,"v":1}', Reason.DUPLICATE_KEY, "v"),
        (json.dumps(bid(qty_wh=1.5)).encode(), Reason.FLOAT, "qty_wh"),
        (json.dumps(bid(price=1e3)).encode(), Reason.FLOAT, "price"),
        (b'{"v":1,"type":"bid","qty_wh":NaN}', Reason.FLOAT, None),
        (json.dumps(bid(round=None)).encode(), Reason.NULL, "round"),
        (json.dumps(bid(type="order")).encode(), Reason.UNKNOWN_TYPE, "type"),
        (json.dumps(bid(v=2)).encode(), Reason.BAD_VERSION, "v"),
        (json.dumps(bid(extra=1)).encode(), Reason.UNKNOWN_FIELD, "extra"),
        (json.dumps(bid(price=...)).encode(), Reason.MISSING_FIELD, "price"),
        (json.dumps(bid(qty_wh="412")).encode(), Reason.WRONG_TYPE, "qty_wh"),
        (json.dumps(bid(qty_wh=True)).encode(), Reason.WRONG_TYPE, "qty_wh"),
        (json.dumps(bid(qty_wh=0)).encode(), Reason.OUT_OF_RANGE, "qty_wh"),
        (json.dumps(bid(price=-1)).encode(), Reason.OUT_OF_RANGE, "price"),
        (json.dumps(bid(price=2**31)).encode(), Reason.OUT_OF_RANGE, "price"),
        (json.dumps(bid(side="hold")).encode(), Reason.BAD_FORMAT, "side"),
        (json.dumps(bid(gw="gw 01")).encode(), Reason.BAD_FORMAT, "gw"),
        (json.dumps(bid(tag="zz")).encode(), Reason.BAD_FORMAT, "tag"),
        (json.dumps(bid(tag=...)).encode(), Reason.MISSING_FIELD, "tag"),
    ],
)
def test_each_bad_input_has_its_reason_and_field(raw, reason, field):
    err = reject(raw)
    assert err.reason is reason, err
    if field is not None:
        assert err.field == field, err


def test_nested_field_path_is_named():
    msg = json.loads(VECTORS["vectors"][0]["wire"])
    msg["readings"][1]["soc_pm"] = 1001
    err = reject(msg)
    assert (err.reason, err.field) == (Reason.OUT_OF_RANGE, "readings[1].soc_pm")
    msg["readings"][1]["soc_pm"] = 73.4
    err = reject(msg)
    assert (err.reason, err.field) == (Reason.FLOAT, "readings[1].soc_pm")


def test_tag_binds_every_field_and_the_key():
    good = add_tag(bid(), KEY)
    check_tag(good, KEY)
    for field, value in [("qty_wh", 413), ("price", 94_999), ("seq", 9), ("side", "buy")]:
        with pytest.raises(ProtocolError) as info:
            check_tag({**good, field: value}, KEY)
        assert info.value.reason is Reason.BAD_TAG
    with pytest.raises(ProtocolError):
        check_tag(good, os.urandom(32))


def test_signed_messages(producer_key):
    """A result header signs and checks; its fills travel as a block it commits to (count and
    SHA-256), every decoded fill is a valid FillOut, and a header that carries a fills list
    (the old form) is refused."""
    sells = [("gw-01", 8, 90_000, 10, 10, 1, 2), ("gw-02", 9, 95_000, 20, 5, 1, 1),
             ("gw-03", 2**53 - 1, 2**31 - 1, 2**31 - 1, 0, 0, 0), ("g", 0, 0, 1, 0, 0, 3)]
    ids, seq, price, order_wh, qty, side, status = (list(c) for c in zip(*sells, strict=True))
    block = fills.encode(seq, price, order_wh, qty, side, status, ids)
    result = {"v": 1, "type": "result", "ts": 1, "site": "s1", "interval": 900, "round": 0,
              "final": True, "price": 90_000, "volume_wh": 15, "regime": "buyers_market",
              "fills_n": 4, "fills_sha256": hashlib.sha256(block).hexdigest()}
    signed = add_signature(result, producer_key)
    decoded = decode(canonical(signed))
    assert isinstance(decoded.model, ClearingResult) and decoded.model.fills_n == 4
    check_signature(decoded.raw, signed["signer"])
    with pytest.raises(ProtocolError) as info:
        check_signature({**signed, "price": 1})
    assert info.value.reason is Reason.BAD_SIGNATURE
    with pytest.raises(ProtocolError) as info:  # the block's hash is signed like the rest
        check_signature({**signed, "fills_sha256": "0" * 64})
    assert info.value.reason is Reason.BAD_SIGNATURE
    other = add_signature(result, generate_key())
    with pytest.raises(ProtocolError, match="unexpected key"):
        check_signature(other, signed["signer"])
    rows = fills.decode(block, 900)
    assert [FillOut.model_validate(r).model_dump() for r in rows] == rows
    assert [(r["order"], r["gw"], r["side"], r["status"]) for r in rows] == [
        ("900-8", "gw-01", "sell", "filled"), ("900-9", "gw-02", "sell", "partial"),
        (f"900-{2**53 - 1}", "gw-03", "buy", "unfilled"), ("900-0", "g", "buy", "excluded")]
    read = fills.read(fills.frame(canonical(signed), block))
    assert read["fills"] == rows and read["fills_n"] == 4
    old = add_signature({**result, "fills": rows[:1]}, producer_key)
    assert reject(canonical(old)).reason is Reason.UNKNOWN_FIELD
    for missing in ("fills_n", "fills_sha256"):
        part = add_signature({k: v for k, v in result.items() if k != missing}, producer_key)
        assert reject(canonical(part)).reason is Reason.MISSING_FIELD


def test_models_round_trip():
    t = Telemetry.model_validate(json.loads(VECTORS["vectors"][0]["wire"]))
    assert t.readings[0].p_w == -1520 and t.energy.gen_wh == 980
    assert isinstance(decode(canonical(add_tag(bid(), KEY))).model, Bid)


def test_cli_validate_and_tag(tmp_path):
    env = {**os.environ, "PYTHONPATH": os.getcwd()}

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "edge.cli", "protocol", *args],
                              capture_output=True, text=True, env=env, cwd=tmp_path)

    (tmp_path / "bid.json").write_text(json.dumps(bid()))
    tagged = cli("tag", "--file", "bid.json", "--key", KEY.hex())
    assert tagged.returncode == 0
    (tmp_path / "tagged.json").write_text(tagged.stdout)
    ok = cli("validate", "--file", "tagged.json", "--key", KEY.hex(), "--json")
    assert ok.returncode == 0 and json.loads(ok.stdout)["authenticated"] is True
    bad = cli("validate", "--file", "bid.json", "--key", KEY.hex(), "--json")
    assert bad.returncode == 1 and json.loads(bad.stdout)["reason"] == "bad_tag"
    assert cli("validate", "--file", "bid.json", "--key", "abc").returncode == 2

"""Chain-only transactions: the declared models encode exactly the documented leaves."""

from __future__ import annotations

import hashlib
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from edge.protocol.transactions import (
    TX_TYPES,
    AnchorReceiptTx,
    MeterReading,
    TelemetryDigest,
    tx_bytes,
)
from edge.protocol.types import ID_PATTERN, MAX_SEQ, MAX_TS_MS


def test_telemetry_digest_is_who_which_when_and_the_hash_of_the_bytes():
    payload = b'{"any":"bytes"}'
    tx = TelemetryDigest.of("gw1", 42, 1_700_000_000_000, payload)
    # the leaf written out by hand, keys sorted, no spaces
    digest = hashlib.sha256(payload).hexdigest()
    expect = (b'{"gw":"gw1","seq":42,"sha256":"' + digest.encode()
              + b'","ts":1700000000000,"type":"telemetry_digest"}')
    assert tx_bytes(tx) == expect
    assert TelemetryDigest.leaf("gw1", 42, 1_700_000_000_000, payload) == expect


@settings(max_examples=300, deadline=None)
@given(st.from_regex(ID_PATTERN, fullmatch=True), st.integers(0, MAX_SEQ),
       st.integers(0, MAX_TS_MS), st.binary(max_size=64))
def test_the_written_out_digest_leaf_is_the_models(gw, seq, ts, payload):
    assert TelemetryDigest.leaf(gw, seq, ts, payload) == tx_bytes(
        TelemetryDigest.of(gw, seq, ts, payload))


def test_meter_reading_leaf_omits_absent_values():
    tx = MeterReading.model_validate({"site": "s1", "dev": "m1", "kind": "meter", "q": "good",
                                      "ts": 5, "p_w": -1200})
    assert tx_bytes(tx) == (b'{"dev":"m1","kind":"meter","p_w":-1200,"q":"good","site":"s1",'
                            b'"ts":5,"type":"meter_reading"}')


def test_anchor_receipt_refuses_a_receipt_without_a_header_signature():
    good = {"header": {"version": 1, "chain": "main", "height": 3, "prev": "00" * 32,
                       "root": "11" * 32, "ts": 9, "ntx": 1, "producer": "22" * 32,
                       "sig": "33" * 64},
            "index": 0, "tx": {"edge": "44" * 32, "height": 6, "hash": "55" * 32}, "proof": []}
    leaf = json.loads(tx_bytes(AnchorReceiptTx.of(good)))
    assert leaf == {**good, "type": "anchor_receipt"}
    bad = {**good, "header": {k: v for k, v in good["header"].items() if k != "sig"}}
    with pytest.raises(ValidationError):
        AnchorReceiptTx.of(bad)


def test_every_kind_the_edge_writes_is_declared():
    assert {"telemetry_digest", "meter_reading", "anchor_receipt", "bid", "result",
            "settlement", "price"} <= set(TX_TYPES)

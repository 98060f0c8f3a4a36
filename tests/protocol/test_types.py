"""The shared value types: one definition, the same verdict wherever it is used."""

from __future__ import annotations

import pytest
from pydantic import TypeAdapter, ValidationError

from edge.protocol.identity import BadKeyId, public_id, public_key_from_id
from edge.protocol.types import (
    MAX_PRICE,
    Id,
    KeyId,
    Price,
    is_id,
    is_key_id,
    is_price,
)
from edge.runtime.config import ConfigError, parse_config

GOOD_IDS = ["a", "gw-01", "site_A.2", "x" * 32]
BAD_IDS = ["", "x" * 33, "gw/01", "gw 1", "gw+", "é", "site/+/#"]


@pytest.mark.parametrize("value", GOOD_IDS)
def test_good_ids_pass_everywhere(value):
    assert is_id(value)
    assert TypeAdapter(Id).validate_python(value) == value


@pytest.mark.parametrize("value", BAD_IDS)
def test_bad_ids_fail_everywhere(value, tmp_path):
    assert not is_id(value)
    with pytest.raises(ValidationError):
        TypeAdapter(Id).validate_python(value)
    raw = {"site": {"id": value, "data_dir": str(tmp_path), "edge_key": str(tmp_path / "k")},
           "mqtt": {"tls": False}, "gateways": [{"id": "g1", "key_hex": "00" * 32}]}
    with pytest.raises(ConfigError, match="site.id"):
        parse_config(raw)


def test_key_id_is_lower_case_hex_of_32_bytes():
    assert is_key_id("ab" * 32)
    for bad in ["AB" * 32, "ab" * 31, "ab" * 33, "zz" * 32, 7, None]:
        assert not is_key_id(bad)
    with pytest.raises(ValidationError):
        TypeAdapter(KeyId).validate_python("AB" * 32)


def test_price_bound_is_the_pl_word():
    # 32-bit signed word on the PL: 2**31 - 1 is the largest price, computed by hand
    assert MAX_PRICE == 2_147_483_647
    assert is_price(0) and is_price(2_147_483_647)
    for bad in [-1, 2_147_483_648, True, 1.0, "5"]:
        assert not is_price(bad)
    with pytest.raises(ValidationError):
        TypeAdapter(Price).validate_python(2_147_483_648)
    with pytest.raises(ValidationError):  # strict: no coercion of text to a price
        TypeAdapter(Price).validate_python("5")


def test_identity_round_trip_and_refusal():
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    pub = Ed25519PrivateKey.generate().public_key()
    kid = public_id(pub)
    assert is_key_id(kid)
    assert public_id(public_key_from_id(kid)) == kid
    with pytest.raises(BadKeyId):
        public_key_from_id("not hex")

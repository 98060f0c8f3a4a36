"""canonical()'s fast walk refuses exactly what the plain isinstance walk refuses, with the same
message (the plain walk is restated here as the reference)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.chain.keys import generate_key
from edge.protocol.auth import add_signature, check_signature, sign_encoded
from edge.protocol.canonical import INT_LIMIT, canonical, encoded, join, members


def reference(value: Any, path: str = "") -> None:
    if value is None or isinstance(value, (bool, str)):
        return
    if isinstance(value, int):
        if not -INT_LIMIT <= value < INT_LIMIT:
            raise ValueError(f"integer out of 64-bit range at {path or '$'}")
        return
    if isinstance(value, float):
        raise ValueError(f"float at {path or '$'}: use integer units")
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            reference(item, f"{path}[{i}]")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValueError(f"non-string key {key!r} at {path or '$'}")
            reference(item, f"{path}.{key}" if path else key)
        return
    raise ValueError(f"cannot encode {type(value).__name__} at {path or '$'}")


class Text(str):
    pass


scalars = st.one_of(
    st.none(), st.booleans(), st.text(max_size=5), st.builds(Text, st.text(max_size=3)),
    st.integers(-(2**64), 2**64), st.floats(allow_nan=False, allow_infinity=False),
    st.just(b"x"), st.just(object()),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.lists(inner, max_size=3).map(tuple),
        st.dictionaries(st.one_of(st.text(max_size=3), st.integers(0, 3)), inner, max_size=4),
    ),
    max_leaves=20,
)


def outcome(fn, value):
    try:
        fn(value)
    except ValueError as exc:
        return str(exc)
    return None


@settings(max_examples=500, deadline=None)
@given(values)
def test_fast_walk_refuses_what_the_plain_walk_refuses(value):
    expected = outcome(reference, value)
    got = outcome(canonical, value)
    if expected is None:
        assert got is None
    else:
        assert got == expected


def _fills(n: int) -> list[dict[str, Any]]:
    return [{"order": f"900000-{i}", "gw": f"p{i}", "side": "buy", "qty_wh": i * 7,
             "status": "unfilled", "ok": i % 2 == 0, "none": None} for i in range(n)]


BAD_ITEMS = [1.5, 2**63, -(2**63) - 1, b"x", object(), (1, 2.0), [1, [2, 0.5]], {"a": 0.25},
             Text("t")]


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 199), st.sampled_from(BAD_ITEMS), st.booleans())
def test_a_large_list_of_flat_dicts_refuses_like_the_plain_walk(at, bad, as_key):
    """The C-level check of long lists (a result's fills) finds the same first error, at the
    same path, as the reference walk, wherever in the list the bad value sits."""
    fills = _fills(200)
    if as_key:
        fills[at] = {**fills[at], (bad if isinstance(bad, (int, float, bytes)) else 3): 1}
    else:
        fills[at] = {**fills[at], "qty_wh": bad}
    value = {"v": 1, "fills": fills}
    assert outcome(canonical, value) == outcome(reference, value)


def test_large_plain_lists_encode_as_the_json_reference():
    """Byte-identical to json.dumps with the canonical settings (the independent encoder)."""
    value = {"fills": _fills(5000), "ints": list(range(-2**62, 2**62, 2**50)),
             "mixed": [None, True, "é", 2**63 - 1, -(2**63)], "keys": [{Text("k"): 1}]}
    expected = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True,
                          allow_nan=False).encode("ascii")
    assert outcome(reference, value) is None
    assert canonical(value) == expected
    for edge in (2**63, -(2**63) - 1):
        value["mixed"][3] = edge
        assert outcome(canonical, value) == outcome(reference, value) is not None


def _reference_bytes(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True,
                      allow_nan=False).encode("ascii")


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(max_size=4), values, max_size=6))
def test_members_joined_are_the_canonical_bytes(value):
    """join(members(v)) is canonical(v) byte for byte, and refuses what it refuses, alike."""
    expected = outcome(reference, value)
    try:
        got = join(members(value))
    except ValueError as exc:
        assert str(exc) == expected
        return
    assert expected is None
    assert got == canonical(value) == _reference_bytes(value)


def test_a_signed_encoded_message_is_the_signed_message_with_its_bytes():
    key = generate_key()
    msg = {"v": 1, "type": "result", "fills": _fills(300), "é": "ü", "sig": "stale"}
    signed = sign_encoded(msg, key)
    plain = add_signature(msg, key)  # Ed25519 is deterministic: the same signature
    assert signed == plain and type(dict(signed)) is dict
    assert signed.raw == _reference_bytes(plain) == canonical(signed)
    check_signature(dict(signed), plain["signer"])
    with pytest.raises(TypeError, match="read-only"):
        signed["fills"] = []
    with pytest.raises(TypeError, match="read-only"):
        signed.update(v=2)
    with pytest.raises(ValueError, match="not those of the message"):
        encoded({"a": 1}, {"b": b"1"})
    with pytest.raises(ValueError, match="float at fills"):
        sign_encoded({"fills": [{"q": 0.5}]}, key)


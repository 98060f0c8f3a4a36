"""canonical()'s fast walk refuses exactly what the plain isinstance walk refuses, with the same
message (the plain walk is restated here as the reference)."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from edge.protocol.canonical import INT_LIMIT, canonical


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

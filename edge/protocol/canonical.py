"""Canonical bytes: the single encoding under every hash, tag and signature.

JSON with keys sorted by code point, no insignificant whitespace, ASCII only
(non-ASCII escaped as \\uXXXX), integers only. Python's json module produces
exactly this for these types on every CPython version we support, and the
firmware's small encoder produces the same bytes (tests check both against
shared vectors). Floats, NaN and non-string keys are refused rather than
coerced: a value that cannot be encoded one way only must not be signed.
"""

from __future__ import annotations

import json
from typing import Any

#: Integers must fit a signed 64-bit word so every platform decodes them alike.
INT_LIMIT = 1 << 63


def _check(value: Any, path: str) -> None:
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
            _check(item, f"{path}[{i}]")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValueError(f"non-string key {key!r} at {path or '$'}")
            _check(item, f"{path}.{key}" if path else key)
        return
    raise ValueError(f"cannot encode {type(value).__name__} at {path or '$'}")


def canonical(value: Any) -> bytes:
    """Encode `value` canonically; raise ValueError for anything not encodable one way."""
    _check(value, "")
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    ).encode("ascii")

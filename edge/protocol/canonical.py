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
from itertools import chain, compress, repeat
from operator import is_
from typing import Any

#: Integers must fit a signed 64-bit word so every platform decodes them alike.
INT_LIMIT = 1 << 63


def _check(value: Any, path: str) -> None:
    """``_check_slow`` with a fast walk over plain JSON (exact dict, list, str, int, bool,
    None): every hash, tag and signature pays for this walk, and most of the slow one's
    time went to isinstance chains. Anything else is handed to ``_check_slow`` at its own
    path, so the errors are exactly the slow walk's."""
    t = type(value)
    if t is dict:
        for key, item in value.items():
            if type(key) is not str:
                return _check_slow(value, path)  # raises at this key, as the slow walk does
            ti = type(item)
            if ti is str or ti is bool or item is None:
                continue
            if ti is int and -INT_LIMIT <= item < INT_LIMIT:
                continue
            sub = f"{path}.{key}" if path else key
            if ti is dict or ti is list:
                _check(item, sub)
            else:
                _check_slow(item, sub)
    elif t is list:
        if _plain_list(value):
            return
        for i, item in enumerate(value):
            ti = type(item)
            if ti is str or ti is bool or item is None:
                continue
            if ti is int and -INT_LIMIT <= item < INT_LIMIT:
                continue
            if ti is dict or ti is list:
                _check(item, f"{path}[{i}]")
            else:
                _check_slow(item, f"{path}[{i}]")
    else:
        _check_slow(value, path)


_SCALAR_TYPES = frozenset((str, bool, int, type(None)))
_STR = frozenset((str,))


def _plain_list(items: list[Any]) -> bool:
    """True when ``items`` holds only plain scalars, or only dicts of plain scalars under
    exact-str keys, with every integer in range; False means "walk it item by item".

    Why: a large result is one list of 100,000 small dicts (its fills), and the item walk
    costs a Python step per value. Here the types, keys and integer bounds are read with
    C-level map/chain/set/min/max instead. It only ever says "fine" for what the item walk
    accepts; anything else (a float, a nested container, a str subclass key...) goes back
    to the item walk, which finds the same error at the same path.
    """
    types = set(map(type, items))
    vals: Any = items
    if types == {dict}:
        if not set(map(type, chain.from_iterable(map(dict.keys, items)))) <= _STR:
            return False
        vals = list(chain.from_iterable(map(dict.values, items)))
        types = set(map(type, vals))
    if not types <= _SCALAR_TYPES:
        return False
    if int in types:
        ints = list(compress(vals, map(is_, map(type, vals), repeat(int))))
        if min(ints) < -INT_LIMIT or max(ints) >= INT_LIMIT:
            return False
    return True


def _check_slow(value: Any, path: str) -> None:
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
    if type(value) is Encoded:
        return value.raw
    _check(value, "")
    return _dumps(value)


def _dumps(value: Any) -> bytes:
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    ).encode("ascii")


_quote = json.encoder.encode_basestring_ascii  # what json.dumps writes for a str
_LITERALS = {True: b"true", False: b"false", None: b"null"}


def _member(value: Any) -> bytes:
    """``_dumps`` of one checked member, without an encoder per scalar: a signed message's
    members are mostly short strings and integers."""
    t = type(value)
    if t is str:
        return _quote(value).encode("ascii")
    if t is int:
        return b"%d" % value
    if t is bool or value is None:
        return _LITERALS[value]
    return _dumps(value)


def members(value: dict[str, Any]) -> dict[str, bytes]:
    """The canonical bytes of each member of the object ``value`` (checked as ``canonical``
    checks it, with the same errors), for ``join`` to assemble.

    Why: a signed message is encoded twice, without and with its signature; with its
    members encoded once, both are a join of the same parts.
    """
    if type(value) is not dict:
        raise ValueError(f"members of a {type(value).__name__}: an object is needed")
    _check(value, "")
    return {k: _member(v) for k, v in value.items()}


def join(parts: dict[str, bytes]) -> bytes:
    """The canonical bytes of an object whose members' canonical bytes are ``parts``:
    keys sorted by code point, as ``canonical`` sorts them."""
    if not parts:
        return b"{}"
    out: list[bytes] = []
    for k in sorted(parts):  # each part copied once (a result's fills are megabytes)
        out += (b",", _quote(k).encode("ascii"), b":", parts[k])
    out[0] = b"{"
    out.append(b"}")
    return b"".join(out)


class Encoded(dict):  # type: ignore[type-arg]
    """A message that carries its canonical bytes (``raw``): ``canonical`` returns them
    without walking or encoding it again.

    Why: the edge stores, queues for the chain and publishes each signed result, and each
    asked for the same bytes. Made by ``encoded`` from bytes that were made from these
    very contents; the top level refuses changes, and the nested values must not change
    either: hand one only to code that uses it at once (a plain ``dict(e)`` to others).
    """

    __slots__ = ("raw",)

    raw: bytes

    def _refuse(self, *_: Any, **__: Any) -> None:
        raise TypeError("an Encoded message is read-only: copy it with dict() to change it")

    __setitem__ = __delitem__ = update = pop = popitem = clear = setdefault = _refuse
    __ior__ = _refuse  # type: ignore[assignment]


def encoded(value: dict[str, Any], parts: dict[str, bytes]) -> Encoded:
    """``value`` with its canonical bytes, joined from ``parts`` (``members(value)``)."""
    if parts.keys() != value.keys():
        raise ValueError("the encoded parts are not those of the message")
    out = Encoded(value)
    out.raw = join(parts)
    return out

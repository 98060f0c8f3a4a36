"""Canonical JSON, byte for byte what edge/protocol/canonical.py produces.

MicroPython's json.dumps neither sorts keys nor escapes non-ASCII, and the
tag covers exact bytes, so the firmware carries its own encoder: keys sorted
by code point (UTF-8 byte order is code point order), no whitespace, ASCII
only with \\uXXXX escapes (surrogate pairs above U+FFFF), integers only.
Anything that has more than one encoding (floats) is refused.
"""

INT_LIMIT = 1 << 63
_SHORT = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t",
          "\b": "\\b", "\f": "\\f"}


def _u(code):
    return "\\u%04x" % code


def _str(s, out):
    out.append('"')
    start = 0
    for i, ch in enumerate(s):
        o = ord(ch)
        if 0x20 <= o < 0x7F and ch != '"' and ch != "\\":
            continue
        if start < i:
            out.append(s[start:i])
        if ch in _SHORT:
            out.append(_SHORT[ch])
        elif o < 0x10000:
            out.append(_u(o))
        else:
            o -= 0x10000
            out.append(_u(0xD800 | (o >> 10)) + _u(0xDC00 | (o & 0x3FF)))
        start = i + 1
    if start == 0:
        out.append(s)
    elif start < len(s):
        out.append(s[start:])
    out.append('"')


def _enc(v, out, path):
    if v is None:
        out.append("null")
    elif v is True:
        out.append("true")
    elif v is False:
        out.append("false")
    elif isinstance(v, str):
        _str(v, out)
    elif isinstance(v, int):
        if not -INT_LIMIT <= v < INT_LIMIT:
            raise ValueError("integer out of 64-bit range at " + (path or "$"))
        out.append(str(v))
    elif isinstance(v, float):
        raise ValueError("float at " + (path or "$") + ": use integer units")
    elif isinstance(v, (list, tuple)):
        out.append("[")
        for i, item in enumerate(v):
            if i:
                out.append(",")
            _enc(item, out, path + "[" + str(i) + "]")
        out.append("]")
    elif isinstance(v, dict):
        keys = list(v.keys())
        for k in keys:
            if not isinstance(k, str):
                raise ValueError("non-string key at " + (path or "$"))
        keys.sort()
        out.append("{")
        first = True
        for k in keys:
            if not first:
                out.append(",")
            first = False
            _str(k, out)
            out.append(":")
            _enc(v[k], out, (path + "." + k) if path else k)
        out.append("}")
    else:
        raise ValueError("cannot encode " + type(v).__name__ + " at " + (path or "$"))


def canonical(value):
    """The canonical bytes of `value`; ValueError for anything without one encoding."""
    out = []
    _enc(value, out, "")
    return "".join(out).encode()

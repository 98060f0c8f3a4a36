"""Arithmetic modulo p = 2**255 - 19, shared by Ed25519 (ed25519.py) and X25519 (x25519.py)."""

P = (1 << 255) - 19


def power(x, e):
    """x**e mod P (e < 2**255) by square and multiply.

    On MicroPython a Python loop of products is much faster than the
    builtin three-argument pow on big integers.
    """
    r = 1
    for i in range(254, -1, -1):
        r = r * r % P
        if (e >> i) & 1:
            r = r * x % P
    return r


def inv(x):
    return power(x, P - 2)

"""Command-line inputs, checked once for every component: argument types and input files.

Everything a user hands the command line is hostile in the same few ways: a
directory or a device where a file belongs, bytes that are not UTF-8,
numbers with thousands of digits, JSON nested a million deep, a port past
65535, a key that is not hex. The argparse types and readers here refuse
those with one sentence, and `input_error` names the same defects when they
surface from deeper code, so `carbon-edge` exits 2 with one line instead of
a traceback (edge/cli.py).
"""

from __future__ import annotations

import argparse
import json
import math
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

#: input files larger than this are refused before they are read
MAX_INPUT_BYTES = 64 * 1024 * 1024


class InputError(Exception):
    """A defect of the user's input; printed as one sentence, exit 2."""


# -- argparse types -------------------------------------------------------------
def port(text: str) -> int:
    """A TCP port 1..65535."""
    return _int_in(text, 1, 65535, "a TCP port")


def port_or_zero(text: str) -> int:
    """A TCP port, or 0 for any free port."""
    return _int_in(text, 0, 65535, "a TCP port (0 = any free one)")


def positive_int(text: str) -> int:
    return _int_in(text, 1, 1 << 53, "a positive integer")


def nonneg_int(text: str) -> int:
    return _int_in(text, 0, 1 << 53, "an integer >= 0")


def bounded_int(lo: int, hi: int) -> Callable[[str], int]:
    """An argparse type for integers in lo..hi (a loop count, a size)."""

    def parse(text: str) -> int:
        return _int_in(text, lo, hi, f"an integer in {lo}..{hi}")

    parse.__name__ = "int"
    return parse


def positive_float(text: str) -> float:
    """A finite number > 0 (seconds, hours): nan, inf and 1e999 are refused."""
    value = finite_float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be > 0")
    return value


def nonneg_float(text: str) -> float:
    """A finite number >= 0."""
    value = finite_float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be >= 0")
    return value


def finite_float(text: str) -> float:
    if len(text) > 40:
        raise argparse.ArgumentTypeError(f"{text[:20]!r}... is not a number")
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value) or abs(value) > 1e15:
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number of sensible size")
    return value


def _int_in(text: str, lo: int, hi: int, what: str) -> int:
    if len(text) > 20:
        raise argparse.ArgumentTypeError(f"{text[:20]!r}... is not {what}")
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
    if not lo <= value <= hi:
        raise argparse.ArgumentTypeError(f"{value} is not {what} ({lo}..{hi})")
    return value


def hex_key(text: str, nbytes: int = 32, what: str = "key") -> bytes:
    """`nbytes` bytes written as 2*nbytes hex digits (a gateway HMAC key: 32)."""
    if len(text) != 2 * nbytes:
        raise InputError(f"{what} must be {2 * nbytes} hex digits ({nbytes} bytes), "
                         f"got {len(text)} characters")
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise InputError(f"{what} must be hex digits only (0-9, a-f)") from None


# -- help ------------------------------------------------------------------------
class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Help as people know it from other tools: each option's default shown after its text
    (unless it has none or the text names it already) and the epilog's examples kept as
    written. Like argparse's ArgumentDefaultsHelpFormatter without its "(default: None)"."""

    def _format_action(self, action: argparse.Action) -> str:
        if not action.help and _has_default(action):
            import copy

            action = copy.copy(action)
            action.help = "(default: %(default)s)"
        return super()._format_action(action)

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = (action.help or "").strip()
        if not _has_default(action) or "default" in text:
            return action.help
        return f"{action.help or ''} (default: %(default)s)".strip()


def _has_default(action: argparse.Action) -> bool:
    d = action.default
    return (bool(action.option_strings) and d is not None and d is not False
            and d is not argparse.SUPPRESS and d != "" and not isinstance(d, bool))


def leaf(sub: Any, name: str, summary: str, *examples: str,
         **kwargs: Any) -> argparse.ArgumentParser:
    """A leaf command: the one-line ``summary`` as its help and description, defaults shown,
    and ``examples`` (command lines) in its epilog, so every leaf reads the same way."""
    description = summary[:1].upper() + summary[1:]
    epilog = ("examples:\n" if len(examples) > 1 else "example:\n") + \
        "\n".join(f"  {e}" for e in examples)
    return sub.add_parser(name, help=summary, description=description, epilog=epilog,
                          formatter_class=HelpFormatter, **kwargs)


# -- input files ----------------------------------------------------------------
def read_input(path: str | Path, max_bytes: int = MAX_INPUT_BYTES) -> bytes:
    """The bytes of a regular file (or stdin for "-"), refusing directories and huge files."""
    if str(path) == "-":
        data = sys.stdin.buffer.read(max_bytes + 1)
    else:
        p = Path(path)
        if not p.exists():
            raise InputError(f"no such file: {p}")
        if not p.is_file():
            raise InputError(f"{p} is not a regular file")
        with open(p, "rb") as fh:
            data = fh.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise InputError(f"{path} is larger than {max_bytes} bytes")
    return data


def read_text(path: str | Path, max_bytes: int = MAX_INPUT_BYTES) -> str:
    data = read_input(path, max_bytes)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path} is not UTF-8 text (byte {exc.start})") from None


def load_json(path: str | Path, max_bytes: int = MAX_INPUT_BYTES) -> Any:
    """JSON from a file, every defect (syntax, depth, huge numbers) as one InputError."""
    text = read_text(path, max_bytes)
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise InputError(f"{path} is not usable JSON: {input_error(exc) or exc}") from None


# -- defects that surface from deeper code ---------------------------------------
def input_error(exc: BaseException) -> str | None:
    """One sentence for an exception that only hostile input causes; None for a bug."""
    if isinstance(exc, InputError):
        return str(exc)
    if isinstance(exc, UnicodeError):
        return f"the input is not valid UTF-8 ({exc.reason})" \
            if isinstance(exc, (UnicodeDecodeError, UnicodeEncodeError)) \
            else "the input is not valid UTF-8"
    if isinstance(exc, json.JSONDecodeError):
        return f"the input is not JSON ({exc})"
    if isinstance(exc, RecursionError):
        return "the input is nested too deeply"
    if isinstance(exc, ValueError) and "integer string conversion" in str(exc):
        return "the input holds an integer with too many digits"
    if isinstance(exc, OverflowError):
        return f"a number is out of range ({exc})"
    if isinstance(exc, sqlite3.DatabaseError):
        return f"not a usable SQLite database ({exc})"
    if isinstance(exc, OSError) and exc.filename is not None:
        return f"cannot use {exc.filename}: {exc.strerror or exc}"
    return None

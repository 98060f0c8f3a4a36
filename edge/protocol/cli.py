"""`carbon-edge protocol ...`: check and tag messages by hand."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from edge.cli import EXIT_FAIL, EXIT_OK, UsageError, emit
from edge.protocol.auth import add_tag, check_signature, check_tag
from edge.protocol.canonical import canonical
from edge.protocol.codec import MAX_PAYLOAD, decode, loads
from edge.protocol.errors import ProtocolError


def _read(path: str) -> bytes:
    return sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()


def _key(hex_key: str) -> bytes:
    try:
        key = bytes.fromhex(hex_key)
    except ValueError:
        raise UsageError("--key must be the gateway key in hex") from None
    if len(key) != 32:
        raise UsageError(f"--key must be 32 bytes (64 hex digits), got {len(key)} bytes")
    return key


def cmd_validate(args: argparse.Namespace) -> int:
    raw = _read(args.file)
    try:
        msg = decode(raw, args.max_size)
        if msg.type in ("telemetry", "bid", "status"):
            if args.key:
                check_tag(msg.raw, _key(args.key))
        else:
            check_signature(msg.raw, args.signer)
    except ProtocolError as exc:
        out = {"ok": False, "reason": exc.reason.value, "field": exc.field, "detail": exc.detail}
        emit(out, args.json, f"rejected: {exc}")
        return EXIT_FAIL
    authenticated = bool(args.key) or msg.type not in ("telemetry", "bid", "status")
    out = {"ok": True, "type": msg.type, "authenticated": authenticated}
    note = "" if authenticated else " (tag not checked: no --key)"
    emit(out, args.json, f"ok: {msg.type}{note}")
    return EXIT_OK


def cmd_tag(args: argparse.Namespace) -> int:
    try:
        obj = loads(_read(args.file), MAX_PAYLOAD)
    except ProtocolError as exc:
        raise UsageError(str(exc)) from None
    print(canonical(add_tag(obj, _key(args.key))).decode())
    return EXIT_OK


def cmd_canonical(args: argparse.Namespace) -> int:
    try:
        obj = json.loads(_read(args.file))
        print(canonical(obj).decode())
    except (ValueError, json.JSONDecodeError) as exc:
        raise UsageError(f"cannot encode canonically: {exc}") from None
    return EXIT_OK


def register(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(metavar="ACTION")
    p = sub.add_parser("validate", help="validate a message (and its tag or signature)")
    p.add_argument("--file", required=True, help="message JSON file, or - for stdin")
    p.add_argument("--key", help="gateway HMAC key (hex) to check the tag")
    p.add_argument("--signer", help="required signer public id for signed messages")
    p.add_argument("--max-size", type=int, default=MAX_PAYLOAD)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_validate)
    p = sub.add_parser("tag", help="print a gateway message with its HMAC tag (canonical)")
    p.add_argument("--file", required=True)
    p.add_argument("--key", required=True, help="gateway HMAC key (hex)")
    p.set_defaults(func=cmd_tag)
    p = sub.add_parser("canonical", help="print the canonical bytes of a JSON value")
    p.add_argument("--file", required=True)
    p.set_defaults(func=cmd_canonical)

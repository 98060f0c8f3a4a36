"""`carbon-edge protocol ...`: check and tag messages by hand."""

from __future__ import annotations

import argparse
import json

from edge.cli import EXIT_FAIL, EXIT_OK, UsageError, emit
from edge.cliargs import hex_key as hex_key_arg
from edge.cliargs import leaf, positive_int, read_input
from edge.protocol.auth import add_tag, check_signature, check_tag
from edge.protocol.canonical import canonical
from edge.protocol.codec import MAX_PAYLOAD, decode, loads
from edge.protocol.errors import ProtocolError
from edge.protocol.topics import GATEWAY_KINDS


def _read(path: str) -> bytes:
    # a bound well above any message: decode() then names the size limit itself
    return read_input(path, max_bytes=16 * MAX_PAYLOAD)


#: message types a gateway tags (HMAC) rather than signs
GATEWAY_TYPES = frozenset(GATEWAY_KINDS.values())


def _key(hex_key: str) -> bytes:
    return hex_key_arg(hex_key, 32, "--key (the gateway key)")


def cmd_validate(args: argparse.Namespace) -> int:
    raw = _read(args.file)
    try:
        msg = decode(raw, args.max_size)
        if msg.type in GATEWAY_TYPES:
            if args.key is not None:  # an empty --key is a bad key, not "no key"
                check_tag(msg.raw, _key(args.key))
        else:
            check_signature(msg.raw, args.signer)
    except ProtocolError as exc:
        out = {"ok": False, "reason": exc.reason.value, "field": exc.field, "detail": exc.detail}
        emit(out, args.json, f"rejected: {exc}")
        return EXIT_FAIL
    authenticated = args.key is not None or msg.type not in GATEWAY_TYPES
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
    p = leaf(sub, "validate", "validate a message (and its tag or signature)",
             "carbon-edge protocol validate --file docs/examples/protocol/telemetry.json --key "
             "$(cat docs/examples/protocol/gateway.key)")
    p.add_argument("--file", required=True, help="message JSON file, or - for stdin")
    p.add_argument("--key", help="gateway HMAC key (hex) to check the tag")
    p.add_argument("--signer", help="required signer public id for signed messages")
    p.add_argument("--max-size", type=positive_int, default=MAX_PAYLOAD)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_validate)
    p = leaf(sub, "tag", "print a gateway message with its HMAC tag (canonical)",
             "carbon-edge protocol tag --file docs/examples/protocol/telemetry.json --key "
             "$(cat docs/examples/protocol/gateway.key)")
    p.add_argument("--file", required=True)
    p.add_argument("--key", required=True, help="gateway HMAC key (hex)")
    p.set_defaults(func=cmd_tag)
    p = leaf(sub, "canonical", "print the canonical bytes of a JSON value",
             "carbon-edge protocol canonical --file docs/examples/protocol/telemetry.json")
    p.add_argument("--file", required=True)
    p.set_defaults(func=cmd_canonical)

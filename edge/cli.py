"""The project's one command line: ``carbon-edge <component> <action>``.

Components are listed here by module path and imported only when used, so
the edge's command line never imports the hub or the simulator (the import
direction is simulator -> hub -> edge) and ``--help`` stays fast.

Each component module exposes ``register(parser)`` which adds its actions to
an ``argparse`` parser and sets ``func`` on each; ``func(args)`` returns the
exit code: 0 ok, 1 check failed, 2 usage or input error. Defects of the
input that surface as exceptions (edge.cliargs.input_error: a directory
for a file, bytes that are not UTF-8, numbers too long, a file that is not
SQLite) are input errors too: one line, exit 2. Any other exception is a
bug and exits 3 (never 1, which scripts read as "the check failed").
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from typing import Any

#: component name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "protocol": ("edge.protocol.cli", "validate, tag and inspect wire messages"),
    "chain": ("edge.chain.cli", "keys, blocks, verify, inclusion proofs"),
    "market": ("edge.market.cli", "clear order books (P5 uniform price, P1 merit order, rounds)"),
    "pl": ("edge.pl.cli", "PL back ends: info, hash and clear through the dispatcher"),
    "edge": ("edge.runtime.cli", "run the edge hub service (ingest, market, blocks, sync)"),
    "hub": ("hub.cli", "central hub: serve, edge registry, main chain, receipts"),
    "carbon": ("hub.carbon.cli", "carbon-emission flow tracing (P3): a snapshot or a 24 h series"),
    "owen": ("hub.allocation.cli", "Owen-value carbon allocation (P1), ladder prices, PJM-5 study"),
    "carbon-market": ("hub.carbonmarket.cli", "P2 carbon market: clear, peg relay, bids"),
    "devices": ("simulator.devices.cli", "serve simulated SunSpec meters and batteries (Modbus)"),
}

EXIT_OK, EXIT_FAIL, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3


class UsageError(Exception):
    """Bad input from the user: printed as one sentence, exit code 2."""


def emit(obj: Any, as_json: bool, text: str | None = None) -> None:
    """Print a result as JSON (for scripts) or as text (for people)."""
    if as_json:
        print(json.dumps(obj, indent=2, sort_keys=True))
    else:
        print(text if text is not None else json.dumps(obj, indent=2, sort_keys=True))


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="carbon-edge",
        description="Edge stack for meter-driven electricity and carbon trading.",
    )
    sub = p.add_subparsers(dest="component", metavar="COMPONENT")
    for name, (_, help_) in COMMANDS.items():
        sub.add_parser(name, help=help_, add_help=False)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    top = _parser()
    if not argv or argv[0] not in COMMANDS:
        if argv and not argv[0].startswith("-"):
            top.print_usage(sys.stderr)
            print(f"carbon-edge: unknown component {argv[0]!r}", file=sys.stderr)
            return EXIT_USAGE
        top.parse_args(argv)  # prints --help and exits
        top.print_help()
        return EXIT_USAGE
    name = argv[0]
    module_name, help_ = COMMANDS[name]
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        print(
            f"carbon-edge {name}: needs a part that is not installed ({exc.name}); "
            "run `make setup` or pip install the matching extra",
            file=sys.stderr,
        )
        return EXIT_USAGE
    parser = argparse.ArgumentParser(prog=f"carbon-edge {name}", description=help_)
    module.register(parser)
    args = parser.parse_args(argv[1:])
    if not hasattr(args, "func"):
        parser.print_help()
        return EXIT_USAGE
    # a file name or value that is not UTF-8 (argv's surrogate escapes) is echoed, not fatal
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    from edge.cliargs import InputError, input_error

    try:
        return int(args.func(args))
    except (UsageError, InputError) as exc:
        print(f"carbon-edge {name}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except FileNotFoundError as exc:
        print(f"carbon-edge {name}: no such file: {exc.filename}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:
        # The reader (`| head`) has gone: not an error of ours. Point stdout at
        # /dev/null so the interpreter's final flush does not fail again.
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except Exception as exc:  # noqa: BLE001 - report, then a distinct exit code
        problem = input_error(exc)
        if problem is not None:  # only hostile input causes these: one line, exit 2
            print(f"carbon-edge {name}: {problem}", file=sys.stderr)
            return EXIT_USAGE
        import traceback

        traceback.print_exc()
        print(f"carbon-edge {name}: internal error (a bug: please report it)", file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":
    # Re-import by name so the component modules and this entry point share
    # one `edge.cli` (and so one UsageError class) under `python -m edge.cli`.
    from edge.cli import main as _main

    sys.exit(_main())

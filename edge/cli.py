"""The project's one command line: ``carbon-edge <component> <action>``.

``edge`` is the bottom layer, so this module names no component: each
installed part registers its own under the ``carbon_edge.commands`` entry-point
group (``[project.entry-points."carbon_edge.commands"]`` in pyproject.toml,
``name = "package.module"``), and the command imports a component's module
only when it is used, so ``--help`` stays fast and the edge's command line
never imports the hub or the simulator. A new component (``carbon-market``,
say) is one line in pyproject.toml and a module with ``register(parser)``;
docs/architecture.md says how.

Each component module exposes ``register(parser)`` which adds its actions to
an ``argparse`` parser and sets ``func`` on each; ``func(args)`` returns the
exit code: 0 ok, 1 check failed, 2 usage or input error. Defects of the
input that surface as exceptions (edge.cliargs.input_error: a directory
for a file, bytes that are not UTF-8, numbers too long, a file that is not
SQLite) are input errors too: one line, exit 2. Any other exception is a
bug and exits 3 (never 1, which scripts read as "the check failed"). The
module's docstring's first line is its one-line help.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import importlib.util
import json
import sys
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType
from typing import Any

#: The entry-point group every component registers under.
GROUP = "carbon_edge.commands"


@dataclass(frozen=True)
class Component:
    name: str
    module: str

    @property
    def help(self) -> str:
        """The module docstring's first line, read from its file without importing anything."""
        path = _source_of(self.module)
        if path is None:
            return "(not installed here)"
        doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
        line = doc.strip().splitlines()[0] if doc.strip() else self.module
        if line.startswith("`") and ": " in line:  # "``carbon-edge x ...``: what it does"
            line = line.split(": ", 1)[1]
        return line.rstrip(".")


def _source_of(module: str) -> Path | None:
    """The .py file of a dotted module, found from its top-level package's folder
    (``find_spec`` of a submodule would import the parent packages)."""
    top, *rest = module.split(".")
    try:
        spec = importlib.util.find_spec(top)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for base in spec.submodule_search_locations:
        p = Path(base).joinpath(*rest)
        for candidate in (p.with_suffix(".py"), p / "__init__.py"):
            if candidate.is_file():
                return candidate
    return None


def components() -> dict[str, Component]:
    """Every registered component (the first of a name wins): the edge's own first, the
    rest by module path, so the layers read bottom-up whatever order the metadata keeps."""
    found: dict[str, Component] = {}
    for ep in entry_points(group=GROUP):
        found.setdefault(ep.name, Component(ep.name, ep.value.split(":", 1)[0]))
    own = __name__.split(".")[0]
    return dict(sorted(found.items(),
                       key=lambda kv: (kv[1].module.split(".")[0] != own, kv[1].module)))


EXIT_OK, EXIT_FAIL, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3


class UsageError(Exception):
    """Bad input from the user: printed as one sentence, exit code 2."""


def emit(obj: Any, as_json: bool, text: str | None = None) -> None:
    """Print a result as JSON (for scripts) or as text (for people)."""
    if as_json:
        print(json.dumps(obj, indent=2, sort_keys=True))
    else:
        print(text if text is not None else json.dumps(obj, indent=2, sort_keys=True))


def version() -> str:
    """The installed distribution's version (pyproject.toml's), not a second copy in code."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as dist_version

    try:
        return dist_version("carbon-edge")
    except PackageNotFoundError:  # a bare checkout on PYTHONPATH, never installed
        return "(not installed)"


def _parser(table: dict[str, Component]) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="carbon-edge",
        description="Edge stack for meter-driven electricity and carbon trading.",
    )
    p.add_argument("--version", action="version", version=f"carbon-edge {version()}")
    sub = p.add_subparsers(dest="component", metavar="COMPONENT")
    for name, comp in table.items():
        sub.add_parser(name, help=comp.help, add_help=False)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    table = components()
    if not table:
        print("carbon-edge: no components are registered; reinstall the package "
              "(`make setup` or pip install -e .)", file=sys.stderr)
        return EXIT_USAGE
    if not argv or argv[0] not in table:
        top = _parser(table)
        if argv and not argv[0].startswith("-"):
            top.print_usage(sys.stderr)
            print(f"carbon-edge: unknown component {argv[0]!r}", file=sys.stderr)
            return EXIT_USAGE
        top.parse_args(argv)  # prints --help and exits
        top.print_help()
        return EXIT_USAGE
    comp = table[argv[0]]
    try:
        module = importlib.import_module(comp.module)
    except ImportError as exc:
        print(
            f"carbon-edge {comp.name}: needs a part that is not installed ({exc.name}); "
            "run `make setup` or pip install the matching extra",
            file=sys.stderr,
        )
        return EXIT_USAGE
    return run_component(comp.name, module, argv[1:], comp.help)


def run_component(name: str, module: ModuleType, argv: list[str],
                  help_: str | None = None, prog: str | None = None) -> int:
    """Parse ``argv`` with the component's actions and run one, with the shared exit codes.

    Also the entry of a component's own ``python -m`` form (``python -m simulator run``).
    """
    parser = argparse.ArgumentParser(prog=prog or f"carbon-edge {name}",
                                     description=help_ or Component(name, module.__name__).help)
    module.register(parser)
    args = parser.parse_args(argv)
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

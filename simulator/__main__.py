"""`python -m simulator run`: the same command as `carbon-edge sim run` (simulator/cli.py)."""

from __future__ import annotations

import sys

if __name__ == "__main__":
    from edge.cli import run_component
    from simulator import cli

    sys.exit(run_component("sim", cli, sys.argv[1:], prog="python -m simulator"))

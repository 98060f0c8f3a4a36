"""Replay of a run folder: each edge's chain rebuilt from its input journal.

Every simulated edge runs with ``[site] journal = true``, so each substation's
folder holds ``edge/journal.jsonl`` beside ``edge/chain.db``. Replaying a run
folder replays each journal into a fresh edge (``edge.runtime.replay``) and
compares every block with the recorded chain: the run's chains are a
function of what the edges took in, nothing else (docs/simulator.md
"Replay").
"""

from __future__ import annotations

from pathlib import Path

from edge.runtime.replay import Outcome, replay


class RunFolderError(ValueError):
    """The folder is not a simulator run with journals (one sentence)."""


def journals(run_dir: Path) -> dict[str, Path]:
    """Substation id -> its edge's journal, for every edge of the run folder."""
    if not run_dir.is_dir():
        raise RunFolderError(f"{run_dir} is not a folder")
    found = {p.parent.parent.name: p for p in sorted(run_dir.glob("*/edge/journal.jsonl"))}
    if not found:
        raise RunFolderError(f"{run_dir} holds no edge journal (*/edge/journal.jsonl): "
                             "give a run folder of `sim run`")
    return found


def replay_run(run_dir: Path) -> dict[str, Outcome]:
    """Each substation's replay outcome against its recorded chain."""
    out = {}
    for sub, path in journals(run_dir).items():
        chain = path.parent / "chain.db"
        out[sub] = replay(path, chain if chain.is_file() else None)
    return out

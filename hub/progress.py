"""Progress of long work for a person at a terminal: one tqdm bar on stderr.

Used by ``carbon-edge owen pjm5``, ``carbon-edge carbon series``, ``carbon-edge
sim run`` and ``make bench``. A bar only appears when stderr is a terminal and
the caller did not ask for machine-readable output (``--json``, ``--quiet``):
stdout stays what scripts parse and stderr stays the one-line error contract.
Off a terminal the simulator still wants a plain line now and then (CI logs of
a day that runs for minutes); ``log_every_s`` asks for that, nothing else does.
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO


class Progress:
    """A tqdm bar on a terminal; nothing (or a plain line every ``log_every_s``) otherwise."""

    def __init__(self, total: int, unit: str = "it", enabled: bool = True, desc: str = "",
                 log_every_s: float | None = None) -> None:
        self.total = total
        self.unit = unit
        self.enabled = enabled
        self.log_every_s = log_every_s
        self.done = 0
        self.bar: Any = None
        self.last_print = 0.0
        if enabled and sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit=unit, desc=desc or None, file=sys.stderr,
                            dynamic_ncols=True,
                            bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} {postfix}")

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def say(self, text: str, file: TextIO | None = None) -> None:
        """A message above the bar (stderr unless ``file``); stdout text is never dropped."""
        out = file or sys.stderr
        if self.bar is not None:
            self.bar.write(text, file=out)
        elif self.enabled or out is not sys.stderr:
            print(text, file=out, flush=True)

    def update(self, done: int, facts: str = "") -> None:
        """``done`` of ``total`` finished; ``facts`` is a short tail for the bar."""
        self.done = min(done, self.total)
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.n = self.done
            self.bar.set_postfix_str(facts, refresh=True)
        elif (self.log_every_s is not None
              and time.monotonic() - self.last_print > self.log_every_s):
            self.last_print = time.monotonic()
            print(f"{self.unit} {self.done}/{self.total}  {facts}", file=sys.stderr, flush=True)

    def advance(self, n: int = 1, facts: str = "") -> None:
        """``n`` more finished (a callback for work that counts its own steps)."""
        self.update(self.done + n, facts)

    def describe(self, desc: str) -> None:
        """What is running now (the bar's left label)."""
        if self.bar is not None:
            self.bar.set_description_str(desc, refresh=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

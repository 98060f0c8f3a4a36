"""The market clock: which interval is open, when its gate closes, when each round clears.

All market times are in (possibly simulated) seconds since the Unix epoch.
Interval ``T`` delivers energy during ``[T, T + interval_s)``; its book
accepts first quotes until gate closure ``G = T - gate_s``; round 0 clears at
``G`` and round ``k`` at ``G + k * round_s``. Between two rounds the
participants already in the book may revise (a bid carrying ``round = k``);
nobody new enters after the gate. A quote may be placed at most
``horizon`` intervals ahead, so a gateway with a wrong clock cannot fill the
store with books for next year.

Market time comes from ``edge.clock.Clock``; this module only does the
arithmetic on it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Schedule:
    interval_s: int = 900
    gate_s: float = 60
    round_s: float = 10
    max_rounds: int = 3
    horizon: int = 2

    def start_of(self, t_s: float) -> int:
        """Start of the interval that contains ``t_s``."""
        t = int(t_s)
        return t - t % self.interval_s

    def gate(self, interval: int) -> float:
        return interval - self.gate_s

    def round_due(self, interval: int, round_no: int) -> float:
        return self.gate(interval) + round_no * self.round_s

    def next_open(self, t_s: float) -> int:
        """The first interval whose gate is still open at ``t_s``."""
        t = self.start_of(t_s)
        while self.gate(t) <= t_s:
            t += self.interval_s
        return t

    def quote_refusal(self, interval: int, round_no: int, t_s: float,
                      cleared_round: int | None) -> str | None:
        """Why a quote for ``interval`` (for ``round_no``) arriving at ``t_s`` is refused.

        ``cleared_round`` is the last round cleared for that interval (None
        before the gate). Returns a counter label, or None when acceptable.
        """
        if interval % self.interval_s:
            return "bad_interval"
        if round_no == 0:
            if t_s >= self.gate(interval):
                return "gate_closed"
            if interval > self.start_of(t_s) + self.horizon * self.interval_s:
                return "too_early"
            return None
        if round_no >= self.max_rounds:
            return "bad_round"
        if cleared_round is None or cleared_round != round_no - 1:
            return "round_not_open"
        return None

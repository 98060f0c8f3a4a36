"""How much work one request to the /allocation API may ask for, in one place.

The Owen value of a market game costs one market clearing per coalition value
read, and a clearing with binding line limits is an LP of a few milliseconds:
a body of a few hundred bytes can ask for hours of CPU (method=exact on 40
players, or a ``target_rel_se`` that is never reached). Every request is
therefore priced before any clearing runs, by upper bounds that need only the
game's structure:

- exact: ``exact_cost`` coalition values (hub.allocation.owen);
- sampled: ``rounds`` x largest union x players x (unions + sum of d J_d)
  values, the most one stratified round reads with its J_d designs cut after
  d unions (memo hits only make it cheaper);

and refused with 422 naming the limit and the field when the bound exceeds
the budget of its kind of game. The numbers are chosen so that the worst
admitted request runs for seconds on one core of the 2-core development
machine (docs/hub.md, "API limits"); collection sizes are also enforced by
the JSON schema (hub.allocation.schema), so OpenAPI shows them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AllocationLimits:
    """Per-request bounds of the /allocation routes (the defaults are the documented ones)."""

    #: Request body, bytes (413 above).
    max_body_bytes: int = 4 << 20
    #: Players of a game: generators + loads, or the members of a table's unions.
    max_players: int = 64
    #: Coalition values a table may list.
    max_table_values: int = 1 << 16
    #: Largest |v(S)| a table may give (decimal or fraction text: at most 18 digits a part).
    max_abs_table_value: int = 10**18
    #: Hard cap on the exact enumeration (coalition values read) of any game; also the
    #: budget of values a table game may read, exact or sampled (they are look-ups).
    max_exact_coalitions: int = 1 << 20
    #: Market clearings (upper bound) for a market without line limits (merit order).
    max_clearings: int = 1 << 16
    #: Market clearings (upper bound) when some line has a limit (each may be an LP).
    max_lp_clearings: int = 1 << 12
    #: Sampler rounds, including those added to reach ``target_rel_se``.
    max_rounds: int = 1000
    #: Network of a market game: buses and lines (the PTDF is dense, buses^3 to build).
    max_buses: int = 64
    max_lines: int = 128
    #: Ladder tiers of /allocation/prices.
    max_tiers: int = 64


LIMITS = AllocationLimits()


def sampled_reads_per_round(union_sizes: list[int]) -> int:
    """Coalition values one stratified round reads at most.

    The main design walks m x max n_k orderings of n steps; a design cut after
    d unions walks max n_k orderings per union shift, d unions each, which over
    the m shifts is d x n steps (J_d of them: hub.allocation.owen.depth_designs).
    """
    from hub.allocation.owen import depth_designs

    if not union_sizes:
        return 0
    m = len(union_sizes)
    depth = m + sum(d * j for d, j in depth_designs(m).items())
    return max(union_sizes) * sum(union_sizes) * depth


def table_values_needed(union_sizes: list[int]) -> int:
    """Non-empty coalitions a table must list for these unions (closed form, no enumeration).

    The Owen value reads every union of whole unions (2^m - 1 of them,
    non-empty) plus, for each union k, every proper non-empty part of it
    joined with any set of the other unions (2^(m-1) (2^n_k - 2)).
    """
    m = len(union_sizes)
    if m == 0:
        return 0
    return (1 << m) - 1 + sum((1 << (m - 1)) * ((1 << nk) - 2) for nk in union_sizes)

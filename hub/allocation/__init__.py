"""Carbon allocation by the Owen value (P1) and the ladder carbon price.

A game is a set of players (market entities) grouped into unions (regions)
with a value v(S) for every coalition S. ``game`` holds the structure and the
explicit-table game, ``market`` and ``dcopf`` turn a market into a game
(v(S) = emissions of the market cleared with only S), ``owen`` computes the
values, ``ladder`` turns values into price adders, ``signal`` into the payload
the hub publishes to edges, and ``pjm5`` runs the PJM five-bus study.
"""

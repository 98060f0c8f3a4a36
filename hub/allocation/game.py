"""Cooperative games with a coalition structure, keyed by bitmask.

Players are numbered 0..n-1 and a coalition is the integer whose bit i is set
when player i is in it: set operations become integer operations and a
coalition is a cheap, hashable memo key. The unions (the regions of P1)
partition the players.

Values are exact numbers (``int`` or ``Fraction``) so that the exact Owen
value is exact and efficiency holds to the last digit; the sampler turns them
into floats itself.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Protocol

Number = int | Fraction


class GameError(ValueError):
    """A game that cannot be built as given; the message names the field.

    ``field`` is the input field it is counted under when the refusal is answered
    (the API's refusal or the command line's error); building one counts nothing.
    """

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Structure:
    """Players and the partition of them into unions (each a tuple of player indices)."""

    players: tuple[str, ...]
    union_names: tuple[str, ...]
    unions: tuple[tuple[int, ...], ...]

    def __post_init__(self) -> None:
        if len(set(self.players)) != len(self.players):
            dup = sorted({p for p in self.players if self.players.count(p) > 1})
            raise GameError(f"players: duplicate id(s) {', '.join(dup)}")
        if len(self.union_names) != len(self.unions):
            raise GameError("unions: one name per union is needed")
        seen = sorted(i for u in self.unions for i in u)
        if seen != list(range(len(self.players))):
            raise GameError("unions: every player must be in exactly one union")
        if any(not u for u in self.unions):
            raise GameError("unions: a union may not be empty")

    @property
    def n(self) -> int:
        return len(self.players)

    @property
    def grand(self) -> int:
        return (1 << self.n) - 1

    def union_of(self) -> list[int]:
        """Union index of every player."""
        out = [0] * self.n
        for k, members in enumerate(self.unions):
            for i in members:
                out[i] = k
        return out

    def union_masks(self) -> list[int]:
        return [sum(1 << i for i in members) for members in self.unions]

    def mask(self, ids: Sequence[str]) -> int:
        index = {p: i for i, p in enumerate(self.players)}
        m = 0
        for p in ids:
            if p not in index:
                raise GameError(f"unknown player {p!r}")
            m |= 1 << index[p]
        return m

    def members(self, mask: int) -> list[str]:
        return [p for i, p in enumerate(self.players) if mask >> i & 1]

    @classmethod
    def from_unions(cls, unions: Mapping[str, Sequence[str]]) -> Structure:
        players: list[str] = []
        groups = []
        for members in unions.values():
            groups.append(tuple(range(len(players), len(players) + len(members))))
            players.extend(members)
        return cls(tuple(players), tuple(unions), tuple(groups))


class Game(Protocol):
    """What the Owen value needs: a structure and v(S) for any coalition mask."""

    structure: Structure

    def value(self, mask: int) -> Number: ...


@dataclass
class Memo:
    """Memoises v(S) by bitmask: the Owen sums ask for the same coalition many times.

    ``evaluations`` counts the values actually computed, ``hits`` the repeats
    answered from memory; both go into the reports. The memory is dropped
    when it exceeds ``limit`` entries so that long sampling runs stay bounded.
    """

    game: Game
    limit: int = 2_000_000
    evaluations: int = 0
    hits: int = 0
    _cache: dict[int, Number] = field(default_factory=dict)

    @property
    def structure(self) -> Structure:
        return self.game.structure

    def value(self, mask: int) -> Number:
        got = self._cache.get(mask)
        if got is not None:
            self.hits += 1
            return got
        if len(self._cache) >= self.limit:
            self._cache.clear()
        v = self.game.value(mask)
        self._cache[mask] = v
        self.evaluations += 1
        return v


@dataclass(frozen=True)
class TableGame:
    """A game given as an explicit table of v(S), for checking values by hand.

    Only the coalitions that the Owen formula reaches need to be listed
    (every union of whole unions plus any part of one more union); asking for
    one that is missing is an error naming it, never a silent zero.
    """

    structure: Structure
    table: Mapping[int, Number]

    def value(self, mask: int) -> Number:
        if mask == 0:
            return self.table.get(0, 0)
        try:
            return self.table[mask]
        except KeyError:
            names = ",".join(self.structure.members(mask))
            raise GameError(f"values: coalition {{{names}}} is missing from the table") from None


def needed_coalitions(structure: Structure) -> list[int]:
    """Every coalition the exact Owen value reads: Q_R plus any subset T of one more union."""
    masks = structure.union_masks()
    out: set[int] = set()
    m = len(masks)
    for k, members in enumerate(structure.unions):
        others = [masks[j] for j in range(m) if j != k]
        for rbits in range(1 << len(others)):
            q = 0
            for j, um in enumerate(others):
                if rbits >> j & 1:
                    q |= um
            for sub in subset_masks(members):
                out.add(q | sub)
    return sorted(out)


def subset_masks(members: Sequence[int]) -> list[int]:
    """Player masks of all subsets of ``members``, indexed by the local bit pattern."""
    subs = [0] * (1 << len(members))
    for t in range(1, len(subs)):
        low = (t & -t).bit_length() - 1
        subs[t] = subs[t & (t - 1)] | (1 << members[low])
    return subs

"""The two-way peg between the carbon chain C and the electricity chain E.

Per carbon trade (docs/carbon-market.md, "The two-way peg"):
 1. C locks the buyer's payment (``CarbonSide.lock`` or ``settle_cycle``);
 2. E checks an SPV proof of the lock (C's header chain + an inclusion proof
    under a header the oracles confirm) and mints the same amount for the
    seller, once (``ElectricitySide.mint``);
 3. the seller spends it, in part or whole, on electricity bills on E;
 4. or burns the rest on E (3 and 4 only on the seller's own request, tagged
    with its gateway key: hub.carbonmarket.owner); C checks the SPV proof of the burn and unlocks,
    paying the seller out on C (``CarbonSide.unlock``).

Each side's state is a fold over its own chain: a block is the one atomic
write of every state change (with the foreign headers and the oracle anchor
it relied on), so after any crash a side is exactly as far as its last
block, and a proof is consumed exactly when the block that used it exists.

Invariant (``balance``): locked on C = released on C + outstanding on E +
spent on E + in transit, where in transit is what has been locked but not
yet minted, or burned but not yet released; at rest it is zero.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from edge.chain.block import BlockHeader
from edge.chain.keys import PrivateKey
from edge.protocol.canonical import canonical

from .clearing import Clearing
from .errors import Reason, Refusals, Refused
from .lightclient import LightClient, parse_header
from .oracle import make_request, tally
from .owner import OwnerRequest, authenticate
from .submissions import Submissions
from .twotree import CARBON, ELECTRICITY, Layout, TwoTreeChain

MAX_AMOUNT = 1 << 50  # micro-currency
Ask = Callable[[dict[str, Any]], list[Any]]


def _amount(v: Any, what: str, refusals: Refusals) -> int:
    if not isinstance(v, int) or isinstance(v, bool) or not 0 < v <= MAX_AMOUNT:
        raise refusals.refuse(Reason.BAD_REQUEST, f"{what} must be an integer in 1..2^50")
    return v


class PegSide:
    """What both sides share: their chain, a light client of the other, oracle anchoring."""

    layout: Layout
    foreign_layout: Layout

    def __init__(self, path: str | os.PathLike[str], chain_id: str, key: PrivateKey,
                 foreign_chain: str, foreign_producer: str, oracles: Sequence[str],
                 ask: Ask) -> None:
        self.chain = TwoTreeChain(path, self.layout, chain_id, key)
        self.key = key
        self.chain_id = chain_id
        self.light = LightClient(foreign_chain, foreign_producer)
        self.oracles = tuple(oracles)
        self.ask = ask
        self.refusals = Refusals()
        self.consumed: set[str] = set()
        self.nonce = 0
        for block in self.chain.blocks():
            for tx in block.tx_objects():
                self._fold(tx)

    def close(self) -> None:
        self.chain.close()

    def hash_at(self, height: int) -> str | None:
        """The hash of this chain's block at ``height`` (what an oracle reads), None if none."""
        stored = self.chain.store.header_bytes(height)
        return None if stored is None else stored[0]

    # -- the fold ---------------------------------------------------------------
    def _fold(self, tx: dict[str, Any]) -> None:
        kind = tx.get("kind")
        if kind == "xheader":
            self.light.add([parse_header(tx["header"])])
        elif kind == "xanchor":
            self.light.anchored = max(self.light.anchored, tx["height"])
            self.nonce = tx["nonce"] + 1
        if "proof_sha256" in tx:
            self.consumed.add(tx["proof_sha256"])
        self._fold_own(tx)

    def _fold_own(self, tx: dict[str, Any]) -> None:
        raise NotImplementedError

    def _append(self, txs: list[dict[str, Any]], now_ms: int) -> None:
        self.chain.append(txs, now_ms)
        for tx in txs:
            self._fold(tx)

    # -- a cross-chain proof -------------------------------------------------------
    def _cross(self, submission: Any) -> tuple[dict[str, Any], str, list[dict[str, Any]]]:
        """Check a relayed proof; return (foreign tx, proof digest, txs recording the check).

        Order: replay, header chain, oracle vote on the proof's header (unless
        the oracles confirmed a later one already), inclusion. Nothing changes
        unless the caller appends the returned transactions.
        """
        if not isinstance(submission, dict) or not isinstance(submission.get("proof"), dict):
            raise self.refusals.refuse(Reason.BAD_PROOF, "a submission needs a proof object")
        proof = submission["proof"]
        try:
            digest = hashlib.sha256(canonical(proof)).hexdigest()
        except ValueError as exc:
            raise self.refusals.refuse(Reason.BAD_PROOF, f"proof not encodable: {exc}") from None
        if digest in self.consumed:
            raise self.refusals.refuse(Reason.REPLAYED_PROOF, "this proof has been used already")
        headers = submission.get("headers") or []
        if not isinstance(headers, list) or len(headers) > 10_000:
            raise self.refusals.refuse(Reason.BAD_PROOF, "headers must be a list of at most 10k")
        pending = self.light.new_headers(headers, self.refusals)
        claimed = proof.get("header")
        height = claimed.get("height") if isinstance(claimed, dict) else None
        if not isinstance(height, int) or isinstance(height, bool) or height < 0:
            raise self.refusals.refuse(Reason.BAD_PROOF, "the proof's header has no height")
        if height > self.light.anchored:
            request = make_request(self.key, self.chain_id, self.light.chain_id, self.nonce,
                                   height)
            _, hash_ = tally(request, self.ask(request), self.oracles, self.refusals)
            if hash_ is None:
                raise self.refusals.refuse(
                    Reason.UNANCHORED_HEADER, f"the oracles know no header {height} yet")
            self.light.check_anchor(height, hash_, pending, self.refusals)
            anchored = height
        else:
            request, hash_, anchored = None, None, self.light.anchored
        header: BlockHeader = self.light.check_inclusion(
            self.foreign_layout, proof, anchored, pending, self.refusals)
        record = [{"kind": "xheader", "header": json.loads(h.to_bytes())} for h in pending]
        if request is not None:  # headers at or below the anchored height need no new vote
            record.append({"kind": "xanchor", "chain": self.light.chain_id,
                           "nonce": self.nonce, "height": height, "hash": hash_,
                           "request": request})
        tx = proof["tx"]
        tx_at = {"height": header.height, "hash": header.hash()}
        return {**tx, "_at": tx_at}, digest, record

    # -- the drop box -------------------------------------------------------------------
    def process(self, box: Submissions, now_ms: int) -> dict[str, int]:
        """Take every pending submission in order; each refused one costs only itself."""
        out = {"done": 0, "refused": 0}
        for s in box.pending():
            try:
                self.handle(s.kind, s.doc, now_ms)
            except Refused as exc:
                box.mark(s.id, "refused", exc.reason.value)
                out["refused"] += 1
            else:
                box.mark(s.id, "done")
                out["done"] += 1
        return out

    def handle(self, kind: str, doc: Any, now_ms: int) -> None:
        raise NotImplementedError


@dataclass
class Lock:
    payer: str
    payee: str
    amount: int


class CarbonSide(PegSide):
    """The carbon chain, hosted by the hub: clearing cycles, locks, unlocks and pay-outs."""

    layout = CARBON
    foreign_layout = ELECTRICITY

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.locks: dict[str, Lock] = {}
        self.released: dict[str, int] = {}
        self.unlocked: set[tuple[str, int]] = set()
        super().__init__(*args, **kwargs)

    def _fold_own(self, tx: dict[str, Any]) -> None:
        kind = tx.get("kind")
        if kind == "lock":
            self.locks[tx["transfer"]] = Lock(tx["payer"], tx["payee"], tx["amount_micro"])
        elif kind == "unlock":
            t = tx["transfer"]
            self.released[t] = self.released.get(t, 0) + tx["amount_micro"]
            self.unlocked.add((t, tx["n"]))

    def _lock_tx(self, transfer: str, payer: str, payee: str, amount: int) -> dict[str, Any]:
        if not isinstance(transfer, str) or not transfer or transfer in self.locks:
            raise self.refusals.refuse(Reason.BAD_REQUEST, f"transfer id {transfer!r} is taken")
        _amount(amount, "a lock's amount", self.refusals)
        return {"kind": "lock", "transfer": transfer, "payer": payer, "payee": payee,
                "amount_micro": amount}

    def lock(self, transfer: str, payer: str, payee: str, amount: int, now_ms: int) -> None:
        self._append([self._lock_tx(transfer, payer, payee, amount)], now_ms)

    def settle_cycle(self, cycle: int, accounting: Iterable[dict[str, Any]], clearing: Clearing,
                     now_ms: int) -> list[str]:
        """One block per clearing cycle: accounting entries (left), trades and locks (right).

        Each trade with a turnover locks the buyer's payment; returns the transfer ids.
        """
        txs = list(accounting)
        ids = []
        for n, t in enumerate(clearing.trades):
            txs.append(t.as_tx(cycle, n))
            if t.turnover_micro > 0:
                tid = f"c{cycle}-{n}"
                txs.append(self._lock_tx(tid, t.buyer, t.seller, t.turnover_micro))
                ids.append(tid)
        self._append(txs, now_ms)
        return ids

    def handle(self, kind: str, doc: Any, now_ms: int) -> None:
        if kind != "unlock":
            raise self.refusals.refuse(Reason.BAD_REQUEST, f"C takes unlocks, not {kind!r}")
        self.unlock(doc, now_ms)

    def unlock(self, submission: Any, now_ms: int) -> None:
        """Release a burn proven on E: pay the seller out on C."""
        if not isinstance(submission, dict) or not submission.get("proof"):
            raise self.refusals.refuse(Reason.UNLOCK_WITHOUT_BURN, "an unlock needs a burn proof")
        tx, digest, record = self._cross(submission)
        if tx.get("kind") != "peg_burn":
            raise self.refusals.refuse(Reason.UNLOCK_WITHOUT_BURN,
                                       f"the proven transaction is a {tx.get('kind')!r}")
        t, n, amount = tx.get("transfer"), tx.get("n"), tx.get("amount_micro")
        lock = self.locks.get(t) if isinstance(t, str) else None
        if lock is None:
            raise self.refusals.refuse(Reason.UNLOCK_WITHOUT_BURN, f"no lock {t!r} on C")
        if (t, n) in self.unlocked:
            raise self.refusals.refuse(Reason.REPLAYED_PROOF, f"burn {n} of {t} already unlocked")
        _amount(amount, "a burn's amount", self.refusals)
        if self.released.get(t, 0) + amount > lock.amount:
            raise self.refusals.refuse(Reason.UNLOCK_WITHOUT_BURN,
                                       f"unlocking {amount} would release more than {t} locked")
        self._append(record + [{"kind": "unlock", "transfer": t, "n": n, "amount_micro": amount,
                                "to": lock.payee, "burn_at": tx["_at"],
                                "proof_sha256": digest}], now_ms)

    @property
    def locked_total(self) -> int:
        return sum(lk.amount for lk in self.locks.values())

    @property
    def released_total(self) -> int:
        return sum(self.released.values())


@dataclass
class Minted:
    to: str
    amount: int
    spent: int = 0
    burned: int = 0
    burns: list[int] = field(default_factory=list)

    @property
    def outstanding(self) -> int:
        return self.amount - self.spent - self.burned


class ElectricitySide(PegSide):
    """The electricity chain's peg: mint on a proven lock, spend on bills, burn the rest."""

    layout = ELECTRICITY
    foreign_layout = CARBON

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.minted: dict[str, Minted] = {}
        self.owner_seq: dict[str, int] = {}  # gateway -> highest accepted request seq
        super().__init__(*args, **kwargs)

    def _fold_own(self, tx: dict[str, Any]) -> None:
        kind = tx.get("kind")
        if kind in ("peg_spend", "peg_burn"):
            self.owner_seq[tx["by"]] = max(self.owner_seq.get(tx["by"], -1), tx["seq"])
        if kind == "peg_mint":
            self.minted[tx["transfer"]] = Minted(tx["to"], tx["amount_micro"])
        elif kind == "peg_spend":
            self.minted[tx["transfer"]].spent += tx["amount_micro"]
        elif kind == "peg_burn":
            m = self.minted[tx["transfer"]]
            m.burned += tx["amount_micro"]
            m.burns.append(tx["amount_micro"])

    def handle(self, kind: str, doc: Any, now_ms: int) -> None:
        if kind != "mint":
            raise self.refusals.refuse(Reason.BAD_REQUEST, f"E takes mints, not {kind!r}")
        self.mint(doc, now_ms)

    def mint(self, submission: Any, now_ms: int) -> None:
        """Mint for the seller what a lock proven on C holds, exactly once per lock."""
        if not isinstance(submission, dict) or not submission.get("proof"):
            raise self.refusals.refuse(Reason.MINT_WITHOUT_LOCK, "a mint needs a lock proof")
        tx, digest, record = self._cross(submission)
        if tx.get("kind") != "lock":
            raise self.refusals.refuse(Reason.MINT_WITHOUT_LOCK,
                                       f"the proven transaction is a {tx.get('kind')!r}")
        t = tx.get("transfer")
        if not isinstance(t, str) or t in self.minted:
            raise self.refusals.refuse(Reason.SECOND_MINT, f"lock {t!r} has been minted already")
        amount = _amount(tx.get("amount_micro"), "a lock's amount", self.refusals)
        self._append(record + [{"kind": "peg_mint", "transfer": t, "to": tx["payee"],
                                "amount_micro": amount, "lock_at": tx["_at"],
                                "proof_sha256": digest}], now_ms)

    def outstanding(self, transfer: str) -> int:
        m = self.minted.get(transfer)
        return 0 if m is None else m.outstanding

    def _owner(self, doc: Any, kind: str, keys: Mapping[str, bytes]) -> OwnerRequest:
        """An authenticated request by the owner of the balance it moves, not seen before.

        Order: the gateway's tag (peg_unsigned), the shape (bad_request), a
        minted balance (the over-outstanding reason of ``kind``), its owner
        (peg_not_owner), the gateway's request counter (peg_replayed_request).
        """
        req = authenticate(doc, kind, keys, self.refusals)
        m = self.minted.get(req.transfer)
        if m is None:
            reason = (Reason.SPEND_OVER_OUTSTANDING if kind == "peg_spend"
                      else Reason.BURN_OVER_OUTSTANDING)
            raise self.refusals.refuse(reason, f"nothing minted for {req.transfer!r}")
        if m.to != req.gw:
            raise self.refusals.refuse(Reason.PEG_NOT_OWNER,
                                       f"{req.transfer!r} belongs to {m.to}, not {req.gw}")
        last = self.owner_seq.get(req.gw, -1)
        if req.seq <= last:
            raise self.refusals.refuse(Reason.PEG_REPLAYED_REQUEST,
                                       f"{req.gw}'s request {req.seq} is not after {last}")
        return req

    def spend(self, request: Any, keys: Mapping[str, bytes], now_ms: int) -> None:
        """Pay (part of) the owner's electricity bill with the minted asset.

        ``request`` is the owner's tagged peg_spend (hub.carbonmarket.owner),
        ``keys`` the gateways' provisioned HMAC keys.
        """
        req = self._owner(request, "peg_spend", keys)
        amount = req.amount_micro
        if amount > self.outstanding(req.transfer):
            raise self.refusals.refuse(
                Reason.SPEND_OVER_OUTSTANDING,
                f"spending {amount} of {req.transfer!r}, "
                f"{self.outstanding(req.transfer)} outstanding")
        self._append([{"kind": "peg_spend", "transfer": req.transfer, "amount_micro": amount,
                       "bill": req.bill, "by": req.gw, "seq": req.seq}], now_ms)

    def burn(self, request: Any, keys: Mapping[str, bytes], now_ms: int) -> int:
        """Burn (part of) the owner's outstanding asset to be paid out on C; the burn number."""
        req = self._owner(request, "peg_burn", keys)
        amount = req.amount_micro
        if amount > self.outstanding(req.transfer):
            raise self.refusals.refuse(
                Reason.BURN_OVER_OUTSTANDING,
                f"burning {amount} of {req.transfer!r}, "
                f"{self.outstanding(req.transfer)} outstanding")
        n = len(self.minted[req.transfer].burns)
        self._append([{"kind": "peg_burn", "transfer": req.transfer, "n": n,
                       "amount_micro": amount, "to": self.minted[req.transfer].to,
                       "by": req.gw, "seq": req.seq}], now_ms)
        return n


@dataclass(frozen=True)
class Balance:
    locked_c: int
    released_c: int
    outstanding_e: int
    spent_e: int
    to_mint: int  # locked on C, not yet minted on E
    to_release: int  # burned on E, not yet released on C
    ok: bool
    problems: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return self.__dict__ | {"problems": list(self.problems)}


def balance(c: CarbonSide, e: ElectricitySide) -> Balance:
    """The peg's books across both chains, and every transfer that breaks them.

    Per transfer: minted on E is nothing or exactly the lock; released on C
    never exceeds burned on E; released + outstanding + spent never exceed
    the lock (no asset on both chains at once).
    """
    problems = []
    to_mint = to_release = 0
    for t, lk in c.locks.items():
        m = e.minted.get(t)
        released = c.released.get(t, 0)
        if m is None:
            to_mint += lk.amount
            if released:
                problems.append(f"{t}: released on C without a mint on E")
            continue
        if m.amount != lk.amount:
            problems.append(f"{t}: minted {m.amount} for a lock of {lk.amount}")
        if released > m.burned:
            problems.append(f"{t}: released {released} but burned {m.burned}")
        if released + m.outstanding + m.spent > lk.amount:
            problems.append(f"{t}: exists on both chains")
        to_release += m.burned - released
    for t in e.minted:
        if t not in c.locks:
            problems.append(f"{t}: minted on E without a lock on C")
    locked, released = c.locked_total, c.released_total
    outstanding = sum(m.outstanding for m in e.minted.values())
    spent = sum(m.spent for m in e.minted.values())
    if locked != released + outstanding + spent + to_mint + to_release:
        problems.append("locked != released + outstanding + spent + in transit")
    return Balance(locked, released, outstanding, spent, to_mint, to_release, not problems,
                   tuple(problems))

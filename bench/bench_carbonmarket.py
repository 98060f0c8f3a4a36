"""The carbon market: peg transfers per second, clearing 10k participants, copula advice on a year.

Prints JSON lines {"bench", "case", "value", "unit", "baseline", "ratio", "target"}:

- ``peg_transfers``: whole transfers per second, each lock on C -> SPV
  submission (header chain + inclusion proof) -> oracle vote (3 oracles,
  Ed25519) -> mint on E -> burn on E -> SPV submission back -> oracle vote ->
  unlock on C; every block fsynced (SQLite FULL). Baseline: the same
  transfers' proof checks alone (two inclusion proofs and their headers'
  signatures), i.e. what the chain writes and the oracle rounds add.
- ``clear_bilateral``: milliseconds to clear N participants (a third
  buyers, a third CEC sellers, a third PVPs). Baseline: sorting the same
  book by price, the floor any matching by price order pays.
- ``copula_advice``: seconds to fit the five copulas on a year of hourly
  synthetic prices (8,760 pairs) and draw a bid range (20,000 draws).
  Baseline: fitting the Gaussian copula alone.

``--quick`` shrinks every size so the whole file runs in seconds.
"""

from __future__ import annotations

import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import args, line  # noqa: E402
from edge.chain.keys import generate_key, public_id  # noqa: E402
from hub.carbonmarket.clearing import Participant, clear_bilateral  # noqa: E402
from hub.carbonmarket.oracle import Oracle  # noqa: E402
from hub.carbonmarket.peg import CarbonSide, ElectricitySide, balance  # noqa: E402
from hub.carbonmarket.twotree import check_tx_proof, tx_proof  # noqa: E402


def _peg(root: Path):
    c_key, e_key = generate_key(), generate_key()
    req = {"carbon": public_id(c_key.public_key()), "electricity": public_id(e_key.public_key())}
    sides: dict[str, object] = {}
    oracles = [Oracle(generate_key(), req, {"carbon": lambda h: sides["c"].hash_at(h),
                                            "electricity": lambda h: sides["e"].hash_at(h)})
               for _ in range(3)]
    ids = [o.id for o in oracles]

    def ask(r):
        return [o.answer(r) for o in oracles]

    c = CarbonSide(root / "c.db", "carbon", c_key, "electricity", req["electricity"], ids, ask)
    e = ElectricitySide(root / "e.db", "electricity", e_key, "carbon", req["carbon"], ids, ask)
    sides.update(c=c, e=e)
    return c, e


def _last_proof(side, kind: str, transfer: str, since: int):
    store = side.chain.store
    block = store.get(store.height())
    pos = next(i for i, tx in enumerate(block.tx_objects())
               if tx.get("kind") == kind and tx.get("transfer") == transfer)
    return {"headers": side.chain.headers(since, store.height()),
            "proof": tx_proof(side.chain.layout, block, pos)}, block


KEYS = {"seller": bytes([7]) * 32}  # the seller gateway's HMAC key, as its edge holds it


def _owner(kind: str, seq: int, transfer: str, amount: int, bill: str | None = None) -> dict:
    """The seller's tagged spend or burn (hub.carbonmarket.owner)."""
    from edge.protocol.auth import add_tag

    req = {"v": 1, "type": kind, "gw": "seller", "seq": seq, "ts": 1, "transfer": transfer,
           "amount_micro": amount}
    return add_tag(req | ({"bill": bill} if bill else {}), KEYS["seller"])


def bench_peg(n: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        c, e = _peg(Path(tmp))
        proofs = []
        t0 = time.perf_counter()
        for i in range(n):
            t = f"t{i}"
            c.lock(t, "buyer", "seller", 1_000 + i, now_ms=i)
            sub, block = _last_proof(c, "lock", t, e.light.height + 1)
            proofs.append((c.layout, block, sub["proof"]))
            e.mint(sub, now_ms=i)
            e.spend(_owner("peg_spend", 2 * i, t, 400, "bill"), KEYS, now_ms=i)
            e.burn(_owner("peg_burn", 2 * i + 1, t, 600 + i), KEYS, now_ms=i)
            sub, block = _last_proof(e, "peg_burn", t, c.light.height + 1)
            proofs.append((e.layout, block, sub["proof"]))
            c.unlock(sub, now_ms=i)
        elapsed = time.perf_counter() - t0
        assert balance(c, e).ok and balance(c, e).to_release == 0
        t0 = time.perf_counter()
        for layout, block, proof in proofs:
            assert block.header.signature_ok() and check_tx_proof(layout, block.header, proof) \
                is None
        checks = time.perf_counter() - t0
        c.close()
        e.close()
    line("carbonmarket", f"peg_transfers_{n}", n / elapsed, "transfers/s",
         baseline=n / checks, target=">= 5 transfers/s: 4 fsynced blocks each",
         blocks=4 * n)


def bench_clear(n: int) -> None:
    rng = random.Random(1)
    book = []
    for i in range(n):
        kind = i % 3
        if kind == 0:
            book.append(Participant(f"b{i}", "cec", -rng.randint(1, 10**6),
                                    rng.randint(40_000, 90_000), i))
        elif kind == 1:
            book.append(Participant(f"s{i}", "cec", rng.randint(1, 10**6),
                                    rng.randint(40_000, 90_000), i))
        else:
            book.append(Participant(f"p{i}", "pvp", rng.randint(1, 10**6),
                                    rng.randint(30_000, 90_000), i))
    best = base = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        c = clear_bilateral(book)
        best = min(best, time.perf_counter() - t0)
        t0 = time.perf_counter()
        sorted(book, key=lambda p: (p.price, p.seq))
        base = min(base, time.perf_counter() - t0)
    line("carbonmarket", f"clear_bilateral_{n}", best * 1000, "ms", baseline=base * 1000,
         target="10k participants < 1,000 ms", trades=len(c.trades))


def bench_copula(hours: int, draws: int) -> None:
    from hub.carbonmarket.correlation import FAMILIES, bid_range, fit_family, fit_prices
    from hub.carbonmarket.prices import synthetic_pairs

    elec, carbon = synthetic_pairs(hours, seed=1)
    t0 = time.perf_counter()
    model = fit_prices(elec, carbon)
    low, _, high = bid_range(model, 150_000, 900, draws, seed=1)
    elapsed = time.perf_counter() - t0
    import numpy as np
    from scipy import stats

    uv = np.column_stack([model.elec.cdf(np.array(elec, float)),
                          model.carbon.cdf(np.array(carbon, float))])
    tau = float(stats.kendalltau(uv[:, 0], uv[:, 1]).statistic)
    t0 = time.perf_counter()
    fit_family(FAMILIES[0], uv, tau)
    base = time.perf_counter() - t0
    line("carbonmarket", f"copula_advice_{hours}h", elapsed, "s", baseline=base,
         target="a year of hourly prices < 60 s", family=model.best.family,
         bid_low=low, bid_high=high)


def main() -> None:
    a = args(__doc__.splitlines()[0])
    bench_peg(10 if a.quick else 200)
    bench_clear(1_000 if a.quick else 10_000)
    bench_copula(500 if a.quick else 8_760, 2_000 if a.quick else 20_000)


if __name__ == "__main__":
    main()

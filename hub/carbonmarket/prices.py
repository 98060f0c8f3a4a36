"""Paired electricity/carbon price series: a documented synthetic generator and the operator CSV.

The papers' price history is not public, so we ship a generator whose
dependence is known (docs/carbon-market.md, "Synthetic prices"):

- hourly pairs, independent from hour to hour;
- the dependence is a Gumbel copula with theta = 2 (Kendall's tau 0.5,
  upper-tail dependence: hours of scarce, dear electricity come with dear
  carbon), drawn with statsmodels;
- electricity: log-normal, median 120,000 micro-currency/kWh, sigma 0.35;
- carbon: log-normal, median 60,000 micro-currency/kg (60 per tonne), sigma 0.2;
- integers, like every price on our wire.

An operator's history is a CSV with a header row naming ``electricity``
(micro-currency/kWh) and ``carbon`` (micro-currency/kg) columns, integers.
"""

from __future__ import annotations

import csv
import math

import numpy as np
from statsmodels.distributions.copula.api import GumbelCopula

GUMBEL_THETA = 2.0
ELEC_MEDIAN, ELEC_SIGMA = 120_000, 0.35
CARBON_MEDIAN, CARBON_SIGMA = 60_000, 0.2
MAX_ROWS = 1_000_000
MAX_PRICE = 10**12


def synthetic_pairs(hours: int, seed: int = 1,
                    theta: float = GUMBEL_THETA) -> tuple[list[int], list[int]]:
    """``hours`` paired prices (electricity micro/kWh, carbon micro/kg), reproducible by seed."""
    if not 1 <= hours <= MAX_ROWS:
        raise ValueError(f"hours must be 1..{MAX_ROWS}")
    uv = GumbelCopula(theta=theta).rvs(hours, rng=np.random.default_rng(seed))
    from scipy import stats

    z = stats.norm.ppf(np.clip(uv, 1e-12, 1 - 1e-12))
    elec = np.rint(ELEC_MEDIAN * np.exp(ELEC_SIGMA * z[:, 0])).astype(np.int64)
    carbon = np.rint(CARBON_MEDIAN * np.exp(CARBON_SIGMA * z[:, 1])).astype(np.int64)
    return elec.tolist(), carbon.tolist()


def load_csv(path: str) -> tuple[list[int], list[int]]:
    """Read an operator's paired prices; one sentence naming the line for any bad row."""
    elec: list[int] = []
    carbon: list[int] = []
    try:
        f = open(path, encoding="utf-8", newline="")
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror}") from None
    with f:
        reader = csv.DictReader(f)
        names = reader.fieldnames or []
        if "electricity" not in names or "carbon" not in names:
            raise ValueError(f"{path}: the header must name 'electricity' and 'carbon' columns")
        for row in reader:
            line = reader.line_num
            if len(elec) >= MAX_ROWS:
                raise ValueError(f"{path}: more than {MAX_ROWS} rows")
            try:
                e, c = int(row["electricity"]), int(row["carbon"])
            except (TypeError, ValueError):
                raise ValueError(f"{path} line {line}: prices must be integers "
                                 "(micro-currency/kWh, micro-currency/kg)") from None
            if not (0 <= e <= MAX_PRICE and 0 <= c <= MAX_PRICE):
                raise ValueError(f"{path} line {line}: a price outside 0..10^12")
            elec.append(e)
            carbon.append(c)
    return elec, carbon


def kendall_tau_of_gumbel(theta: float) -> float:
    """tau = 1 - 1/theta: what the generator's dependence is, for the docs and tests."""
    return 1 - 1 / theta if theta >= 1 else math.nan

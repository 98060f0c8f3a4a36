"""Electricity and carbon prices: KDE marginals, a copula chosen by AIC, a bid range by Monte Carlo.

1. Each price series gets a kernel-density marginal (statsmodels'
   ``KDEUnivariate``, Gaussian kernel, Silverman bandwidth, FFT grid); its
   CDF (the density integrated over the grid) turns prices into uniforms and
   its inverse turns uniforms back into prices.
2. Five copula families (statsmodels' Gaussian, Student t, Clayton, Gumbel,
   Frank) are fitted to the uniforms by maximum likelihood: the densities
   are statsmodels', the optimiser is scipy's (bounded Brent for one
   parameter, L-BFGS-B for the t copula's two), started from the inversion
   of Kendall's tau. The family with the smallest AIC = 2k - 2 lnL wins.
3. Pearson's r and Spearman's rho of the raw prices are reported.
4. Given an electricity price e, the carbon price is sampled from the
   chosen copula's conditional law: u = F_e(e); candidate v ~ U(0, 1) are
   weighted by the copula density c(u, v) (for uniform marginals the
   conditional density of v given u) and resampled in proportion
   (sampling-importance-resampling); carbon = F_c^-1(v). The recommended bid
   range is the central ``level`` interval of those samples.

Floats are for this analysis only; the range is returned in integer
micro-currency per kg (low rounded down, high up) so it can be published
beside the price signals and used by a gateway's policy.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import integrate, optimize, stats
from statsmodels.distributions.copula.api import (
    ClaytonCopula,
    FrankCopula,
    GaussianCopula,
    GumbelCopula,
    StudentTCopula,
)
from statsmodels.nonparametric.kde import KDEUnivariate

EPS = 1e-6
MIN_SAMPLES = 50
MAX_SAMPLES = 1_000_000


class Marginal:
    """A kernel-density marginal: prices <-> uniforms through its CDF."""

    def __init__(self, x: np.ndarray) -> None:
        kde = KDEUnivariate(np.asarray(x, dtype=float))
        kde.fit(kernel="gau", bw="silverman", fft=True)
        support = np.asarray(kde.support)
        # The CDF by integrating the density over its FFT grid: statsmodels' own ``cdf``
        # integrates point by point and takes minutes for a year of hours.
        area = integrate.cumulative_trapezoid(np.asarray(kde.density), support, initial=0.0)
        cdf = np.maximum.accumulate(np.clip(area / area[-1], 0.0, 1.0))
        keep = np.concatenate(([True], np.diff(cdf) > 0))  # strictly rising for the inverse
        self.support, self.cdf_values = support[keep], cdf[keep]

    def cdf(self, x: np.ndarray | float) -> np.ndarray:
        return np.clip(np.interp(x, self.support, self.cdf_values), EPS, 1 - EPS)

    def ppf(self, u: np.ndarray) -> np.ndarray:
        return np.interp(u, self.cdf_values, self.support)


@dataclass(frozen=True)
class Family:
    name: str
    k: int  # number of parameters
    make: Callable[[Sequence[float]], Any]  # parameters -> statsmodels copula
    bounds: tuple[tuple[float, float], ...]
    from_tau: Callable[[float], tuple[float, ...]]


def _clip(v: float, lo: float, hi: float) -> float:
    return min(max(v, lo), hi)


FAMILIES: tuple[Family, ...] = (
    Family("gaussian", 1, lambda p: GaussianCopula(corr=p[0]), ((-0.99, 0.99),),
           lambda tau: (_clip(math.sin(math.pi * tau / 2), -0.98, 0.98),)),
    Family("student_t", 2, lambda p: StudentTCopula(corr=p[0], df=p[1]),
           ((-0.99, 0.99), (2.01, 60.0)),
           lambda tau: (_clip(math.sin(math.pi * tau / 2), -0.98, 0.98), 8.0)),
    Family("clayton", 1, lambda p: ClaytonCopula(theta=p[0]), ((0.01, 30.0),),
           lambda tau: (_clip(2 * tau / (1 - tau), 0.05, 29.0) if tau < 1 else 29.0,)),
    Family("gumbel", 1, lambda p: GumbelCopula(theta=p[0]), ((1.0001, 30.0),),
           lambda tau: (_clip(1 / (1 - tau), 1.01, 29.0) if tau < 1 else 29.0,)),
    Family("frank", 1, lambda p: FrankCopula(theta=p[0]), ((-40.0, 40.0),),
           lambda tau: (_clip(9 * tau, -39.0, 39.0),)),
)
BY_NAME = {f.name: f for f in FAMILIES}


@dataclass(frozen=True)
class Fit:
    family: str
    params: tuple[float, ...]
    loglik: float
    aic: float

    def as_dict(self) -> dict[str, Any]:
        return {"family": self.family, "params": [round(p, 6) for p in self.params],
                "loglik": round(self.loglik, 4), "aic": round(self.aic, 4)}


def _loglik(family: Family, params: Sequence[float], uv: np.ndarray) -> float:
    with np.errstate(all="ignore"):
        ll = np.asarray(family.make(params).logpdf(uv), dtype=float)
    if not np.all(np.isfinite(ll)):
        return -1e300
    return float(ll.sum())


def fit_family(family: Family, uv: np.ndarray, tau: float) -> Fit:
    """Maximum-likelihood fit of one family (scipy's optimisers, statsmodels' densities)."""
    start = family.from_tau(tau)
    if family.k == 1:
        lo, hi = family.bounds[0]
        res = optimize.minimize_scalar(lambda t: -_loglik(family, (t,), uv), bounds=(lo, hi),
                                       method="bounded", options={"xatol": 1e-4})
        params: tuple[float, ...] = (float(res.x),)
        # a bounded search can miss a narrow optimum: keep the tau start when it is better
        if _loglik(family, start, uv) > _loglik(family, params, uv):
            params = tuple(float(s) for s in start)
    else:
        res = optimize.minimize(lambda p: -_loglik(family, p, uv), np.array(start),
                                method="L-BFGS-B", bounds=family.bounds)
        params = tuple(float(x) for x in res.x)
    ll = _loglik(family, params, uv)
    return Fit(family.name, params, ll, 2 * family.k - 2 * ll)


def fit_copulas(uv: np.ndarray) -> list[Fit]:
    """Every family fitted to the uniforms ``uv`` (n x 2), best AIC first."""
    uv = np.clip(np.asarray(uv, dtype=float), EPS, 1 - EPS)
    tau = float(stats.kendalltau(uv[:, 0], uv[:, 1]).statistic)
    fits = [fit_family(f, uv, tau) for f in FAMILIES]
    return sorted(fits, key=lambda f: f.aic)


def _check_series(elec: Sequence[float], carbon: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    if len(elec) != len(carbon):
        raise ValueError(f"{len(elec)} electricity prices but {len(carbon)} carbon prices")
    if not MIN_SAMPLES <= len(elec) <= MAX_SAMPLES:
        raise ValueError(f"need {MIN_SAMPLES}..{MAX_SAMPLES} paired prices, got {len(elec)}")
    e, c = np.asarray(elec, dtype=float), np.asarray(carbon, dtype=float)
    if not (np.all(np.isfinite(e)) and np.all(np.isfinite(c))):
        raise ValueError("prices must be finite numbers")
    if np.ptp(e) == 0 or np.ptp(c) == 0:
        raise ValueError("a constant price series has no correlation to fit")
    return e, c


@dataclass
class PriceModel:
    """Marginals and the chosen copula of a paired price history."""

    elec: Marginal
    carbon: Marginal
    fits: list[Fit]
    pearson: float
    spearman: float

    @property
    def best(self) -> Fit:
        return self.fits[0]

    def sample_carbon(self, electricity_price: float, draws: int,
                      rng: np.random.Generator) -> np.ndarray:
        """Monte Carlo draws of the carbon price given the electricity price."""
        u = float(self.elec.cdf(electricity_price))
        v = rng.uniform(EPS, 1 - EPS, size=draws)
        cop = BY_NAME[self.best.family].make(self.best.params)
        with np.errstate(all="ignore"):
            w = np.asarray(cop.pdf(np.column_stack([np.full(draws, u), v])), dtype=float)
        w = np.where(np.isfinite(w) & (w > 0), w, 0.0)
        if w.sum() <= 0:
            raise ValueError("the copula gives no weight at this electricity price")
        picked = rng.choice(v, size=draws, replace=True, p=w / w.sum())
        return self.carbon.ppf(picked)


def fit_prices(elec: Sequence[float], carbon: Sequence[float]) -> PriceModel:
    e, c = _check_series(elec, carbon)
    em, cm = Marginal(e), Marginal(c)
    uv = np.column_stack([em.cdf(e), cm.cdf(c)])
    return PriceModel(em, cm, fit_copulas(uv), float(stats.pearsonr(e, c).statistic),
                      float(stats.spearmanr(e, c).statistic))


def bid_range(model: PriceModel, electricity_price: int, level_pm: int, draws: int,
              seed: int) -> tuple[int, int, int]:
    """(low, median, high) carbon prices, integer micro/kg, covering ``level_pm`` per mille."""
    if not 1 <= level_pm <= 999:
        raise ValueError("level must be 1..999 per mille")
    if not 100 <= draws <= 1_000_000:
        raise ValueError("draws must be 100..1,000,000")
    s = model.sample_carbon(electricity_price, draws, np.random.default_rng(seed))
    a = (1000 - level_pm) / 2000
    lo, med, hi = np.quantile(s, [a, 0.5, 1 - a])
    return int(math.floor(lo)), int(round(med)), int(math.ceil(hi))


def advise(elec: Sequence[float], carbon: Sequence[float], electricity_price: int,
           level_pm: int = 900, draws: int = 20_000, seed: int = 1) -> dict[str, Any]:
    """Fit the history and recommend a carbon bid range for ``electricity_price`` (JSON-ready)."""
    model = fit_prices(elec, carbon)
    low, med, high = bid_range(model, electricity_price, level_pm, draws, seed)
    return {"samples": len(elec), "copula": model.best.as_dict(),
            "candidates": [f.as_dict() for f in model.fits],
            "pearson": round(model.pearson, 6), "spearman": round(model.spearman, 6),
            "electricity_price": electricity_price, "level_pm": level_pm, "draws": draws,
            "bid_low": low, "bid_median": med, "bid_high": high}

"""Copula choice and bid advice against samples of known families and held-out prices."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from statsmodels.distributions.copula.api import (
    ClaytonCopula,
    FrankCopula,
    GaussianCopula,
    GumbelCopula,
    StudentTCopula,
)

from hub.carbonmarket.correlation import bid_range, fit_copulas, fit_prices
from hub.carbonmarket.prices import load_csv, synthetic_pairs

ROOT = Path(__file__).resolve().parents[2]

# (family, the copula that makes the samples, its parameters, tolerance on each)
KNOWN = [
    ("gaussian", GaussianCopula(corr=0.7), (0.7,), (0.03,)),
    ("student_t", StudentTCopula(corr=0.7, df=4), (0.7, 4.0), (0.04, 1.5)),
    ("clayton", ClaytonCopula(theta=3.0), (3.0,), (0.35,)),
    ("gumbel", GumbelCopula(theta=2.5), (2.5,), (0.2,)),
    ("frank", FrankCopula(theta=8.0), (8.0,), (0.8,)),
]


@pytest.mark.parametrize("family,copula,params,tol", KNOWN, ids=[k[0] for k in KNOWN])
def test_fit_picks_the_family_that_made_2000_samples_and_recovers_its_parameter(
        family, copula, params, tol):
    uv = copula.rvs(2000, rng=np.random.default_rng(7))
    best = fit_copulas(uv)[0]
    assert best.family == family
    for got, want, t in zip(best.params, params, tol, strict=True):
        assert abs(got - want) <= t, (best.params, params)


def test_recommended_range_covers_held_out_carbon_prices_at_its_level():
    elec, carbon = synthetic_pairs(2_600, seed=11)
    model = fit_prices(elec[:2_000], carbon[:2_000])
    assert model.best.family == "gumbel"  # the generator's copula
    hits = 0
    for e, c in zip(elec[2_000:], carbon[2_000:], strict=True):
        low, median, high = bid_range(model, e, 900, 2_000, seed=e)
        assert low <= median <= high
        hits += low <= c <= high
    # 600 held-out hours at a stated 90 %: 0.85..0.95 is about four standard errors wide
    assert 0.85 <= hits / 600 <= 0.95


def test_a_dearer_electricity_hour_raises_the_carbon_range():
    elec, carbon = synthetic_pairs(2_000, seed=5)
    model = fit_prices(elec, carbon)
    cheap = bid_range(model, 80_000, 900, 5_000, seed=1)
    dear = bid_range(model, 200_000, 900, 5_000, seed=1)
    assert dear[1] > cheap[1] and dear[2] > cheap[2]


def test_pearson_and_spearman_are_those_of_the_raw_prices():
    elec, carbon = synthetic_pairs(500, seed=2)
    model = fit_prices(elec, carbon)
    e, c = np.array(elec, float), np.array(carbon, float)
    assert model.pearson == pytest.approx(np.corrcoef(e, c)[0, 1], abs=1e-12)
    from scipy.stats import rankdata  # average ranks of ties, as Spearman's definition has

    ranks = [rankdata(x) for x in (e, c)]
    assert model.spearman == pytest.approx(np.corrcoef(*ranks)[0, 1], abs=1e-9)


def test_synthetic_series_is_integer_and_reproducible():
    a = synthetic_pairs(100, seed=4)
    assert a == synthetic_pairs(100, seed=4) and a != synthetic_pairs(100, seed=5)
    assert all(isinstance(x, int) and x > 0 for x in a[0] + a[1])


def test_operator_csv_and_its_errors(tmp_path):
    path = tmp_path / "prices.csv"
    path.write_text("hour,electricity,carbon\n0,120000,60000\n1,130500,61000\n")
    assert load_csv(str(path)) == ([120_000, 130_500], [60_000, 61_000])
    path.write_text("electricity,carbon\n120000,60000\n1.5,3\n")
    with pytest.raises(ValueError, match="line 3: prices must be integers"):
        load_csv(str(path))
    path.write_text("elec,carbon\n1,2\n")
    with pytest.raises(ValueError, match="header"):
        load_csv(str(path))
    path.write_text("electricity,carbon\n" + "1,2\n" * 10)
    with pytest.raises(ValueError, match="need 50"):
        fit_prices(*load_csv(str(path)))


def test_advise_command_on_an_operator_csv(tmp_path):
    elec, carbon = synthetic_pairs(600, seed=9)
    path = tmp_path / "prices.csv"
    rows = "".join(f"{e},{c}\n" for e, c in zip(elec, carbon, strict=True))
    path.write_text("electricity,carbon\n" + rows)
    proc = subprocess.run([sys.executable, "-m", "edge.cli", "carbon-market", "advise", "--csv",
                           str(path), "--electricity", "150000", "--draws", "2000", "--json"],
                          capture_output=True, text=True, cwd=ROOT, timeout=120,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr
    res = json.loads(proc.stdout)
    assert res["samples"] == 600 and res["bid_low"] <= res["bid_median"] <= res["bid_high"]
    assert {c["family"] for c in res["candidates"]} == \
        {"gaussian", "student_t", "clayton", "gumbel", "frank"}
    bad = subprocess.run([sys.executable, "-m", "edge.cli", "carbon-market", "advise",
                          "--electricity", "1"], capture_output=True, text=True, cwd=ROOT,
                         timeout=60, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert bad.returncode == 2 and "exactly one" in bad.stderr


def test_kde_marginal_cdf_is_the_gaussian_kernel_mixture_and_inverts():
    """Reference: a Gaussian KDE's CDF is the mean of Phi((x - x_i) / h), by hand."""
    from scipy.stats import norm
    from statsmodels.nonparametric.kde import KDEUnivariate

    from hub.carbonmarket.correlation import Marginal

    x = np.random.default_rng(0).lognormal(mean=11, sigma=0.3, size=3_000)
    m = Marginal(x)
    kde = KDEUnivariate(x)
    kde.fit(kernel="gau", bw="silverman", fft=True)
    for q in np.quantile(x, [0.05, 0.25, 0.5, 0.75, 0.95]):
        assert float(m.cdf(q)) == pytest.approx(norm.cdf((q - x) / kde.bw).mean(), abs=1e-3)
        assert float(m.ppf(m.cdf(q))) == pytest.approx(q, rel=1e-3)

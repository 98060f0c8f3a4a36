"""Privacy-preserving outsourcing of the tracing solve: masking, checks, escalation, blacklist."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.sparse.linalg import spsolve
from scipy.stats import spearmanr

from hub.carbon.analysis import trace_network
from hub.carbon.networks import load_case
from hub.carbon.outsourcing import (
    HonestProvider,
    LazyProvider,
    OutsourcedSolver,
    PerturbingProvider,
    make_mask,
    mask_system,
    residual_ratio,
    unmask,
)
from hub.carbon.tracing import gross_throughflow, tracing_matrix


@pytest.fixture(scope="module")
def system():
    """The real tracing system of case118 with two right-hand sides (P_G and P_G E_G),
    generators of different intensities (zero-carbon, gas-like and coal-like)."""
    t = trace_network(load_case("case118"))
    g = t.graph
    a = tracing_matrix(g, gross_throughflow(g))
    n = g.n_nodes
    e = np.random.default_rng(7).choice([0.0, 0.35, 0.45, 0.9, 1.1], len(g.source_p))
    b = np.column_stack([np.bincount(g.source_node, g.source_p, n),
                         np.bincount(g.source_node, g.source_p * e, n)])
    return a, b


def _close(x, ref):
    """Equal to 1e-9 of the largest entry (the blind costs digits only in absolute terms)."""
    np.testing.assert_allclose(x, ref, rtol=1e-9, atol=1e-9 * np.max(np.abs(ref)))


def _block(a, b):
    """The block system a trace sends: [A, 0; 0, A^T] with [P_G, P_G E_G, 0; 0, 0, s]."""
    n = a.shape[0]
    s = np.random.default_rng(2).random(n) * 0.01
    rhs = np.zeros((2 * n, 3))
    rhs[:n, :2] = b
    rhs[n:, 2] = s
    return sp.block_diag([a, a.T], format="csc"), rhs


def test_unmasked_result_equals_the_direct_solve(system):
    a, b = system
    block, rhs = _block(a, b)
    direct = spsolve(block, rhs)
    for seed in range(5):
        mask = make_mask(rhs, np.random.default_rng(seed))
        a2, b2 = mask_system(block, rhs, mask)
        y = HonestProvider().solve(a2, b2)
        x = unmask(y, mask)
        rel = np.max(np.abs(x - direct), axis=0) / np.max(np.abs(direct), axis=0)
        assert np.all(rel < 1e-9)
        assert residual_ratio(a2, y, b2) <= 1.0


def test_the_provider_sees_neither_the_matrix_nor_the_injections(system):
    a, b = system
    mask = make_mask(b, np.random.default_rng(1))
    a2, b2 = mask_system(a, b, mask)
    assert a2.nnz == a.nnz  # as sparse as the original: the provider's LU costs the same
    assert not np.allclose(a2.diagonal(), 1.0)  # A_u's unit diagonal is gone
    # B is zero outside the generator rows; B' is dense (the blind fills every row)
    assert np.count_nonzero(b[:, 0]) < a.shape[0] / 2
    assert np.count_nonzero(b2[:, 0]) == a.shape[0]


def _generator_rows(b, mask):
    """Where each generator's row of B landed in B' (the attacker is GIVEN the
    permutation: a strictly stronger attacker than a real provider)."""
    rows = np.nonzero(b[:, 0] > 0)[0]
    perm = mask.m1.tocoo()
    where = dict(zip(perm.col, perm.row, strict=True))  # B' row i = d_i * (.)[col]
    return rows, np.array([where[r] for r in rows])


def _old_scheme(a, b, rng):
    """The shared-row-mask scheme the blind replaced: B' = M1 (lambda B)."""
    mask = make_mask(b, rng)
    return mask, mask.m1 @ (1.7 * b)


def _ratio_attack(b, b2, mask):
    rows, at = _generator_rows(b, mask)
    with np.errstate(divide="ignore", invalid="ignore"):
        guess = b2[at, 1] / b2[at, 0]
    return b[rows, 1] / b[rows, 0], guess


def _no_better_than_chance(truth, guess):
    """Pooled over several requests: the guesses neither order the generators (rank
    correlation, robust to the huge ratios a blind gives) nor land near the truth
    (a typical error above a third of the 0..1.1 t/MWh range)."""
    truth, guess = np.concatenate(truth), np.concatenate(guess)
    assert abs(spearmanr(truth, guess).statistic) < 0.25
    assert np.median(np.abs(guess - truth)) > 0.35


def test_column_ratio_attack_recovers_nothing(system):
    a, b = system
    # Control: against the old shared-mask scheme the attack recovers every intensity.
    mask, b2_old = _old_scheme(a, b, np.random.default_rng(0))
    truth, guess = _ratio_attack(b, b2_old, mask)
    np.testing.assert_allclose(guess, truth, atol=1e-12)
    assert len(set(np.round(truth, 6))) >= 4  # generators of different intensities
    truths, guesses, outputs, seen = [], [], [], []
    for seed in range(8):
        mask = make_mask(b, np.random.default_rng(seed))
        _, b2 = mask_system(a, b, mask)
        truth, guess = _ratio_attack(b, b2, mask)
        truths.append(truth)
        guesses.append(guess)
        rows, at = _generator_rows(b, mask)
        outputs.append(b[rows, 0])
        seen.append(np.abs(b2[at, 0]))
    _no_better_than_chance(truths, guesses)
    # outputs: |B'| in the generator rows does not order the generators by P_G either
    assert abs(spearmanr(np.concatenate(outputs), np.concatenate(seen)).statistic) < 0.25


def test_least_squares_recovery_fails(system):
    """The attacker knows B is zero off the generator rows, so it looks for the blind:
    the least-squares z with (A' z)_i = B'_i on every non-generator row, and reads
    B' - A' z on the generator rows. Against the old scheme z = 0 and it recovers
    P_G and E_G exactly; against the blind its answer is unrelated to the truth."""
    a, b = system

    def attack(a2, b2, at):
        off = np.setdiff1d(np.arange(a2.shape[0]), at)
        a_off = a2.tocsr()[off].toarray()
        est = []
        for j in range(2):
            z, *_ = np.linalg.lstsq(a_off, b2[off, j], rcond=None)
            est.append(b2[at, j] - a2.tocsr()[at] @ z)
        return est

    mask, b2_old = _old_scheme(a, b, np.random.default_rng(0))
    rows, at = _generator_rows(b, mask)
    p_old, c_old = attack(mask.m1 @ a @ mask.m2, b2_old, at)
    truth = b[rows, 1] / b[rows, 0]
    np.testing.assert_allclose(c_old / p_old, truth, atol=1e-9)  # control: full recovery
    guesses, outputs = [], []
    for seed in range(6):
        mask = make_mask(b, np.random.default_rng(10 + seed))
        a2, b2 = mask_system(a, b, mask)
        rows, at = _generator_rows(b, mask)
        p_est, c_est = attack(a2, b2, at)
        guesses.append(c_est / p_est)
        outputs.append(np.abs(p_est))
    _no_better_than_chance([truth] * 6, guesses)
    assert abs(spearmanr(np.tile(b[rows, 0], 6), np.concatenate(outputs)).statistic) < 0.25


def test_solver_gives_the_local_result_and_logs_the_double_check():
    solver = OutsourcedSolver([HonestProvider("p1"), HonestProvider("p2")],
                              rng=np.random.default_rng(3))
    local = trace_network(load_case("case118"))
    remote = trace_network(load_case("case118"), solver=solver)
    _close(remote.flow.carbon_rate, local.flow.carbon_rate)
    _close(remote.flow.source_loss_carbon, local.flow.source_loss_carbon)
    (audit,) = solver.audits
    assert audit.decided_by == "providers"
    assert [a.verdict for a in audit.answers] == ["accepted", "accepted"]


@pytest.mark.parametrize("entry", [0, 17, 150, 400, 587])
def test_a_provider_that_perturbs_one_entry_is_caught(system, entry):
    a, b = system
    cheat = PerturbingProvider("cheat", entry=entry, rel=1e-5)
    solver = OutsourcedSolver([cheat, HonestProvider("h1"), HonestProvider("h2")],
                              rng=np.random.default_rng(entry))
    solver.cycle = 2  # rotation starts at the cheat
    x = solver.solve(a, b)
    _close(x, spsolve(a.tocsc(), b))
    audit = solver.audits[-1]
    verdicts = {ans.provider: ans.verdict for ans in audit.answers}
    assert verdicts["cheat"] == "wrong"
    assert audit.decided_by == "third_provider"
    assert solver.strikes["cheat"] == 1


def test_disagreement_without_a_third_provider_goes_to_the_owner(system):
    a, b = system
    solver = OutsourcedSolver([LazyProvider("lazy"), HonestProvider("h")],
                              rng=np.random.default_rng(0))
    x = solver.solve(a, b)
    _close(x, spsolve(a.tocsc(), b))
    assert solver.audits[-1].decided_by == "owner"


def test_caught_twice_means_blacklisted_for_three_cycles(system):
    a, b = system
    cheat = PerturbingProvider("cheat", rel=1e-5)
    honest = [HonestProvider("h1"), HonestProvider("h2")]
    solver = OutsourcedSolver([cheat, *honest], rng=np.random.default_rng(5))
    asked_at = []
    for _ in range(12):
        before = cheat.calls
        solver.solve(a, b)
        asked_at.append(cheat.calls > before)
    audits = solver.audits
    caught = [a_.cycle for a_ in audits for ans in a_.answers
              if ans.provider == "cheat" and ans.verdict == "wrong"]
    second = caught[1]
    # banned in the three cycles after its second strike, asked again afterwards
    for c in (second + 1, second + 2, second + 3):
        assert not asked_at[c - 1]
        assert "cheat" in audits[c - 1].blacklisted
    assert "cheat" not in audits[second + 3].blacklisted
    assert any(asked_at[second + 3:])
    # every result was right all along
    assert all(a_.decided_by in ("providers", "third_provider") for a_ in audits)
    assert all(h.calls > 0 for h in honest)


def test_a_crashing_provider_is_not_a_cheat(system):
    a, b = system

    class Down:
        name = "down"

        def solve(self, a_, b_):
            raise ConnectionError("provider unreachable")

    solver = OutsourcedSolver([Down(), HonestProvider("h1"), HonestProvider("h2")],
                              rng=np.random.default_rng(0))
    solver.cycle = 2
    solver.solve(a, b)
    audit = solver.audits[-1]
    assert audit.answers[0].verdict == "no_answer" and "unreachable" in audit.answers[0].detail
    assert solver.strikes.get("down", 0) == 0
    assert audit.decided_by == "third_provider"


def test_single_check_mode_escalates_on_a_wrong_answer(system):
    a, b = system
    solver = OutsourcedSolver([LazyProvider("lazy"), HonestProvider("h")], double_check=False,
                              rng=np.random.default_rng(0))
    solver.cycle = 1  # start the rotation at the lazy one
    solver.solve(a, b)
    audit = solver.audits[-1]
    assert [ans.verdict for ans in audit.answers] == ["wrong", "accepted"]
    assert audit.decided_by == "third_provider"


def test_residual_ratio_flags_nan_and_tiny_changes():
    a = sp.csc_matrix(np.array([[1.0, 0.0], [-0.5, 1.0]]))
    b = np.array([2.0, 0.0])
    x = np.array([2.0, 1.0])
    assert residual_ratio(a, x, b) == 0.0
    assert residual_ratio(a, np.array([2.0, 1.0 + 1e-6]), b) > 1.0
    assert residual_ratio(a, np.array([np.nan, 1.0]), b) == float("inf")


def test_provider_names_must_be_unique():
    with pytest.raises(ValueError, match="unique"):
        OutsourcedSolver([HonestProvider("x"), HonestProvider("x")])


@pytest.mark.parametrize("entry", [0, 17, 150])
def test_tampering_below_the_residual_check_is_caught_by_the_double_check(system, entry):
    """A change of 1e-7 of one blinded entry can hide in the residual's rounding
    allowance (the blind makes y ~1000x larger than x); the second provider's
    independently masked answer disagrees, and the accepted result is right."""
    a, b = system
    cheat = PerturbingProvider("cheat", entry=entry, rel=1e-7)
    solver = OutsourcedSolver([cheat, HonestProvider("h1"), HonestProvider("h2")],
                              rng=np.random.default_rng(entry))
    solver.cycle = 2
    x = solver.solve(a, b)
    _close(x, spsolve(a.tocsc(), b))
    verdicts = {ans.provider: ans.verdict for ans in solver.audits[-1].answers}
    assert verdicts["cheat"] in ("wrong", "disagreed")
    assert solver.strikes["cheat"] == 1

"""Privacy-preserving outsourcing of the tracing solve: masking, checks, escalation, blacklist."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.sparse.linalg import spsolve

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
    """The real tracing system of case118 with two right-hand sides (P_G and P_G E_G)."""
    t = trace_network(load_case("case118"))
    g = t.graph
    a = tracing_matrix(g, gross_throughflow(g))
    n = g.n_nodes
    b = np.column_stack([np.bincount(g.source_node, g.source_p, n),
                         np.bincount(g.source_node, g.source_p * 0.8, n)])
    return a, b


def test_unmasked_result_equals_the_direct_solve(system):
    a, b = system
    direct = spsolve(a.tocsc(), b)
    for seed in range(5):
        mask = make_mask(a.shape[0], np.random.default_rng(seed))
        a2, b2 = mask_system(a, b, mask)
        x = unmask(HonestProvider().solve(a2, b2), mask)
        rel = np.max(np.abs(x - direct)) / np.max(np.abs(direct))
        assert rel < 1e-9
        assert residual_ratio(a, x, b) <= 1.0


def test_the_provider_sees_neither_the_matrix_nor_the_injections(system):
    a, b = system
    mask = make_mask(a.shape[0], np.random.default_rng(1))
    a2, b2 = mask_system(a, b, mask)
    assert a2.nnz == a.nnz  # as sparse as the original: the provider's LU costs the same
    assert not np.allclose(a2.diagonal(), 1.0)  # A_u's unit diagonal is gone
    assert not np.allclose(np.sort(np.abs(b2[:, 0])), np.sort(np.abs(b[:, 0])))
    assert 0.5 <= mask.lam < 2.0


def test_solver_gives_the_local_result_and_logs_the_double_check():
    solver = OutsourcedSolver([HonestProvider("p1"), HonestProvider("p2")],
                              rng=np.random.default_rng(3))
    local = trace_network(load_case("case118"))
    remote = trace_network(load_case("case118"), solver=solver)
    np.testing.assert_allclose(remote.flow.carbon_rate, local.flow.carbon_rate, rtol=1e-9)
    np.testing.assert_allclose(remote.flow.source_loss_carbon, local.flow.source_loss_carbon,
                               rtol=1e-9, atol=1e-12)
    (audit,) = solver.audits
    assert audit.decided_by == "providers"
    assert [a.verdict for a in audit.answers] == ["accepted", "accepted"]


@pytest.mark.parametrize("entry", [0, 17, 150, 400, 587])
def test_a_provider_that_perturbs_one_entry_is_caught(system, entry):
    a, b = system
    cheat = PerturbingProvider("cheat", entry=entry, rel=1e-7)
    solver = OutsourcedSolver([cheat, HonestProvider("h1"), HonestProvider("h2")],
                              rng=np.random.default_rng(entry))
    solver.cycle = 2  # rotation starts at the cheat
    x = solver.solve(a, b)
    np.testing.assert_allclose(x, spsolve(a.tocsc(), b), rtol=1e-9, atol=1e-12)
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
    np.testing.assert_allclose(x, spsolve(a.tocsc(), b), rtol=1e-9, atol=1e-12)
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

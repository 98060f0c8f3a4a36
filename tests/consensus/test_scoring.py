"""Validator scoring (EA-DPoS) against a hand-worked example and its edge guards."""

from __future__ import annotations

import pytest

from hub.consensus.scoring import NodeRecord, score


def test_hand_worked_example():
    """Four nodes, s = 2, gamma = 2, worked by hand:
    CA = 1*0.8/sqrt(4) = 0.4, 0.5*1/sqrt(1) = 0.5, 0.9*1/sqrt(9) = 0.3, 1*1/sqrt(max(0,1)) = 1.0;
    sum CA = 2.2; X = CA * 2 / (4 * 2.2) = 1/11, 5/44, 3/44, 10/44 (sum 1/2);
    W = X / sum X = 2/11, 5/22, 3/22, 10/22;
    Delta = 2 log2(tr) = 2*4, 2*3, 2*10, 2*log2(max(1,1)) = 8, 6, 20, 0;
    P = 16/11, 15/11, 30/11, 0  ->  supervisors n3, n1.
    n4 has the largest weight but handled one transaction, so it scores 0."""
    nodes = [
        NodeRecord("n1", 1.0, 0.8, 4, 16),
        NodeRecord("n2", 0.5, 1.0, 1, 8),
        NodeRecord("n3", 0.9, 1.0, 9, 1024),
        NodeRecord("n4", 1.0, 1.0, 0, 1),
    ]
    res = score(nodes, s=2, gamma=2.0)
    got = {sc.node: sc for sc in res.scores}
    for node, ca, x, w, delta, p in [
        ("n1", 0.4, 1 / 11, 2 / 11, 8.0, 16 / 11),
        ("n2", 0.5, 5 / 44, 5 / 22, 6.0, 15 / 11),
        ("n3", 0.3, 3 / 44, 3 / 22, 20.0, 30 / 11),
        ("n4", 1.0, 10 / 44, 10 / 22, 0.0, 0.0),
    ]:
        sc = got[node]
        assert (sc.ca, sc.x, sc.w, sc.delta, sc.p) == pytest.approx((ca, x, w, delta, p), rel=1e-12)
    assert res.supervisors == ("n3", "n1")


def test_zero_blocks_counts_as_one_and_zero_transactions_score_zero():
    a = score([NodeRecord("a", 1.0, 1.0, 0, 4), NodeRecord("b", 1.0, 1.0, 1, 4)], s=1)
    assert a.scores[0].ca == a.scores[1].ca == 1.0
    b = score([NodeRecord("a", 1.0, 1.0, 1, 0), NodeRecord("b", 0.1, 0.1, 100, 2)], s=1)
    assert b.scores[0].delta == 0.0 and b.scores[0].p == 0.0
    assert b.supervisors == ("b",)  # any work beats none


def test_ties_are_broken_by_node_id_and_zero_credit_everywhere_is_defined():
    same = [NodeRecord(i, 0.5, 2.0, 3, 100) for i in ("zeta", "alpha", "mid")]
    assert score(same, s=2).supervisors == ("alpha", "mid")
    none = score([NodeRecord("a", 0.0, 1.0, 1, 10), NodeRecord("b", 1.0, 0.0, 1, 10)], s=1)
    assert [sc.w for sc in none.scores] == [0.0, 0.0]
    assert none.supervisors == ("a",)


@pytest.mark.parametrize("nodes, s, gamma, match", [
    ([], 1, 1.0, "at least one"),
    ([NodeRecord("a", 1.0, 1.0, 1, 1)], 2, 1.0, "s: must be"),
    ([NodeRecord("a", 1.0, 1.0, 1, 1)], 0, 1.0, "s: must be"),
    ([NodeRecord("a", 1.0, 1.0, 1, 1)], 1, 0.0, "gamma"),
    ([NodeRecord("a", 1.0, 1.0, 1, 1)], 1, float("nan"), "gamma"),
    ([NodeRecord("a", 1.0, 1.0, 1, 1), NodeRecord("a", 1.0, 1.0, 1, 1)], 1, 1.0, "unique"),
    ([NodeRecord("a", 1.5, 1.0, 1, 1)], 1, 1.0, "accuracy"),
    ([NodeRecord("a", 1.0, -1.0, 1, 1)], 1, 1.0, "credit"),
    ([NodeRecord("a", 1.0, float("inf"), 1, 1)], 1, 1.0, "credit"),
    ([NodeRecord("a", 1.0, 1.0, -1, 1)], 1, 1.0, "blocks"),
    ([NodeRecord("a", 1.0, 1.0, 1, 2.5)], 1, 1.0, "transactions"),
])
def test_bad_inputs_are_refused_naming_the_field(nodes, s, gamma, match):
    with pytest.raises(ValueError, match=match):
        score(nodes, s=s, gamma=gamma)

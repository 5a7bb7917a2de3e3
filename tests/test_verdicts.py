"""The verdict rule gives each of its three outcomes, and claims use it on real tables."""

import numpy as np
import pandas as pd
import pytest

from bnpipe.claims import build_claims, evaluate
from bnpipe.verdicts import CONTRADICTED, INCONCLUSIVE, RULES, SUPPORTED, combine, verdict

# relation -> intervals that must give (supported, contradicted, inconclusive), margin 0.1
CASES = {
    "greater": [(0.1, 0.3), (-0.3, -0.1), (-0.1, 0.2)],
    "less": [(-0.3, -0.1), (0.1, 0.3), (-0.1, 0.2)],
    "not_less": [(-0.05, 0.4), (-0.5, -0.2), (-0.2, 0.1)],
    "not_greater": [(-0.4, 0.05), (0.2, 0.5), (-0.1, 0.2)],
    "close": [(-0.05, 0.08), (0.15, 0.3), (-0.05, 0.2)],
    "below": [(1e-5, 5e-4), (2e-3, 5e-3), (5e-4, 2e-3)],
}


@pytest.mark.parametrize("relation", sorted(RULES))
def test_every_relation_gives_all_three_verdicts(relation):
    outcomes = [verdict(relation, lo, hi, margin=0.1, bound=1e-3) for lo, hi in CASES[relation]]
    assert outcomes == [SUPPORTED, CONTRADICTED, INCONCLUSIVE]
    assert verdict(relation, np.nan, np.nan, 0.1, 1e-3) == INCONCLUSIVE  # no interval


def test_a_claim_is_the_conjunction_of_its_tests():
    assert combine([SUPPORTED, SUPPORTED]) == SUPPORTED
    assert combine([SUPPORTED, INCONCLUSIVE]) == INCONCLUSIVE
    assert combine([SUPPORTED, CONTRADICTED, INCONCLUSIVE]) == CONTRADICTED
    assert combine([]) == INCONCLUSIVE
    with pytest.raises(ValueError, match="unknown relation"):
        verdict("bigger", 0, 1)


def _quantities(bn: list[float], std: list[float]) -> pd.DataFrame:
    """Claim 1's quantities for VGG lr 0.1: the same values for test acc and speed."""
    rows = []
    for variant, values in (("batchnorm", bn), ("standard", std)):
        for seed, v in enumerate(values):
            for quantity in ("final_test_acc", "train_acc_mean"):
                status = "completed" if np.isfinite(v) else "diverged"
                rows.append(("vgg", variant, 0.1, seed, status, quantity, 0, v))
    cols = ["model", "variant", "lr", "seed", "status", "quantity", "layer", "value"]
    frame = pd.DataFrame(rows, columns=cols)
    return frame.assign(run=frame.variant + frame.seed.astype(str))


@pytest.mark.parametrize(
    ("bn", "std", "expected"),
    [
        ([0.82, 0.84, 0.83, 0.81], [0.79, 0.80, 0.78, 0.81], SUPPORTED),
        ([0.70, 0.72, 0.71, 0.69], [0.79, 0.80, 0.78, 0.81], CONTRADICTED),
        ([0.80, 0.84, 0.78, 0.82], [0.79, 0.83, 0.80, 0.81], INCONCLUSIVE),
        ([0.82, 0.84, 0.83, 0.81], [0.79, np.nan, np.nan, np.nan], INCONCLUSIVE),  # diverged
    ],
)
def test_claim_one_on_constructed_runs(smoke_params, bn, std, expected):
    groups = {("vgg", "batchnorm", 0.1), ("vgg", "standard", 0.1)}
    claim = build_claims(smoke_params, groups)[0]
    assert claim.number == 1 and len(claim.tests) == 2
    result = evaluate(claim, _quantities(bn, std), smoke_params)
    assert result["verdict"] == expected
    test = result["tests"][0]
    assert test["estimate"] == pytest.approx(np.nanmean(bn) - np.nanmean(std))
    assert test["diverged_b"] == int(np.isnan(std).sum())


def test_claims_without_runs_say_what_they_need(smoke_params):
    claims = build_claims(smoke_params, {("dln", "batchnorm", 1e-6)})
    assert [c.number for c in claims] == [1, 2, 3, 4, 5, 6, 7]
    assert [len(c.tests) for c in claims] == [0, 0, 0, 0, 0, 0, 1]  # only Theorem 4.1
    empty = evaluate(claims[0], _quantities([], []), smoke_params)
    assert empty["verdict"] == INCONCLUSIVE and "needs VGG standard" in empty["needs"]

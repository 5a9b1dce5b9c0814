"""Sampling plans: one frozen type per mode, read from a transform's ``plan``."""

import dataclasses

import numpy as np
import pytest

import tfbalance
from tfbalance._sampling._plans import ExactPlan, FixedRatesPlan, OnlinePlan
from tfbalance._sampling._rules import RejectionRule, StrategyRule
from tfbalance._validation import StrategyRatio, StrategyWord

COUNTS = [800, 150, 50]


@pytest.mark.parametrize(
    "make, kind",
    [
        (lambda: tfbalance.undersample(counts=COUNTS), FixedRatesPlan),
        (lambda: tfbalance.oversample(counts=COUNTS, exact=True), ExactPlan),
        (lambda: tfbalance.undersample(), OnlinePlan),
        (lambda: tfbalance.rejection_resample(initial_dist=COUNTS), FixedRatesPlan),
        (lambda: tfbalance.rejection_resample(), OnlinePlan),
    ],
)
def test_each_mode_has_its_own_frozen_plan(make, kind):
    plan = make().plan
    assert type(plan) is kind
    field = dataclasses.fields(plan)[0].name
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(plan, field, None)
    for value in vars(plan).values():
        if isinstance(value, np.ndarray):
            with pytest.raises(ValueError, match="read-only"):
                value[...] = 0


def test_plans_hold_what_their_mode_computes():
    # Rates, exact picks and online rules, against the arithmetic of the modes.
    fixed = tfbalance.undersample(counts=COUNTS).plan
    np.testing.assert_allclose(fixed.rates, np.array([50, 50, 50]) / COUNTS)
    assert fixed.known.tolist() == [True, True, True] and fixed.source == "counts"
    np.testing.assert_allclose(fixed.weights, (np.array(COUNTS) / 1000) / (1 / 3))
    exact = tfbalance.oversample(counts=COUNTS, exact=True).plan
    assert exact.whole.tolist() == [1, 5, 16] and exact.picks.tolist() == [0, 50, 0]
    assert exact.total == 2400 and exact.may_repeat
    rejection = tfbalance.rejection_resample(initial_dist=COUNTS).plan
    assert rejection.source == "initial_dist" and not rejection.may_repeat
    np.testing.assert_allclose(rejection.rates, [50 / 800, 50 / 150, 1.0])
    online = tfbalance.oversample(sampling_strategy=0.5, num_classes=2).plan
    assert online.rule == StrategyRule(StrategyRatio(0.5), under=False)
    assert online.num_classes == 2 and online.required.tolist() == [True, True]
    assert tfbalance.undersample().plan.rule == StrategyRule(StrategyWord("not minority"), True)
    assert isinstance(tfbalance.rejection_resample().plan.rule, RejectionRule)


@pytest.mark.parametrize(
    "make, method, options",
    [
        (lambda: tfbalance.undersample(counts=COUNTS), "undersample", {}),
        (lambda: tfbalance.oversample(counts=COUNTS, exact=True), "oversample", {}),
        (lambda: tfbalance.undersample(), "undersample", {}),
        (lambda: tfbalance.oversample(sampling_strategy="minority"), "oversample",
         {"sampling_strategy": "minority"}),
        (lambda: tfbalance.rejection_resample(initial_dist=COUNTS), "rejection_resample", {}),
        (lambda: tfbalance.rejection_resample(target_dist=[0.5, 0.3, 0.2]),
         "rejection_resample", {"target_dist": [0.5, 0.3, 0.2]}),
    ],
)
def test_expected_rows_of_a_plan_agree_with_expected_steps(make, method, options):
    rows = make().plan.expected_rows(np.array(COUNTS))
    assert round(rows) == tfbalance.expected_steps(COUNTS, batch_size=1, method=method,
                                                   **options)

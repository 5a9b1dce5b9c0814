import numpy as np
import pytest

from tfbalance._validation import check_seed, resolve_class_vector, resolve_target_distribution


def test_list_and_dict_forms_agree():
    assert resolve_class_vector([1, 2, 0], 3, "w").tolist() == [1.0, 2.0, 0.0]
    assert resolve_class_vector({1: 2, 0: 1}, 3, "w").tolist() == [1.0, 2.0, 0.0]


@pytest.mark.parametrize(
    "value, exc, pattern",
    [
        ([1, 2], ValueError, r"expected 3 values.*Received: w=\[1, 2\]"),
        ({3: 1.0}, ValueError, r"class 3 is not one of the known classes 0\.\.2"),
        # A key of the wrong type is a TypeError (it was a ValueError).
        ({"1": 1.0}, TypeError, r"class '1' is not one of the known classes 0\.\.2"),
        ({True: 1.0}, TypeError, r"class True is not one of the known classes"),
        ([1, -1, 0], ValueError, "non-negative"),
        ([1, float("nan"), 0], ValueError, "finite"),
        ([1, "a", 0], TypeError, "numbers"),
        ("abc", TypeError, "Invalid `w`"),
    ],
)
def test_bad_vectors(value, exc, pattern):
    with pytest.raises(exc, match=pattern):
        resolve_class_vector(value, 3, "w")


def test_missing_dict_classes_when_required():
    with pytest.raises(ValueError, match=r"no value for classes \[2\]"):
        resolve_class_vector({0: 1, 1: 1}, 3, "w", allow_missing=False)


def test_target_must_sum_to_one():
    assert np.allclose(resolve_target_distribution([0.25, 0.75], 2), [0.25, 0.75])
    with pytest.raises(ValueError, match=r"sum to 1, but they sum to 1\.2.*target_dist="):
        resolve_target_distribution([0.5, 0.7], 2)


def test_seed():
    assert check_seed(None) is None and check_seed(np.int64(3)) == 3
    with pytest.raises(TypeError, match="Received: seed=1.5"):
        check_seed(1.5)


# ------------------------------------------------------------ sampling_strategy -------------

import warnings  # noqa: E402

from tfbalance._validation import resolve_sampling_strategy, sampling_targets  # noqa: E402

COUNTS = {0: 10, 1: 5, 2: 3}
UNDER, OVER = "under-sampling", "over-sampling"


@pytest.mark.parametrize(
    "strategy, kind, expected",
    [
        ("auto", UNDER, {0: 3, 1: 3}),
        ("not minority", UNDER, {0: 3, 1: 3}),
        ("majority", UNDER, {0: 3}),
        ("not majority", UNDER, {1: 3, 2: 3}),
        ("all", UNDER, {0: 3, 1: 3, 2: 3}),
        ("auto", OVER, {1: 5, 2: 7}),
        ("not majority", OVER, {1: 5, 2: 7}),
        ("minority", OVER, {2: 7}),
        ("not minority", OVER, {0: 0, 1: 5}),
        ("all", OVER, {0: 0, 1: 5, 2: 7}),
        ({0: 4, 2: 1}, UNDER, {0: 4, 2: 1}),
        ({2: 9}, OVER, {2: 6}),
        (lambda dist: {dist.minority: 2 * dist.counts[dist.minority]}, OVER, {2: 3}),
    ],
)
def test_sampling_strategy_semantics(strategy, kind, expected):
    assert resolve_sampling_strategy(strategy, COUNTS, kind) == expected


def test_ties_and_empty_classes_follow_imbalanced_learn():
    # Ties go to the smallest class id (imbalanced-learn orders classes by np.unique); a class
    # with count 0 is not present in the data.
    assert resolve_sampling_strategy("majority", {0: 5, 1: 5, 2: 2}, UNDER) == {0: 2}
    assert resolve_sampling_strategy("minority", {0: 5, 1: 2, 2: 2}, OVER) == {1: 3}
    assert resolve_sampling_strategy("auto", {0: 5, 1: 0, 2: 2}, UNDER) == {0: 2}


def test_float_ratios_binary():
    counts = {0: 100, 1: 30}
    assert resolve_sampling_strategy(0.5, counts, OVER) == {1: int(100 * 0.5 - 30)}
    assert resolve_sampling_strategy(0.5, counts, UNDER) == {0: int(30 / 0.5)}
    assert sampling_targets(0.5, counts, UNDER).tolist() == [60, 30]
    assert sampling_targets(0.5, counts, OVER).tolist() == [100, 50]
    assert sampling_targets(1, counts, OVER).tolist() == [100, 100]


@pytest.mark.parametrize(
    "strategy, kind, counts, exc, pattern",
    [
        (0.5, UNDER, COUNTS, ValueError, "only allowed for a binary target"),
        (0.0, UNDER, {0: 9, 1: 3}, ValueError, r"range \(0, 1\]"),
        (1.5, OVER, {0: 9, 1: 3}, ValueError, r"range \(0, 1\]"),
        (0.2, OVER, {0: 9, 1: 3}, ValueError, "remove samples from the minority"),
        (0.2, UNDER, {0: 9, 1: 3}, ValueError, "generate new samples in the majority"),
        ("minority", UNDER, COUNTS, ValueError, "'minority' cannot be used with under"),
        ("majority", OVER, COUNTS, ValueError, "'majority' cannot be used with over"),
        ("most", UNDER, COUNTS, ValueError, "a string must be one of"),
        ({0: 11}, UNDER, COUNTS, ValueError, "class 0 has 10 samples and 11 samples are asked"),
        ({2: 2}, OVER, COUNTS, ValueError, "class 2 has 3 samples and 2 samples are asked"),
        ({4: 2}, UNDER, COUNTS, ValueError, r"\[4\] are not present"),
        ({0: -1}, UNDER, COUNTS, ValueError, "cannot be negative"),
        ({0: 1.5}, UNDER, COUNTS, TypeError, "wanted counts must be ints"),
        ({"0": 1}, UNDER, COUNTS, TypeError, r"class '0' is not a class id"),  # was ValueError
        (lambda dist: [1], UNDER, COUNTS, TypeError, "must return a dict"),
        (True, UNDER, COUNTS, TypeError, "Invalid `sampling_strategy`"),
        ([1, 2], UNDER, COUNTS, TypeError, "Invalid `sampling_strategy`"),
        ("auto", UNDER, {0: 10, 1: 0}, ValueError, "more than 1 class"),
    ],
)
def test_sampling_strategy_errors(strategy, kind, counts, exc, pattern):
    with pytest.raises(exc, match=pattern):
        resolve_sampling_strategy(strategy, counts, kind)


def test_oversampling_beyond_the_majority_warns_like_imbalanced_learn():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert resolve_sampling_strategy({2: 20}, COUNTS, OVER) == {2: 17}
    assert any("larger than the number of samples in the majority" in str(w.message)
               for w in caught)


@pytest.mark.parametrize("kind", [UNDER, OVER])
@pytest.mark.parametrize(
    "strategy", ["auto", "majority", "minority", "not minority", "not majority", "all",
                 {0: 8, 1: 5}, {1: 9, 2: 12}]
)
def test_matches_imbalanced_learn_when_installed(strategy, kind):
    imblearn_validation = pytest.importorskip("imblearn.utils._validation")
    y = np.repeat(np.arange(3), [10, 5, 3])
    try:
        expected = dict(imblearn_validation.check_sampling_strategy(strategy, y, kind))
    except ValueError:
        with pytest.raises(ValueError):
            resolve_sampling_strategy(strategy, COUNTS, kind)
        return
    assert resolve_sampling_strategy(strategy, COUNTS, kind) == {
        int(k): int(v) for k, v in expected.items()
    }


def test_online_rules_agree_with_the_resolver():
    import tensorflow as tf

    from tfbalance._sampling import _online_strategy_rule

    counts = np.array([10.0, 5.0, 3.0])
    for kind in (UNDER, OVER):
        for word in ["auto", "not minority", "not majority", "all"] + (
            ["majority"] if kind == UNDER else ["minority"]
        ):
            rates, _, _ = _online_strategy_rule(word, kind, None)(tf.constant(counts))
            expected = sampling_targets(word, {0: 10, 1: 5, 2: 3}, kind) / counts
            np.testing.assert_allclose(rates.numpy(), expected)
    rates, _, _ = _online_strategy_rule(0.5, UNDER, 2)(tf.constant([100.0, 30.0], tf.float64))
    np.testing.assert_allclose(rates.numpy(), [60 / 100, 1.0])

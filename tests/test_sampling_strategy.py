"""imbalanced-learn's ``sampling_strategy`` rules: one TF implementation for known and
running counts (``tfbalance._sampling._rules``), with imbalanced-learn as the oracle."""

import warnings
from collections import Counter

import numpy as np
import pytest
import tensorflow as tf

from tfbalance._sampling._rules import (
    StrategyRule,
    known_targets,
    resolve_sampling_strategy,
    sampling_targets,
)
from tfbalance._validation import StrategyRatio, StrategyWord, check_sampling_strategy

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


# ------------------------------------------------------------ imbalanced-learn as the oracle

WORDS = ["auto", "majority", "minority", "not minority", "not majority", "all"]


def _count_vectors():
    """Seeded class-count vectors: 2 to 5 classes, with ties, absent classes and a
    dominant or a rare class, small enough for imbalanced-learn to fit at once."""
    rng = np.random.default_rng(16)
    vectors = [[10, 5, 3], [5, 5, 2], [5, 2, 2], [4, 4], [7, 0, 7], [0, 9, 3], [1, 40],
               [3, 3, 3, 3], [12, 1, 0, 6, 12]]
    for _ in range(6):
        size = int(rng.integers(2, 6))
        counts = rng.integers(0, 30, size)
        counts[rng.integers(size)] = max(1, counts.max())  # at least two classes with rows
        counts[(rng.integers(size) + 1) % size] = int(rng.integers(1, 30))
        vectors.append(counts.tolist())
    return vectors


def _strategies(counts, kind, rng):
    """Every form for one count vector: words, ratios (binary), dicts, callables."""
    present = [c for c, n in enumerate(counts) if n > 0]
    forms = [(w, w) for w in WORDS]
    if len(present) == 2:
        forms += [(r, r) for r in (0.1, 0.25, 0.5, 0.8, 1.0, 1)]
    for _ in range(3):
        chosen = rng.choice(present, size=int(rng.integers(1, len(present) + 1)), replace=False)
        if kind == "under-sampling":
            wanted = {int(c): int(rng.integers(0, counts[c] + 2)) for c in chosen}
        else:
            wanted = {int(c): int(counts[c] + rng.integers(-1, 20)) for c in chosen}
        forms.append((wanted, wanted))
    forms.append(({len(counts) + 3: 1}, {len(counts) + 3: 1}))  # a class not in the data

    def halve_majority(stats):
        top = max(stats, key=lambda c: (stats[c], -c))
        return {top: stats[top] // 2} if kind == "under-sampling" else {top: stats[top]}

    def double_minority(stats):
        low = min(stats, key=lambda c: (stats[c], c))
        return {low: stats[low] * 2} if kind == "over-sampling" else {low: stats[low]}

    for rule in (halve_majority, double_minority):
        # The same rule, given our ClassDistribution or imbalanced-learn's label array.
        forms.append((lambda dist, rule=rule: rule(dict(dist.counts)),
                      lambda y, rule=rule: rule({int(k): v for k, v in Counter(y).items()})))
    return forms


@pytest.mark.parametrize("kind", ["under-sampling", "over-sampling"])
def test_every_form_matches_imbalanced_learn_samplers(kind):
    imblearn = pytest.importorskip("imblearn")
    from imblearn.over_sampling import RandomOverSampler
    from imblearn.under_sampling import RandomUnderSampler

    sampler = RandomUnderSampler if kind == "under-sampling" else RandomOverSampler
    rng = np.random.default_rng(5)
    compared = failures = 0
    for counts in _count_vectors():
        y = np.repeat(np.arange(len(counts)), counts)
        x = np.zeros((len(y), 1))
        as_dict = dict(enumerate(counts))
        for ours, theirs in _strategies(counts, kind, rng):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # over-sampling beyond the majority warns
                try:
                    expected = sampler(sampling_strategy=theirs, random_state=0).fit(x, y)
                except ValueError:
                    with pytest.raises(ValueError, match="Invalid `sampling_strategy`"):
                        resolve_sampling_strategy(ours, as_dict, kind)
                    failures += 1
                    continue
                got = resolve_sampling_strategy(ours, as_dict, kind)
            want = {int(k): int(v) for k, v in expected.sampling_strategy_.items()}
            assert got == want, (counts, ours, kind)
            compared += 1
    assert compared > 80 and failures > 10  # both outcomes are exercised
    assert imblearn.__version__


def test_online_rule_is_the_known_rule_on_running_counts():
    # The scan step's rule and the known-counts path are one function: on the same counts the
    # online targets (rates * counts) are the known targets.
    rng = np.random.default_rng(3)
    for counts in _count_vectors():
        seen = tf.constant(counts, tf.float64)
        for kind in ("under-sampling", "over-sampling"):
            under = kind == "under-sampling"
            forms = [w for w in WORDS if (w, under) not in (("majority", False),
                                                             ("minority", True))]
            if sum(n > 0 for n in counts) == 2:
                forms += [float(r) for r in rng.uniform(0.05, 1.0, 2)]
            for strategy in forms:
                form = check_sampling_strategy(strategy, kind)
                try:
                    expected = sampling_targets(strategy, dict(enumerate(counts)), kind)
                except ValueError:
                    continue
                rates, _, _ = StrategyRule(form, under)(seen)
                online = rates.numpy() * np.array(counts, dtype=np.float64)
                np.testing.assert_allclose(online, expected, rtol=1e-12)


def test_online_rule_checks_are_run_time_assertions():
    @tf.function
    def rates(form, under, seen):
        return StrategyRule(form, under)(tf.constant(seen, tf.float64))[0]

    with pytest.raises(tf.errors.InvalidArgumentError, match="more than 2 classes"):
        StrategyRule(StrategyRatio(0.5), True)(tf.constant([5.0, 3.0, 2.0], tf.float64))
    cases = [
        (StrategyRatio(0.2), True, [9.0, 3.0], "generate new samples in the majority"),
        (StrategyRatio(0.2), False, [9.0, 3.0], "remove samples from the minority"),
    ]
    for form, under, seen, pattern in cases:
        rule = StrategyRule(form, under)
        with pytest.raises(tf.errors.InvalidArgumentError, match=pattern):
            rule(tf.constant(seen, tf.float64))  # eagerly, the assertion raises at once
        with pytest.raises(tf.errors.InvalidArgumentError, match=pattern):
            tf.function(lambda s, rule=rule: rule(s)[0])(tf.constant(seen, tf.float64))


def test_known_targets_run_eagerly_inside_a_tf_function():
    # A transform built while a tf.function traces still resolves its counts at once.
    @tf.function
    def build():
        targets, chosen = known_targets("auto", {0: 10, 1: 5, 2: 3}, "under-sampling")
        assert isinstance(targets, np.ndarray)
        return tf.constant(targets)

    assert build().numpy().tolist() == [3, 3, 3]


def test_validation_happens_once_up_front():
    # Errors that do not depend on the counts are raised before any count is looked at.
    assert check_sampling_strategy("auto", "under-sampling") == StrategyWord("not minority")
    assert check_sampling_strategy("auto", "over-sampling") == StrategyWord("not majority")
    with pytest.raises(ValueError, match="Invalid `sampling_type`"):
        check_sampling_strategy("auto", "clean-sampling")
    with pytest.raises(ValueError, match=r"range \(0, 1\]"):
        check_sampling_strategy(0.0, "under-sampling")
    with pytest.raises(TypeError, match="must return a dict"):
        known_targets(lambda dist: 3, {0: 4, 1: 2}, "under-sampling")

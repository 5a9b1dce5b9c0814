import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

import tfbalance
from tfbalance import ClassDistribution, class_counts
from tfbalance._distribution import as_class_distribution


def _labels(n, p, seed):
    return np.random.default_rng(seed).choice(len(p), size=n, p=p)


@pytest.mark.parametrize("batch", [None, 1, 7, 1000])
def test_dataset_counts_match_pandas(batch):
    y = _labels(5003, [0.7, 0.2, 0.1], seed=1)
    ds = tf.data.Dataset.from_tensor_slices((np.zeros((len(y), 2), np.float32), y))
    if batch:
        ds = ds.batch(batch)
    expected = pd.Series(y).value_counts().sort_index().to_dict()
    assert class_counts(ds).counts == expected


def test_dict_key_callable_and_position_labels():
    y = _labels(500, [0.5, 0.5], seed=2)
    ds = tf.data.Dataset.from_tensor_slices({"x": np.ones(500), "target": y})
    expected = pd.Series(y).value_counts().sort_index().to_dict()
    assert class_counts(ds, "target").counts == expected
    assert class_counts(ds.batch(64), lambda e: e["target"]).counts == expected
    tup = tf.data.Dataset.from_tensor_slices((np.ones(500), np.ones(500), y))
    assert class_counts(tup, 2).counts == expected


def test_features_dict_key_in_tuple_and_column_labels():
    y = _labels(300, [0.9, 0.1], seed=3)
    ds = tf.data.Dataset.from_tensor_slices(({"a": np.ones(300), "cls": y}, y.reshape(-1, 1)))
    expected = pd.Series(y).value_counts().sort_index().to_dict()
    assert class_counts(ds, "cls").counts == expected
    # (batch, 1) labels count as one class id per row.
    assert class_counts(ds.batch(32)).counts == expected


def test_missing_key_lists_keys():
    ds = tf.data.Dataset.from_tensor_slices({"x": [1.0], "y": [1]})
    with pytest.raises(ValueError, match=r"no key 'label'.*\['x', 'y'\].*label='label'"):
        class_counts(ds, "label")


def test_label_none_on_single_tensor():
    ds = tf.data.Dataset.from_tensor_slices([1, 2])
    with pytest.raises(ValueError, match="label=None reads the second item"):
        class_counts(ds)


def test_float_labels_rejected():
    ds = tf.data.Dataset.from_tensor_slices(([1.0, 2.0], [0.0, 1.0]))
    with pytest.raises(TypeError, match="must be integers.*float32"):
        class_counts(ds)


def test_string_labels_rejected_with_hint():
    ds = tf.data.Dataset.from_tensor_slices(([1.0, 2.0], ["a", "b"]))
    with pytest.raises(TypeError, match="StringLookup"):
        class_counts(ds)


def test_negative_labels_rejected():
    ds = tf.data.Dataset.from_tensor_slices(([1.0, 2.0], [0, -3]))
    with pytest.raises(ValueError, match="non-negative.*-3"):
        class_counts(ds)


def test_empty_dataset_rejected():
    ds = tf.data.Dataset.from_tensor_slices((np.zeros((0, 1)), np.zeros(0, np.int64)))
    with pytest.raises(ValueError, match="no elements"):
        class_counts(ds)


def test_bad_source_and_label_types():
    with pytest.raises(TypeError, match="Invalid `source`"):
        class_counts(42)
    ds = tf.data.Dataset.from_tensor_slices(([1.0], [0]))
    with pytest.raises(TypeError, match=r"Invalid `label`.*3\.5"):
        class_counts(ds, 3.5)


def test_distribution_summaries():
    dist = ClassDistribution({0: 10, 1: 2, 2: 5}, names=["a", "b", "c"])
    assert dist.classes == [0, 1, 2]
    assert dist.num_classes == 3
    assert dist.total == 17
    assert dist.majority == 0 and dist.minority == 1
    assert dist.imbalance_ratio == 5.0
    assert dist.proportions == {0: 10 / 17, 1: 2 / 17, 2: 5 / 17}
    assert dist.to_array(4).tolist() == [10, 2, 5, 0]
    text = repr(dist)
    assert "imbalance ratio 5.000" in text and "b" in text and "11.76%" in text
    assert dist.to_dict()["counts"] == {"0": 10, "1": 2, "2": 5}
    assert ClassDistribution([10, 2, 5], names="abc") == dist


def test_distribution_from_list_and_labels():
    # A zero given explicitly is kept in `counts` (a declared, empty class) ...
    assert ClassDistribution([3, 0, 1]).counts == {0: 3, 1: 0, 2: 1}
    # ... but is not a class of the data: the summaries cover the classes with rows.
    assert ClassDistribution([3, 0, 1]).imbalance_ratio == 3.0
    assert ClassDistribution([3, 0, 1]).minority == 2
    assert ClassDistribution([3, 0, 1]).present().counts == {0: 3, 2: 1}
    # Counting labels never invents an id without rows.
    assert ClassDistribution.from_labels(np.array([2, 2, 0])).counts == {0: 1, 2: 2}


def _imblearn_counter(y):
    from collections import Counter

    return dict(sorted(Counter(y.tolist()).items()))


def test_labels_without_class_zero_match_imbalanced_learn():
    from imblearn.under_sampling import RandomUnderSampler

    y = np.array([1] * 50 + [2] * 20 + [3] * 10)
    ds = tf.data.Dataset.from_tensor_slices((np.zeros((80, 1)), y))
    for dist in (class_counts(ds), class_counts(ds.batch(7)), ClassDistribution.from_labels(y)):
        assert dist.counts == _imblearn_counter(y)
        assert dist.minority == 3 and dist.majority == 1
        assert dist.imbalance_ratio == 5.0
        assert dist.to_array().tolist() == [0, 50, 20, 10]  # the dense form graphs use
    # A callable strategy written for imbalanced-learn works unchanged and asks the same.
    def strategy(counts):
        return {c: n // 2 for c, n in counts.items()}

    sampler = RandomUnderSampler(sampling_strategy=lambda y: strategy(_imblearn_counter(y)),
                                 random_state=0)
    _, y_res = sampler.fit_resample(np.zeros((80, 1)), y)
    out = ds.apply(tfbalance.undersample(counts=class_counts(ds),
                                         sampling_strategy=lambda d: strategy(d.counts),
                                         exact=True, seed=0))
    assert _imblearn_counter(np.array([int(t) for _, t in out])) == _imblearn_counter(y_res)


def test_callable_strategy_sees_only_classes_with_rows():
    seen = []

    def strategy(dist):
        seen.append(dist.counts)
        return {c: n // 2 for c, n in dist.counts.items()}

    tfbalance.undersample(counts=[5, 0, 3], sampling_strategy=strategy)
    assert seen == [{0: 5, 2: 3}]


def test_class_weights_of_labels_without_class_zero_feed_with_sample_weights():
    from sklearn.utils.class_weight import compute_class_weight

    y = np.array([1] * 6 + [2] * 2)
    ds = tf.data.Dataset.from_tensor_slices((np.zeros(8), y))
    weights = tfbalance.class_weights(class_counts(ds))
    expected = compute_class_weight("balanced", classes=np.array([1, 2]), y=y)
    assert weights == {0: 0.0, 1: expected[0], 2: expected[1]}
    got = [float(w) for _, _, w in ds.apply(tfbalance.with_sample_weights(weights))]
    np.testing.assert_allclose(got, np.where(y == 1, expected[0], expected[1]), rtol=1e-6)


def test_empty_distribution_has_no_majority():
    dist = ClassDistribution([0, 0])
    with pytest.raises(ValueError, match="no rows"):
        _ = dist.minority
    assert dist.to_dict()["imbalance_ratio"] is None
    assert "imbalance ratio" not in repr(dist)


def test_huge_class_ids_are_refused_naming_the_value():
    with pytest.raises(ValueError, match=r"MAX_CLASS_ID=1048575.*class id 1099511627776"):
        ClassDistribution({0: 5, 2**40: 3})
    with pytest.raises(ValueError, match=r"MAX_CLASS_ID=1048575.*containing 1099511627776"):
        ClassDistribution.from_labels(np.array([0, 2**40]))
    ds = tf.data.Dataset.from_tensor_slices((np.zeros(3), np.array([0, 2**40, 1])))
    with pytest.raises(ValueError, match=r"MAX_CLASS_ID=1048575.*a label of 1099511627776"):
        class_counts(ds)


@pytest.mark.parametrize(
    "bad, exc, pattern",
    [
        ({0: -1}, ValueError, r"non-negative integers.*count -1"),
        ({-1: 3}, ValueError, r"class ids must be non-negative.*class id -1"),
        # Wrong types are TypeErrors (they were ValueErrors); 1.5 stays a bad value.
        ({"0": 3}, TypeError, r"class ids must be non-negative integers.*class id '0'"),
        ({True: 3}, TypeError, r"class ids must be non-negative integers.*class id True"),
        ({0: "3"}, TypeError, r"counts must be non-negative integers.*count '3'"),
        ([np.float32(1.5), 2], ValueError, r"count 1\.5"),
        ([1.5, 2], ValueError, r"count 1\.5"),
        ([], ValueError, "no classes"),
        ("abc", TypeError, "Invalid `counts`"),
    ],
)
def test_distribution_bad_counts(bad, exc, pattern):
    with pytest.raises(exc, match=pattern):
        as_class_distribution(bad)


def test_names_must_cover_classes():
    with pytest.raises(ValueError, match="Invalid `names`"):
        ClassDistribution([1, 2, 3], names=["a"])


def test_exported():
    assert tfbalance.ClassDistribution is ClassDistribution

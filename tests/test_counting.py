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
    assert ClassDistribution([3, 0, 1]).counts == {0: 3, 1: 0, 2: 1}
    assert ClassDistribution([3, 0, 1]).imbalance_ratio == float("inf")
    assert ClassDistribution.from_labels(np.array([2, 2, 0])).counts == {0: 1, 1: 0, 2: 2}


@pytest.mark.parametrize(
    "bad, exc, pattern",
    [
        ({0: -1}, ValueError, r"non-negative integers.*count -1"),
        ({-1: 3}, ValueError, r"class ids must be non-negative.*class id -1"),
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

"""`name=` on every function that returns a dataset: the op that delivers the output is named."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

import tfbalance


def _op_names(build) -> list[str]:
    """The name of the built pipeline's last op (tf.data keeps it in the dataset's metadata)."""
    return [build()._metadata.name.decode()]


def _rows():
    x = np.arange(40, dtype=np.float32).reshape(20, 2)
    y = np.array([0] * 15 + [1] * 5, dtype=np.int64)
    return tf.data.Dataset.from_tensor_slices((x, y))


def _streams():
    return {0: tf.data.Dataset.from_tensor_slices(([[0.0]] * 6, [0] * 6)),
            1: tf.data.Dataset.from_tensor_slices(([[1.0]] * 2, [1] * 2))}


@pytest.fixture(scope="module")
def csv_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("naming") / "d.csv"
    pd.DataFrame({"x": np.arange(10), "y": [0, 1] * 5}).to_csv(path, index=False)
    return str(path)


BUILDERS = {
    "rebatch": lambda: _rows().batch(4).apply(tfbalance.rebatch(3, name="our_op")),
    "with_sample_weights": lambda: _rows().batch(4).apply(
        tfbalance.with_sample_weights({0: 1.0, 1: 3.0}, name="our_op")),
    "interleave_by_class": lambda: tfbalance.interleave_by_class(
        _streams(), seed=1, counts=[6, 2], name="our_op"),
    "balanced_batches": lambda: tfbalance.balanced_batches(
        _streams(), 2, seed=1, counts=[6, 2], name="our_op"),
    "ClassWeightCallback.transform": lambda: tfbalance.ClassWeightCallback(
        2, initial_counts=[3, 1]).transform(_rows().batch(4), name="our_op"),
}


@pytest.mark.parametrize("function", sorted(BUILDERS))
def test_the_output_op_carries_the_name(function):
    names = _op_names(BUILDERS[function])
    assert names == ["our_op"]
    unnamed = _op_names(lambda: _rows().batch(4).apply(tfbalance.rebatch(3)))
    assert not any("our_op" in n for n in unnamed)


def test_read_csv_names_its_output(csv_path):
    names = _op_names(lambda: tfbalance.read_csv(csv_path, "y", batch_size=4, name="our_op"))
    assert names == ["our_op"]


def test_named_output_keeps_the_elements(csv_path):
    plain = list(tfbalance.read_csv(csv_path, "y", batch_size=4).as_numpy_iterator())
    named = list(tfbalance.read_csv(csv_path, "y", batch_size=4, name="r").as_numpy_iterator())
    assert len(plain) == len(named)
    for (fa, la), (fb, lb) in zip(plain, named, strict=False):
        np.testing.assert_array_equal(la, lb)
        np.testing.assert_array_equal(fa["x"], fb["x"])


@pytest.mark.parametrize("bad", [3, "", b"op"])
def test_a_bad_name_is_refused(bad):
    with pytest.raises(TypeError, match="Invalid `name`"):
        _rows().batch(4).apply(tfbalance.rebatch(3, name=bad))


def test_stratified_split_names_each_split():
    splits = tfbalance.stratified_split(_rows(), fractions={"train": 0.8, "test": 0.2}, seed=0,
                                        name="holdout")
    assert [splits[s]._metadata.name.decode() for s in ("train", "test")] == [
        "holdout_train", "holdout_test"]
    plain = tfbalance.stratified_split(_rows(), fractions={"train": 0.8, "test": 0.2}, seed=0)
    for split in ("train", "test"):  # naming changes no element
        named_rows = [y for _, y in splits[split].as_numpy_iterator()]
        assert named_rows == [y for _, y in plain[split].as_numpy_iterator()]
    with pytest.raises(TypeError, match=r"Invalid `name`: expected a non-empty str or None"):
        tfbalance.stratified_split(_rows(), fractions={"a": 0.5, "b": 0.5}, seed=0, name="")

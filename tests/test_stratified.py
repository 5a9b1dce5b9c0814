import json
import os
import sys
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

import tfbalance
from tests.stats import assert_proportion
from tfbalance import _stratified

THREE = {"train": 0.8, "val": 0.1, "test": 0.1}


def _expected_sizes(n, fractions):
    """Independent largest-remainder (Hamilton) rounding: floors, then leftover rows to the
    largest remainders, ties to the split listed first."""
    names = list(fractions)
    quotas = {k: Fraction(fractions[k]) * n for k in names}
    sizes = {k: int(quotas[k]) for k in names}
    leftover = n - sum(sizes.values())
    ranked = sorted(names, key=lambda k: (sizes[k] - quotas[k], names.index(k)))
    for k in ranked[:leftover]:
        sizes[k] += 1
    return sizes


def _labels(counts, seed=0):
    y = np.repeat(np.arange(len(counts)), counts)
    np.random.default_rng(seed).shuffle(y)
    return y


def _dataset(y, batch=None, dict_features=False):
    ids = np.arange(len(y), dtype=np.int64)
    if dict_features:
        ds = tf.data.Dataset.from_tensor_slices({"id": ids, "f": ids * 0.5, "y": y})
    else:
        ds = tf.data.Dataset.from_tensor_slices((ids, y))
    return ds if batch is None else ds.batch(batch)


def _ids(ds):
    out = []
    for element in ds:
        ids = element["id"] if isinstance(element, dict) else element[0]
        out.append(np.reshape(ids.numpy(), [-1]))
    return np.concatenate(out) if out else np.zeros(0, np.int64)


def _check_partition(splits, y, fractions):
    seen = []
    for name in fractions:
        ids = _ids(splits[name])
        seen.append(ids)
        got = np.bincount(y[ids], minlength=int(y.max()) + 1)
        for c, n_c in enumerate(np.bincount(y)):
            assert got[c] == _expected_sizes(int(n_c), fractions)[name], (name, c)
        assert got.tolist() == splits.counts[name].to_array(len(got)).tolist()
    every = np.concatenate(seen)
    assert sorted(every.tolist()) == list(range(len(y)))  # each row once, none twice


FRACTIONS = [{"all": 1.0}, {"train": 0.7, "test": 0.3}, THREE]


@pytest.mark.parametrize("fractions", FRACTIONS, ids=["1-split", "2-splits", "3-splits"])
@pytest.mark.parametrize("batch", [None, 64])
def test_exact_counts_and_partition(fractions, batch):
    y = _labels([400, 37, 3])  # class 2 is smaller than the number of splits
    splits = tfbalance.stratified_split(_dataset(y, batch), fractions=fractions, seed=7)
    assert list(splits) == list(fractions)
    _check_partition(splits, y, fractions)


def test_dict_features_with_given_counts_and_structure_kept():
    y = _labels([50, 20])
    ds = _dataset(y, 16, dict_features=True)
    splits = tfbalance.stratified_split(ds, "y", THREE, seed=1, counts={0: 50, 1: 20})
    _check_partition(splits, y, THREE)
    element = next(iter(splits["train"]))
    assert sorted(element) == ["f", "id", "y"]
    np.testing.assert_array_equal(element["f"].numpy(), element["id"].numpy() * 0.5)


def test_unbatched_splits_declare_exact_cardinality_and_no_empty_batches():
    y = _labels([30, 5])
    splits = tfbalance.stratified_split(_dataset(y), fractions=THREE, seed=0)
    for name in THREE:
        assert int(splits[name].cardinality()) == splits.counts[name].total
    batched = tfbalance.stratified_split(_dataset(y, 4), fractions=THREE, seed=0)
    assert all(int(tf.size(x)) > 0 for x, _ in batched["test"])


def test_batching_does_not_change_which_rows_go_where():
    y = _labels([200, 20, 5])
    a = tfbalance.stratified_split(_dataset(y), fractions=THREE, seed=3)
    b = tfbalance.stratified_split(_dataset(y, 17), fractions=THREE, seed=3)
    for name in THREE:
        np.testing.assert_array_equal(np.sort(_ids(a[name])), np.sort(_ids(b[name])))


def test_seed_changes_the_split_and_repeats_it():
    y = _labels([200, 20])
    first = _ids(tfbalance.stratified_split(_dataset(y), fractions=THREE, seed=1)["test"])
    again = _ids(tfbalance.stratified_split(_dataset(y), fractions=THREE, seed=1)["test"])
    other = _ids(tfbalance.stratified_split(_dataset(y), fractions=THREE, seed=2)["test"])
    np.testing.assert_array_equal(first, again)
    assert set(first) != set(other)


def test_largest_remainder_rounding_and_ties():
    # quotas 0.8, 0.6, 0.6: one row each to the largest remainder, then to the first tie.
    assert _stratified._split_sizes(2, [Fraction(2, 5), Fraction(3, 10), Fraction(3, 10)]) == [
        1, 1, 0]
    assert _stratified._split_sizes(1, [Fraction(1, 10), Fraction(9, 10)]) == [0, 1]
    for n in (0, 1, 2, 7, 99, 1001):
        sizes = _stratified._split_sizes(n, [Fraction(f) for f in THREE.values()])
        assert sizes == list(_expected_sizes(n, THREE).values())
        assert sum(sizes) == n


def test_absent_class_and_class_missing_from_counts():
    y = _labels([40, 0, 9])  # class 1 absent from the data
    splits = tfbalance.stratified_split(_dataset(y, 8), fractions=THREE, seed=5)
    assert splits.source_counts.to_array(3).tolist() == [40, 0, 9]
    assert all(splits.counts[name].to_array(3)[1] == 0 for name in THREE)
    _check_partition(splits, y, THREE)
    # counts that leave out a class the data holds: an error at run time, never a drop.
    bad = tfbalance.stratified_split(_dataset(y, 8), fractions=THREE, seed=5, counts=[40])
    with pytest.raises(tf.errors.InvalidArgumentError, match="counts cover class ids 0..0"):
        list(bad["train"])


@pytest.mark.parametrize(
    "counts, match",
    [([30, 4], "more rows of some class than `counts` says"),
     ([30, 6], "ended with fewer rows than `counts` says")],
)
def test_wrong_counts_raise_during_the_pass(counts, match):
    y = _labels([30, 5])
    splits = tfbalance.stratified_split(_dataset(y, 8), fractions=THREE, seed=0, counts=counts)
    with pytest.raises(tf.errors.InvalidArgumentError, match=match):
        for name in THREE:
            list(splits[name])


@pytest.mark.parametrize(
    "fractions, error, match",
    [
        ([0.8, 0.2], TypeError, r"expected a dict \{split name: fraction\}"),
        ({}, ValueError, "at least one split"),
        ({"a": 1.2, "b": -0.2}, ValueError,
         r"\['b'\]`: expected a finite number >= 0\. Received: fractions\['b'\]=-0.2"),
        ({"a": 0.5, "b": 0.4}, ValueError, "must sum to 1"),
        ({"a": 0.5, "b": 0.5 + 1e-8}, ValueError, "must sum to 1"),
        ({"a": "0.5", "b": 0.5}, TypeError, r"\['a'\]`: expected a finite number >= 0"),
        ({"a": True}, TypeError, r"\['a'\]`: expected a finite number >= 0"),
        ({"a": float("nan"), "b": 1.0}, ValueError, r"\['a'\]`: expected a finite number"),
        ({1: 1.0}, TypeError, "non-empty strings"),
    ],
)
def test_bad_fractions(fractions, error, match):
    with pytest.raises(error, match=f"Invalid `fractions.*{match}"):
        tfbalance.stratified_split(_dataset(np.array([0, 1])), fractions=fractions, seed=0)


def test_fractions_within_tolerance_are_normalised():
    y = _labels([100])
    splits = tfbalance.stratified_split(
        _dataset(y), fractions={"a": 0.5, "b": 0.5 + 1e-12}, seed=0)
    assert [splits.counts[k].total for k in ("a", "b")] == [50, 50]


def test_bad_arguments():
    ds = _dataset(np.array([0, 1, 0]))
    with pytest.raises(TypeError, match="Invalid `seed`: expected an int"):
        tfbalance.stratified_split(ds, fractions=THREE, seed=None)
    with pytest.raises(TypeError, match="Invalid `source`"):
        tfbalance.stratified_split(np.zeros(3), fractions=THREE, seed=0)
    with pytest.raises(TypeError, match="Invalid `label`"):
        tfbalance.stratified_split(ds, 1.5, fractions=THREE, seed=0)
    with pytest.raises(ValueError, match="Invalid `source`: the dataset is infinite"):
        tfbalance.stratified_split(ds.repeat(), fractions=THREE, seed=0)
    with pytest.raises(TypeError, match="apply to CSV sources only"):
        tfbalance.stratified_split(ds, fractions=THREE, seed=0, batch_size=3)


def _nondeterministic_sources():
    ds = _dataset(_labels([20, 5]))
    options = tf.data.Options()
    options.deterministic = False
    return [
        ("reshuffle", ds.shuffle(8, seed=1)),
        ("unseeded", ds.shuffle(8, reshuffle_each_iteration=False)),
        ("parallel-map", ds.map(lambda x, y: (x, y), num_parallel_calls=2,
                                deterministic=False)),
        ("options", ds.with_options(options)),
        ("sample", tf.data.Dataset.sample_from_datasets([ds, ds])),
    ]


@pytest.mark.parametrize("name, source", _nondeterministic_sources(),
                         ids=[n for n, _ in _nondeterministic_sources()])
def test_sources_whose_order_may_change_are_refused(name, source):
    with pytest.raises(ValueError, match="its order may change between passes"):
        tfbalance.stratified_split(source, fractions=THREE, seed=0)


def test_a_seeded_fixed_shuffle_is_accepted_and_still_a_partition():
    y = _labels([60, 9])
    ds = _dataset(y).shuffle(16, seed=4, reshuffle_each_iteration=False)
    splits = tfbalance.stratified_split(ds, fractions=THREE, seed=0)
    _check_partition(splits, y, THREE)


def _write_csv(path, y):
    frame = pd.DataFrame({"id": np.arange(len(y)), "x": np.arange(len(y)) * 0.25,
                          "label": np.array(["neg", "pos", "rare"])[y]})
    frame.to_csv(path, index=False)
    return frame


def test_csv_source_counts_and_partition_against_pandas(tmp_path):
    y = _labels([90, 12, 2])
    frame = _write_csv(tmp_path / "data.csv", y)
    splits = tfbalance.stratified_split(str(tmp_path / "*.csv"), "label", THREE, seed=2,
                                        batch_size=16)
    pieces = []
    for name in THREE:
        ids = np.concatenate([f["id"].numpy() for f, _ in splits[name]])
        got = frame.iloc[ids]["label"].value_counts().to_dict()
        expected = {
            label: _expected_sizes(int(n), THREE)[name]
            for label, n in frame["label"].value_counts().items()
        }
        assert got == {k: v for k, v in expected.items() if v}
        pieces.append(ids)
    assert sorted(np.concatenate(pieces).tolist()) == list(range(len(y)))


def test_shuffled_read_csv_is_refused(tmp_path):
    _write_csv(tmp_path / "data.csv", _labels([10, 3]))
    with pytest.raises(ValueError, match="reshuffle_each_iteration=True"):
        tfbalance.stratified_split(str(tmp_path / "data.csv"), "label", THREE, seed=0,
                                   shuffle=True)


_CHILD = """
import json, sys
import numpy as np, tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import tfbalance
y = np.array(json.loads(sys.argv[1]))
ds = tf.data.Dataset.from_tensor_slices((np.arange(len(y)), y)).batch(8)
splits = tfbalance.stratified_split(ds, fractions={"train": 0.8, "val": 0.1, "test": 0.1},
                                    seed=11)
out = {k: sorted(int(i) for x, _ in d for i in x.numpy()) for k, d in splits.items()}
# The same split read through MirroredStrategy on two devices: the same rows, once each.
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
mirrored = []
for x, _ in strategy.experimental_distribute_dataset(splits["train"]):
    for part in strategy.experimental_local_results(x):
        mirrored += [int(i) for i in part.numpy()]
out["mirrored_train"] = sorted(mirrored)
print(json.dumps(out))
"""


_CHILD_COUNTS = [120, 15, 4]


def start_in_background(tmp_path_factory, launch):
    """The other process, started at session start (see tests/conftest.py)."""
    y = _labels(_CHILD_COUNTS)
    env = {**os.environ, "PYTHONPATH": os.getcwd(), "TF_CPP_MIN_LOG_LEVEL": "3"}
    return launch([sys.executable, "-c", _CHILD, json.dumps(y.tolist())], env=env,
                  cwd=os.getcwd(), timeout=300)


def test_same_rows_in_the_same_split_across_processes(background):
    y = _labels(_CHILD_COUNTS)
    out = background[__name__].result()
    assert out.returncode == 0, out.stderr[-3000:]
    child = json.loads(out.stdout.strip().splitlines()[-1])
    splits = tfbalance.stratified_split(_dataset(y, 8), fractions=THREE, seed=11)
    for name in THREE:
        assert child[name] == sorted(_ids(splits[name]).tolist())
    assert child["mirrored_train"] == child["train"]


def test_permutation_is_a_bijection_for_every_size():
    for n in (1, 2, 3, 4, 5, 17, 64, 65, 1000):
        keys = _stratified._round_keys(9, 1)
        index = tf.constant(np.arange(n, dtype=np.uint32))
        out = _stratified._permute(
            index, tf.fill([n], tf.constant(n, tf.uint32)),
            tf.repeat(keys, n, axis=0), tf.fill([n], tf.constant(_stratified._half_bits(n),
                                                                 tf.uint32)))
        assert sorted(out.numpy().tolist()) == list(range(n)), n


def test_rows_are_placed_uniformly_and_pairwise_like_a_random_subset():
    # Over many seeds, a row falls in a split of s of n rows with probability s / n, and
    # two rows both fall in it with probability s (s - 1) / (n (n - 1)), as for a uniform
    # random subset (first and last rows, so no position is favoured).
    n, s, seeds = 40, 10, 3000
    keys = np.concatenate([_stratified._round_keys(seed, 1) for seed in range(seeds)])
    index = np.tile(np.array([0, 1, n - 1], np.uint32), seeds)
    out = _stratified._permute(
        tf.constant(index), tf.fill([index.size], tf.constant(n, tf.uint32)),
        tf.constant(np.repeat(keys, 3, axis=0)),
        tf.fill([index.size], tf.constant(_stratified._half_bits(n), tf.uint32)),
    ).numpy().reshape(seeds, 3) < s
    for column in range(3):
        assert_proportion(out[:, column].mean(), s / n, seeds)
    assert_proportion((out[:, 0] & out[:, 1]).mean(), s * (s - 1) / (n * (n - 1)), seeds)
    assert_proportion((out[:, 0] & out[:, 2]).mean(), s * (s - 1) / (n * (n - 1)), seeds)


def test_restores_from_a_mid_iteration_checkpoint(tmp_path):
    y = _labels([300, 40])
    split = tfbalance.stratified_split(_dataset(y, 10), fractions=THREE, seed=0)["train"]
    full = _ids(split)
    iterator = iter(split)
    head = [next(iterator)[0].numpy() for _ in range(5)]
    checkpoint = tf.train.Checkpoint(iterator=iterator)
    path = checkpoint.save(str(tmp_path / "ckpt"))
    fresh = iter(split)
    tf.train.Checkpoint(iterator=fresh).restore(path)
    tail = [x.numpy() for x, _ in fresh]
    np.testing.assert_array_equal(np.concatenate(head + tail), full)


def test_iterates_inside_tf_function_and_shards_by_data():
    y = _labels([50, 10])
    split = tfbalance.stratified_split(_dataset(y, 8), fractions=THREE, seed=0)["val"]

    @tf.function
    def total(ds):
        return ds.reduce(tf.constant(0, tf.int64), lambda acc, e: acc + tf.reduce_sum(e[0]))

    assert int(total(split)) == int(_ids(split).sum())
    assert split.options().experimental_distribute.auto_shard_policy == (
        tf.data.experimental.AutoShardPolicy.DATA)


def test_splits_can_run_on_tf_data_service():
    y = _labels([30, 6])
    for split in tfbalance.stratified_split(_dataset(y, 8), fractions=THREE, seed=0).values():
        tfbalance.check_data_service_compatible(split)  # raises on state workers cannot hold


def test_ragged_unbatched_elements():
    y = _labels([20, 6])
    lengths = np.arange(len(y)) % 3
    ds = tf.data.Dataset.from_tensor_slices((np.arange(len(y)), y)).map(
        lambda i, c: ({"id": i, "seq": tf.range(tf.gather(lengths, i))}, c))
    splits = tfbalance.stratified_split(ds, fractions={"a": 0.5, "b": 0.5}, seed=0)
    rows = [(int(f["id"]), f["seq"].numpy().tolist()) for f, _ in splits["a"]]
    assert len(rows) == splits.counts["a"].total
    assert all(seq == list(range(lengths[i])) for i, seq in rows)

"""class_datasets and SplitResult.datasets: a split's block streams (the fast path), names."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest
import tensorflow as tf

from tfbalance import class_datasets, interleave_by_class, split_by_class

ROWS = 300


@pytest.fixture(scope="module")
def split(tmp_path_factory):
    # Row values encode their class and index, so the tests can see which rows came out.
    y = (np.arange(ROWS) % 3 == 0).astype(np.int64)
    x = np.arange(ROWS, dtype=np.int64)
    ds = tf.data.Dataset.from_tensor_slices((x, y))
    out = tmp_path_factory.mktemp("streams") / "split"
    return split_by_class(ds, None, str(out), block_rows=64, verbose=False)


def _rows(stream):
    return sorted(int(v) for x, _ in stream.as_numpy_iterator() for v in np.ravel(x))


def test_a_split_folder_gives_its_stored_blocks(split):
    streams = class_datasets(split.output_dir, shuffle_files=False)
    assert streams.block_size == 64
    rows = class_datasets(split.output_dir, shuffle_files=False, block_size=None)
    assert rows.block_size is None
    for c in (0, 1):
        sizes = [int(y.shape[0]) for _, y in streams[c].as_numpy_iterator()]
        n = split.counts.counts[c]
        assert sizes == [min(64, n - s) for s in range(0, n, 64)]
        assert _rows(streams[c]) == _rows(rows[c])
        assert _rows(rows[c]) == [i for i in range(ROWS) if (i % 3 == 0) == c]


def test_an_int_block_size_rebatches(split):
    streams = class_datasets(split, shuffle_files=False, block_size=50)
    assert streams.block_size == 50
    for c in (0, 1):
        sizes = [int(y.shape[0]) for _, y in streams[c].as_numpy_iterator()]
        n = split.counts.counts[c]
        assert sizes == [min(50, n - s) for s in range(0, n, 50)]


def test_class_datasets_of_a_split_reach_the_block_merge(split):
    # The same draws and stream order give the same batches, however the rows are stored.
    blocks = class_datasets(split, shuffle_files=False)
    rows = class_datasets(split, shuffle_files=False, block_size=None)
    a = interleave_by_class(blocks, "balanced", seed=3, batch_size=32, epoch_rows=256)
    b = interleave_by_class(rows, "balanced", seed=3, batch_size=32, epoch_rows=256)
    got_a = [x.tolist() for x, _ in a.as_numpy_iterator()]
    assert got_a == [x.tolist() for x, _ in b.as_numpy_iterator()]
    assert [len(x) for x in got_a] == [32] * 8


def test_each_stream_carries_the_name(split):
    for streams in (
        class_datasets(split, name="train"),
        split.datasets(block_size=16, name="train"),
        class_datasets(tf.data.Dataset.from_tensor_slices(([1.0, 2.0], [0, 1])), name="train"),
    ):
        assert {c: ds._metadata.name.decode() for c, ds in streams.items()} == {
            0: "train_0", 1: "train_1"
        }
    unnamed = class_datasets(split)
    assert not any("train" in ds._metadata.name.decode() for ds in unnamed.values())


@pytest.mark.parametrize("bad", ["", 3])
def test_a_bad_name_is_refused(split, bad):
    with pytest.raises(TypeError, match="Invalid `name`"):
        class_datasets(split, name=bad)
    with pytest.raises(TypeError, match="Invalid `name`"):
        split.datasets(name=bad)


@pytest.mark.parametrize("bad", [0, -1, True, "rows", 2.5])
def test_a_bad_block_size_is_refused(split, bad):
    with pytest.raises(ValueError, match="Invalid `block_size`"):
        class_datasets(split, block_size=bad)


def test_a_dataset_source_gives_rows_only():
    ds = tf.data.Dataset.from_tensor_slices(([1.0, 2.0], [0, 1]))
    assert class_datasets(ds).block_size is None
    with pytest.raises(ValueError, match="Invalid `block_size`: blocks come from a split"):
        class_datasets(ds, block_size=8)

"""``read_csv(resample=...)``: the ``apply_to_lines`` protocol of tfbalance's transforms, and
any other ``dataset -> dataset`` function applied to the decoded batches."""

import numpy as np
import pandas as pd
import pytest

import tfbalance
from tfbalance._tf import tf


def _csv(tmp_path, n=800, seed=1):
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "id": np.arange(n),
        "x": np.round(rng.normal(size=n), 3),
        "label": rng.choice(3, n, p=[0.7, 0.2, 0.1]),
    })
    path = tmp_path / "data.csv"
    frame.to_csv(path, index=False)
    return str(path), frame


def _rows(dataset):
    parts = [(x["id"].numpy(), x["x"].numpy(), y.numpy()) + tuple(w.numpy() for w in rest)
             for x, y, *rest in dataset]
    return [np.concatenate(column) for column in zip(*parts, strict=True)]


def _assert_same(expected, got):
    assert len(got) == len(expected) and len(got[0]) > 0
    for a, b in zip(expected, got, strict=True):
        np.testing.assert_array_equal(a, b)


def _keep_labels_below_2(dataset):
    return dataset.map(lambda x, y: (tf.nest.map_structure(lambda t: t[y < 2], x), y[y < 2]))


@pytest.mark.parametrize(
    "make",
    [
        lambda: _keep_labels_below_2,
        lambda: lambda ds: ds.take(3),
        # A tfbalance transform wrapped by the user has no apply_to_lines: decoded batches.
        lambda: lambda ds: ds.apply(tfbalance.undersample(counts=[571, 145, 84], seed=3)),
    ],
    ids=["filter-map", "take", "wrapped-undersample"],
)
def test_any_function_is_applied_to_the_decoded_batches(tmp_path, make):
    path, frame = _csv(tmp_path)
    assert frame["label"].value_counts().sort_index().tolist() == [571, 145, 84]
    options = {"shuffle": True, "seed": 2}
    applied = tfbalance.read_csv(path, "label", batch_size=128, **options).apply(make())
    given = tfbalance.read_csv(path, "label", batch_size=128, resample=make(), **options)
    _assert_same(_rows(applied), _rows(given))


def test_function_output_is_checked_by_dataset_apply(tmp_path):
    path, _ = _csv(tmp_path, n=10)
    with pytest.raises(TypeError, match="must return a `tf.data.Dataset`"):
        tfbalance.read_csv(path, "label", resample=lambda ds: [ds])


def test_the_protocol_is_a_method_read_csv_calls(tmp_path):
    # An object with apply_to_lines gets the line batches and the decoders; what it returns
    # is read_csv's output (here: the decoded batches, every second one).
    path, frame = _csv(tmp_path, n=1_000)
    calls = []

    class EverySecondBatch:
        def __call__(self, dataset):
            return dataset.shard(2, 0)

        def apply_to_lines(self, lines, decode_labels, decode, **map_options):
            calls.append(sorted(map_options))
            return lines.shard(2, 0).map(decode, **map_options)

    transform = EverySecondBatch()
    got = _rows(tfbalance.read_csv(path, "label", batch_size=100, resample=transform))
    expected = _rows(tfbalance.read_csv(path, "label", batch_size=100).apply(transform))
    _assert_same(expected, got)
    assert calls == [["deterministic", "num_parallel_calls"]]
    np.testing.assert_array_equal(got[2], frame.set_index("id").loc[got[0], "label"])


def test_tfbalance_transforms_implement_the_protocol(tmp_path):
    # Each transform's own read equals .apply (tests/test_csv.py, every mode); here the one
    # label spelling besides None that also resamples the raw lines.
    for transform in (tfbalance.oversample(seed=2), tfbalance.rejection_resample(seed=3)):
        assert callable(getattr(transform, "apply_to_lines", None))
    path, _ = _csv(tmp_path)
    transform = tfbalance.undersample(counts=[571, 145, 84], label=1, seed=4)
    applied = tfbalance.read_csv(path, "label", batch_size=128).apply(transform)
    given = tfbalance.read_csv(path, "label", batch_size=128, resample=transform)
    _assert_same(_rows(applied), _rows(given))

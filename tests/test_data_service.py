"""tfbalance pipelines on tf.data service: a dispatcher and two workers on localhost.

The pipeline under test is the one users distribute: CSV files -> resampling -> the trainer.
The CSV is split into several files because dynamic sharding ("distributed_epoch") hands the
workers whole files: with one file, one worker would read everything.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import tfbalance
from tests.stats import assert_count, assert_proportion
from tfbalance._tf import tf

service_lib = tf.data.experimental.service

NUM_ROWS = 4000
NUM_FILES = 8
LABEL = "Response"


def _require(*names: str) -> None:
    missing = [n for n in names if not hasattr(tfbalance, n)]
    if missing:
        pytest.skip(f"tfbalance.{', tfbalance.'.join(missing)} is not available yet")


@pytest.fixture(scope="module")
def service_servers():
    """An in-process dispatcher and two workers; ports picked by the OS."""
    # Quick job garbage collection: a job whose client stopped reading on an error (the
    # exact-mode test) is released in a second instead of holding its worker's stop().
    dispatcher = service_lib.DispatchServer(service_lib.DispatcherConfig(
        port=0, job_gc_check_interval_ms=500, job_gc_timeout_ms=500))
    address = dispatcher.target.split("://")[1]
    workers = [
        service_lib.WorkerServer(service_lib.WorkerConfig(
            dispatcher_address=address, port=0, heartbeat_interval_ms=200))
        for _ in range(2)
    ]
    yield dispatcher.target, workers
    # Workers first: a worker whose dispatcher is gone retries its heartbeats before stopping.
    for worker in workers:
        worker.stop()
    dispatcher.stop()


@pytest.fixture(scope="module")
def service(service_servers):
    return service_servers[0]


@pytest.fixture(scope="module")
def csv_files(tmp_path_factory):
    """The synthetic insurance CSV split into ``NUM_FILES`` files; returns (glob, frame)."""
    _require("read_csv")
    from tfbalance.datasets import make_insurance_csv

    folder = tmp_path_factory.mktemp("service_csv")
    whole = folder / "whole.csv"
    make_insurance_csv(whole, NUM_ROWS, 0)
    frame = pd.read_csv(whole)
    whole.unlink()
    rows_per_file = NUM_ROWS // NUM_FILES
    for k in range(NUM_FILES):
        part = frame.iloc[k * rows_per_file:(k + 1) * rows_per_file]
        part.to_csv(folder / f"part-{k}.csv", index=False)
    return str(folder / "part-*.csv"), frame


@pytest.fixture(scope="module")
def counts(csv_files):
    _, frame = csv_files
    return {int(k): int(v) for k, v in frame[LABEL].value_counts().items()}


def _source(pattern: str) -> tf.data.Dataset:
    return tfbalance.read_csv(pattern, LABEL, batch_size=256)


def _ids_and_labels(dataset: tf.data.Dataset) -> tuple[np.ndarray, np.ndarray]:
    ids, labels = [], []
    for features, label in dataset:
        ids.append(features["id"].numpy())
        labels.append(label.numpy())
    return np.concatenate(ids), np.concatenate(labels)


def _distribute(dataset: tf.data.Dataset, mode: str, target: str) -> tf.data.Dataset:
    return dataset.apply(service_lib.distribute(processing_mode=mode, service=target))


def _transforms(counts):
    """Every resampling transform in the mode that a multi-worker job would use."""
    return {
        "undersample": lambda: tfbalance.undersample(counts=counts, seed=7),
        "undersample_online": lambda: tfbalance.undersample(seed=7),
        "oversample": lambda: tfbalance.oversample(counts=counts, seed=7),
        "rejection_resample": lambda: tfbalance.rejection_resample(
            initial_dist=_proportions(counts), seed=7),
    }


def _proportions(counts):
    return {c: n / sum(counts.values()) for c, n in counts.items()}


# --------------------------------------------------------------------------- parallel_epochs


@pytest.mark.parametrize("name", ["undersample", "rejection_resample"])
def test_parallel_epochs_each_worker_delivers_the_seeded_local_epoch(
        service, csv_files, counts, name):
    """Each worker runs the whole pipeline: with a seed, both deliver the local epoch."""
    _require("undersample", "oversample", "rejection_resample")
    pattern, _ = csv_files
    pipeline = _source(pattern).apply(_transforms(counts)[name]())
    local_ids, local_labels = _ids_and_labels(pipeline)
    got_ids, got_labels = _ids_and_labels(_distribute(pipeline, "parallel_epochs", service))

    np.testing.assert_array_equal(np.sort(got_ids), np.sort(np.tile(local_ids, 2)))
    # What the trainer receives is balanced (one worker's epoch is the independent sample).
    assert_proportion(float(np.mean(got_labels == 1)), 0.5, len(local_labels))


# --------------------------------------------------------------------------- dynamic sharding


def test_dynamic_sharding_undersample_keeps_every_minority_row_once(
        service, csv_files, counts):
    _require("undersample")
    pattern, frame = csv_files
    pipeline = _source(pattern).apply(tfbalance.undersample(counts=counts, seed=3))
    ids, labels = _ids_and_labels(_distribute(pipeline, "distributed_epoch", service))

    assert len(np.unique(ids)) == len(ids), "undersampling duplicated rows"
    truth = frame.set_index("id")[LABEL]
    np.testing.assert_array_equal(truth.loc[ids].to_numpy(), labels)
    # Minority rows are kept with probability 1, majority rows with n_1 / n_0.
    np.testing.assert_array_equal(np.sort(ids[labels == 1]), np.sort(truth.index[truth == 1]))
    assert_count(int(np.sum(labels == 0)), counts[0], counts[1] / counts[0])


@pytest.mark.parametrize("name", ["undersample_online", "rejection_resample"])
def test_dynamic_sharding_no_duplicates_and_balanced(service, csv_files, counts, name):
    _require("undersample", "rejection_resample")
    pattern, frame = csv_files
    pipeline = _source(pattern).apply(_transforms(counts)[name]())
    ids, labels = _ids_and_labels(_distribute(pipeline, "distributed_epoch", service))

    assert len(np.unique(ids)) == len(ids), "a row was delivered twice"
    assert set(ids) <= set(frame["id"])
    # Minority rows are never dropped (acceptance probability 1 for the rarest class).
    assert int(np.sum(labels == 1)) == counts[1]
    if name == "rejection_resample":  # known initial_dist: no warm-up bias
        assert_count(int(np.sum(labels == 0)), counts[0], counts[1] / counts[0])


def test_dynamic_sharding_oversample_covers_every_row(service, csv_files, counts):
    _require("oversample")
    pattern, frame = csv_files
    pipeline = _source(pattern).apply(tfbalance.oversample(counts=counts, seed=5))
    ids, labels = _ids_and_labels(_distribute(pipeline, "distributed_epoch", service))

    # Every row read by some worker is emitted floor(r_c) times or once more.
    copies = pd.Series(ids).value_counts()
    assert set(copies.index) == set(frame["id"])
    minority = frame.loc[frame[LABEL] == 1, "id"]
    rate = counts[0] / counts[1]
    assert set(copies.loc[minority]) <= {int(np.floor(rate)), int(np.floor(rate)) + 1}
    assert set(copies.loc[frame.loc[frame[LABEL] == 0, "id"]]) == {1}
    extra = int(copies.loc[minority].sum()) - int(np.floor(rate)) * counts[1]
    assert_count(extra, counts[1], rate - np.floor(rate))


@pytest.mark.parametrize("method", ["undersample", "oversample"])
def test_dynamic_sharding_exact_mode_is_exact_or_fails_loudly(
        service, csv_files, counts, method):
    """Exact mode needs one whole epoch per iterator; a worker seeing a part says so.

    Splits are handed out dynamically, so which rows a worker reads is not known in advance
    and no per-worker exact target can be set. What holds: no duplicates from undersampling,
    and either one worker happened to read every file (then the counts are exact) or a
    worker that read a part ends its epoch with a clear error - never silently wrong counts.
    """
    _require("undersample", "oversample")
    pattern, _ = csv_files
    transform = getattr(tfbalance, method)(counts=counts, exact=True, seed=11)
    distributed = _distribute(_source(pattern).apply(transform), "distributed_epoch", service)
    target = min(counts.values()) if method == "undersample" else max(counts.values())
    try:
        ids, labels = _ids_and_labels(distributed)
    except tf.errors.InvalidArgumentError as error:
        assert "the epoch ended with fewer rows than `counts` says" in str(error)
    else:
        assert np.bincount(labels).tolist() == [target, target]
        if method == "undersample":
            assert len(np.unique(ids)) == len(ids)


# --------------------------------------------------------------------------- what cannot travel


def test_variables_are_copied_to_workers_silently(service):
    """Why the check exists: a worker keeps the value a variable held at registration."""
    scale = tf.Variable(1, dtype=tf.int64)
    pipeline = tf.data.Dataset.range(6).map(lambda x: x * scale)
    distributed = _distribute(pipeline, "parallel_epochs", service)
    scale.assign(100)
    values = sorted(int(v) for v in distributed)
    assert values == sorted(list(range(6)) * 2)  # the assignment never reached the workers


def test_check_accepts_tfbalance_pipelines(csv_files, counts):
    _require("undersample", "oversample", "rejection_resample", "with_sample_weights",
             "class_weights", "interleave_by_class", "rebatch")
    pattern, _ = csv_files
    pipeline = (_source(pattern).apply(_transforms(counts)["rejection_resample"]())
                .apply(tfbalance.rebatch(64))
                .apply(tfbalance.with_sample_weights(tfbalance.class_weights(counts))))
    tfbalance.check_data_service_compatible(pipeline)
    per_class = [_source(pattern).unbatch().filter(lambda f, y, c=c: y == c) for c in (0, 1)]
    tfbalance.check_data_service_compatible(
        tfbalance.interleave_by_class(per_class, "balanced", seed=1, epoch_rows=100))


def test_check_rejects_the_weight_callback_transform(csv_files):
    _require("ClassWeightCallback")
    pattern, _ = csv_files
    callback = tfbalance.ClassWeightCallback(2)
    pipeline = _source(pattern).apply(callback.transform)
    with pytest.raises(ValueError, match=r"Invalid `dataset`: it reads or writes .*tf.Variable"):
        tfbalance.check_data_service_compatible(pipeline)


def test_check_rejects_variable_interleave_weights():
    _require("interleave_by_class")
    per_class = [tf.data.Dataset.from_tensor_slices(([0.0] * 4, [c] * 4)) for c in (0, 1)]
    weights = tf.Variable([0.5, 0.5])
    mixed = tfbalance.interleave_by_class(per_class, weights, seed=1, epoch_rows=8)
    with pytest.raises(ValueError, match=r"1 tf.Variable \(float32 \(2,\)\)"):
        tfbalance.check_data_service_compatible(mixed)


def test_check_rejects_variable_sample_weights():
    _require("with_sample_weights")
    ds = tf.data.Dataset.from_tensor_slices(([0.0, 1.0], [0, 1]))
    moving = ds.apply(tfbalance.with_sample_weights(tf.Variable([1.0, 3.0])))
    with pytest.raises(ValueError, match="later assignments"):
        tfbalance.check_data_service_compatible(moving)


@pytest.mark.parametrize("make", [
    lambda: tf.data.Dataset.range(3).map(
        lambda x: tf.py_function(lambda v: v, [x], tf.int64)),
    lambda: tf.data.Dataset.range(3).map(
        lambda x: tf.numpy_function(lambda v: v, [x], tf.int64)),
    lambda: tf.data.Dataset.from_generator(
        lambda: iter(range(3)), output_signature=tf.TensorSpec([], tf.int64)),
    lambda: tf.data.Dataset.range(2).interleave(
        lambda _: tf.data.Dataset.from_generator(
            lambda: iter(range(3)), output_signature=tf.TensorSpec([], tf.int64))),
], ids=["py_function", "numpy_function", "from_generator", "nested_generator"])
def test_check_rejects_python_code(make):
    with pytest.raises(ValueError, match="calls Python code"):
        tfbalance.check_data_service_compatible(make())


def test_check_accepts_lookup_tables_and_random_ops():
    table = tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(["a", "b"], [0, 1]), default_value=-1)
    ds = tf.data.Dataset.from_tensor_slices(["a", "b"]).map(table.lookup)
    ds = tf.data.Dataset.zip((ds, tf.data.Dataset.random(seed=1))).shuffle(4, seed=2)
    tfbalance.check_data_service_compatible(ds)


def test_check_rejects_a_non_dataset():
    with pytest.raises(TypeError, match=r"Invalid `dataset`: expected a tf.data.Dataset"):
        tfbalance.check_data_service_compatible([1, 2, 3])

"""tfbalance under tf.distribute: MirroredStrategy on two logical CPUs, per-worker sharding.

Logical devices must be configured before TensorFlow initialises, and the test process has
initialised it long ago, so every scenario runs in one child interpreter that writes a JSON
report; the tests below check its parts. The child starts with the session (tests/conftest.py),
so its TensorFlow work overlaps the tests that run in this process.
"""

from __future__ import annotations

import json
import os
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import tfbalance

ROOT = Path(__file__).resolve().parents[1]
# The child takes about 40 s of CPU; on a crowded machine its wall time is several times that.
# It is awaited by the first test that reads its report, so that test's limit is above it.
CHILD_TIMEOUT = 500
pytestmark = pytest.mark.timeout(CHILD_TIMEOUT + 100)
NEEDED = ("read_csv", "undersample", "with_sample_weights", "class_weights", "F1Score",
          "rebatch")

SCRIPT = textwrap.dedent(r'''
    import json, sys
    import numpy as np
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

    import keras
    import tfbalance

    pattern, out_path = sys.argv[1], sys.argv[2]
    LABEL = "Response"
    FEATURES = ["Age", "Previously_Insured", "Annual_Premium", "Vintage"]
    report = {}

    def to_xy(features, label):
        x = tf.stack([tf.cast(features[c], tf.float32) for c in FEATURES], axis=-1)
        x = x / tf.constant([100.0, 1.0, 1e5, 300.0])
        return x, label

    counts = tfbalance.class_counts(pattern, LABEL, verbose=False)
    weights = tfbalance.class_weights(counts)
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    report["replicas"] = strategy.num_replicas_in_sync

    def train_dataset():
        return (tfbalance.read_csv(pattern, LABEL, batch_size=512)
                .apply(tfbalance.undersample(counts=counts, seed=1))
                .map(to_xy)
                .apply(tfbalance.rebatch(64, drop_remainder=True))
                .apply(tfbalance.with_sample_weights(weights)))

    def eval_dataset():
        return tfbalance.read_csv(pattern, LABEL, batch_size=100).map(to_xy)

    # 1. fit + evaluate under the strategy; the same weights evaluated on one device.
    keras.utils.set_random_seed(0)
    with strategy.scope():
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"),
                                  keras.layers.Dense(1, activation="sigmoid")])
        model.compile(optimizer=keras.optimizers.Adam(0.05), loss="binary_crossentropy",
                      metrics=[tfbalance.F1Score()])
    history = model.fit(train_dataset(), epochs=2, verbose=0)
    report["loss"] = history.history["loss"]
    report["f1_mirrored"] = float(model.evaluate(eval_dataset(), verbose=0,
                                                 return_dict=True)["f1_score"])
    single = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"),
                               keras.layers.Dense(1, activation="sigmoid")])
    single.set_weights(model.get_weights())
    single.compile(loss="binary_crossentropy", metrics=[tfbalance.F1Score()])
    report["f1_single"] = float(single.evaluate(eval_dataset(), verbose=0,
                                                return_dict=True)["f1_score"])
    probs, labels = [], []
    for x, y in eval_dataset():
        probs.append(single.predict_on_batch(x)[:, 0])
        labels.append(y.numpy())
    report["eval_probs"] = np.concatenate(probs).tolist()
    report["eval_labels"] = np.concatenate(labels).tolist()

    # 2. distribute_datasets_from_function: shard the files per input pipeline, then
    #    resample each shard with that shard's own counts (exact mode needs them).
    def shard_pipeline(context):
        shard = tfbalance.read_csv(pattern, LABEL, batch_size=256, input_context=context)
        shard_counts = tfbalance.class_counts(shard)
        return shard.apply(tfbalance.undersample(counts=shard_counts, exact=True, seed=2))

    shards = []
    for pipeline_id in range(2):  # as two workers of a multi-worker job would see it
        context = tf.distribute.InputContext(
            num_input_pipelines=2, input_pipeline_id=pipeline_id, num_replicas_in_sync=2)
        ids, ys = [], []
        for features, label in shard_pipeline(context):
            ids.append(features["id"].numpy())
            ys.append(label.numpy())
        shards.append({"ids": np.concatenate(ids).tolist(),
                       "labels": np.concatenate(ys).tolist()})
    report["shards"] = shards

    # The same function through the strategy (one worker, one input pipeline here).
    def per_replica(context):
        shard = tfbalance.read_csv(pattern, LABEL, batch_size=512, input_context=context)
        return (shard.apply(tfbalance.undersample(counts=tfbalance.class_counts(shard),
                                                  exact=True, seed=3))
                .apply(tfbalance.rebatch(context.get_per_replica_batch_size(64))))

    distributed = strategy.distribute_datasets_from_function(per_replica)

    @tf.function
    def replica_labels(batch):
        return strategy.experimental_local_results(batch[1])

    seen = [[], []]
    for batch in distributed:
        for replica, labels in enumerate(replica_labels(batch)):
            seen[replica].extend(labels.numpy().tolist())
    report["from_function"] = seen

    # 3. device prefetching and the strategy's own iterator over a resampled stream.
    def resampled(source=pattern, features=True):
        ds = (tfbalance.read_csv(source, LABEL, batch_size=512)
              .apply(tfbalance.rejection_resample(seed=4)))
        return ds.map(to_xy).apply(tfbalance.rebatch(64)) if features else ds

    on_device = resampled().apply(tf.data.experimental.prefetch_to_device("/cpu:1"))
    report["prefetch_to_device_rows"] = int(sum(int(tf.size(y)) for _, y in on_device))
    report["plain_rows"] = int(sum(int(tf.size(y)) for _, y in resampled()))
    def replica_batch_sizes(distributed, steps=3):
        iterator = iter(distributed)
        sizes = []
        try:
            for _ in range(steps):
                _, y = next(iterator)
                local = strategy_of[0].experimental_local_results(y)
                sizes.append([int(tf.size(t)) for t in local])
        except (tf.errors.InvalidArgumentError, StopIteration) as error:
            sizes.append(f"{type(error).__name__} {str(error)[:80]}")
        return sizes

    strategy_of = [strategy]
    fixed = resampled().apply(tfbalance.rebatch(64, drop_remainder=True))
    report["mirrored2_distribute_dataset"] = replica_batch_sizes(
        strategy.experimental_distribute_dataset(fixed))
    report["mirrored2_from_function"] = replica_batch_sizes(
        strategy.distribute_datasets_from_function(
            lambda ctx: resampled().apply(tfbalance.rebatch(
                ctx.get_per_replica_batch_size(64), drop_remainder=True))))

    # One replica (e.g. MirroredStrategy on a one-GPU machine): the auto-shard rewrite of
    # experimental_distribute_dataset undoes Dataset.rebatch; the two recipes that avoid it.
    one = tf.distribute.MirroredStrategy(["/cpu:0"])
    strategy_of[0] = one
    one_file = sorted(__import__("glob").glob(pattern))[0]  # as with one big CSV
    growing = resampled(one_file, features=False).apply(tfbalance.rebatch(64))
    report["one_replica_default"] = replica_batch_sizes(
        one.experimental_distribute_dataset(growing))
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
    report["one_replica_shard_off"] = replica_batch_sizes(
        one.experimental_distribute_dataset(growing.with_options(options)))
    report["one_replica_from_function"] = replica_batch_sizes(
        one.distribute_datasets_from_function(
            lambda ctx: resampled(one_file, features=False).apply(tfbalance.rebatch(64))))

    with open(out_path, "w") as f:
        json.dump(report, f)
''')


def start_in_background(tmp_path_factory, launch):
    """Write the CSV parts and start the child at session start (see tests/conftest.py).

    Returns ``(frame, pattern, run, report_path)``, or None when tfbalance lacks a name that
    the script uses.
    """
    if any(not hasattr(tfbalance, n) for n in NEEDED):
        return None
    from tfbalance.datasets import make_insurance_csv

    folder = tmp_path_factory.mktemp("distribute_csv")
    make_insurance_csv(folder / "whole.csv", 3000, 0)
    frame = pd.read_csv(folder / "whole.csv")
    (folder / "whole.csv").unlink()
    for k in range(4):
        frame.iloc[k * 750:(k + 1) * 750].to_csv(folder / f"part-{k}.csv", index=False)
    pattern = str(folder / "part-*.csv")
    out = tmp_path_factory.mktemp("distribute_report") / "report.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2"}
    run = launch([sys.executable, "-c", SCRIPT, pattern, str(out)], cwd=str(ROOT), env=env,
                 timeout=CHILD_TIMEOUT)
    return frame, pattern, run, out


@pytest.fixture(scope="module")
def started(background):
    handle = background.get(__name__)
    if handle is None:
        missing = [n for n in NEEDED if not hasattr(tfbalance, n)]
        pytest.skip(f"tfbalance.{', tfbalance.'.join(missing)} is not available yet")
    return handle


@pytest.fixture(scope="module")
def frame_and_pattern(started):
    frame, pattern, _, _ = started
    return frame, pattern


@pytest.fixture(scope="module")
def report(started):
    _, _, run, out = started
    result = run.result()
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(out.read_text())


def test_mirrored_training_runs_on_two_replicas(report):
    assert report["replicas"] == 2
    assert all(np.isfinite(report["loss"]))


def test_f1_under_mirrored_strategy_equals_single_device(report):
    from sklearn.metrics import f1_score

    assert report["f1_mirrored"] == pytest.approx(report["f1_single"], abs=1e-6)
    predicted = (np.asarray(report["eval_probs"]) > 0.5).astype(int)
    expected = f1_score(report["eval_labels"], predicted, zero_division=0)
    assert report["f1_single"] == pytest.approx(expected, abs=1e-5)


def test_sharded_exact_undersampling_with_each_shards_counts(report, frame_and_pattern):
    """Shard first, count each shard, resample each shard exactly: shards stay disjoint."""
    frame, _ = frame_and_pattern
    truth = frame.set_index("id")["Response"]
    all_ids = []
    for shard in report["shards"]:
        ids, labels = np.asarray(shard["ids"]), np.asarray(shard["labels"])
        np.testing.assert_array_equal(truth.loc[ids].to_numpy(), labels)
        per_class = np.bincount(labels, minlength=2)
        assert per_class[0] == per_class[1]  # balanced exactly within the shard
        all_ids.extend(ids.tolist())
    assert len(set(all_ids)) == len(all_ids), "shards overlap"
    # Each shard keeps all of its own minority rows, so together they keep every one.
    kept_minority = sorted(i for i in all_ids if truth.loc[i] == 1)
    assert kept_minority == sorted(truth.index[truth == 1])


def test_distribute_datasets_from_function_balances_every_replica(report, frame_and_pattern):
    frame, _ = frame_and_pattern
    minority = int(frame["Response"].sum())
    per_replica = report["from_function"]
    assert all(len(r) > 0 for r in per_replica)
    total = np.bincount(np.concatenate(per_replica).astype(int), minlength=2)
    # One input pipeline (one worker) holds the whole epoch: exact totals.
    assert total.tolist() == [minority, minority]


def test_prefetch_to_device_keeps_every_row(report):
    assert report["prefetch_to_device_rows"] == report["plain_rows"] > 0


@pytest.mark.parametrize("key", ["mirrored2_distribute_dataset", "mirrored2_from_function"])
def test_two_replicas_get_per_replica_batches(report, key):
    assert report[key] == [[32, 32]] * 3


@pytest.mark.parametrize("key", ["one_replica_shard_off", "one_replica_from_function"])
def test_one_replica_recipes_keep_the_batch_size(report, key):
    assert report[key] == [[64]] * 3


@pytest.mark.xfail(reason="TensorFlow: under a one-replica strategy, the auto-shard rewrite in "
                          "experimental_distribute_dataset undoes Dataset.rebatch (batches come "
                          "out at the resampled read-batch size)", strict=False)
def test_one_replica_experimental_distribute_dataset_keeps_the_batch_size(report):
    assert report["one_replica_default"] == [[64]] * 3

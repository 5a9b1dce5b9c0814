"""Balanced training input from class-split shards vs resampling the whole file.

On the synthetic insurance CSV (about 16.4% ``Response=1``), split once by class with
``tfbalance.split_by_class``, each pipeline delivers the same number of balanced rows
(50/50) in batches of 1024:

* ``interleave_by_class``: per-class shard streams merged with weights 'balanced';
* the same merge with one graph call per row for the class draw (how
  ``interleave_by_class`` drew before it drew ids in blocks of 128);
* ``balanced_batches``: exactly 512 rows of each class per batch;
* ``sample_from_datasets`` on the same shard streams (the built-in, fixed weights);
* ``sample_from_datasets`` by hand on the CSV, one filtered stream per class (the TF
  imbalanced-data tutorial's recipe): each class stream parses the whole file;
* rejection resampling of the CSV, vectorised per batch (keep every positive, each negative
  with probability n_pos / n_neg: the fewest rows any rejection sampler can read);
* ``tf.data.Dataset.rejection_resample`` (built-in, per element; fewer output rows, slow).

Figures: delivered rows per second and CSV bytes read per delivered row (input rows are
counted in the pipeline for the CSV readers; a shard stream reads each delivered row once,
plus at most one buffered batch per class; 20 warm-up batches are not timed). Timings on a
shared machine are noisy: compare the ratios of one run.

    python benchmarks/bench_interleave.py                 # 5M rows
    python benchmarks/bench_interleave.py --rows 200000   # quick check

A split of the same size cached under ``benchmarks/data/`` is reused; ``--resplit`` times
the split again.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import tfbalance  # noqa: E402
from benchmarks._data import DATA_DIR, LABEL, insurance_csv  # noqa: E402

BATCH = 1024
WARMUP_BATCHES = 20


def _deliver(
    ds: tf.data.Dataset, rows: int, batched: bool = False
) -> tuple[float, np.ndarray]:
    """Seconds to pull ``rows`` rows (in batches of BATCH) and the class counts delivered."""
    counts = np.zeros(2, np.int64)
    got = 0
    batches = ds if batched else ds.batch(BATCH)
    iterator = iter(batches.take(WARMUP_BATCHES + -(-rows // BATCH)).prefetch(2))
    # Untimed warm-up: graph building, opening files and autotuning the parse would
    # otherwise be charged to whichever pipeline runs first.
    for _ in range(WARMUP_BATCHES):
        next(iterator)
    start = time.perf_counter()
    for _, labels in iterator:
        counts += np.bincount(labels.numpy(), minlength=2)[:2]
        got += int(labels.shape[0])
    return time.perf_counter() - start, counts


def _counted_csv(path: str, counter: tf.Variable, repeat: bool) -> tf.data.Dataset:
    ds = tfbalance.read_csv(path, LABEL, batch_size=8192, num_epochs=None if repeat else 1)

    def count(x, y):
        with tf.control_dependencies([counter.assign_add(tf.size(y, tf.int64))]):
            return x, tf.identity(y)

    return ds.map(count)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5_000_000, help="CSV data rows (default 5M)")
    parser.add_argument(
        "--resplit", action="store_true", help="split again even if a split is cached"
    )
    parser.add_argument(
        "--deliver", type=int, default=None,
        help="balanced rows each pipeline delivers (default min(rows, 1M))",
    )
    args = parser.parse_args(argv)
    deliver = args.deliver or min(args.rows, 1_000_000)

    csv = str(insurance_csv(args.rows))
    file_bytes = os.path.getsize(csv)
    split_dir = DATA_DIR / f"split_{args.rows}"
    start = time.perf_counter()
    if (split_dir / "split.json").exists() and not args.resplit:
        split = tfbalance.load_split(split_dir)
        split_seconds = None
    else:
        split = tfbalance.split_by_class(csv, LABEL, split_dir, overwrite=True, verbose=False)
        split_seconds = time.perf_counter() - start
    counts = split.counts.to_array()
    total = int(counts.sum())
    bytes_per_row = file_bytes / total
    print(f"CSV: {csv} ({total:,} rows, {file_bytes / 2**20:.0f} MiB, "
          f"{counts[1] / total:.2%} positives)")
    if split_seconds is None:
        print(f"split_by_class: reusing {split_dir} (--resplit to time it)")
    else:
        print(f"split_by_class (tfrecord, GZIP): {split_seconds:.1f} s, "
              f"{total / split_seconds:,.0f} rows/s (one-off)")
    print(f"Each pipeline delivers {deliver:,} balanced rows in batches of {BATCH}.\n")

    results = []

    def record(name, seconds, delivered, bytes_read):
        rows = int(delivered.sum())
        results.append((name, rows / seconds, bytes_read / rows, delivered[1] / rows))

    streams = tfbalance.class_datasets(split, seed=0)
    ours = tfbalance.interleave_by_class(streams, "balanced", seed=0, epoch_rows=deliver)
    seconds, got = _deliver(ours, deliver)
    record("interleave_by_class (split shards)", seconds, got, got.sum() * bytes_per_row)

    # The previous implementation: the same merge, but one graph call per row for its draw.
    streams = tfbalance.class_datasets(split, seed=0)
    logits = tf.math.log(tf.constant([[0.5, 0.5]]))
    per_row = tf.data.Dataset.random(seed=0, rerandomize_each_iteration=True).batch(2).map(
        lambda pair: tf.random.stateless_categorical(logits, 1, seed=pair, dtype=tf.int64)[0, 0]
    ).take(deliver)
    previous = tf.data.Dataset.choose_from_datasets(
        [streams[0].repeat(), streams[1].repeat()], per_row, stop_on_empty_dataset=True
    )
    seconds, got = _deliver(previous, deliver)
    record("choose_from_datasets, one draw per row (before)", seconds, got,
           got.sum() * bytes_per_row)

    streams = tfbalance.class_datasets(split, seed=0)
    exact = tfbalance.balanced_batches(streams, BATCH // 2, seed=0)
    seconds, got = _deliver(exact, deliver, batched=True)
    record("balanced_batches 512+512 (split shards)", seconds, got, got.sum() * bytes_per_row)

    streams = tfbalance.class_datasets(split, seed=0)
    builtin = tf.data.Dataset.sample_from_datasets(
        [streams[0].repeat(), streams[1].repeat()], [0.5, 0.5], seed=0
    )
    seconds, got = _deliver(builtin, deliver)
    record("sample_from_datasets (split shards)", seconds, got, got.sum() * bytes_per_row)

    counter = tf.Variable(0, dtype=tf.int64)
    source = _counted_csv(csv, counter, repeat=True)

    def only(c):
        def keep(x, y):
            mask = tf.equal(y, c)
            return tf.nest.map_structure(lambda t: tf.boolean_mask(t, mask), (x, y))
        return source.map(keep).unbatch()

    by_hand = tf.data.Dataset.sample_from_datasets([only(0), only(1)], [0.5, 0.5], seed=0)
    seconds, got = _deliver(by_hand, deliver)
    record("sample_from_datasets by hand (CSV, filtered)", seconds, got,
           int(counter.numpy()) * bytes_per_row)

    counter.assign(0)
    accept = tf.constant([counts[1] / counts[0], 1.0], tf.float32)
    rng = tf.data.Dataset.random(seed=0, rerandomize_each_iteration=True).batch(2)

    def reject(seed, xy):
        x, y = xy
        keep = tf.random.stateless_uniform(tf.shape(y), seed) < tf.gather(accept, y)
        return tf.nest.map_structure(lambda t: tf.boolean_mask(t, keep), (x, y))

    rejection = tf.data.Dataset.zip(rng, _counted_csv(csv, counter, repeat=True)).map(reject)
    seconds, got = _deliver(rejection.unbatch(), deliver)
    record("rejection resampling, vectorised (CSV)", seconds, got,
           int(counter.numpy()) * bytes_per_row)

    counter.assign(0)
    small = max(BATCH, min(deliver, 20_000))
    builtin_rr = _counted_csv(csv, counter, repeat=True).unbatch().rejection_resample(
        lambda x, y: y, target_dist=[0.5, 0.5], initial_dist=(counts / total).tolist(), seed=0
    ).map(lambda c, xy: xy)
    seconds, got = _deliver(builtin_rr, small)
    record(f"tf.data rejection_resample (CSV, {small:,} rows)", seconds, got,
           int(counter.numpy()) * bytes_per_row)

    base_rate = results[0][1]
    print(f"{'pipeline':<50} {'rows/s':>10} {'x ours':>7} {'bytes/row':>10} {'pos share':>9}")
    for name, rate, per_row, share in results:
        print(f"{name:<50} {rate:>10,.0f} {rate / base_rate:>7.2f} {per_row:>10.0f} {share:>9.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

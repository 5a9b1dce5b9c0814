"""Per-sample class weighting in the input pipeline: tfbalance vs Keras' ``class_weight``.

Keras turns ``fit(class_weight=...)`` into a ``dataset.map`` that gathers a weight per
label (``make_class_weight_map_fn``). This script iterates the same batched dataset with
that map, with ``tfbalance.with_sample_weights`` (constant and ``tf.Variable`` weights) and
with ``ClassWeightCallback.transform`` (which also counts the labels), and prints the
throughput of each relative to Keras' map, measured in the same process.

Run: ``python benchmarks/bench_weights.py [--rows 1000000] [--batch 1024] [--repeats 3]``
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import tensorflow as tf
from keras.src.trainers.data_adapters.tf_dataset_adapter import make_class_weight_map_fn

import tfbalance


def _seconds(dataset: tf.data.Dataset) -> float:
    start = time.perf_counter()
    for _ in dataset:
        pass
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--classes", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)

    rng = np.random.default_rng(0)
    p = np.geomspace(1.0, 0.01, args.classes)
    y = rng.choice(args.classes, size=args.rows, p=p / p.sum()).astype(np.int64)
    x = rng.normal(size=(args.rows, 8)).astype(np.float32)
    base = tf.data.Dataset.from_tensor_slices((x, y)).batch(args.batch).cache()
    for _ in base:  # fill the cache so every variant reads from memory
        pass

    weights = tfbalance.class_weights(np.bincount(y, minlength=args.classes))
    callback = tfbalance.ClassWeightCallback(args.classes)
    variants = {
        "no weights (reference)": base,
        # As Keras' TFDatasetAdapter applies it.
        "keras class_weight map": base.map(make_class_weight_map_fn(weights)),
        "with_sample_weights (constant)": base.apply(tfbalance.with_sample_weights(weights)),
        "with_sample_weights (tf.Variable)": base.apply(
            tfbalance.with_sample_weights(tf.Variable(list(weights.values()), dtype=tf.float32))
        ),
        "ClassWeightCallback.transform": base.apply(callback.transform),
    }
    # Every variant ends with the same prefetch, as an input pipeline fed to fit does, so
    # each map runs on a background thread alike and only the maps' own cost differs.
    variants = {name: ds.prefetch(tf.data.AUTOTUNE) for name, ds in variants.items()}
    # Round-robin over the variants, starting one later each pass, best pass of each:
    # load changes on a shared machine and position in the round hit every variant alike.
    best = {name: float("inf") for name in variants}
    names = list(variants)
    for repeat in range(args.repeats):
        shift = repeat % len(names)
        for name in names[shift:] + names[:shift]:
            best[name] = min(best[name], _seconds(variants[name]))
    rates = {name: args.rows / seconds for name, seconds in best.items()}
    keras_rate = rates["keras class_weight map"]
    print(f"rows={args.rows:,} batch={args.batch} classes={args.classes} "
          f"tf={tf.__version__} (best of {args.repeats})")
    print(f"{'variant':36} {'rows/s':>14} {'vs keras':>9}")
    for name, rate in rates.items():
        print(f"{name:36} {rate:14,.0f} {rate / keras_rate:8.2f}x")
    counted = sum(callback.counts.values())
    print(f"callback counted {counted:,} labels over {args.repeats} passes "
          f"({counted // args.repeats:,} per pass)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

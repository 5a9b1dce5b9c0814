"""Stratified holdout splits: ``tfbalance.stratified_split`` against pandas + scikit-learn.

Usage: ``python benchmarks/bench_stratified.py --rows 1000000 --repeats 3``

Three views, every case run ``--repeats`` times in the same process, alternating (the machine
may be shared), best time kept:

1. *From a CSV.* The competitor is the usual in-memory recipe: ``pd.read_csv`` of the whole
   file, then ``train_test_split(stratify=y)`` twice (80 / 10 / 10); its memory is the whole
   file. Ours reads the three splits with ``stratified_split`` (counts given, as after a
   ``class_counts``; three passes of the file, memory of a few batches), next to one plain
   ``read_csv`` pass and one pass of ``read_csv(...).apply(undersample(exact=True))``.
2. *Per-pass cost on cached batches*: the same 8192-row batches from memory, plain, through
   one split's pass, and through exact undersampling, so the read is taken out.
3. The counts per split of each method (ours exact per class; sklearn's own rounding).

The ratios printed are ``other seconds / ours``: above 1, ours is faster.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import tensorflow as tf  # noqa: E402
from _data import LABEL, insurance_csv  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

import tfbalance  # noqa: E402

FRACTIONS = {"train": 0.8, "val": 0.1, "test": 0.1}
BATCH = 8192


def drain(dataset: tf.data.Dataset) -> int:
    rows = 0
    for _, y in dataset:
        rows += int(tf.shape(y)[0])
    return rows


def sklearn_split(path: str, seed: int) -> dict[str, pd.DataFrame]:
    frame = pd.read_csv(path)
    train, rest = train_test_split(frame, test_size=0.2, stratify=frame[LABEL],
                                   random_state=seed)
    val, test = train_test_split(rest, test_size=0.5, stratify=rest[LABEL], random_state=seed)
    return {"train": train, "val": val, "test": test}


def timed(fn) -> tuple[float, object]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    path = str(insurance_csv(args.rows))
    counts = tfbalance.class_counts(path, LABEL, verbose=False)

    def ours_csv():
        splits = tfbalance.stratified_split(path, LABEL, FRACTIONS, seed=0, counts=counts,
                                            batch_size=BATCH)
        return {name: drain(ds) for name, ds in splits.items()}

    def read_once():
        return drain(tfbalance.read_csv(path, LABEL, batch_size=BATCH))

    def undersample_once():
        return drain(tfbalance.read_csv(path, LABEL, batch_size=BATCH).apply(
            tfbalance.undersample(counts=counts, exact=True, seed=0)))

    y = np.repeat(np.arange(counts.num_classes), counts.to_array())
    np.random.default_rng(0).shuffle(y)
    cached = tf.data.Dataset.from_tensor_slices(
        (np.arange(len(y), dtype=np.float32), y)).batch(BATCH).cache()
    drain(cached)  # fill the cache

    def cached_split_pass():
        splits = tfbalance.stratified_split(cached, None, FRACTIONS, seed=0, counts=counts)
        return drain(splits["train"])

    def cached_undersample():
        return drain(cached.apply(tfbalance.undersample(counts=counts, exact=True, seed=0)))

    cases = {
        "csv: pandas read_csv + sklearn train_test_split x2": lambda: sklearn_split(path, 0),
        "csv: tfbalance.stratified_split, 3 splits (3 passes)": ours_csv,
        "csv: one plain read_csv pass": read_once,
        "csv: one read_csv + undersample(exact) pass": undersample_once,
        "cached: plain pass": lambda: drain(cached),
        "cached: one stratified_split pass": cached_split_pass,
        "cached: undersample(exact) pass": cached_undersample,
    }
    times = {name: [] for name in cases}
    results = {}
    for round_ in range(args.repeats):
        names = list(cases) if round_ % 2 == 0 else list(reversed(cases))
        for name in names:
            seconds, results[name] = timed(cases[name])
            times[name].append(seconds)
    best = {name: min(t) for name, t in times.items()}
    ours = best["csv: tfbalance.stratified_split, 3 splits (3 passes)"]
    print(f"\n{args.rows:,} rows, {len(os.sched_getaffinity(0))} CPUs, counts {counts.counts}, "
          f"best of {args.repeats}\n")
    print("| case | seconds | rows/s (per pass) | seconds / ours |")
    print("|---|---:|---:|---:|")
    for name, seconds in best.items():
        passes = 3 if "3 passes" in name else 1
        print(f"| {name} | {seconds:.2f} | {passes * args.rows / seconds:,.0f} | "
              f"{seconds / ours:.2f} |")
    cached_ratio = best["cached: one stratified_split pass"] / best["cached: plain pass"]
    under_ratio = best["cached: undersample(exact) pass"] / best["cached: plain pass"]
    print(f"\ncached batches: a split pass costs {cached_ratio:.2f}x a plain pass, exact "
          f"undersampling {under_ratio:.2f}x")
    ours_counts = tfbalance.stratified_split(path, LABEL, FRACTIONS, seed=0,
                                             counts=counts).counts
    theirs = results["csv: pandas read_csv + sklearn train_test_split x2"]
    print("\n| split | stratified_split counts | sklearn counts |")
    print("|---|---|---|")
    for name in FRACTIONS:
        sk = theirs[name][LABEL].value_counts().sort_index().to_dict()
        print(f"| {name} | {ours_counts[name].counts} | {sk} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Writing a stratified holdout of a CSV to files: ``write_stratified_split`` against pandas.

Usage: ``python benchmarks/bench_holdout.py --rows 1000000 --rounds 3``

The competitor is what a user writes by hand: ``pd.read_csv`` of the whole file,
``sklearn.model_selection.train_test_split(stratify=)`` twice (80 / 10 / 10), one
``to_csv`` per split. Ours: ``write_stratified_split`` in CSV format, with its counting pass
and with ``counts=`` given (one pass), in the typed format, and ``split_by_class(format=
'csv')`` as the reference for the shared writer. Every round runs all of them back to back,
in alternating order (the machine may be shared); the table prints the median and range of
each and the paired ratio ``pandas seconds / ours`` (>= 1: ours is faster).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import pandas as pd  # noqa: E402
from _data import LABEL, insurance_csv  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

import tfbalance  # noqa: E402

FRACTIONS = {"train": 0.8, "val": 0.1, "test": 0.1}


def pandas_holdout(path: str, output_dir: str) -> int:
    os.makedirs(output_dir)
    frame = pd.read_csv(path)
    train, rest = train_test_split(frame, test_size=0.2, stratify=frame[LABEL], random_state=0)
    val, test = train_test_split(rest, test_size=0.5, stratify=rest[LABEL], random_state=0)
    for name, part in (("train", train), ("val", val), ("test", test)):
        part.to_csv(os.path.join(output_dir, f"{name}.csv"), index=False)
    return len(train) + len(val) + len(test)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    path = str(insurance_csv(args.rows))
    counts = tfbalance.class_counts(path, LABEL, verbose=False)
    print(f"{len(os.sched_getaffinity(0))} CPUs, load average {os.getloadavg()[0]:.1f}")

    def ours(out, **options):
        result = tfbalance.write_stratified_split(path, LABEL, out, fractions=FRACTIONS,
                                                  seed=0, verbose=False, **options)
        return result.source_counts.total

    contenders = {
        "pandas read_csv + train_test_split(stratify=) x2 + to_csv": lambda out: pandas_holdout(
            path, out),
        "write_stratified_split format='csv' (counting pass + write)": ours,
        "write_stratified_split format='csv', counts= given (one pass)": lambda out: ours(
            out, counts=counts),
        "write_stratified_split format='tfrecord', counts= given": lambda out: ours(
            out, counts=counts, format="tfrecord"),
        "split_by_class format='csv' (same writer, by class)": lambda out: (
            tfbalance.split_by_class(path, LABEL, out, format="csv", verbose=False)
            .counts.total),
    }
    names = list(contenders)
    times: dict[str, list[float]] = {name: [] for name in names}
    with tempfile.TemporaryDirectory(dir=os.path.dirname(path)) as work:
        for r in range(args.rounds):
            for name in names if r % 2 == 0 else names[::-1]:
                out = os.path.join(work, f"out_{r}_{names.index(name)}")
                start = time.perf_counter()
                rows = contenders[name](out)
                times[name].append(time.perf_counter() - start)
                if rows != args.rows:
                    raise SystemExit(f"{name} wrote {rows} rows, expected {args.rows}")
                shutil.rmtree(out)
    base = names[0]
    print(f"\n## Holdout 80/10/10 of {args.rows:,} rows ({os.path.getsize(path):,} bytes), "
          f"{args.rounds} paired rounds\n")
    print("| writer | median s | range s | rows/s | pandas / ours (median of paired ratios) |")
    print("|---|---:|---:|---:|---:|")
    for name in names:
        ratios = [p / s for p, s in zip(times[base], times[name], strict=False)]
        median = statistics.median(times[name])
        print(f"| {name} | {median:.2f} | {min(times[name]):.2f}-{max(times[name]):.2f} | "
              f"{args.rows / median:,.0f} | {statistics.median(ratios):.2f}x "
              f"({min(ratios):.2f}-{max(ratios):.2f}) |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

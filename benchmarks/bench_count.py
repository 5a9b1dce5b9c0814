"""One-pass class counts of a CSV: ``tfbalance.class_counts`` against pandas.

Usage: ``python benchmarks/bench_count.py --rows 5000000``

The competitor is ``pd.read_csv(path, usecols=[label], chunksize=...)`` with the chunks'
``value_counts`` summed: pandas' fastest bounded-memory count. Both run three times in the
same process, alternating (the machine may be shared); the table prints the best of each
and the last line the speed ratio ``pandas seconds / tfbalance seconds`` (>= 1 means
tfbalance is at least as fast).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import pandas as pd  # noqa: E402
from _data import LABEL, insurance_csv  # noqa: E402

import tfbalance  # noqa: E402


def pandas_counts(path: str, chunksize: int) -> dict[int, int]:
    total = None
    for chunk in pd.read_csv(path, usecols=[LABEL], chunksize=chunksize):
        counts = chunk[LABEL].value_counts()
        total = counts if total is None else total.add(counts, fill_value=0)
    return {int(k): int(v) for k, v in total.sort_index().items()}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--chunksize", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    path = str(insurance_csv(args.rows))
    times = {"tfbalance.class_counts": [], "pandas chunked usecols": []}
    for _ in range(args.repeats):
        start = time.perf_counter()
        ours = tfbalance.class_counts(path, LABEL, verbose=False)
        times["tfbalance.class_counts"].append(time.perf_counter() - start)
        start = time.perf_counter()
        theirs = pandas_counts(path, args.chunksize)
        times["pandas chunked usecols"].append(time.perf_counter() - start)
        if ours.counts != theirs:
            raise SystemExit(f"counts differ: {ours.counts} != {theirs}")
    best = {name: min(t) for name, t in times.items()}
    print(f"\n{args.rows:,} rows, {len(os.sched_getaffinity(0))} CPUs; counts {ours.counts}\n")
    print("| counter | seconds | rows/s | tfbalance / counter |")
    print("|---|---:|---:|---:|")
    for name, seconds in best.items():
        ratio = best["tfbalance.class_counts"] and seconds / best["tfbalance.class_counts"]
        print(f"| {name} | {seconds:.2f} | {args.rows / seconds:,.0f} | {ratio:.2f}x |")
    speedup = best["pandas chunked usecols"] / best["tfbalance.class_counts"]
    print(f"\nspeed vs pandas chunked usecols: {speedup:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Splitting a CSV by class: ``tfbalance.split_by_class`` against a naive pandas split.

Usage: ``python benchmarks/bench_split.py --rows 1000000 --rounds 3``

The competitor is what a user writes by hand: ``pd.read_csv(path, chunksize=...)``, then per
chunk a ``groupby`` on the label and one ``to_csv`` append per class file. Every round runs
pandas and ours back to back, in alternating order (the machine may be shared); the tables
print the median and range of each and the paired ratio ``pandas seconds / ours`` (>= 1:
ours is faster), and the bytes each writes.

The second table reads the typed split back, per class, in blocks: our typed-block
TFRecords (``SplitResult.datasets(block_size=...)``) against ``tf.data.Dataset.load`` of the
same blocks written with ``tf.data.Dataset.save`` (a ``shard_func`` by class), and
``read_csv``'s plain read of the source CSV as the reference.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import pandas as pd  # noqa: E402
import tensorflow as tf  # noqa: E402
from _data import LABEL, insurance_csv  # noqa: E402

import tfbalance  # noqa: E402


def pandas_split(path: str, output_dir: str, chunksize: int) -> dict[int, int]:
    os.makedirs(output_dir)
    counts: dict[int, int] = {}
    for chunk in pd.read_csv(path, chunksize=chunksize):
        for class_id, rows in chunk.groupby(LABEL):
            target = os.path.join(output_dir, f"class_{class_id}.csv")
            rows.to_csv(target, mode="a", header=class_id not in counts, index=False)
            counts[class_id] = counts.get(class_id, 0) + len(rows)
    return dict(sorted(counts.items()))


def folder_bytes(folder: str) -> int:
    return sum(os.path.getsize(os.path.join(root, f))
               for root, _, files in os.walk(folder) for f in files)


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def timed(fn, *args):
    """``(wall seconds, process CPU seconds, result)`` of ``fn(*args)``."""
    start, cpu = time.perf_counter(), cpu_seconds()
    result = fn(*args)
    return time.perf_counter() - start, cpu_seconds() - cpu, result


def rows_per_second(dataset: tf.data.Dataset) -> tuple[float, int]:
    start = time.perf_counter()
    rows = 0
    for _, labels in dataset:
        rows += int(tf.size(labels))
    return rows / (time.perf_counter() - start), rows


def cpu_per_row(dataset: tf.data.Dataset) -> float:
    """Nanoseconds of process CPU per row on one tf.data thread (the load hardly moves it)."""
    options = tf.data.Options()
    options.threading.private_threadpool_size = 1
    options.autotune.enabled = False
    before = resource.getrusage(resource.RUSAGE_SELF)
    rows = 0
    for _, labels in dataset.with_options(options):
        rows += int(tf.size(labels))
    after = resource.getrusage(resource.RUSAGE_SELF)
    seconds = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return seconds / rows * 1e9


def split_section(path: str, rows: int, rounds: int, chunksize: int, work: str):
    contenders = {
        "pandas chunked groupby + to_csv": lambda out: pandas_split(path, out, chunksize),
        "split_by_class format='tfrecord' (typed)": lambda out: tfbalance.split_by_class(
            path, LABEL, out, verbose=False).counts.counts,
        "split_by_class format='csv'": lambda out: tfbalance.split_by_class(
            path, LABEL, out, format="csv", verbose=False).counts.counts,
    }
    names = list(contenders)
    times = {name: [] for name in names}
    cpus = {name: [] for name in names}
    sizes = {}
    for r in range(rounds):
        order = names if r % 2 == 0 else names[::-1]
        for name in order:
            out = os.path.join(work, f"split_{r}_{names.index(name)}")
            seconds, cpu, counts = timed(contenders[name], out)
            times[name].append(seconds)
            cpus[name].append(cpu)
            sizes[name] = folder_bytes(out)
            if counts != dict(sorted(counts.items())) or sum(counts.values()) != rows:
                raise SystemExit(f"{name} wrote {counts}, expected {rows} rows")
            shutil.rmtree(out)
    base = names[0]
    load = os.getloadavg()
    print(f"\n## Split of {rows:,} rows ({os.path.getsize(path):,} bytes of CSV), "
          f"{rounds} paired rounds, load average at the end {load[0]:.1f} / {load[1]:.1f} / "
          f"{load[2]:.1f}\n")
    print("| splitter | median s | range s | rows/s | bytes written | pandas / ours "
          "(median of paired ratios) | median CPU s | pandas / ours, CPU s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name in names:
        ratios = [p / s for p, s in zip(times[base], times[name], strict=True)]
        cpu_ratios = [p / s for p, s in zip(cpus[base], cpus[name], strict=True)]
        print(f"| {name} | {statistics.median(times[name]):.2f} | "
              f"{min(times[name]):.2f}-{max(times[name]):.2f} | "
              f"{rows / statistics.median(times[name]):,.0f} | {sizes[name]:,} | "
              f"{statistics.median(ratios):.2f}x ({min(ratios):.2f}-{max(ratios):.2f}) | "
              f"{statistics.median(cpus[name]):.2f} | {statistics.median(cpu_ratios):.2f}x "
              f"({min(cpu_ratios):.2f}-{max(cpu_ratios):.2f}) |")


def read_section(path: str, rows: int, rounds: int, block_size: int, work: str):
    split = tfbalance.split_by_class(path, LABEL, os.path.join(work, "typed"), verbose=False)
    typed = split.datasets(block_size=block_size, shuffle_files=False)

    # The same blocks through Dataset.save / load, one shard per class.
    saved_dir = os.path.join(work, "saved")
    blocks = tf.data.Dataset.sample_from_datasets(  # every class's blocks, one save
        [ds.map(lambda x, y, c=c: (x, y, tf.constant(c, tf.int64))) for c, ds in typed.items()],
        stop_on_empty_dataset=False, seed=0,
    )
    tf.data.Dataset.save(blocks.map(lambda x, y, c: ((x, y), c)), saved_dir,
                         shard_func=lambda element, c: c)
    loaded = tf.data.Dataset.load(saved_dir).map(lambda element, c: element)
    saved_bytes = folder_bytes(saved_dir)

    readers = {
        "read_csv (source CSV, plain read)": lambda: tfbalance.read_csv(
            path, LABEL, batch_size=block_size),
        "typed-block TFRecords (split_by_class)": lambda: typed[0].concatenate(typed[1]),
        "Dataset.load of the same blocks": lambda: loaded,
    }
    speeds = {name: [] for name in readers}
    for r in range(rounds):
        order = list(readers) if r % 2 == 0 else list(readers)[::-1]
        for name in order:
            speed, seen = rows_per_second(readers[name]())
            if seen != rows:
                raise SystemExit(f"{name} read {seen} rows, expected {rows}")
            speeds[name].append(speed)
    base = "read_csv (source CSV, plain read)"
    print(f"\n## Reading {rows:,} rows back in blocks of {block_size}, {rounds} rounds\n")
    print("| reader | median rows/s | range rows/s | bytes on disk | / read_csv |")
    print("|---|---:|---:|---:|---:|")
    disk = {base: os.path.getsize(path), "typed-block TFRecords (split_by_class)": split.nbytes,
            "Dataset.load of the same blocks": saved_bytes}
    for name, values in speeds.items():
        median = statistics.median(values)
        print(f"| {name} | {median:,.0f} | {min(values):,.0f}-{max(values):,.0f} | "
              f"{disk[name]:,} | {median / statistics.median(speeds[base]):.2f}x |")
    print("\nCPU per row on one tf.data thread (best of 2):")
    for name in readers:
        best = min(cpu_per_row(readers[name]()) for _ in range(2))
        print(f"  {name}: {best:.0f} ns")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--chunksize", type=int, default=100_000)
    parser.add_argument("--block-size", type=int, default=8192)
    parser.add_argument("--skip-read", action="store_true")
    parser.add_argument("--skip-split", action="store_true")
    args = parser.parse_args(argv)
    path = str(insurance_csv(args.rows))
    print(f"{len(os.sched_getaffinity(0))} CPUs, load average {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory(dir=os.path.dirname(path)) as work:
        if not args.skip_split:
            split_section(path, args.rows, args.rounds, args.chunksize, work)
        if not args.skip_read:
            read_section(path, args.rows, args.rounds, args.block_size, work)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

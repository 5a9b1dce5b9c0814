"""Rows/s of ``tfbalance.read_csv`` against the TensorFlow CSV readers and pandas.

Usage: ``python benchmarks/bench_read.py --rows 5000000``

Every reader decodes all 12 columns of the same cached insurance CSV in the same process;
the table prints rows/s and ``ours / theirs``. ``make_csv_dataset`` is timed on its first
``--slow-rows`` rows only (it is far slower) and its rows/s extrapolated. A second table
reads a quoted copy of the CSV (every text field quoted, one in ten holding a line break):
``read_csv`` against pandas, the one other reader here that accepts quoted line breaks.

``--against DIR`` instead compares the plain read with another copy of tfbalance (say the
0.1.0 release: ``git archive <commit> | tar -x -C DIR``): child processes alternate between
``PYTHONPATH=DIR`` and this tree, each timing ``--rounds`` plain reads of the same file
after one warm-up read, and the table gives the medians and ranges of rows per CPU-second
(``resource.getrusage``, all threads: what a shared machine's load moves least) and rows
per second. Usage: ``python benchmarks/bench_read.py --rows 1000000 --against /tmp/v010``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import pandas as pd  # noqa: E402
import tensorflow as tf  # noqa: E402
from _data import LABEL, insurance_csv  # noqa: E402

import tfbalance  # noqa: E402

BATCH = 8192


def drain(dataset) -> int:
    rows = 0
    for batch in dataset:
        labels = batch[1] if isinstance(batch, tuple) and len(batch) == 2 else batch[-1]
        rows += int(labels.shape[0])
    return rows


def timed(fn) -> tuple[int, float]:
    start = time.perf_counter()
    rows = fn()
    return rows, time.perf_counter() - start


# A child of ``--against``: imports whichever tfbalance its PYTHONPATH names first.
_CHILD = """
import json, os, resource, sys, time
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import tfbalance
path, label, batch, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
schema = tfbalance.infer_csv_schema(path, label)
def cpu():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime
out = []
for r in range(rounds + 1):
    dataset = tfbalance.read_csv(path, schema=schema, batch_size=batch)
    c0, t0, rows = cpu(), time.perf_counter(), 0
    for _, labels in dataset:
        rows += int(labels.shape[0])
    if r:  # the first read warms the page cache and TensorFlow's own start-up
        out.append([rows, time.perf_counter() - t0, cpu() - c0])
print(json.dumps({"module": tfbalance.__file__, "runs": out}))
"""


def against(path: str, other: str, pairs: int, rounds: int) -> None:
    """Paired plain reads: ``other``'s tfbalance and this tree's, in alternating order."""
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    runs: dict[str, list] = {other: [], here: []}
    for p in range(pairs):
        for root in ([other, here] if p % 2 == 0 else [here, other]):
            env = {**os.environ, "PYTHONPATH": root}
            # Run from the data folder: ``python -c`` puts the working directory first on
            # sys.path, and a checkout's root would shadow PYTHONPATH.
            done = subprocess.run(
                [sys.executable, "-c", _CHILD, path, LABEL, str(BATCH), str(rounds)],
                env=env, capture_output=True, text=True, check=True,
                cwd=os.path.dirname(path),
            )
            result = json.loads(done.stdout.strip().splitlines()[-1])
            if not result["module"].startswith(os.path.abspath(root)):
                raise SystemExit(f"{root}: the child imported {result['module']}")
            runs[root].extend(result["runs"])
            print(f"{root}: {result['runs']}", file=sys.stderr, flush=True)
    load = os.getloadavg()
    print(f"\nPlain read of {path} ({runs[here][0][0]:,} rows), {pairs} alternating child "
          f"processes x {rounds} reads each; load average at the end "
          f"{load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}\n")
    print("| tfbalance | rows per CPU-second: median [min, max] | rows/s: median [min, max] |")
    print("|---|---:|---:|")
    medians = {}
    for root, name in [(other, f"`{other}`"), (here, "this tree")]:
        per_cpu = [rows / cpu for rows, _, cpu in runs[root]]
        per_s = [rows / wall for rows, wall, _ in runs[root]]
        medians[root] = statistics.median(per_cpu), statistics.median(per_s)
        print(f"| {name} | {medians[root][0]:,.0f} [{min(per_cpu):,.0f}, {max(per_cpu):,.0f}] "
              f"| {medians[root][1]:,.0f} [{min(per_s):,.0f}, {max(per_s):,.0f}] |")
    print(f"| this tree / `{other}` | {medians[here][0] / medians[other][0]:.2f}x "
          f"| {medians[here][1] / medians[other][1]:.2f}x |")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--slow-rows", type=int, default=200_000)
    parser.add_argument("--against", help="another tfbalance tree for paired plain reads")
    parser.add_argument("--pairs", type=int, default=4, help="child processes per tree")
    parser.add_argument("--rounds", type=int, default=3, help="timed reads per child")
    args = parser.parse_args(argv)
    path = str(insurance_csv(args.rows))
    if args.against:
        against(path, os.path.abspath(args.against), args.pairs, args.rounds)
        return 0
    schema = tfbalance.infer_csv_schema(path, LABEL)
    defaults = [
        tf.constant([schema.defaults[c]], tf.as_dtype(schema.dtypes[c]))
        if c != LABEL else tf.constant([0], tf.int64)
        for c in schema.column_names
    ]
    slow_path = str(insurance_csv(args.slow_rows))

    def make_csv_dataset():
        ds = tf.data.experimental.make_csv_dataset(
            slow_path, BATCH, label_name=LABEL, num_epochs=1, shuffle=False,
            column_defaults=defaults, num_parallel_reads=1)
        return drain(ds)

    def csv_dataset():
        ds = tf.data.experimental.CsvDataset(path, defaults, header=True, buffer_size=1 << 20)
        return drain(ds.batch(BATCH).prefetch(tf.data.AUTOTUNE))

    def text_line_decode():
        ds = tf.data.TextLineDataset(path, buffer_size=1 << 20).skip(1).batch(BATCH)
        ds = ds.map(lambda lines: tf.io.decode_csv(lines, defaults),
                    num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)
        return drain(ds)

    def pandas_full():
        return len(pd.read_csv(path))

    def ours():
        return drain(tfbalance.read_csv(path, schema=schema, batch_size=BATCH))

    results = {}
    for name, fn in [
        ("tfbalance.read_csv", ours),
        (f"make_csv_dataset ({args.slow_rows:,} rows)", make_csv_dataset),
        ("CsvDataset + batch", csv_dataset),
        ("TextLineDataset + batch + decode_csv", text_line_decode),
        ("pandas.read_csv (whole file in memory)", pandas_full),
        ("tfbalance.read_csv (again)", ours),
    ]:
        rows, seconds = timed(fn)
        results[name] = rows / seconds
        print(f"{name}: {rows:,} rows in {seconds:.2f}s", file=sys.stderr, flush=True)
    best = max(results["tfbalance.read_csv"], results["tfbalance.read_csv (again)"])
    cpus = len(os.sched_getaffinity(0))
    print(f"\n{args.rows:,} rows, {cpus} CPUs, TensorFlow {tf.__version__}\n")
    print("| reader | rows/s | tfbalance.read_csv / reader |")
    print("|---|---:|---:|")
    for name, rate in results.items():
        if name.startswith("tfbalance"):
            continue
        print(f"| {name} | {rate:,.0f} | {best / rate:.2f}x |")
    print(f"| tfbalance.read_csv (best of 2) | {best:,.0f} | 1.00x |")

    quoted = _quoted_copy(path)
    quoted_schema = tfbalance.infer_csv_schema(quoted, LABEL)
    rates = {}
    for name, fn in [
        ("tfbalance.read_csv", lambda: drain(
            tfbalance.read_csv(quoted, schema=quoted_schema, batch_size=BATCH))),
        ("pandas.read_csv", lambda: len(pd.read_csv(quoted))),
        ("tfbalance.read_csv (again)", lambda: drain(
            tfbalance.read_csv(quoted, schema=quoted_schema, batch_size=BATCH))),
    ]:
        rows, seconds = timed(fn)
        rates[name] = rows / seconds
        print(f"quoted {name}: {rows:,} rows in {seconds:.2f}s", file=sys.stderr, flush=True)
    ours_quoted = max(rates["tfbalance.read_csv"], rates["tfbalance.read_csv (again)"])
    print("\n| quoted copy (text fields quoted, 10% with a line break) | rows/s | ratio |")
    print("|---|---:|---:|")
    print(f"| pandas.read_csv | {rates['pandas.read_csv']:,.0f} | "
          f"{ours_quoted / rates['pandas.read_csv']:.2f}x |")
    print(f"| tfbalance.read_csv (best of 2) | {ours_quoted:,.0f} | 1.00x |")
    print(f"| tfbalance.read_csv quoted / plain | | {ours_quoted / best:.2f}x |")
    return 0


def _quoted_copy(path: str) -> str:
    """The CSV with every text field quoted and a line break in every tenth row's
    ``Vehicle_Age`` (cached beside the source)."""
    import csv

    target = path[: -len(".csv")] + "_quoted.csv"
    if os.path.exists(target):
        return target
    frame = pd.read_csv(path)
    breaks = frame.index % 10 == 0
    frame.loc[breaks, "Vehicle_Age"] = frame.loc[breaks, "Vehicle_Age"] + "\n(checked)"
    frame.to_csv(target + ".part", index=False, quoting=csv.QUOTE_NONNUMERIC)
    os.replace(target + ".part", target)
    return target


if __name__ == "__main__":
    raise SystemExit(main())

"""Throughput of tfbalance's resampling transforms against the tf.data recipes, one run.

Usage: ``python benchmarks/bench_resample.py --rows 5000000`` (or ``--csv PATH`` for an
existing insurance CSV, ``--rss-csv-small PATH`` for the 1M-row file of the memory check).

All pipelines read the same cached insurance CSV with ``tfbalance.read_csv`` in batches of
8192 rows, in one process:

* plain batched read (the ceiling);
* ``tf.data.Dataset.rejection_resample`` (unbatched, as it requires) on the first
  ``--slow-rows`` rows, with and without ``initial_dist``: it is far slower, so its rows/s is
  measured on that prefix;
* ``sample_from_datasets`` oversampling (per-class ``filter`` + ``repeat`` on unbatched rows,
  the tf.data guide's recipe) on the same prefix;
* ours: undersample, oversample and rejection_resample, Bernoulli (known counts and online)
  and exact, applied to the decoded batches (``read_csv(...).apply(t)``, the form that works
  on any dataset);
* the same dropping transforms handed to ``read_csv(..., resample=t)``, which decodes only
  the labels of every batch and the kept rows in full.

Each run is timed from the iterator's creation to its last element; the teardown of the
iterator, where TensorFlow's autotuning thread can block any pipeline for up to a second, is
timed apart (the "stall" column). Each of our runs is paired with a plain read timed next to
it, in alternating order; the ratio of a pair is steadier than a ratio of best times on a
shared machine. It prints input rows/s, output rows/s and the paired and best-of ratios the
library targets. Then, in subprocesses: each pipeline's CPU work on one thread (also paired
with a plain read); the CPU cost per batch each transform adds on cached batches, with the
read taken out; and the peak RSS of our undersampling pipeline on a 1M-row and on the big
file, against the plain read and a pandas full load of each, and the floor that importing
TensorFlow and running any pipeline costs.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from functools import partial

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))

BATCH = 8192
LABEL = "Response"


def _drain(dataset) -> int:
    return _count_rows(iter(dataset))


def _count_rows(iterator) -> int:
    import tensorflow as tf

    rows = tf.zeros([], tf.int64)
    for element in iterator:
        labels = element[1] if isinstance(element, tuple) else element
        rows += tf.size(labels, out_type=tf.int64)
    return int(rows)


def _timed(make):
    """Rows, seconds from the iterator's creation to its last element, and teardown seconds.

    Destroying a tf.data iterator with autotuning on joins TensorFlow's autotuning thread,
    which can block for up to about a second whatever the pipeline (a plain TextLineDataset +
    decode_csv read included). That one-off stall lands at random in some runs and not in
    others, so it is timed apart instead of inside the streaming rate.
    """
    iterator = iter(make())
    start = time.perf_counter()
    rows = _count_rows(iterator)
    seconds = time.perf_counter() - start
    start = time.perf_counter()
    del iterator
    return rows, seconds, time.perf_counter() - start


def _note_best(name, input_rows, output_rows, seconds, best_seconds, results):
    if seconds < best_seconds.get(name, float("inf")):
        best_seconds[name] = seconds
        results[name] = (input_rows / seconds, output_rows / seconds, output_rows)


def _read(path, rows=None):
    import tfbalance

    ds = tfbalance.read_csv(path, label=LABEL, batch_size=BATCH)
    if rows is not None:
        ds = ds.unbatch().take(rows).batch(BATCH)
    return ds


def _rss_child(kind: str, path: str) -> None:
    if kind == "pandas":
        import pandas as pd

        rows = len(pd.read_csv(path))
    elif kind == "runtime":
        # TensorFlow and tfbalance imported and one tiny pipeline run: the floor under any
        # tf.data pipeline in this process.
        import tensorflow as tf

        import tfbalance  # noqa: F401

        rows = _drain(tf.data.Dataset.range(10).batch(5).map(lambda x: (x, x)))
    elif kind == "plain":
        rows = _drain(_read(path))
    else:
        import tfbalance

        counts = tfbalance.class_counts(path, LABEL, verbose=False)
        rows = _drain(_pipeline("ours undersample (counts)", path, counts))
    print(f"{rows} {_high_water_mib():.1f}")


# Our transforms, by the name the tables print; each builds from (tfbalance, counts).
_TRANSFORMS = {
    "undersample (counts)": lambda tb, c: tb.undersample(counts=c, seed=0),
    "undersample (online)": lambda tb, c: tb.undersample(seed=0),
    "undersample exact": lambda tb, c: tb.undersample(counts=c, exact=True, seed=0),
    "oversample (counts)": lambda tb, c: tb.oversample(counts=c, seed=0),
    "oversample exact": lambda tb, c: tb.oversample(counts=c, exact=True, seed=0),
    "rejection_resample (initial)": lambda tb, c: tb.rejection_resample(initial_dist=c, seed=0),
    "rejection_resample (online)": lambda tb, c: tb.rejection_resample(seed=0),
}
# The transforms that only drop rows, which read_csv(resample=...) applies before decoding.
_DROPPING = [name for name in _TRANSFORMS if not name.startswith("oversample")]
# The one-thread CPU work is measured for every pipeline, each paired with a plain read.
_WORK_PIPELINES = (
    ["plain batched read"]
    + [f"ours {name}" for name in _TRANSFORMS]
    + [f"read_csv(resample={name})" for name in _DROPPING]
)


def _pipeline(name: str, path: str, counts, **read_options):
    """The dataset a table row names: the plain read, ``ours T`` or ``read_csv(resample=T)``."""
    import tfbalance

    read = dict(label=LABEL, batch_size=BATCH, **read_options)
    if name.startswith("ours "):
        return tfbalance.read_csv(path, **read).apply(
            _TRANSFORMS[name[len("ours "):]](tfbalance, counts)
        )
    if name.startswith("read_csv(resample="):
        transform = _TRANSFORMS[name[len("read_csv(resample="):-1]](tfbalance, counts)
        return tfbalance.read_csv(path, resample=transform, **read)
    return tfbalance.read_csv(path, **read)


def _run_child(*args: str) -> str:
    """Standard output of this script run again in a fresh process with ``args``."""
    return subprocess.run(
        [sys.executable, os.path.abspath(__file__), *args],
        check=True, capture_output=True, text=True,
    ).stdout


def _beside_plain(round_index: int, plain, ours):
    """``(plain(), ours())``, the plain read first in even rounds and last in odd ones.

    A drift of the machine's speed within a pair then favours neither side.
    """
    if round_index % 2 == 0:
        first = plain()
        return first, ours()
    second = ours()
    return plain(), second


def _one_thread_options():
    """Keep this process's TensorFlow on one thread; the tf.data options that do the same."""
    import tensorflow as tf

    tf.config.threading.set_inter_op_parallelism_threads(1)
    tf.config.threading.set_intra_op_parallelism_threads(1)
    options = tf.data.Options()
    options.threading.private_threadpool_size = 1
    options.threading.max_intra_op_parallelism = 1
    options.autotune.enabled = False
    return options


def _work_child(path: str, repeats: int, *names: str) -> None:
    """CPU seconds of pipeline runs on one thread, each beside a plain read, in one process.

    Prints ``name rows plain_seconds seconds`` per pair.
    """
    import tfbalance

    options = _one_thread_options()
    counts = tfbalance.class_counts(path, LABEL, verbose=False)

    def work(name: str) -> tuple[int, float]:
        ds = _pipeline(name, path, counts, num_parallel_reads=1, num_parallel_calls=1)
        start = time.process_time()
        rows = _drain(ds.with_options(options))
        return rows, time.process_time() - start

    work("plain batched read")  # first-call costs
    for round_index in range(repeats):
        for name in names:
            (_, plain), (rows, seconds) = _beside_plain(
                round_index, partial(work, "plain batched read"), partial(work, name)
            )
            print(f"{name}\t{rows}\t{plain:.3f}\t{seconds:.3f}", flush=True)


def _batch_cost_child(path: str, batches: int) -> None:
    """One-thread CPU milliseconds each applied transform adds per batch, on cached batches.

    With the read taken out (its batches come from a cache), what is left is the transform's
    own cost. Prints ``name milliseconds`` per transform, each the least of 9 passes.
    """
    import tfbalance

    options = _one_thread_options()
    cached = tfbalance.read_csv(
        path, label=LABEL, batch_size=BATCH, prefetch=False, num_parallel_calls=1
    ).take(batches).cache()
    batches = sum(1 for _ in cached.with_options(options))  # also fills the cache
    counts = tfbalance.class_counts(cached, verbose=False)  # exact mode needs the prefix's

    def least_cpu(dataset) -> float:
        best = float("inf")
        for _ in range(9):
            iterator = iter(dataset.with_options(options))  # its creation is not per batch
            start = time.process_time()
            for _ in iterator:
                pass
            best = min(best, time.process_time() - start)
        return best

    base = least_cpu(cached)
    print(f"cached batches\t{base * 1000 / batches:.3f}")
    for name, make in _TRANSFORMS.items():
        cost = least_cpu(cached.apply(make(tfbalance, counts))) - base
        print(f"{name}\t{cost * 1000 / batches:.3f}", flush=True)


def _work(path: str, repeats: int, names: list[str]) -> dict[str, list[tuple[int, float, float]]]:
    """Per pipeline, ``(rows, plain_seconds, seconds)`` of ``repeats`` one-thread pairs."""
    out = _run_child("--work-child", path, str(repeats), *names)
    pairs: dict = {}
    for line in out.splitlines():
        parts = line.split("\t")
        if len(parts) == 4 and parts[0] in names:
            pairs.setdefault(parts[0], []).append(
                (int(parts[1]), float(parts[2]), float(parts[3]))
            )
    return pairs


def _high_water_mib() -> float:
    # VmHWM belongs to the address space made at exec; ru_maxrss would carry the parent's
    # high-water mark across fork + exec.
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _peak_rss(kind: str, path: str) -> float:
    out = _run_child("--rss-child", kind, path).split()
    return float(out[-1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--csv", help="an existing insurance CSV (default: cached under data/)")
    parser.add_argument("--rss-csv-small", help="the 1M-row CSV for the memory check")
    parser.add_argument("--slow-rows", type=int, default=100_000)
    parser.add_argument("--no-rss", action="store_true")
    parser.add_argument(
        "--repeats", type=int, default=2,
        help="rounds over every pipeline; each keeps its best time (the 2-core machine's "
        "speed drifts between runs, so one round can catch a pipeline in a slow phase)",
    )
    parser.add_argument("--no-work", action="store_true", help="skip the one-thread CPU work")
    parser.add_argument("--work-repeats", type=int, default=3,
                        help="one-thread CPU work pairs (pipeline + plain read) per pipeline")
    parser.add_argument("--rss-child", nargs=2, metavar=("KIND", "PATH"), help=argparse.SUPPRESS)
    parser.add_argument("--work-child", nargs="+", metavar="ARG", help=argparse.SUPPRESS)
    parser.add_argument("--no-batch-cost", action="store_true",
                        help="skip the per-batch cost of each transform on cached batches")
    parser.add_argument("--batch-cost-child", nargs=2, metavar=("PATH", "BATCHES"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.rss_child:
        _rss_child(*args.rss_child)
        return 0
    if args.batch_cost_child:
        _batch_cost_child(args.batch_cost_child[0], int(args.batch_cost_child[1]))
        return 0
    if args.work_child:
        path_, repeats_, *names_ = args.work_child
        _work_child(path_, int(repeats_), *names_)
        return 0

    import tensorflow as tf

    import tfbalance

    if args.csv:
        path = args.csv
    else:
        from _data import insurance_csv

        path = str(insurance_csv(args.rows))
    start = time.perf_counter()
    counts = tfbalance.class_counts(path, LABEL, verbose=False)
    print(f"file: {path}\ncounts: {counts.counts} (counted in {time.perf_counter() - start:.1f} s)")
    n_rows = counts.total
    prefix = min(args.slow_rows, n_rows)
    prefix_counts = tfbalance.class_counts(_read(path, prefix), verbose=False)
    initial = [p for _, p in sorted(counts.proportions.items())]

    def tf_rejection(initial_dist):
        def make():
            ds = _read(path, prefix).unbatch()
            ds = ds.rejection_resample(
                class_func=lambda x, y: y, target_dist=[0.5, 0.5], initial_dist=initial_dist,
                seed=0,
            )
            return ds.map(lambda c, element: element).batch(BATCH)
        return make

    def sample_from_datasets():
        rows = _read(path, prefix).unbatch()
        negative = rows.filter(lambda x, y: tf.equal(y, 0))
        positive = rows.filter(lambda x, y: tf.equal(y, 1)).repeat()
        mixed = tf.data.Dataset.sample_from_datasets(
            [negative, positive], [0.5, 0.5], seed=0, stop_on_empty_dataset=True
        )
        return mixed.batch(BATCH)

    cases = [
        ("plain batched read (ceiling)", lambda: _read(path), n_rows),
        ("tf rejection_resample, initial_dist given", tf_rejection(initial), prefix),
        ("tf rejection_resample, initial_dist=None", tf_rejection(None), prefix),
        ("sample_from_datasets oversampling", sample_from_datasets, prefix),
        *[(f"ours {name}", partial(_pipeline, f"ours {name}", path, counts), n_rows)
          for name in _TRANSFORMS],
        # The dropping transforms again, handed to read_csv: lines are resampled before the
        # full decode.
        *[(f"read_csv(resample={name})",
           partial(_pipeline, f"read_csv(resample={name})", path, counts), n_rows)
          for name in _DROPPING],
    ]
    # Warm the page cache and the reader's first-call costs so the first timed case (the
    # plain read) is not penalised; the plain read is also timed again last, best kept.
    _drain(_read(path))
    cases.append(("plain batched read (again)", lambda: _read(path), n_rows))
    results = {}
    best_seconds: dict = {}
    # The machine's speed changes between runs but holds for several seconds, so each of our
    # pipelines is also timed next to its own plain read: the ratio of such a pair is much
    # steadier than a ratio of best times.
    paired: dict = {}
    teardown: dict = {}
    plain_name, plain_make, _ = cases[0]

    def run(name, make, input_rows):
        output_rows, seconds, stall = _timed(make)
        teardown[name] = max(teardown.get(name, 0.0), stall)
        _note_best(name, input_rows, output_rows, seconds, best_seconds, results)
        print(f"{name:48s} {input_rows:11,d} {output_rows:11,d} {seconds:7.2f} "
              f"{input_rows / seconds:11,.0f} {output_rows / seconds:11,.0f} {stall:7.2f}",
              flush=True)
        return output_rows, seconds

    for round_index in range(args.repeats):
        print(f"\nround {round_index + 1} of {args.repeats}")
        print(f"{'pipeline':48s} {'input rows':>11s} {'output rows':>11s} {'s':>7s} "
              f"{'in rows/s':>11s} {'out rows/s':>11s} {'stall s':>7s}")
        for name, make, input_rows in cases:
            if not name.startswith(("ours", "read_csv(")):
                run(name, make, input_rows)
                continue
            (_, plain_seconds), (output_rows, seconds) = _beside_plain(
                round_index, partial(run, plain_name, plain_make, n_rows),
                partial(run, name, make, input_rows),
            )
            rows = output_rows if "oversample" in name else input_rows
            paired.setdefault(name, []).append((rows / seconds) / (n_rows / plain_seconds))
    print(f"\nbest of {args.repeats} rounds (stall s: the longest iterator teardown seen)")
    for name, _, input_rows in cases:
        in_rate, out_rate, output_rows = results[name]
        print(f"{name:48s} {input_rows:11,d} {output_rows:11,d} {best_seconds[name]:7.2f} "
              f"{in_rate:11,.0f} {out_rate:11,.0f} {teardown[name]:7.2f}")

    plain_in = max(results["plain batched read (ceiling)"][0],
                   results["plain batched read (again)"][0])
    tf_rej = results["tf rejection_resample, initial_dist given"][0]
    tf_rej_none = results["tf rejection_resample, initial_dist=None"][0]
    print(f"\nratios vs the plain read: paired = median of {args.repeats} runs, each against "
          f"the plain read timed next to it [min, max]; best = best of ours / best plain read. "
          f"Input rows/s (output rows/s for oversampling); targets in brackets")
    for name in [f"ours {n}" for n in _TRANSFORMS] + [f"read_csv(resample={n})" for n in
                                                      _DROPPING]:
        ordered = sorted(paired[name])
        if "oversample" in name:
            best = results[name][1] / plain_in
            versus = (f"vs sample_from_datasets "
                      f"{results[name][1] / results['sample_from_datasets oversampling'][1]:6.1f}x")
        else:
            best = results[name][0] / plain_in
            versus = (f"vs tf rejection_resample {results[name][0] / tf_rej:6.1f}x (initial "
                      f"given), {results[name][0] / tf_rej_none:6.1f}x (None) [>= 50]")
        print(f"  {name:48s} paired {statistics.median(ordered):5.2f}x [{ordered[0]:.2f}, "
              f"{ordered[-1]:.2f}] best {best:5.2f}x [>= 0.9]; {versus}")
    under_exact = results["ours undersample exact"][2]
    over_exact = results["ours oversample exact"][2]
    print(f"\nexact epochs: undersample {under_exact:,} rows, oversample {over_exact:,} rows "
          f"(counts {counts.counts}); prefix of {prefix:,} rows had {prefix_counts.counts}")

    if not args.no_work:
        # One-thread CPU work: what throughput is inversely proportional to when the read
        # keeps every core busy, as it does here. It is steadier than wall-clock time but still
        # drifts by 10% or more between runs on a shared machine, so it too is paired.
        print(f"\nCPU work on one thread, one process, each pipeline beside a plain read "
              f"(median of {args.work_repeats} pairs [min, max])")
        pairs = _work(path, args.work_repeats, _WORK_PIPELINES[1:])
        for name in _WORK_PIPELINES[1:]:
            oversampling = "oversample" in name
            ratios = sorted(
                (rows / seconds) / (n_rows / plain) if oversampling else plain / seconds
                for rows, plain, seconds in pairs[name]
            )
            median_seconds = statistics.median(seconds for _, _, seconds in pairs[name])
            median_plain = statistics.median(plain for _, plain, _ in pairs[name])
            print(f"  {name:48s} {median_seconds:6.2f} s (plain {median_plain:5.2f} s)  "
                  f"work ratio {statistics.median(ratios):5.2f}x [{ratios[0]:.2f}, "
                  f"{ratios[-1]:.2f}] ({'output' if oversampling else 'input'} rows per CPU "
                  f"second vs plain read) [>= 0.9]", flush=True)

    if not args.no_batch_cost:
        # The transform's own cost, the read taken out: what .apply adds to any pipeline.
        out = _run_child("--batch-cost-child", path, "120").splitlines()
        print(f"\none-thread CPU cost per {BATCH}-row batch on cached batches (least of 9 passes "
              f"over 120 batches)")
        for line in out:
            parts = line.split("\t")
            if len(parts) == 2:
                what = "to iterate" if parts[0] == "cached batches" else "added by .apply"
                print(f"  {parts[0]:48s} {float(parts[1]):6.3f} ms {what}")

    if not args.no_rss:
        small = args.rss_csv_small
        if small is None:
            from _data import insurance_csv

            small = str(insurance_csv(1_000_000))
        print("\npeak RSS (MiB), separate processes")
        runtime = _peak_rss("runtime", path)
        print(f"  TensorFlow + tfbalance imported, tiny pipeline: {runtime:8.1f}")
        table = {}
        for label_, file in (("1M", small), ("big", path)):
            table[label_] = (_peak_rss("ours", file), _peak_rss("plain", file),
                             _peak_rss("pandas", file))
            ours, plain, pandas_ = table[label_]
            print(f"  {label_:4s} ours undersample {ours:8.1f} (+{ours - runtime:6.1f} over the "
                  f"runtime)   plain read {plain:8.1f}   pandas full load {pandas_:8.1f}",
                  flush=True)
        ours_ratio = table["big"][0] / table["1M"][0]
        print(f"  ours big/1M {ours_ratio:.2f} [within 1.10]; pandas big / ours big "
              f"{table['big'][2] / table['big'][0]:.1f}x; ours above the runtime floor "
              f"{table['1M'][0] - runtime:.0f} MiB (1M) and {table['big'][0] - runtime:.0f} MiB "
              f"(big)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

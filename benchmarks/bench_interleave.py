"""Balanced batches from per-class block streams vs ``read_csv``'s plain read of the CSV.

The per-class path reads rows that were split once and stored typed, so it should feed a
balanced model faster than the source CSV can even be parsed. On the synthetic insurance
CSV (about 16.4% ``Response=1``) this script stores each class's rows as typed blocks and
times, in batches of 1024:

* ``read_csv`` plain read of the whole source CSV (the reference, 1.00x);
* ``interleave_by_class(..., "balanced", batch_size=1024)`` on the block streams (fixed
  weights: the epoch-planned merge);
* the same with a natural -> balanced step schedule over the epoch (planned at the epoch's
  start, as ``InterleaveScheduleCallback`` does in ``fit``);
* ``balanced_batches(..., 512)`` on the same streams;
* the merge before the batched one (row streams, class ids drawn 128 at a time, one
  ``choose_from_datasets`` step per row, then ``.batch``), on the same stored rows;
* ``tf.data.Dataset.sample_from_datasets`` on the same row streams (the built-in; 200k rows).

Every pipeline but the built-in delivers as many rows as the CSV holds. Each round runs
every pipeline paired with a plain read, in alternating order (read first on even rounds),
so a load change on the shared machine hits both sides of a ratio; the table gives medians
and ranges over rounds of rows/s, of the paired ratio and of the CPU time per delivered row
(the whole process, every tf.data thread: what a pipeline costs, less inflated by other
users' load than wall time). Iterator setup and 20 warm-up batches are not timed.
"Bytes/row" is the stored bytes read per delivered row (a class stream reads each of its
rows once per pass, plus at most one block per class ahead; minority rows are re-read), or
the CSV bytes per row for the plain read.

Where the per-class blocks come from (``--source``):

* ``saved`` (default): ``tf.data.Dataset.save`` of each class's typed batches (what a
  block-shard split writes) read back with ``Dataset.load``;
* ``memory``: the same blocks held in memory (``from_tensor_slices`` of blocks): no I/O;
* ``split``: ``split_by_class(csv, ...).datasets(block_size=8192)``, the library's own
  split (what ``class_datasets(split)`` gives).

    python benchmarks/bench_interleave.py                  # 1M rows, 3 rounds
    python benchmarks/bench_interleave.py --rows 5000000 --rounds 1

``--demo`` times the demo's interleave technique instead, as ``tfbalance demo`` trains it
(its own functions: the training rows of the insurance CSV, a natural -> balanced step
schedule, 1024-row batches, the demo's model): the set-up (this tree splits the training
rows into typed shards once), one pass over its input, and ``fit`` for ``--epochs``. With
``--against DIR`` it runs in child processes alternating between another tfbalance tree
(say the previous commit's) and this one, and prints the ratios:

    python benchmarks/bench_interleave.py --demo --rows 382154 --against /tmp/before
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import importlib.util  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
# This checkout's tfbalance (--demo's children import each tree's own).
sys.path.insert(0, os.path.dirname(HERE))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import tfbalance  # noqa: E402

# This checkout's data helper, by path, so data land in this checkout's benchmarks/data
# even when another tfbalance (with its own benchmarks package) comes first on the path.
_spec = importlib.util.spec_from_file_location("_bench_data", os.path.join(HERE, "_data.py"))
_data = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_data)
DATA_DIR, LABEL, insurance_csv = _data.DATA_DIR, _data.LABEL, _data.insurance_csv

BATCH = 1024
BLOCK = 8192
WARMUP_BATCHES = 20


def _timed(ds: tf.data.Dataset) -> tuple[float, np.ndarray, float]:
    """Seconds to pull every batch after the warm-up, the class counts pulled, CPU seconds.

    CPU seconds are the whole process's (every tf.data thread): on a shared machine they
    say what a pipeline costs better than wall time, which other users' load inflates.
    """
    counts = np.zeros(2, np.int64)
    iterator = iter(ds.prefetch(2))
    for _ in range(WARMUP_BATCHES):
        counts += np.bincount(next(iterator)[1].numpy(), minlength=2)[:2]
    warm = counts.copy()
    start, cpu = time.perf_counter(), time.process_time()
    for _, labels in iterator:
        counts += np.bincount(labels.numpy(), minlength=2)[:2]
    seconds = time.perf_counter() - start
    return seconds, counts - warm, time.process_time() - cpu


# ---- where the per-class blocks come from ----------------------------------------------


def _class_blocks(csv: str, source: str, rows: int) -> tuple[dict, dict, int]:
    """``{class: dataset of blocks}``, ``{class: stored bytes per row}``, and the block size."""
    if source == "split":
        if "block_size" not in inspect.signature(tfbalance.SplitResult.datasets).parameters:
            raise SystemExit("--source split needs SplitResult.datasets(block_size=...)")
        folder = DATA_DIR / f"block_split_{rows}"
        if (folder / "split.json").exists():
            split = tfbalance.load_split(folder)
        else:
            start = time.perf_counter()
            split = tfbalance.split_by_class(csv, LABEL, folder, verbose=False)
            print(f"split_by_class: {time.perf_counter() - start:.1f} s (one-off)")
        streams = split.datasets(block_size=BLOCK, seed=0)
        per_row = {
            c: sum(os.path.getsize(p) for p in split[c]) / split.counts.counts[c]
            for c in streams
        }
        return dict(streams), per_row, BLOCK

    folder = DATA_DIR / f"class_blocks_{rows}"
    counts = {}
    if not (folder / "done").exists():
        shutil.rmtree(folder, ignore_errors=True)
        read = tfbalance.read_csv(csv, LABEL, batch_size=BLOCK, num_epochs=1, shuffle=False)
        for c in (0, 1):
            def keep(x, y, c=c):
                mask = tf.equal(y, c)
                return tf.nest.map_structure(lambda t: tf.boolean_mask(t, mask), (x, y))

            read.map(keep).rebatch(BLOCK).save(str(folder / f"class_{c}"))
        (folder / "done").write_text("")
    streams, per_row = {}, {}
    for c in (0, 1):
        path = folder / f"class_{c}"
        loaded = tf.data.Dataset.load(str(path))
        counts[c] = int(loaded.map(lambda x, y: tf.shape(y, tf.int64)[0]).reduce(
            tf.constant(0, tf.int64), lambda a, b: a + b))
        size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
        per_row[c] = size / counts[c]
        if source == "memory":
            # Whole blocks in memory: the merge's own cost, with no read at all.
            blocks = list(loaded)
            tensors = tf.nest.map_structure(lambda *t: tf.stack(t[:-1]), *blocks)
            last = blocks[-1]
            loaded = tf.data.Dataset.from_tensor_slices(tensors).concatenate(
                tf.data.Dataset.from_tensors(last)
            ) if len(blocks) > 1 else tf.data.Dataset.from_tensors(last)
        streams[c] = loaded
    return streams, per_row, BLOCK


# ---- the pipelines -------------------------------------------------------------------


def _before(row_streams: dict, deliver: int) -> tf.data.Dataset:
    """The merge this one replaced: ids drawn 128 at a time, one choose step per row."""
    logits = tf.math.log(tf.constant([[0.5, 0.5]]))
    ids = tf.data.Dataset.random(seed=0, rerandomize_each_iteration=True).batch(2).map(
        lambda pair: tf.random.stateless_categorical(logits, 128, seed=pair, dtype=tf.int64)[0]
    ).unbatch().take(deliver)
    merged = tf.data.Dataset.choose_from_datasets(
        [row_streams[0].repeat(), row_streams[1].repeat()], ids, stop_on_empty_dataset=True
    )
    return merged.batch(BATCH)


def _pipelines(blocks: dict, block: int, deliver: int, counts: np.ndarray) -> dict:
    def streams():
        return tfbalance.ClassDatasets(blocks, counts=counts.tolist(), block_size=block)

    def scheduled():
        # A step schedule over the epoch, planned at its start as fit's callback does.
        steps = -(-deliver // BATCH)
        schedule = tfbalance.LinearSchedule("natural", "balanced", duration=steps, unit="step")
        ds = tfbalance.interleave_by_class(
            streams(), schedule, seed=0, epoch_rows=deliver, batch_size=BATCH)
        callback = tfbalance.InterleaveScheduleCallback(schedule)
        callback.set_params({"steps": steps})
        callback.on_train_begin()
        callback.on_epoch_begin(0)
        return ds

    rows = {c: ds.unbatch() for c, ds in blocks.items()}
    return {
        "interleave_by_class, batch_size=1024": lambda: tfbalance.interleave_by_class(
            streams(), "balanced", seed=0, epoch_rows=deliver, batch_size=BATCH),
        "interleave_by_class, step schedule": scheduled,
        "balanced_batches 512+512": lambda: tfbalance.balanced_batches(
            streams(), BATCH // 2, seed=0, steps_per_epoch=-(-deliver // BATCH)),
        "row merge before (choose_from_datasets)": lambda: _before(rows, deliver),
        # The built-in is slow enough that 200k rows say all there is to say.
        "sample_from_datasets (row streams, 200k)": lambda: tf.data.Dataset.sample_from_datasets(
            [rows[0].repeat(), rows[1].repeat()], [0.5, 0.5], seed=0
        ).take(min(deliver, 200_000)).batch(BATCH),
    }


# A child of ``--demo``: times the demo's interleave technique with whichever tfbalance its
# PYTHONPATH names first (the demo's own functions, so each tree runs its own technique).
_DEMO_CHILD = """
import inspect, json, os, resource, sys, tempfile, time
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import tfbalance
from tfbalance import _demo
csv, epochs, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def cpu():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime
train = _demo._read(csv, 16_384, "train")
counts = tfbalance.class_counts(train, verbose=False)
encode = _demo.build_encoder(train)
num_features = int(encode(next(iter(train.take(1)))[0]).shape[-1])
takes_split = "split_dir" in inspect.signature(_demo._interleave_schedule).parameters
runs = []
for _ in range(rounds):
    extra = [os.path.join(tempfile.mkdtemp(), "split")] if takes_split else []
    t0, c0 = time.perf_counter(), cpu()
    source, callback = _demo._interleave_schedule(train, counts, epochs, 1024, 0, *extra)
    setup, setup_cpu = time.perf_counter() - t0, cpu() - c0
    t0, c0, rows = time.perf_counter(), cpu(), 0
    for _, labels in _demo._encode(source, encode, 1024):
        rows += int(labels.shape[0])
    read, read_cpu = time.perf_counter() - t0, cpu() - c0
    model = _demo.build_model(num_features, 0)
    t0, c0 = time.perf_counter(), cpu()
    model.fit(_demo._encode(source, encode, 1024), epochs=epochs, verbose=0,
              callbacks=[callback], shuffle=False)
    fit, fit_cpu = time.perf_counter() - t0, cpu() - c0
    runs.append({"rows": rows, "setup": setup, "setup_cpu": setup_cpu, "read": read,
                 "read_cpu": read_cpu, "fit": fit, "fit_cpu": fit_cpu})
print(json.dumps({"module": tfbalance.__file__, "runs": runs}))
"""


def _demo(args) -> int:
    """The demo's interleave technique, this tree against ``--against``, in child processes."""
    here = os.path.dirname(HERE)
    trees = [here] if args.against is None else [os.path.abspath(args.against), here]
    csv = str(insurance_csv(args.rows))
    runs: dict[str, list] = {tree: [] for tree in trees}
    for p in range(args.rounds):
        for tree in (trees if p % 2 == 0 else trees[::-1]):
            # Run from the data folder: ``python -c`` puts the working directory first on
            # sys.path, and a checkout's root would shadow PYTHONPATH.
            done = subprocess.run(
                [sys.executable, "-c", _DEMO_CHILD, csv, str(args.epochs), "1"],
                env={**os.environ, "PYTHONPATH": tree}, capture_output=True, text=True,
                check=True, cwd=os.path.dirname(csv),
            )
            result = json.loads(done.stdout.strip().splitlines()[-1])
            if not result["module"].startswith(tree):
                raise SystemExit(f"{tree}: the child imported {result['module']}")
            runs[tree].extend(result["runs"])
            print(f"{tree}: {result['runs']}", file=sys.stderr, flush=True)
    load = os.getloadavg()
    rows = runs[here][0]["rows"]
    print(f"\nThe demo's interleave technique on {csv} ({rows:,} training rows, batches of "
          f"1024, {args.epochs} epochs of fit); {args.rounds} alternating child processes per "
          f"tree; load average at the end {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}\n")
    columns = [
        ("set-up s (split)", lambda r: r["setup"]),
        ("input epoch rows/s", lambda r: r["rows"] / r["read"]),
        ("input epoch CPU µs/row", lambda r: 1e6 * r["read_cpu"] / r["rows"]),
        ("fit s", lambda r: r["fit"]),
        ("technique s (set-up + fit)", lambda r: r["setup"] + r["fit"]),
        ("technique CPU s", lambda r: r["setup_cpu"] + r["fit_cpu"]),
    ]
    print("| tfbalance | " + " | ".join(name for name, _ in columns) + " |")
    print("|---|" + "---:|" * len(columns))
    medians = {}
    for tree in trees:
        cells = []
        for name, value in columns:
            values = [value(r) for r in runs[tree]]
            medians[tree, name] = statistics.median(values)
            cells.append(f"{medians[tree, name]:,.2f} [{min(values):,.2f}-{max(values):,.2f}]")
        label = "this tree" if tree == here else f"`{tree}`"
        print(f"| {label} | " + " | ".join(cells) + " |")
    if len(trees) == 2:
        other = trees[0]
        # Every column a "times better" ratio: rows/s up, seconds and CPU down.
        ratios = [
            f"{medians[here, name] / medians[other, name]:.2f}x"
            if name == "input epoch rows/s"
            else f"{medians[other, name] / medians[here, name]:.2f}x less"
            for name, _ in columns
        ]
        print(f"| this tree vs `{other}` | " + " | ".join(ratios) + " |")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="CSV rows (default 1M)")
    parser.add_argument("--rounds", type=int, default=3, help="paired rounds (default 3)")
    parser.add_argument("--source", choices=["saved", "memory", "split"], default="saved")
    parser.add_argument("--only", default=None, help="time only pipelines whose name has this")
    parser.add_argument("--demo", action="store_true", help="time the demo's technique")
    parser.add_argument("--against", default=None,
                        help="--demo: another tfbalance tree, run in alternation with this one")
    parser.add_argument("--epochs", type=int, default=3, help="--demo: epochs of fit")
    args = parser.parse_args(argv)
    if args.demo:
        return _demo(args)

    csv = str(insurance_csv(args.rows))
    csv_per_row = os.path.getsize(csv) / args.rows
    blocks, stored_per_row, block = _class_blocks(csv, args.source, args.rows)
    counts = np.array([
        int(b.map(lambda x, y: tf.shape(y, tf.int64)[0]).reduce(
            tf.constant(0, tf.int64), lambda a, c: a + c))
        for b in (blocks[0], blocks[1])
    ])
    total = int(counts.sum())
    print(f"CSV: {csv} ({total:,} rows, {os.path.getsize(csv) / 2**20:.0f} MiB, "
          f"{counts[1] / total:.2%} positives); blocks of {block} from --source "
          f"{args.source}; stored bytes/row {stored_per_row[0]:.0f} (class 0), "
          f"{stored_per_row[1]:.0f} (class 1); CSV bytes/row {csv_per_row:.0f}")
    print(f"Each pipeline delivers {total:,} rows in batches of {BATCH}; "
          f"{args.rounds} paired rounds; load average {os.getloadavg()[0]:.1f}\n")

    def plain_read():
        return tfbalance.read_csv(csv, LABEL, batch_size=BATCH, num_epochs=1, shuffle=False)

    pipelines = _pipelines(blocks, block, total, counts)
    if args.only:
        pipelines = {k: v for k, v in pipelines.items() if args.only in k}
    results = {name: {"rate": [], "ratio": [], "bytes": 0.0, "share": 0.0, "cpu": []}
               for name in pipelines}
    reads, read_cpu = [], []
    for r in range(args.rounds):
        for name, make in pipelines.items():
            order = [("read", plain_read), (name, make)]
            if r % 2:
                order.reverse()
            rate, cpu = {}, {}
            for label, build in order:
                seconds, got, cpu_seconds = _timed(build())
                rate[label] = got.sum() / seconds
                cpu[label] = cpu_seconds / got.sum() * 1e6  # CPU microseconds per row
                if label == name:
                    results[name]["bytes"] = float(
                        (got * [stored_per_row[0], stored_per_row[1]]).sum() / got.sum())
                    results[name]["share"] = got[1] / got.sum()
            reads.append(rate["read"])
            read_cpu.append(cpu["read"])
            results[name]["cpu"].append(cpu[name])
            results[name]["rate"].append(rate[name])
            results[name]["ratio"].append(rate[name] / rate["read"])
            print(f"  round {r + 1}: {name:<42} {rate[name]:>12,.0f} rows/s, "
                  f"read {rate['read']:>12,.0f} rows/s, ratio {rate[name] / rate['read']:.2f}",
                  flush=True)

    def span(values, fmt):
        return (f"{fmt.format(statistics.median(values))} "
                f"[{fmt.format(min(values))}-{fmt.format(max(values))}]")

    print(f"\n{'pipeline':<42} {'rows/s median [range]':>32} {'x plain read':>22} "
          f"{'bytes/row':>9} {'pos share':>9} {'CPU us/row':>18}")
    print(f"{'read_csv plain read (whole CSV)':<42} {span(reads, '{:,.0f}'):>32} "
          f"{'1.00':>22} {csv_per_row:>9.0f} {counts[1] / total:>9.3f} "
          f"{span(read_cpu, '{:.2f}'):>18}")
    for name, res in results.items():
        print(f"{name:<42} {span(res['rate'], '{:,.0f}'):>32} "
              f"{span(res['ratio'], '{:.2f}'):>22} {res['bytes']:>9.0f} {res['share']:>9.3f} "
              f"{span(res['cpu'], '{:.2f}'):>18}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Update cost per batch: tfbalance.metrics.F1Score against keras.metrics.F1Score.

Both metrics get the input forms Keras supports (one-hot multi-class; binary as (n, 1)
with one-hot-like 0/1 targets), batches of 4096, eagerly and inside ``tf.function``. The
two run interleaved in the same process (paired: each repeat times Keras and then ours), so
a load spike hits both; the ratio ours / Keras is what counts (< 1 means ours is faster):
the median of the per-repeat ratios, with their range. The load average is printed too.

    python benchmarks/bench_metrics.py [--batch 4096] [--classes 10] [--repeats 7]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Benchmark the checkout this script lives in, not another installed copy.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from tfbalance.metrics import F1Score  # noqa: E402


def _inputs(form: str, batch: int, classes: int):
    rng = np.random.default_rng(0)
    if form == "one-hot multi-class":
        y = rng.integers(0, classes, batch)
        y_true = tf.constant(np.eye(classes, dtype="float32")[y])
        y_pred = tf.constant(rng.random((batch, classes)).astype("float32"))
        return y_true, y_pred, (lambda: keras.metrics.F1Score(average="macro")), (
            lambda: F1Score(average="macro", num_classes=classes)
        )
    y_true = tf.constant((rng.random((batch, 1)) < 0.2).astype("float32"))
    y_pred = tf.constant(rng.random((batch, 1)).astype("float32"))
    return y_true, y_pred, (lambda: keras.metrics.F1Score(threshold=0.5)), (lambda: F1Score())


def _per_call(update, y_true, y_pred, calls: int) -> tuple[float, float]:
    """Wall and process-CPU seconds per call (CPU time is steadier on a busy machine)."""
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(calls):
        update(y_true, y_pred)
    return (time.perf_counter() - wall) / calls, (time.process_time() - cpu) / calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=4096)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--calls", type=int, default=50)
    args = parser.parse_args()
    print(f"TensorFlow {tf.__version__}, Keras {keras.__version__}, devices: "
          f"{[d.name for d in tf.config.list_logical_devices()]}")

    rows = []
    for form in ("one-hot multi-class", "binary (n, 1)"):
        y_true, y_pred, make_keras, make_ours = _inputs(form, args.batch, args.classes)
        for mode in ("eager", "tf.function"):
            updates = {}
            for label, make in (("keras", make_keras), ("tfbalance", make_ours)):
                metric = make()
                update = metric.update_state
                if mode == "tf.function":
                    update = tf.function(update)
                update(y_true, y_pred)  # build state, trace
                updates[label] = update
            wall = {"keras": [], "tfbalance": []}
            cpu = {"keras": [], "tfbalance": []}
            for _ in range(args.repeats):  # interleaved, so load spikes hit both
                for label, update in updates.items():
                    w, c = _per_call(update, y_true, y_pred, args.calls)
                    wall[label].append(w)
                    cpu[label].append(c)
            keras_us = statistics.median(wall["keras"]) * 1e6
            ours_us = statistics.median(wall["tfbalance"]) * 1e6
            paired = [o / k for o, k in zip(wall["tfbalance"], wall["keras"], strict=True)]
            ratio = statistics.median(paired)
            cpu_ratio = statistics.median(cpu["tfbalance"]) / statistics.median(cpu["keras"])
            ranges = {k: (min(v) * 1e6, max(v) * 1e6) for k, v in wall.items()}
            rows.append((form, mode, keras_us, ours_us, ratio, (min(paired), max(paired)),
                         ranges, cpu_ratio))
            print(f"{form:22s} {mode:12s} keras {keras_us:9.1f} us  tfbalance "
                  f"{ours_us:9.1f} us  ratio {ratio:.2f} ({min(paired):.2f}-{max(paired):.2f})"
                  f"  cpu-time ratio {cpu_ratio:.2f}", flush=True)

    print()
    print(f"Update cost per batch of {args.batch} (median of {args.repeats} x {args.calls} "
          f"calls; {args.classes} classes for multi-class; ratio < 1: tfbalance faster); "
          f"load average {' / '.join(f'{v:.1f}' for v in os.getloadavg())} at the end")
    print()
    print("| input | mode | keras.metrics.F1Score (us, range) | tfbalance F1Score (us, range) | "
          "ratio (paired range) | CPU-time ratio |")
    print("|---|---|---:|---:|---:|---:|")
    for form, mode, keras_us, ours_us, ratio, spread, ranges, cpu_ratio in rows:
        k_low, k_high = ranges["keras"]
        o_low, o_high = ranges["tfbalance"]
        print(f"| {form} | {mode} | {keras_us:,.0f} ({k_low:,.0f}-{k_high:,.0f}) | "
              f"{ours_us:,.0f} ({o_low:,.0f}-{o_high:,.0f}) | {ratio:.2f} "
              f"({spread[0]:.2f}-{spread[1]:.2f}) | {cpu_ratio:.2f} |")


if __name__ == "__main__":
    main()

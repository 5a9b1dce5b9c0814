"""Is GPU training on a resampled CSV stream input-bound?

Trains a small Keras MLP on the synthetic insurance cross-sell CSV through a tfbalance
pipeline (``read_csv`` -> ``undersample`` or ``rejection_resample`` -> feature preprocessing
in tf.data -> ``rebatch`` -> distributed iterator that prefetches to the device, from
``strategy.distribute_datasets_from_function``) and measures,
in one run, three rates in training rows per second:

* input: the pipeline alone, drained through the same device-prefetching iterator, no model;
* model: the training step alone, fed one batch that already sits in device memory, so the
  figure is the most rows per second the model can consume;
* end-to-end: the training step fed by the pipeline.

When the end-to-end rate sits near the input rate and below the model rate, the step is
input-bound: the accelerator waits for data, and more parsing threads, larger read batches or
tf.data service workers (see the README's "Scaling out") pay off. When it sits near the model
rate, the model is the bottleneck and the input pipeline is fast enough.

Run (one line; generates the CSV under benchmarks/data/ the first time)::

    python benchmarks/gpu_input.py                  # 5,000,000 rows, on the GPU if present
    python benchmarks/gpu_input.py --rows 200000    # quick CPU check, well under a minute

Without a GPU the script says so and still measures on the CPU (figures then describe the
CPU, where the model and the pipeline compete for the same cores).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

HERE = Path(__file__).resolve().parent
# The checkout's tfbalance (benchmarks measure this tree) and the shared data cache helper.
sys.path[:0] = [str(HERE.parent), str(HERE)]

from _data import LABEL, insurance_csv  # noqa: E402

VEHICLE_AGES = ["< 1 Year", "1-2 Year", "> 2 Years"]
NUM_REGIONS = 53
NUM_CHANNELS = 164
NUM_FEATURES = 7 + len(VEHICLE_AGES) + NUM_REGIONS + NUM_CHANNELS


# --------------------------------------------------------------------------- pipeline


def _to_float(column: tf.Tensor) -> tf.Tensor:
    return tf.cast(column, tf.float32)


def preprocess(features: dict, label: tf.Tensor) -> tuple:
    """Batched feature engineering in the graph: scaled numerics and one-hot categoricals."""
    gender = _to_float(tf.equal(features["Gender"], "Male"))
    damage = _to_float(tf.equal(features["Vehicle_Damage"], "Yes"))
    vehicle_age = tf.stack(
        [_to_float(tf.equal(features["Vehicle_Age"], v)) for v in VEHICLE_AGES], axis=-1
    )
    region = tf.one_hot(tf.cast(features["Region_Code"], tf.int32), NUM_REGIONS)
    channel = tf.one_hot(tf.cast(features["Policy_Sales_Channel"], tf.int32), NUM_CHANNELS)
    numeric = tf.stack([
        gender,
        damage,
        (_to_float(features["Age"]) - 40.0) / 15.0,
        _to_float(features["Driving_License"]),
        _to_float(features["Previously_Insured"]),
        tf.math.log1p(_to_float(features["Annual_Premium"])) / 12.0,
        (_to_float(features["Vintage"]) - 155.0) / 85.0,
    ], axis=-1)
    x = tf.concat([numeric, vehicle_age, region, channel], axis=-1)
    return x, tf.reshape(tf.cast(label, tf.float32), [-1, 1])


def source(path: Path, read_batch: int) -> tuple[tf.data.Dataset, str]:
    """Batched ``(features, label)`` stream of the CSV, repeated."""
    import tfbalance

    ds = tfbalance.read_csv(str(path), LABEL, batch_size=read_batch)
    return ds.repeat(), "tfbalance.read_csv"


def class_counts(path: Path) -> dict:
    import tfbalance

    try:
        return dict(tfbalance.class_counts(str(path), LABEL, verbose=False).counts)
    except (ImportError, NotImplementedError, AttributeError):
        import pandas as pd

        counts: dict = {}
        for chunk in pd.read_csv(path, usecols=[LABEL], chunksize=1_000_000):
            for cls, n in chunk[LABEL].value_counts().items():
                counts[int(cls)] = counts.get(int(cls), 0) + int(n)
        return counts


def build_pipeline(args: argparse.Namespace, path: Path, counts: dict) -> tuple:
    import tfbalance

    ds, reader = source(path, args.read_batch)
    if args.resample == "none":
        how = "no resampling"
    elif args.resample == "undersample":
        if not hasattr(tfbalance, "undersample"):
            raise SystemExit("tfbalance.undersample is not installed; use --resample none")
        ds = ds.apply(tfbalance.undersample(counts=counts, seed=args.seed))
        how = "tfbalance.undersample (Bernoulli, counts given)"
    else:
        if not hasattr(tfbalance, "rejection_resample"):
            raise SystemExit("tfbalance.rejection_resample is not installed; use --resample none")
        ds = ds.apply(tfbalance.rejection_resample(
            target_dist="balanced", initial_dist=_proportions(counts), seed=args.seed))
        how = "tfbalance.rejection_resample (balanced target)"
    ds = ds.map(preprocess, num_parallel_calls=tf.data.AUTOTUNE)
    # Resampled read batches vary in size; fixed-size training batches keep one trace.
    ds = ds.apply(tfbalance.rebatch(args.batch_size, drop_remainder=True))
    ds = ds.prefetch(tf.data.AUTOTUNE)
    described = f"{reader} -> {how} -> preprocess -> rebatch({args.batch_size}) -> prefetch"
    return ds, described


def _proportions(counts: dict) -> list:
    total = sum(counts.values())
    return [counts.get(c, 0) / total for c in range(max(counts) + 1)]


# --------------------------------------------------------------------------- model


def build_model(hidden: int) -> keras.Model:
    return keras.Sequential([
        keras.Input((NUM_FEATURES,)),
        keras.layers.Dense(hidden, activation="relu"),
        keras.layers.Dense(hidden, activation="relu"),
        keras.layers.Dense(hidden, activation="relu"),
        keras.layers.Dense(1),
    ])


def make_train_step(strategy: tf.distribute.Strategy, model: keras.Model, batch_size: int):
    with strategy.scope():
        optimizer = keras.optimizers.Adam(1e-3)
        optimizer.build(model.trainable_variables)
    loss_fn = keras.losses.BinaryCrossentropy(
        from_logits=True, reduction="sum")

    def replica_step(x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True)) / batch_size
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=False))
        return loss

    @tf.function
    def step(batch: tuple) -> tf.Tensor:
        losses = strategy.run(replica_step, args=batch)
        return strategy.reduce(tf.distribute.ReduceOp.SUM, losses, axis=None)

    return step


# --------------------------------------------------------------------------- timing


def timed(run_steps, min_seconds: float, warmup: int) -> float:
    """Steps per second of ``run_steps(n)``, after ``warmup`` untimed steps."""
    run_steps(warmup)
    steps, elapsed = 0, 0.0
    n = max(warmup, 5)
    while elapsed < min_seconds:
        start = time.perf_counter()
        run_steps(n)
        elapsed += time.perf_counter() - start
        steps += n
        n *= 2
    return steps / elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=5_000_000, help="CSV rows (default 5M)")
    parser.add_argument("--csv", type=Path, default=None, help="use this CSV instead")
    parser.add_argument("--resample", choices=["undersample", "rejection", "none"],
                        default="undersample")
    parser.add_argument("--batch-size", type=int, default=4096, help="training batch")
    parser.add_argument("--read-batch", type=int, default=65536, help="CSV read batch")
    parser.add_argument("--hidden", type=int, default=None,
                        help="MLP width (512 on GPU, 128 on CPU)")
    parser.add_argument("--seconds", type=float, default=None,
                        help="minimum timed seconds per measurement (10 on GPU, 3 on CPU)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    gpus = tf.config.list_physical_devices("GPU")
    for gpu in gpus:
        tf.config.experimental.set_memory_growth(gpu, True)
    if gpus:
        device = f"{len(gpus)} GPU(s): " + ", ".join(
            tf.config.experimental.get_device_details(g).get("device_name", g.name) for g in gpus)
        strategy = (tf.distribute.MirroredStrategy() if len(gpus) > 1
                    else tf.distribute.OneDeviceStrategy("/gpu:0"))
    else:
        device = "CPU only"
        print("No GPU is present: measuring on the CPU, where the model and the input "
              "pipeline share the same cores (the verdict then describes this CPU).")
        strategy = tf.distribute.OneDeviceStrategy("/cpu:0")
    seconds = args.seconds if args.seconds is not None else (10.0 if gpus else 3.0)
    hidden = args.hidden if args.hidden is not None else (512 if gpus else 128)
    batch = args.batch_size * strategy.num_replicas_in_sync

    start = time.perf_counter()
    path = args.csv or insurance_csv(args.rows, seed=args.seed)
    print(f"data: {path} (ready in {time.perf_counter() - start:.1f} s)")
    start = time.perf_counter()
    counts = class_counts(path)
    print(f"class counts {counts} (one pass, {time.perf_counter() - start:.1f} s)")

    described = []

    def per_replica_pipeline(context: tf.distribute.InputContext) -> tf.data.Dataset:
        # distribute_datasets_from_function, not experimental_distribute_dataset: the latter
        # rewrites the graph (auto-sharding), which re-cuts a resampled, rebatched stream
        # into batches of the wrong size on a single device.
        replica_args = argparse.Namespace(**vars(args))
        replica_args.batch_size = context.get_per_replica_batch_size(batch)
        ds, text = build_pipeline(replica_args, path, counts)
        described.append(text)
        return ds

    dist_ds = strategy.distribute_datasets_from_function(per_replica_pipeline)
    print(f"device: {device}; TensorFlow {tf.__version__}, Keras {keras.__version__}")
    print(f"pipeline (per input pipeline): {described[0]}")

    print(f"model: MLP {NUM_FEATURES}-{hidden}-{hidden}-{hidden}-1, Adam, batch {batch}")
    with strategy.scope():
        model = build_model(hidden)
    step = make_train_step(strategy, model, batch)

    # 1. input alone: drain the device-prefetching iterator, no model.
    it = iter(dist_ds)

    @tf.function
    def drain(iterator: tf.distribute.DistributedIterator) -> tf.Tensor:
        x, _ = next(iterator)
        return tf.add_n([tf.reduce_sum(t[:, 0]) for t in strategy.experimental_local_results(x)])

    def input_steps(n: int) -> None:
        out = None
        for _ in range(n):
            out = drain(it)
        if out is not None:
            out.numpy()

    # 2. model alone: one batch resident on the device, stepped repeatedly.
    resident = next(iter(dist_ds))

    def model_steps(n: int) -> None:
        loss = None
        for _ in range(n):
            loss = step(resident)
        if loss is not None:
            loss.numpy()

    # 3. end to end: the step fed by the pipeline.
    it_train = iter(dist_ds)

    def train_steps(n: int) -> None:
        loss = None
        for _ in range(n):
            loss = step(next(it_train))
        if loss is not None:
            loss.numpy()

    rates = {}
    for name, fn in [("input", input_steps), ("model", model_steps), ("end-to-end", train_steps)]:
        rates[name] = timed(fn, seconds, warmup=2) * batch
        print(f"{name:>11}: {rates[name]:>12,.0f} training rows/s")

    inp, mod, e2e = rates["input"], rates["model"], rates["end-to-end"]
    print(f"end-to-end / input = {e2e / inp:.2f}, end-to-end / model = {e2e / mod:.2f}")
    if inp < mod:
        print(f"verdict: INPUT-BOUND - the model could consume {mod / inp:.1f}x the rows the "
              "pipeline delivers; add parallelism or tf.data service workers.")
    else:
        print(f"verdict: MODEL-BOUND - the pipeline delivers {inp / mod:.1f}x the rows the "
              "model consumes; the input is not the bottleneck.")
    return 0


if __name__ == "__main__":
    sys.exit(main())

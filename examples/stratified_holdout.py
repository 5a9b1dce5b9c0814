"""Insurance cross-sell: a stratified holdout and a tuned threshold, shipped in the model.

    python examples/stratified_holdout.py                  # synthetic data, 382,154 rows
    python examples/stratified_holdout.py --data train.csv # your copy of the Kaggle file

Prints the class counts of each split, the threshold tuned on the validation split and the
test F1 at 0.5 and at that threshold (the numbers in README's "Evaluate on a stratified
holdout and tune the threshold").
"""

from __future__ import annotations

import argparse
import json
import os
import time

import keras
import tensorflow as tf

import tfbalance
from tfbalance.datasets import make_insurance_csv

LABEL = "Response"
NUMERIC = ["Age", "Annual_Premium", "Vintage"]
CATEGORICAL = ["Gender", "Vehicle_Age", "Vehicle_Damage", "Previously_Insured"]


def as_text(tensor):
    return tensor if tensor.dtype == tf.string else tf.strings.as_string(tensor)


def make_encoder(train):
    """Keras preprocessing layers, each fitted from one streaming pass of the train split."""
    features = train.map(lambda f, y: f)
    numeric = keras.layers.Normalization()
    numeric.adapt(features.map(
        lambda f: tf.stack([tf.cast(f[c], tf.float32) for c in NUMERIC], -1)))
    lookups = {}
    for column in CATEGORICAL:
        lookups[column] = keras.layers.StringLookup(output_mode="one_hot")
        lookups[column].adapt(features.map(lambda f, c=column: as_text(f[c])))

    def encode(f):
        parts = [numeric(tf.stack([tf.cast(f[c], tf.float32) for c in NUMERIC], -1))]
        parts += [tf.cast(lookups[c](as_text(f[c])), tf.float32) for c in CATEGORICAL]
        return tf.concat(parts, axis=-1)

    return encode


def test_f1(model, test, threshold):
    f1 = tfbalance.F1Score(threshold=threshold)
    for x, y in test:
        f1.update_state(y, model.predict_on_batch(x))
    return float(f1.result())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="a Kaggle train.csv; synthetic data when omitted")
    parser.add_argument("--rows", type=int, default=382_154)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--out", default="stratified-holdout-example")
    args = parser.parse_args(argv)
    start = time.perf_counter()

    os.makedirs(args.out, exist_ok=True)
    path = args.data or make_insurance_csv(
        os.path.join(args.out, "insurance.csv"), n_rows=args.rows, seed=0
    )

    # 1. Exact 80/10/10 of every class, one pass of the file per split.
    splits = tfbalance.stratified_split(
        path, LABEL, {"train": 0.8, "val": 0.1, "test": 0.1}, seed=0, batch_size=8192
    )
    for name, dist in splits.counts.items():
        print(f"{name:>5}: {dist.counts}")

    encode = make_encoder(splits["train"])

    def to_model_input(dataset):
        dataset = dataset.apply(tfbalance.rebatch(512))
        return dataset.map(lambda x, y: (encode(x), y)).prefetch(tf.data.AUTOTUNE)

    train, val, test = (to_model_input(splits[k]) for k in ("train", "val", "test"))
    num_features = int(next(iter(val))[0].shape[-1])

    # 2. Train (no balancing), re-tuning the threshold on validation after every epoch.
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((num_features,)),
        keras.layers.Dense(32, activation="relu"),
        keras.layers.Dense(1, activation="sigmoid"),
    ])
    model.compile("adam", "binary_crossentropy")
    decide = tfbalance.DecisionThreshold(0.5)
    tuning = tfbalance.ThresholdTuningCallback(val, layer=decide)
    history = model.fit(train.shuffle(64, seed=0), epochs=args.epochs, verbose=2,
                        callbacks=[tuning])
    tuned = tuning.history[-1]
    print(f"threshold tuned on val: {tuned.threshold:.3f} (val F1 {tuned.score:.3f})")

    # 3. Ship the threshold inside the model; decisions come out as 0/1.
    shipped = keras.Sequential([model, decide])
    model_path = os.path.join(args.out, "model_with_threshold.keras")
    shipped.save(model_path)
    loaded = keras.saving.load_model(model_path)

    # 4. Test split, untouched until now.
    at_half, at_tuned = test_f1(model, test, 0.5), test_f1(model, test, tuned.threshold)
    shipped_f1 = tfbalance.F1Score()
    for x, y in test:
        shipped_f1.update_state(y, loaded.predict_on_batch(x))
    print(f"test F1 at 0.5: {at_half:.3f}   at {tuned.threshold:.3f}: {at_tuned:.3f}   "
          f"(loaded model's decisions: {float(shipped_f1.result()):.3f})")
    summary = {
        "counts": {k: v.counts for k, v in splits.counts.items()},
        "val_best_threshold": history.history["val_best_threshold"],
        "threshold": tuned.threshold, "val_f1": tuned.score,
        "test_f1_at_0.5": at_half, "test_f1_tuned": at_tuned,
        "loaded_model_test_f1": float(shipped_f1.result()),
        "wall_seconds": time.perf_counter() - start,
    }
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump(summary, f, indent=1)
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

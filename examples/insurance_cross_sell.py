"""Insurance cross-sell: four ways to train on imbalanced data, all streaming.

A readable walk through tfbalance's public API on the insurance cross-sell data (about 16%
of customers answer "yes"). Every step reads the CSV in batches; nothing is rebalanced in
memory, so the same script runs on a file far larger than RAM.

    python examples/insurance_cross_sell.py                  # synthetic data, 382,154 rows
    python examples/insurance_cross_sell.py --data train.csv # your copy of the Kaggle file
"""

from __future__ import annotations

import argparse
import os

import keras
import tensorflow as tf

import tfbalance
from tfbalance.datasets import is_insurance_test_row, make_insurance_csv

LABEL = "Response"
NUMERIC = ["Age", "Annual_Premium", "Vintage"]
CATEGORICAL = ["Gender", "Vehicle_Age", "Vehicle_Damage", "Previously_Insured"]


def split(dataset, *, test):
    """The data set's test rows (id % 5 == 0, as tfbalance demo and the TFDS builder hold
    out), or the rest to train on."""

    def keep(features, labels):
        is_test = is_insurance_test_row(features["id"])
        mask = is_test if test else tf.logical_not(is_test)
        return {k: tf.boolean_mask(v, mask) for k, v in features.items()}, tf.boolean_mask(
            labels, mask
        )

    return dataset.map(keep)


def as_text(tensor):
    return tensor if tensor.dtype == tf.string else tf.strings.as_string(tensor)


def make_encoder(train):
    """Keras preprocessing layers, each fitted from one streaming pass."""
    features = train.map(lambda f, y: f)
    numeric = keras.layers.Normalization()
    numeric.adapt(
        features.map(lambda f: tf.stack([tf.cast(f[c], tf.float32) for c in NUMERIC], -1))
    )
    lookups = {}
    for column in CATEGORICAL:
        lookups[column] = keras.layers.StringLookup(output_mode="one_hot")
        lookups[column].adapt(features.map(lambda f, c=column: as_text(f[c])))

    def encode(f):
        parts = [numeric(tf.stack([tf.cast(f[c], tf.float32) for c in NUMERIC], -1))]
        parts += [tf.cast(lookups[c](as_text(f[c])), tf.float32) for c in CATEGORICAL]
        return tf.concat(parts, axis=-1)

    return encode


def new_model(num_features):
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((num_features,)),
            keras.layers.Dense(32, activation="relu"),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    model.compile(
        "adam",
        "binary_crossentropy",
        metrics=[
            keras.metrics.Precision(name="precision"),
            keras.metrics.Recall(name="recall"),
            tfbalance.F1Score(name="f1"),
            keras.metrics.AUC(curve="PR", name="pr_auc"),
        ],
    )
    return model


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="a Kaggle train.csv; synthetic data when omitted")
    parser.add_argument("--rows", type=int, default=382_154)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--out", default="insurance-example")
    args = parser.parse_args(argv)

    os.makedirs(args.out, exist_ok=True)
    path = args.data or make_insurance_csv(
        os.path.join(args.out, "insurance.csv"), n_rows=args.rows, seed=0
    )

    # 1. Inspect: one pass, bounded memory.
    print(tfbalance.class_counts(path, LABEL))

    data = tfbalance.read_csv(path, LABEL, batch_size=8192)
    train, test = split(data, test=False), split(data, test=True)
    counts = tfbalance.class_counts(train)
    encode = make_encoder(train)

    def to_model_input(dataset):
        dataset = dataset.apply(tfbalance.rebatch(512))
        return dataset.map(lambda x, *rest: (encode(x), *rest)).prefetch(tf.data.AUTOTUNE)

    # 2. Four training streams from the same file.
    weights_callback = tfbalance.ClassWeightCallback(2)
    streams = {
        "baseline": (train, []),
        "undersample": (train.apply(tfbalance.undersample(counts=counts, exact=True, seed=0)), []),
        "oversample": (train.apply(tfbalance.oversample(counts=counts, exact=True, seed=0)), []),
        "class weights": (train.apply(weights_callback.transform), [weights_callback]),
    }
    num_features = int(encode(next(iter(train))[0]).shape[-1])
    results = {}
    for name, (stream, callbacks) in streams.items():
        print(f"\n== {name}")
        if name in ("undersample", "oversample"):
            print("after:", tfbalance.class_counts(stream).counts, "before:", counts.counts)
        model = new_model(num_features)
        model.fit(to_model_input(stream), epochs=args.epochs, callbacks=callbacks, verbose=2)
        # 3. Evaluate on the natural distribution.
        results[name] = model.evaluate(to_model_input(test), return_dict=True, verbose=0)

    columns = ("precision", "recall", "f1", "pr_auc")
    print(f"\n{'technique':<15}" + "".join(f"{m:>10}" for m in columns))
    for name, scores in results.items():
        print(f"{name:<15}" + "".join(f"{scores[m]:>10.3f}" for m in columns))


if __name__ == "__main__":
    main()

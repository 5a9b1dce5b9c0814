"""Balance any TensorFlow Datasets data set with tfbalance: nothing TFDS-specific is needed.

``tfds.load(..., as_supervised=True)`` yields ``(features, label)`` pairs, which is exactly
what tfbalance's transforms read by default (``label=None`` = the second item). So the
steps are the same for MNIST, for a data set of your own, or for the Kaggle insurance data
behind ``insurance_cross_sell``:

1. count the classes in one streaming pass (``tfbalance.class_counts``);
2. balance the stream: undersample the frequent classes (``tfbalance.undersample``) or
   weight each example by its class (``tfbalance.with_sample_weights``);
3. batch and fit.

Run it::

    python examples/tfds_any_dataset.py                      # MNIST, undersampled
    python examples/tfds_any_dataset.py --technique weights  # MNIST, class weights
    python examples/tfds_any_dataset.py --dataset insurance_cross_sell \\
        --manual-dir ~/Downloads/insurance  # the folder holding the Kaggle train.csv

The model is deliberately tiny (one dense layer on the flattened, normalised features); the
point is the input pipeline.
"""

from __future__ import annotations

import argparse
import sys

import keras
import tensorflow as tf
import tensorflow_datasets as tfds

import tfbalance
import tfbalance.datasets.insurance_cross_sell  # noqa: F401  (registers the "insurance_cross_sell" builder)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="mnist", help="TFDS name (default: mnist)")
    parser.add_argument(
        "--technique",
        choices=["undersample", "weights"],
        default="undersample",
        help="how to balance the training stream (default: undersample)",
    )
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--take", type=int, default=None, help="use only the first N examples")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-dir", default=None, help="TFDS data_dir (default: TFDS's own)")
    parser.add_argument(
        "--manual-dir", default=None, help="folder holding manually downloaded files"
    )
    return parser.parse_args(argv)


def flatten_features(features):
    """One float vector per example, whatever the features are (an image, a dict of columns)."""
    parts = [tf.reshape(tf.cast(t, tf.float32), [-1]) for t in tf.nest.flatten(features)]
    return tf.concat(parts, axis=0)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    keras.utils.set_random_seed(args.seed)

    # 1. Load: any TFDS data set with supervised keys, as (features, label) pairs.
    download_and_prepare_kwargs = None
    if args.manual_dir:
        config = tfds.download.DownloadConfig(manual_dir=args.manual_dir)
        download_and_prepare_kwargs = {"download_config": config}
    (train, test), info = tfds.load(
        args.dataset,
        split=["train", "test"],
        as_supervised=True,
        with_info=True,
        data_dir=args.data_dir,
        download_and_prepare_kwargs=download_and_prepare_kwargs,
    )
    if args.take:
        train, test = train.take(args.take), test.take(args.take)
    num_classes = info.features[info.supervised_keys[1]].num_classes

    # 2. Count the classes: one streaming pass over the TFDS dataset, as it comes.
    counts = tfbalance.class_counts(train)
    print(f"Training data ({args.dataset}):")
    print(counts)

    # 3. Balance the stream. Both transforms take the TFDS dataset unchanged.
    if args.technique == "undersample":
        undersample = tfbalance.undersample(counts=counts, seed=args.seed)
        balanced = train.apply(undersample)
        print("After undersampling (one epoch):")
        print(tfbalance.class_counts(balanced))
        # Undersampling keeps a random number of rows per epoch, so the stream's length is
        # unknown: repeat it and give Keras the expected number of steps instead.
        steps_per_epoch = tfbalance.expected_steps(undersample, batch_size=args.batch_size)
    else:
        weights = tfbalance.class_weights(counts)
        balanced = train.apply(tfbalance.with_sample_weights(weights))
        print("Class weights:", {c: round(w, 3) for c, w in weights.items()})
        steps_per_epoch = None  # every row is kept: Keras knows the length

    # 4. Batch and fit a tiny model. The features are flattened after balancing, so the
    #    balancing step saw exactly what TFDS produced.
    def to_model_inputs(features, *label_and_weight):
        return (flatten_features(features), *label_and_weight)

    train_batches = (
        balanced.map(to_model_inputs, num_parallel_calls=tf.data.AUTOTUNE)
        .shuffle(1024, seed=args.seed)
        .batch(args.batch_size)
    )
    if steps_per_epoch is not None:
        train_batches = train_batches.repeat()
    train_batches = train_batches.prefetch(tf.data.AUTOTUNE)
    test_batches = (
        test.map(to_model_inputs, num_parallel_calls=tf.data.AUTOTUNE)
        .batch(args.batch_size)
        .prefetch(tf.data.AUTOTUNE)
    )
    normalize = keras.layers.Normalization()
    normalize.adapt(train.map(lambda features, label: flatten_features(features)).batch(1024))
    model = keras.Sequential([normalize, keras.layers.Dense(num_classes)])
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    model.fit(
        train_batches,
        epochs=args.epochs,
        steps_per_epoch=steps_per_epoch,
        shuffle=False,  # the pipeline shuffles
        verbose=2,
    )

    # 5. Evaluate on the test split with its natural class distribution.
    loss, accuracy = model.evaluate(test_batches, verbose=0)
    print(f"Test loss {loss:.4f}, accuracy {accuracy:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

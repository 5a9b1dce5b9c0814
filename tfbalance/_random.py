"""Stateless, seeded randomness for tf.data transforms.

Every random draw in tfbalance follows one pattern: the data are zipped with
``tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)``, which hands each
element (or each batch) one int64, and that int64 becomes the key of ``tf.random.stateless_*``
ops. Because the random numbers are *data* flowing next to the elements, not the state of a
stateful op:

* the same seed and the same input give the same output;
* every new iteration (epoch) of the dataset gets fresh numbers, and the sequence of epochs is
  itself reproducible under the seed;
* the random stream is part of the iterator state, so ``tf.train.Checkpoint(iterator=it)``
  saves and restores it mid-epoch;
* nothing is evaluated per element in Python, so the pipeline traces inside ``tf.function`` and
  runs on tf.data service workers.
"""

from __future__ import annotations

from typing import Any

from tfbalance._tf import tf

__all__ = ["SEED_TAG", "seed_stream", "zip_with_seeds", "split_seed"]

# The second word of every seed from ``seed_stream``: a pair without it can mark something
# else in the same stream (the end of an epoch, in the resampling transforms).
SEED_TAG = 0x5EED


def seed_stream(seed: int | None, *, name: str | None = None) -> tf.data.Dataset:
    """An infinite dataset of ``[2]`` int64 stateless seeds, fresh on every iteration."""
    return tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True, name=name).map(
        lambda value: tf.stack([value, tf.constant(SEED_TAG, tf.int64)])
    )


def zip_with_seeds(dataset: tf.data.Dataset, seed: int | None) -> tf.data.Dataset:
    """``(element, seed)`` pairs: each element of ``dataset`` with its own stateless seed.

    The zip stops with ``dataset``, so its cardinality is kept, and it opens one iterator
    over ``dataset``.
    """
    return tf.data.Dataset.zip((dataset, seed_stream(seed)))


def split_seed(seed: Any, num: int) -> list[tf.Tensor]:
    """``num`` independent stateless seeds derived from one (hash-based, never overlapping)."""
    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), num=num)
    return [seeds[i] for i in range(num)]

"""One-pass class counts of CSV files and datasets."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any, cast

import numpy as np

from tfbalance._csv import count_csv_classes
from tfbalance._deprecation import renamed_keywords
from tfbalance._distribution import MAX_CLASS_ID, ClassDistribution
from tfbalance._labels import Label, batched_label_rank, get_label, map_elements
from tfbalance._progress import show_progress as _show_progress
from tfbalance._tf import tf

__all__ = ["class_counts"]


def _is_file_source(source: Any) -> bool:
    if isinstance(source, (str, os.PathLike)):
        return True
    return (
        isinstance(source, (list, tuple))
        and bool(source)
        and all(isinstance(s, (str, os.PathLike)) for s in source)
    )


@renamed_keywords("compression_type")
def class_counts(
    source: str | os.PathLike | Sequence[str | os.PathLike] | tf.data.Dataset,
    label: Label = None,
    *,
    verbose: bool | None = None,
    **csv_options: Any,
) -> ClassDistribution:
    """Count the rows of each class in one streaming pass.

    Parameters
    ----------
    source : str, path, list of paths, or tf.data.Dataset
        A CSV file, glob pattern or list of them (``label`` is then the label column's
        name), or any finite ``tf.data.Dataset``, batched or not.
    label : None, str, int or callable
        For datasets: ``None`` reads the second item of ``(x, y)`` / ``(x, y, w)``
        tuples, a ``str`` a dict key, an ``int`` a tuple position, a callable maps an
        element to its class ids. For CSV sources: the label column's name (required).
    verbose : bool, optional
        Show a progress bar. ``None`` (default) shows one only on an interactive terminal.
    **csv_options
        For file sources: ``field_delim``, ``compression`` (``'auto'``, ``'gzip'`` or
        ``None``), ``label_vocabulary`` and ``schema``, as in ``tfbalance.read_csv`` (the
        deprecated ``compression_type=`` is accepted until 0.3.0).

    Returns
    -------
    ClassDistribution

    Raises
    ------
    ValueError
        ``label`` selects nothing in the elements, labels are negative, or the source is
        empty or malformed.
    TypeError
        Labels are not integer class ids.

    Examples
    --------
    >>> import tensorflow as tf
    >>> ds = tf.data.Dataset.from_tensor_slices(([[0.0]] * 5, [0, 1, 0, 0, 2]))
    >>> class_counts(ds).counts
    {0: 3, 1: 1, 2: 1}
    >>> class_counts(ds.batch(2)).counts
    {0: 3, 1: 1, 2: 1}
    """
    if _is_file_source(source):
        # The CSV counter checks that the label is a column name (a str) itself.
        return count_csv_classes(source, cast(Any, label), verbose=verbose, **csv_options)
    if not isinstance(source, tf.data.Dataset):
        raise TypeError(
            "Invalid `source`: expected a CSV path, glob or list of paths, or a "
            f"tf.data.Dataset. Received: source={source!r}"
        )
    if csv_options:
        raise TypeError(
            f"Options {sorted(csv_options)} apply to CSV sources only. "
            f"Received: source={source!r}"
        )
    rank = batched_label_rank(source, label)
    labels = map_elements(source, lambda element: get_label(element, label))
    if rank == 0:
        # Counting one element at a time costs microseconds per element in tf.data.
        labels = labels.batch(8192)
    # Labels of shape (batch, 1) are flattened too.
    labels = labels.map(lambda y: tf.reshape(tf.cast(y, tf.int64), [-1]))
    per_batch = labels.map(_batch_counts, num_parallel_calls=tf.data.AUTOTUNE).prefetch(2)
    totals = np.zeros(0, dtype=np.int64)
    progbar = None
    if _show_progress(verbose):
        import keras

        cardinality = int(per_batch.cardinality())
        progbar = keras.utils.Progbar(cardinality if cardinality > 0 else None, unit_name="batch")
    for step, (minimum, maximum, counts) in enumerate(per_batch.as_numpy_iterator(), start=1):
        if minimum < 0:
            raise ValueError(
                "Invalid labels: class ids must be non-negative. "
                f"Received: a label of {int(minimum)} (label={label!r})"
            )
        if maximum > MAX_CLASS_ID:
            raise ValueError(
                f"Invalid labels: class ids must be at most MAX_CLASS_ID={MAX_CLASS_ID}. "
                f"Received: a label of {int(maximum)} (label={label!r})"
            )
        if counts.size > totals.size:
            totals = np.pad(totals, (0, counts.size - totals.size))
        totals[: counts.size] += counts
        if progbar is not None:
            progbar.update(step)
    if totals.size == 0:
        raise ValueError(
            f"Invalid `source`: the dataset has no elements. Received: source={source!r}"
        )
    # Only the ids that occur: an id without rows is not a class of the data.
    return ClassDistribution({c: n for c, n in enumerate(totals.tolist()) if n})


def _batch_counts(labels: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    padded = tf.concat([labels, tf.zeros([1], tf.int64)], axis=0)
    minimum, maximum = tf.reduce_min(padded), tf.reduce_max(padded)
    # Clipped so that a huge id (refused above) cannot make bincount allocate terabytes.
    counts = tf.math.bincount(tf.clip_by_value(labels, 0, MAX_CLASS_ID + 1), dtype=tf.int64)
    return minimum, maximum, counts

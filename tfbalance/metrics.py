"""Streaming F1, F-beta, precision and recall metrics for Keras that agree with scikit-learn.

Every metric here is a Keras 3 :class:`keras.metrics.Metric`. The confusion counts (true
positives, false positives and false negatives per class, weighted by ``sample_weight``) are
accumulated batch after batch, so the score of a whole validation set is exact rather than
an average of per-batch scores, and it is the same number
:func:`sklearn.metrics.precision_recall_fscore_support` gives on the concatenated data.

One metric accepts every everyday input form; the problem type is read from the shapes:

* **binary**: ``y_pred`` of shape ``(n,)`` or ``(n, 1)`` holds the probability (or, with
  ``from_logits=True``, the logit) of class 1, and a sample is predicted positive when that
  probability is greater than ``threshold``. ``y_true`` holds 0/1 ids, shape ``(n,)`` or
  ``(n, 1)``. The state has two classes (0 and 1), as scikit-learn sees 0/1 labels.
* **multi-class**: ``y_pred`` of shape ``(n, C)`` with ``C >= 2``; the prediction is its argmax.
  ``y_true`` is sparse (class ids, shape ``(n,)`` or ``(n, 1)``) or one-hot ``(n, C)``.
* **multi-label** (``multi_label=True``): ``y_pred`` and the multi-hot ``y_true`` have shape
  ``(n, C)``; label ``c`` is predicted when its probability is greater than its threshold
  (one threshold for all labels, or one per label).

The classes are always ``0 .. num_classes - 1``: averages match scikit-learn called with
``labels=range(num_classes)``. A class that occurs neither in the targets nor in the
predictions therefore takes part in the ``'macro'`` average with the ``zero_division`` value
(scikit-learn's default ``labels=None`` would leave it out; on data where every class occurs,
the two agree).

Backends: the metrics are written in ``keras.ops`` and run inside ``fit``, ``evaluate`` and
``predict`` on the TensorFlow, JAX and PyTorch backends of Keras 3, and save to ``.keras``
files on each.

Counts are accumulated in float64, so they stay exact far past float32's 2**24 limit; the
result has the metric's ``dtype`` (float32 by default). Where the backend has no float64
(JAX unless ``jax_enable_x64`` is set, torch on Apple MPS) each count is a pair of float32
variables holding the sum and its rounding error (compensated TwoSum addition), exact for
whole counts to about 2**48; the ``true_positives``-style properties then read as float32.

Bad input never gives a score. A NaN or infinite ``y_pred`` or ``sample_weight`` (a diverged
model), a label the metric cannot score, or batch sizes that differ raise ``ValueError`` at
``update_state`` when it runs eagerly, naming the first bad value. Inside a traced function
(``model.fit`` and ``evaluate`` on every backend, ``tf.function``, ``jax.jit``) a batch
cannot raise, so it is counted in the ``rejected`` state: the traced result is NaN and the
eager ``result()`` that ``fit`` and ``evaluate`` call at the end of an epoch raises
``ValueError`` saying what was refused, until ``reset_state()``. An empty batch (0 rows) is
legal and adds nothing.
"""

from __future__ import annotations

import functools
import math
import warnings
from numbers import Real
from typing import Any, Sequence, Union

import keras
import numpy as np
from keras import ops

__all__ = ["BestF1", "F1Score", "FBetaScore", "Precision", "Recall"]

_AVERAGES = ("auto", "binary", "micro", "macro", "weighted", None)

Threshold = Union[float, Sequence[float]]


# --------------------------------------------------------------------------- argument checks


def _is_number(value: Any) -> bool:
    return isinstance(value, (Real, np.integer, np.floating)) and not isinstance(
        value, (bool, np.bool_)
    )


def _check_average(average: Any, allowed: Sequence[Any] = _AVERAGES) -> str | None:
    if average not in allowed or (average is not None and not isinstance(average, str)):
        expected = ", ".join(repr(a) for a in allowed)
        raise ValueError(
            f"Invalid `average`: expected one of {expected}. Received: average={average!r}"
        )
    return average


def _check_beta(beta: Any) -> float:
    if not _is_number(beta):
        raise TypeError(f"Invalid `beta`: expected a positive number. Received: beta={beta!r}")
    beta = float(beta)
    if not (beta > 0 and math.isfinite(beta)):
        raise ValueError(
            f"Invalid `beta`: expected a finite number > 0. Received: beta={beta!r}"
        )
    return beta


def _check_zero_division(zero_division: Any) -> float:
    if not _is_number(zero_division):
        raise TypeError(
            "Invalid `zero_division`: expected 0, 1 or float('nan'). "
            f"Received: zero_division={zero_division!r}"
        )
    value = float(zero_division)
    if not (value in (0.0, 1.0) or math.isnan(value)):
        raise ValueError(
            "Invalid `zero_division`: expected 0, 1 or float('nan'). "
            f"Received: zero_division={zero_division!r}"
        )
    return value


def _check_num_classes(num_classes: Any, *, minimum: int) -> int | None:
    if num_classes is None:
        return None
    if isinstance(num_classes, (bool, np.bool_)) or not isinstance(
        num_classes, (int, np.integer)
    ):
        raise TypeError(
            f"Invalid `num_classes`: expected an int or None. Received: num_classes={num_classes!r}"
        )
    if num_classes < minimum:
        raise ValueError(
            f"Invalid `num_classes`: expected an int >= {minimum}. "
            f"Received: num_classes={num_classes!r}"
        )
    return int(num_classes)


def _check_threshold(threshold: Any) -> float | list[float]:
    """A probability in [0, 1], or a list of them (one per label)."""
    if isinstance(threshold, (list, tuple, np.ndarray)):
        values = list(np.asarray(threshold, dtype=object).reshape(-1))
        if not values:
            raise ValueError(
                "Invalid `threshold`: expected a probability or a non-empty list of them. "
                f"Received: threshold={threshold!r}"
            )
        return [_check_threshold(v) for v in values]  # type: ignore[misc]
    if not _is_number(threshold):
        raise TypeError(
            "Invalid `threshold`: expected a probability in [0, 1] (or a list of them). "
            f"Received: threshold={threshold!r}"
        )
    value = float(threshold)
    if not 0.0 <= value <= 1.0:
        raise ValueError(
            "Invalid `threshold`: expected a probability in [0, 1] (also with from_logits=True, "
            f"where it applies to sigmoid(logit)). Received: threshold={threshold!r}"
        )
    return value


def _check_bool(value: Any, arg_name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(
            f"Invalid `{arg_name}`: expected True or False. Received: {arg_name}={value!r}"
        )
    return bool(value)


def _logit(p: float) -> float:
    """The logit whose sigmoid is ``p``: ``sigmoid(x) > p`` exactly when ``x > logit(p)``."""
    if p <= 0.0:
        return -math.inf
    if p >= 1.0:
        return math.inf
    return math.log(p) - math.log1p(-p)


def _shape(tensor: Any) -> tuple:
    """The static shape, ``None`` for a dimension known only at run time."""
    return tuple(None if d is None else int(d) for d in tensor.shape)


# --------------------------------------------------------------------------- backend facts
# The metric path is keras.ops only. Two questions need the backend itself: whether it has
# float64 (JAX without x64, torch on Apple MPS do not), and whether the values of a tensor
# can be read now (eager) or only later (inside a traced function), which decides whether a
# bad input raises at once or is recorded for `result()`.


def _count_dtype() -> str:
    """float64 where the backend has it, else float32 (then sums are compensated)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # JAX warns, and hands back float32, when x64 is off
        try:
            probe = ops.zeros((1,), dtype="float64")
        except (TypeError, RuntimeError):  # e.g. torch on MPS has no float64
            return "float32"
    return "float64" if keras.backend.standardize_dtype(probe.dtype) == "float64" else "float32"


def _is_concrete(tensor: Any) -> bool:
    """Whether ``tensor`` has values now (eager), not only inside a trace being built."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf  # the loaded Keras backend; asked only whether it traces

        return bool(tf.executing_eagerly())
    if backend == "jax":
        import jax  # the loaded Keras backend; a Tracer has no values yet

        return not isinstance(tensor, jax.core.Tracer)
    if backend == "torch":
        import torch  # the loaded Keras backend; Keras traces shapes on the "meta" device

        return tensor.device.type != "meta" and not torch.compiler.is_compiling()
    return True  # numpy and the other eager backends


def _dtype(tensor: Any) -> str:
    return keras.backend.standardize_dtype(tensor.dtype)


# --------------------------------------------------------------------------- tensor helpers
# `zeros_like(x) + value` rather than `full_like`: Keras traces torch models on the "meta"
# device, where torch's `full` cannot read its fill value.


def _safe_divide(numerator: Any, denominator: Any, zero_division: float) -> Any:
    """``numerator / denominator``, and ``zero_division`` where the denominator is 0 (sklearn)."""
    zero = ops.equal(denominator, 0)
    ratio = numerator / ops.where(zero, ops.ones_like(denominator), denominator)
    return ops.where(zero, ops.zeros_like(ratio) + zero_division, ratio)


def _nan_average(values: Any, weights: Any = None) -> Any:
    """scikit-learn's ``_nanaverage``: NaNs are left out; all NaN gives NaN; zero total
    weight falls back to the plain mean of what is left."""
    valid = ops.logical_not(ops.isnan(values))
    clean = ops.where(valid, values, ops.zeros_like(values))
    count = ops.sum(ops.cast(valid, values.dtype))
    plain = ops.sum(clean) / ops.maximum(count, 1)
    if weights is not None:
        kept = ops.where(valid, weights, ops.zeros_like(weights))
        total = ops.sum(kept)
        weighted = ops.sum(clean * kept) / ops.where(total > 0, total, ops.ones_like(total))
        plain = ops.where(total > 0, weighted, plain)
    return ops.where(count > 0, plain, ops.zeros_like(plain) + math.nan)


def _batch_mismatch(tensors: dict[str, Any]) -> Any:
    """Raises when the batch sizes are known and differ; else the number of tensors whose
    (run-time) batch size differs from the first one's, for the rejection record."""
    items = [(k, t) for k, t in tensors.items() if t is not None]
    sizes = [ops.shape(t)[0] for _, t in items]
    if all(isinstance(s, int) for s in sizes):
        if len(set(sizes)) > 1:
            described = " and ".join(f"{k}.shape={_shape(t)}" for k, t in items)
            raise ValueError(
                "Invalid inputs: y_true, y_pred and sample_weight must have the same batch "
                f"size. Received: {described}"
            )
        return None
    # Only TensorFlow graphs have batch sizes unknown until run time.
    return ops.sum(
        ops.stack([ops.cast(ops.not_equal(s, sizes[0]), "float32") for s in sizes[1:]])
    )


# --------------------------------------------------------------------------- count kernels
# Each returns the batch's rows (tp, fp, fn) per class, shape (3, C), in `dtype` (the count
# dtype), and the mask of bad y_true entries (rows or values) with the values to quote.


def _segment_sum(values: Any, ids: Any, size: int) -> Any:
    """Sums of ``values`` per id in ``[0, size)``."""
    if getattr(getattr(values, "device", None), "type", None) == "meta":
        # Keras builds torch state by a trace on the "meta" device, which has shapes but no
        # values; torch's segment sum needs values (and Keras' scatter loops over rows).
        return ops.zeros((size,), _dtype(values))
    return ops.segment_sum(values, ids, num_segments=size)


def _weights(sample_weight: Any, rows: Any, dtype: str) -> Any:
    if sample_weight is None:
        return ops.ones_like(rows, dtype=dtype)
    return ops.cast(ops.reshape(sample_weight, [-1]), dtype)


# Turn the batch sums (total weight, support, predicted, tp of class 1) into the (3, 2)
# rows tp, fp, fn of classes 0 and 1. Class 0 is scored too (for 'macro', 'weighted', None
# and pos_label=0): its true positives are class 1's true negatives, and its false
# positives and negatives are class 1's false negatives and positives.
_BINARY_ROWS = np.array(
    [  # total, support, predicted, tp
        [1, -1, -1, 1], [0, 0, 0, 1],  # tp of class 0 (= tn), of class 1
        [0, 1, 0, -1], [0, 0, 1, -1],  # fp of class 0 (= fn), of class 1
        [0, 0, 1, -1], [0, 1, 0, -1],  # fn of class 0 (= fp), of class 1
    ],
)
# [tp, predicted, support] -> [tp, fp, fn]
_SUMS_TO_ROWS = np.array([[1, 0, 0], [-1, 1, 0], [-1, 0, 1]])


def _not_0_or_1(values: Any) -> Any:
    return ops.logical_not(ops.logical_or(ops.equal(values, 0), ops.equal(values, 1)))


def _binary_counts(y_true, y_pred, sample_weight, *, cut, dtype):
    cut = ops.convert_to_tensor(cut, _dtype(y_pred))  # as numpy compares `p > 0.3` (NEP 50)
    truth = ops.cast(ops.reshape(y_true, [-1]), dtype)
    bad = _not_0_or_1(truth)  # NaN included
    truth = ops.where(bad, ops.zeros_like(truth), truth)
    predicted = ops.cast(ops.reshape(y_pred, [-1]) > cut, dtype)
    weights = _weights(sample_weight, truth, dtype)
    weighted_truth = weights * truth
    sums = ops.sum(
        ops.stack([weights, weighted_truth, weights * predicted, weighted_truth * predicted]),
        axis=1,
    )
    counts = ops.matmul(ops.convert_to_tensor(_BINARY_ROWS, dtype), sums)
    return ops.reshape(counts, [3, 2]), bad, ops.reshape(y_true, [-1])


def _multi_class_counts(y_true, y_pred, sample_weight, *, num_classes, one_hot, dtype):
    pred_ids = ops.cast(ops.argmax(y_pred, axis=-1), "int32")
    if one_hot:
        truth = ops.cast(y_true, dtype)
        bad = ops.logical_or(
            ops.any(_not_0_or_1(truth), axis=-1), ops.not_equal(ops.sum(truth, axis=-1), 1)
        )
        true_ids = ops.cast(ops.argmax(truth, axis=-1), "int32")
        quoted = y_true
    else:
        quoted = ops.reshape(y_true, [-1])
        ids = quoted
        if "float" in _dtype(ids):
            finite = ops.isfinite(ids)
            ids = ops.where(finite, ids, ops.zeros_like(ids) - 1)
            whole = ops.equal(ids, ops.floor(ids))
            in_range = ops.logical_and(ids >= 0, ids < num_classes)
            good = ops.logical_and(ops.logical_and(finite, whole), in_range)
        else:
            good = ops.logical_and(ids >= 0, ids < num_classes)
        bad = ops.logical_not(good)
        # Bad ids are counted as class 0 here; the batch is refused (see _admit).
        true_ids = ops.cast(ops.where(good, ids, ops.zeros_like(ids)), "int32")
    weights = _weights(sample_weight, true_ids, dtype)
    hits = ops.where(ops.equal(true_ids, pred_ids), weights, ops.zeros_like(weights))
    sums = ops.stack([
        _segment_sum(hits, true_ids, num_classes),
        _segment_sum(weights, pred_ids, num_classes),
        _segment_sum(weights, true_ids, num_classes),
    ])
    return ops.matmul(ops.convert_to_tensor(_SUMS_TO_ROWS, dtype), sums), bad, quoted


def _multi_label_counts(y_true, y_pred, sample_weight, *, cut, dtype):
    cut = ops.convert_to_tensor(cut, _dtype(y_pred))  # one threshold, or one per label
    predicted = ops.cast(y_pred > cut, dtype)
    truth = ops.cast(y_true, dtype)
    bad = _not_0_or_1(truth)
    truth = ops.where(bad, ops.zeros_like(truth), truth)
    if sample_weight is not None:
        weights = ops.cast(ops.reshape(sample_weight, [-1, 1]), dtype)
        predicted_w = predicted * weights
        truth_w = truth * weights
    else:
        predicted_w, truth_w = predicted, truth
    sums = ops.stack([
        ops.sum(predicted_w * truth, axis=0),
        ops.sum(predicted_w, axis=0),
        ops.sum(truth_w, axis=0),
    ])
    return ops.matmul(ops.convert_to_tensor(_SUMS_TO_ROWS, dtype), sums), bad, y_true


def _thresholds_below(probs: Any, thresholds: np.ndarray) -> Any:
    """How many grid thresholds are strictly below each of ``probs`` (int32): bucket ``k``
    holds the samples with ``p > t`` exactly for the first ``k`` thresholds.

    The grid is ``linspace(0, 1, T)`` in float32, so ``floor(p * (T - 1))`` is the right
    index give or take one (float32 rounding is far below the grid step for
    ``T <= 10**6``); comparing ``p`` with the three thresholds around it makes the count
    exact. A direct index plus three comparisons, instead of a binary search
    (``ops.searchsorted`` is missing before Keras 3.5 and fails in TF graphs in 3.5).
    """
    steps = len(thresholds) - 1
    dtype = _dtype(probs)
    # -inf / +inf pads: the window may reach one past either end of the grid.
    padded = ops.convert_to_tensor(
        np.concatenate([[-np.inf], thresholds, [np.inf]]).astype(dtype), dtype)
    # NaN is refused by the caller (_admit); it only must not index out of range here.
    clean = ops.where(ops.isnan(probs), ops.zeros_like(probs), probs)
    guess = ops.cast(ops.floor(ops.clip(clean * steps, 0, steps)), "int32")
    below = guess - 1
    for offset in (0, 1, 2):  # the thresholds guess - 1, guess, guess + 1, at padded[j + 1]
        below = below + ops.cast(ops.take(padded, guess + offset) < probs, "int32")
    return below


def _threshold_histograms(y_true, y_pred, sample_weight, *, labels, num_thresholds, from_logits,
                          dtype):
    """(2, labels, len(thresholds) + 1): weighted positives and negatives per bucket."""
    probs = ops.reshape(y_pred, [-1, labels])
    if from_logits:
        probs = ops.sigmoid(probs)
    truth = ops.cast(ops.reshape(y_true, [-1, labels]), dtype)
    bad = _not_0_or_1(truth)
    truth = ops.where(bad, ops.zeros_like(truth), truth)
    thresholds = np.linspace(0.0, 1.0, num_thresholds).astype("float32")
    buckets = num_thresholds + 1
    bucket = _thresholds_below(ops.reshape(probs, [-1]), thresholds)
    segments = ops.reshape(
        ops.reshape(bucket, [-1, labels])
        + ops.arange(labels, dtype="int32") * buckets,
        [-1],
    )
    if sample_weight is None:
        weights = ops.ones_like(truth)
    else:
        weights = ops.cast(ops.reshape(sample_weight, [-1, 1]), dtype) * ops.ones_like(truth)
    positives = ops.reshape(weights * truth, [-1])
    negatives = ops.reshape(weights, [-1]) - positives
    size = labels * buckets
    sums = _segment_sum(
        ops.concatenate([positives, negatives]), ops.concatenate([segments, segments + size]),
        2 * size,
    )
    return ops.reshape(sums, [2, labels, buckets]), bad, ops.reshape(y_true, [-1, labels])


def _checked(kernel, y_true, y_pred, sample_weight, **static):
    """One batch: the kernel's counts, the number of bad entries per row of ``_REJECTS``
    (but "batch", checked apart) and the masks of the bad entries, for the message."""
    counts, bad_true, quoted = kernel(y_true, y_pred, sample_weight, **static)
    masks = {"y_pred": ops.logical_not(ops.isfinite(y_pred)), "y_true": bad_true}
    if sample_weight is not None:
        masks["sample_weight"] = ops.logical_not(ops.isfinite(sample_weight))
    flags = ops.stack([
        ops.sum(ops.cast(masks[kind], "float32")) if kind in masks else ops.zeros((), "float32")
        for kind in _REJECTS[:3]
    ])
    return counts, flags, masks, quoted


_COMPILED: dict = {}


def _run_batch(kernel, y_true, y_pred, sample_weight, **static):
    """``_checked`` as one compiled call when eager (TensorFlow, JAX): it replaces some fifty
    op dispatches. Inside a trace (model.fit, tf.function, jax.jit) it is inlined as is."""
    backend = keras.backend.backend()
    if backend not in ("tensorflow", "jax") or not _is_concrete(y_pred):
        return _checked(kernel, y_true, y_pred, sample_weight, **static)
    key = (kernel.__name__, backend, sample_weight is None, tuple(sorted(static.items())))
    compiled = _COMPILED.get(key)
    if compiled is None:
        bound = functools.partial(_checked, kernel, **static)
        if backend == "tensorflow":
            import tensorflow as tf  # the loaded Keras backend, for its compiler only

            compiled = tf.function(bound, autograph=False, reduce_retracing=True)
        else:
            import jax  # the loaded Keras backend, for its compiler only

            compiled = jax.jit(bound)
        _COMPILED[key] = compiled
    return compiled(y_true, y_pred, sample_weight)


# --------------------------------------------------------------------------- shared state
# What a batch can be refused for: rows of the rejection record.
_REJECTS = ("y_pred", "y_true", "sample_weight", "batch")


class _CountingMetric(keras.metrics.Metric):
    """Counts in float64 (or compensated float32), and the refusal of bad batches.

    A bad batch (a NaN or infinite ``y_pred`` or ``sample_weight``, a label the metric
    cannot score, batch sizes that differ) raises ``ValueError`` in ``update_state`` when
    the values are at hand (eager). Inside a traced function (``model.fit`` and
    ``evaluate`` on every backend, ``tf.function``, ``jax.jit``) nothing can raise at the
    batch, so the refusal is counted in the ``rejected`` state: traced results are then NaN,
    and an eager ``result()`` (which ``fit`` and ``evaluate`` call at the end of an epoch)
    raises ``ValueError`` saying what was refused, until ``reset_state()``.
    """

    _label_rule = "labels must be 0 or 1"

    def __init__(self, *, name: str | None, dtype: Any) -> None:
        super().__init__(name=name, dtype=dtype)
        # Made here, not with the counts: those may be built inside a symbolic trace.
        self.rejected = self.add_variable(
            shape=(len(_REJECTS),), initializer="zeros", dtype="float32", name="rejected")

    def _add_counts(self, shape: tuple, name: str) -> None:
        self._count_dtype = _count_dtype()
        setattr(self, name, self.add_variable(
            shape=shape, initializer="zeros", dtype=self._count_dtype, name=name))
        if self._count_dtype != "float64":
            # float32 alone stops counting at 2**24 (16,777,216 + 1 == 16,777,216); a
            # second variable keeps each sum's rounding error (TwoSum), ~48 exact bits.
            setattr(self, name + "_low", self.add_variable(
                shape=shape, initializer="zeros", dtype=self._count_dtype, name=name + "_low"))

    def _accumulate(self, name: str, delta: Any) -> None:
        high = getattr(self, name)
        delta = ops.cast(delta, self._count_dtype)
        if self._count_dtype == "float64":
            high.assign_add(delta)
            return
        low = getattr(self, name + "_low")
        old = ops.convert_to_tensor(high)
        total = old + delta
        virtual = total - old
        error = (old - (total - virtual)) + (delta - virtual)  # exact: old + delta - total
        carried = ops.convert_to_tensor(low) + error
        renormalized = total + carried
        high.assign(renormalized)
        low.assign(carried - (renormalized - total))

    def _read(self, name: str) -> Any:
        value = ops.convert_to_tensor(getattr(self, name))
        if self._count_dtype != "float64":
            value = value + ops.convert_to_tensor(getattr(self, name + "_low"))
        return value

    def _admit(self, flags: Any, batch: Any, masks: dict[str, Any],
               values: dict[str, Any]) -> None:
        """Refuse a bad batch: raise now (eager), or record it for `result()` (traced).

        ``flags`` counts the bad entries of y_pred, y_true and sample_weight, ``batch`` is
        None or the run-time batch-size check; ``masks`` and ``values`` serve the message."""
        extra = ops.zeros((1,), "float32") if batch is None else ops.reshape(batch, [1])
        counts = ops.concatenate([flags, extra])
        if not _is_concrete(counts):
            self.rejected.assign_add(counts)
            return
        found = ops.convert_to_numpy(counts)
        for kind, count in zip(_REJECTS, found):
            if count > 0:
                mask, value = ops.convert_to_numpy(masks[kind]), ops.convert_to_numpy(values[kind])
                raise ValueError(self._batch_message(kind, int(count), mask, value))

    def _batch_message(self, kind: str, count: int, mask: np.ndarray, values: np.ndarray) -> str:
        index = tuple(int(i) for i in np.argwhere(mask)[0])
        where = "[" + ", ".join(str(i) for i in index) + "]"
        value = values[index].tolist()
        if kind == "y_true":
            return (
                f"Invalid `y_true`: {self._label_rule}. Received: y_true{where}={value!r} "
                f"({count} bad label(s) in this batch)"
            )
        what = "predictions" if kind == "y_pred" else "weights"
        return (
            f"Invalid `{kind}`: expected finite {what}; a NaN or infinite value (e.g. from a "
            f"diverged model) has no score. Received: {kind}{where}={value!r} "
            f"({count} non-finite value(s) in this batch)"
        )

    def _refuse_if_rejected(self, *values: Any) -> tuple:
        """``values`` unchanged when no batch was refused; NaN when traced; else raise."""
        rejected = ops.convert_to_tensor(self.rejected)
        if not _is_concrete(rejected):
            refused = ops.sum(rejected) > 0
            return tuple(
                None if v is None else ops.where(refused, ops.zeros_like(v) + math.nan, v)
                for v in values
            )
        found = ops.convert_to_numpy(rejected)
        if found.any():
            kind = _REJECTS[int(np.flatnonzero(found)[0])]
            count = int(found[_REJECTS.index(kind)])
            reason = {
                "y_pred": f"{count} value(s) of y_pred were NaN or infinite (a diverged model "
                          "has no score)",
                "y_true": f"{count} label(s) of y_true were invalid ({self._label_rule})",
                "sample_weight": f"{count} value(s) of sample_weight were NaN or infinite",
                "batch": "y_true, y_pred and sample_weight had different batch sizes",
            }[kind]
            raise ValueError(
                f"Invalid `{kind if kind != 'batch' else 'inputs'}`: in batches given to "
                f"update_state inside a traced function (model.fit / evaluate, tf.function, "
                f"jax.jit), {reason}; `{self.name}` has no score until reset_state(). "
                f"Received: {kind}={count} refused value(s)"
            )
        return values

    def _inputs(self, y_true: Any, y_pred: Any, sample_weight: Any) -> tuple:
        """Tensors, with ``y_pred`` floating (float16/bfloat16 widened to float32, exactly)."""
        y_pred = ops.convert_to_tensor(y_pred)
        if "float" not in _dtype(y_pred):
            y_pred = ops.cast(y_pred, self.dtype)
        if _dtype(y_pred) in ("float16", "bfloat16"):
            y_pred = ops.cast(y_pred, "float32")
        y_true = ops.convert_to_tensor(y_true)
        if sample_weight is not None:
            sample_weight = ops.convert_to_tensor(sample_weight)
            if "float" not in _dtype(sample_weight):
                sample_weight = ops.cast(sample_weight, self.dtype)
        return y_true, y_pred, sample_weight


class _ConfusionMetric(_CountingMetric):
    """Shared state and input handling: per-class true/false positives and false negatives."""

    _score: str = "fscore"  # which of precision / recall / fscore `result()` returns

    def __init__(
        self,
        *,
        beta: float = 1.0,
        average: str | None = "auto",
        num_classes: int | None = None,
        threshold: Threshold = 0.5,
        from_logits: bool = False,
        multi_label: bool = False,
        pos_label: int = 1,
        zero_division: float = 0.0,
        name: str | None = None,
        dtype: Any = None,
    ) -> None:
        super().__init__(name=name, dtype=dtype)
        self._direction = "up"
        self.beta = _check_beta(beta)
        self.average = _check_average(average)
        self.multi_label = _check_bool(multi_label, "multi_label")
        self.from_logits = _check_bool(from_logits, "from_logits")
        self.num_classes = _check_num_classes(num_classes, minimum=1 if self.multi_label else 2)
        self.threshold = _check_threshold(threshold)
        if isinstance(pos_label, (bool, np.bool_)) or not isinstance(
            pos_label, (int, np.integer)
        ):
            raise TypeError(
                f"Invalid `pos_label`: expected a class id (int). Received: pos_label={pos_label!r}"
            )
        self.pos_label = int(pos_label)
        self.zero_division = _check_zero_division(zero_division)
        if self.multi_label and self.average == "binary":
            raise ValueError(
                "Invalid `average`: 'binary' is for binary targets, not multi-label ones; use "
                "'micro', 'macro', 'weighted' or None. Received: average='binary'"
            )
        if isinstance(self.threshold, list):
            if not self.multi_label:
                raise ValueError(
                    "Invalid `threshold`: a list of per-label thresholds needs multi_label=True. "
                    f"Received: threshold={threshold!r}"
                )
            if self.num_classes is not None and len(self.threshold) != self.num_classes:
                raise ValueError(
                    f"Invalid `threshold`: expected {self.num_classes} thresholds, one per "
                    f"label. Received: threshold={threshold!r}"
                )
        self._built_state = False
        if self.num_classes is not None:
            self._build_state(self.num_classes)

    # ---- state

    def _build_state(self, num_classes: int) -> None:
        if self.average == "binary" or (self.average == "auto" and not self.multi_label):
            if self.average == "binary" and num_classes != 2:
                raise ValueError(
                    "Invalid `average`: 'binary' needs a binary problem (a single output "
                    "column, or two classes), but there are "
                    f"{num_classes} classes; use 'micro', 'macro', 'weighted' or None. "
                    "Received: average='binary'"
                )
            if num_classes == 2 and not 0 <= self.pos_label < 2:
                raise ValueError(
                    "Invalid `pos_label`: expected 0 or 1 for a binary problem. "
                    f"Received: pos_label={self.pos_label!r}"
                )
        if isinstance(self.threshold, list) and len(self.threshold) != num_classes:
            raise ValueError(
                f"Invalid `threshold`: expected {num_classes} thresholds, one per label. "
                f"Received: threshold={self.threshold!r}"
            )
        self.num_classes = num_classes

        # Rows: true positives, false positives, false negatives (one variable, so an
        # update is a single assign_add).
        self._add_counts((3, num_classes), "confusion")
        self._built_state = True

    @property
    def true_positives(self) -> Any:
        """Weighted true positives per class (float64; float32 where the backend has no float64)."""
        return self._read("confusion")[0]

    @property
    def false_positives(self) -> Any:
        """Weighted false positives per class (float64; float32 where the backend has no float64)."""
        return self._read("confusion")[1]

    @property
    def false_negatives(self) -> Any:
        """Weighted false negatives per class (float64; float32 where the backend has no float64)."""
        return self._read("confusion")[2]

    @property
    def support(self) -> Any:
        """Weighted number of true samples per class (float64; float32 where the backend has no float64)."""
        return self.true_positives + self.false_negatives

    @property
    def resolved_average(self) -> str | None:
        """The averaging in use: ``average``, with ``'auto'`` resolved for the problem type.

        ``'auto'`` is ``'binary'`` for a binary problem (a single output column, or two
        classes) and ``'macro'`` otherwise (more than two classes, or ``multi_label=True``).
        It is ``'auto'`` only until the number of classes is known.
        """
        if self.average != "auto":
            return self.average
        if self.num_classes is None:
            return "auto"
        return "binary" if (self.num_classes == 2 and not self.multi_label) else "macro"

    # ---- update

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        """Add one batch to the confusion counts.

        Parameters
        ----------
        y_true : array-like
            0/1 ids (binary), class ids or one-hot rows (multi-class), or multi-hot rows
            (multi-label).
        y_pred : array-like
            Probabilities or logits, shape ``(n,)``, ``(n, 1)`` or ``(n, C)``.
        sample_weight : array-like, optional
            One weight per sample, shape ``(n,)`` or ``(n, 1)``.
        """
        y_true, y_pred, sample_weight = self._inputs(y_true, y_pred, sample_weight)
        columns = self._columns(y_true, y_pred, sample_weight)
        if not self._built_state:
            self._build_state(2 if columns == 1 and not self.multi_label else columns)
        batch = _batch_mismatch(
            {"y_true": y_true, "y_pred": y_pred, "sample_weight": sample_weight})
        dtype = self._count_dtype
        if self.multi_label or columns == 1:
            cut = self.threshold
            if self.from_logits:
                cut = [_logit(t) for t in cut] if isinstance(cut, list) else _logit(cut)
            cut = tuple(cut) if isinstance(cut, list) else cut
        if self.multi_label:
            self._label_rule = "multi-label targets must be 0 or 1"
            kernel, static = _multi_label_counts, {"cut": cut, "dtype": dtype}
        elif columns == 1:
            self._label_rule = "binary labels must be 0 or 1"
            kernel, static = _binary_counts, {"cut": cut, "dtype": dtype}
        else:
            one_hot = len(y_true.shape) == 2 and y_true.shape[-1] == columns
            self._label_rule = (
                f"one-hot rows must hold a single 1 among {columns} zeros and ones" if one_hot
                else f"class ids must be whole numbers in [0, {self.num_classes})"
            )
            kernel = _multi_class_counts
            static = {"num_classes": self.num_classes, "one_hot": one_hot, "dtype": dtype}
        counts, flags, masks, quoted = _run_batch(kernel, y_true, y_pred, sample_weight, **static)
        self._admit(flags, batch, masks,
                    {"y_pred": y_pred, "y_true": quoted, "sample_weight": sample_weight})
        self._accumulate("confusion", counts)

    def _columns(self, y_true: Any, y_pred: Any, sample_weight: Any) -> int:
        """Static checks of the shapes; returns the number of columns of ``y_pred``."""
        shapes = f"y_true.shape={_shape(y_true)} and y_pred.shape={_shape(y_pred)}"
        if len(y_pred.shape) not in (1, 2) or len(y_true.shape) not in (1, 2):
            raise ValueError(
                "Invalid inputs: expected y_pred of shape (n,), (n, 1) or (n, C) and y_true of "
                f"shape (n,), (n, 1) or (n, C). Received: {shapes}"
            )
        columns = 1 if len(y_pred.shape) == 1 else _shape(y_pred)[-1]
        if columns is None:
            raise ValueError(
                "Invalid inputs: the number of columns of y_pred must be known when the metric "
                f"is traced. Received: {shapes}"
            )
        true_columns = 1 if len(y_true.shape) == 1 else _shape(y_true)[-1]
        if self.multi_label:
            if len(y_pred.shape) != 2 or true_columns != columns:
                raise ValueError(
                    "Invalid inputs: with multi_label=True, y_true and y_pred must both have "
                    f"shape (n, C). Received: {shapes}"
                )
        elif true_columns not in (1, columns):
            raise ValueError(
                "Invalid inputs: y_true must hold class ids (shape (n,) or (n, 1)) or one-hot "
                f"rows with as many columns as y_pred. Received: {shapes}"
            )
        if columns == 1 and not self.multi_label:
            expected = 2
        else:
            expected = columns
        if self.num_classes is not None and expected != self.num_classes:
            raise ValueError(
                f"Invalid inputs: y_pred has {columns} column(s), which means {expected} "
                f"classes, but the metric was made with num_classes={self.num_classes}. "
                f"Received: {shapes}"
            )
        if sample_weight is not None:
            weight_shape = _shape(sample_weight)
            if len(weight_shape) not in (1, 2) or (
                len(weight_shape) == 2 and weight_shape[-1] != 1
            ):
                raise ValueError(
                    "Invalid `sample_weight`: expected shape (n,) or (n, 1). "
                    f"Received: sample_weight.shape={weight_shape} with {shapes}"
                )
        return columns

    # ---- results

    def precision_recall_fscore_support(
        self, *, average: str | None = "auto"
    ) -> tuple[Any, Any, Any, Any]:
        """Precision, recall, F-beta and support so far, as
        :func:`sklearn.metrics.precision_recall_fscore_support` returns them.

        Parameters
        ----------
        average : {'auto', 'binary', 'micro', 'macro', 'weighted', None}, default 'auto'
            ``'auto'`` uses the metric's own averaging; ``None`` gives per-class vectors.

        Returns
        -------
        tuple of tensors
            ``(precision, recall, fbeta, support)`` in the metric's dtype (tensors of the
            Keras backend); ``support`` (the weighted number of true samples per class) is
            ``None`` when averaged.

        Raises
        ------
        ValueError
            If no batch has been seen yet and ``num_classes`` was not given, or if a batch
            was refused inside a traced function (see the class docstring).

        Examples
        --------
        >>> import numpy as np
        >>> from tfbalance.metrics import F1Score
        >>> m = F1Score(num_classes=3)
        >>> m.update_state([0, 1, 2, 2], np.eye(3)[[0, 2, 2, 1]])
        >>> p, r, f, s = m.precision_recall_fscore_support(average=None)
        >>> np.round(p.numpy(), 3), s.numpy()
        (array([1. , 0. , 0.5], dtype=float32), array([1., 1., 2.], dtype=float32))
        """
        average = _check_average(average)
        if average == "auto":
            average = self.resolved_average
        if not self._built_state:
            raise ValueError(
                "Invalid call: the metric has seen no batch yet and was made without "
                "`num_classes`, so its classes are unknown. Received: num_classes=None"
            )
        confusion = self._read("confusion")
        tp, fp, fn = confusion[0], confusion[1], confusion[2]
        if average == "binary":
            if self.num_classes != 2 or self.multi_label:
                raise ValueError(
                    "Invalid `average`: 'binary' needs a binary problem, but there are "
                    f"{self.num_classes} classes. Received: average='binary'"
                )
            tp, fp, fn = tp[self.pos_label], fp[self.pos_label], fn[self.pos_label]
        elif average == "micro":
            tp, fp, fn = ops.sum(tp), ops.sum(fp), ops.sum(fn)
        support = tp + fn
        predicted = tp + fp
        beta2 = self.beta**2
        zd = self.zero_division
        precision = _safe_divide(tp, predicted, zd)
        recall = _safe_divide(tp, support, zd)
        fscore = _safe_divide((1 + beta2) * tp, beta2 * support + predicted, zd)
        if average in ("macro", "weighted"):
            weights = support if average == "weighted" else None
            precision, recall, fscore = (
                _nan_average(v, weights) for v in (precision, recall, fscore)
            )
        values = [ops.cast(v, self.dtype) for v in (precision, recall, fscore, support)]
        if average is not None:
            values[3] = None
        return self._refuse_if_rejected(*values)  # type: ignore[return-value]

    def result(self) -> Any:
        if not self._built_state:
            return ops.convert_to_tensor(0.0, self.dtype)
        precision, recall, fscore, _ = self.precision_recall_fscore_support()
        return {"precision": precision, "recall": recall, "fscore": fscore}[self._score]

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "average": self.average,
            "num_classes": self.num_classes,
            "threshold": self.threshold,
            "from_logits": self.from_logits,
            "multi_label": self.multi_label,
            "pos_label": self.pos_label,
            "zero_division": self.zero_division,
        }


_COMMON_PARAMETERS = """
    average : {'auto', 'binary', 'micro', 'macro', 'weighted', None}, default 'auto'
        As in scikit-learn. ``'binary'`` scores class ``pos_label`` only; ``'micro'`` pools
        the counts of all classes; ``'macro'`` is the unweighted mean over classes;
        ``'weighted'`` weights the classes by support; ``None`` returns one score per class.
        ``'auto'`` is ``'binary'`` for a binary problem (one output column, or two classes)
        and ``'macro'`` for more than two classes and for ``multi_label=True``.
    num_classes : int, optional
        Number of classes (labels, with ``multi_label=True``); 2 for a single sigmoid
        output. When left out it is read from the last dimension of the first ``y_pred``
        and the state is created then. Give it when updating the metric yourself inside
        ``strategy.run`` (state cannot be created in a replica context); ``model.fit``
        and ``model.evaluate`` need no help.
    threshold : float or list of float, default 0.5
        Binary and multi-label inputs: a sample (label) is predicted positive when its
        probability is greater than this. With ``multi_label=True``, one threshold per
        label may be given. Always a probability in [0, 1], also with
        ``from_logits=True``. Multi-class inputs use the argmax and ignore it.
    from_logits : bool, default False
        Whether binary / multi-label ``y_pred`` holds logits rather than probabilities.
    multi_label : bool, default False
        Whether ``y_pred`` of shape ``(n, C)`` holds independent labels (multi-hot
        ``y_true``) rather than mutually exclusive classes.
    pos_label : int, default 1
        The class scored by ``average='binary'``.
    zero_division : {0, 1, nan}, default 0
        The value of a ratio whose denominator is 0, as in scikit-learn: precision with no
        predicted positives, recall with no true ones, the F-score when there are neither.
        NaN scores are left out of the 'macro' and 'weighted' averages.
    name : str, optional
        Metric name.
    dtype : str, optional
        dtype of the result (float32 by default).

    Raises
    ------
    ValueError
        For an unknown ``average``, ``beta <= 0``, a threshold outside [0, 1],
        ``zero_division`` other than 0, 1 or NaN, ``average='binary'`` with more than two
        classes or with ``multi_label=True``; when updated, for shapes of ``y_true``,
        ``y_pred`` and ``sample_weight`` that do not fit together (the message quotes
        them); for a NaN or infinite ``y_pred`` or ``sample_weight``, and labels the
        metric cannot score (ids outside ``[0, num_classes)`` or not whole, binary or
        multi-hot values other than 0/1, one-hot rows that are not one-hot): eagerly at
        the update, naming the first bad value; inside a traced function the batch is
        recorded, the traced result is NaN and an eager ``result()`` raises.
    TypeError
        For arguments of the wrong type (e.g. ``beta='1'``).
"""


@keras.saving.register_keras_serializable(package="tfbalance")
class FBetaScore(_ConfusionMetric):
    __doc__ = (
        """Streaming F-beta score over binary, multi-class or multi-label predictions.

    ``F = (1 + beta**2) * tp / ((1 + beta**2) * tp + beta**2 * fn + fp)`` from counts
    accumulated over all batches, equal to :func:`sklearn.metrics.fbeta_score`.
    :meth:`precision_recall_fscore_support` returns precision and recall from the same
    counts.

    Parameters
    ----------
    beta : float, default 1.0
        Weight of recall: ``beta > 1`` favours recall, ``beta < 1`` precision.
"""
        + _COMMON_PARAMETERS
        + """
    Examples
    --------
    >>> import numpy as np
    >>> from tfbalance.metrics import FBetaScore
    >>> rng = np.random.default_rng(0)
    >>> y_true = rng.integers(0, 2, size=8)
    >>> y_prob = rng.random(8).astype("float32")
    >>> m = FBetaScore(beta=2)
    >>> m.update_state(y_true[:4], y_prob[:4])
    >>> m.update_state(y_true[4:], y_prob[4:])
    >>> from sklearn.metrics import fbeta_score
    >>> bool(np.isclose(m.result().numpy(), fbeta_score(y_true, y_prob > 0.5, beta=2)))
    True
    """
    )

    def __init__(
        self,
        *,
        beta: float = 1.0,
        average: str | None = "auto",
        num_classes: int | None = None,
        threshold: Threshold = 0.5,
        from_logits: bool = False,
        multi_label: bool = False,
        pos_label: int = 1,
        zero_division: float = 0.0,
        name: str | None = "fbeta_score",
        dtype: Any = None,
    ) -> None:
        super().__init__(
            beta=beta,
            average=average,
            num_classes=num_classes,
            threshold=threshold,
            from_logits=from_logits,
            multi_label=multi_label,
            pos_label=pos_label,
            zero_division=zero_division,
            name=name,
            dtype=dtype,
        )

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "beta": self.beta}


@keras.saving.register_keras_serializable(package="tfbalance")
class F1Score(FBetaScore):
    __doc__ = (
        """Streaming F1 score over binary, multi-class or multi-label predictions.

    The harmonic mean of precision and recall, from counts accumulated over all batches:
    equal to :func:`sklearn.metrics.f1_score` on the whole data. With no arguments, on a
    single sigmoid output, it is the binary F1 of class 1 at threshold 0.5 (Keras' own
    ``F1Score`` would score every sample as positive there).

    Parameters
    ----------
"""
        + _COMMON_PARAMETERS
        + """
    Examples
    --------
    A sigmoid output with 0/1 labels:

    >>> import numpy as np
    >>> from tfbalance.metrics import F1Score
    >>> m = F1Score()
    >>> m.update_state([1, 0, 1, 1], [0.9, 0.6, 0.4, 0.7])
    >>> round(float(m.result()), 4)
    0.6667

    Softmax output, integer labels, per-class scores:

    >>> rng = np.random.default_rng(0)
    >>> m = F1Score(average=None)
    >>> m.update_state(rng.integers(0, 3, 6), rng.random((6, 3)))
    >>> m.result().shape
    TensorShape([3])
    """
    )

    def __init__(
        self,
        *,
        average: str | None = "auto",
        num_classes: int | None = None,
        threshold: Threshold = 0.5,
        from_logits: bool = False,
        multi_label: bool = False,
        pos_label: int = 1,
        zero_division: float = 0.0,
        name: str | None = "f1_score",
        dtype: Any = None,
    ) -> None:
        super().__init__(
            beta=1.0,
            average=average,
            num_classes=num_classes,
            threshold=threshold,
            from_logits=from_logits,
            multi_label=multi_label,
            pos_label=pos_label,
            zero_division=zero_division,
            name=name,
            dtype=dtype,
        )

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        del config["beta"]
        return config


@keras.saving.register_keras_serializable(package="tfbalance")
class Precision(_ConfusionMetric):
    __doc__ = (
        """Streaming precision ``tp / (tp + fp)`` with scikit-learn's averages.

    Unlike ``keras.metrics.Precision`` it takes every input form (sparse or one-hot
    multi-class, binary, multi-label) and averages per class ('macro', 'weighted',
    None), as :func:`sklearn.metrics.precision_score` does.

    Parameters
    ----------
"""
        + _COMMON_PARAMETERS
        + """
    Examples
    --------
    >>> from tfbalance.metrics import Precision
    >>> m = Precision(average=None)
    >>> m.update_state([0, 1, 2, 2], [[.8, .1, .1], [.1, .2, .7], [.1, .1, .8], [.3, .6, .1]])
    >>> m.result().numpy()
    array([1. , 0. , 0.5], dtype=float32)
    """
    )

    _score = "precision"

    def __init__(
        self,
        *,
        average: str | None = "auto",
        num_classes: int | None = None,
        threshold: Threshold = 0.5,
        from_logits: bool = False,
        multi_label: bool = False,
        pos_label: int = 1,
        zero_division: float = 0.0,
        name: str | None = "precision_score",
        dtype: Any = None,
    ) -> None:
        super().__init__(
            average=average,
            num_classes=num_classes,
            threshold=threshold,
            from_logits=from_logits,
            multi_label=multi_label,
            pos_label=pos_label,
            zero_division=zero_division,
            name=name,
            dtype=dtype,
        )


@keras.saving.register_keras_serializable(package="tfbalance")
class Recall(_ConfusionMetric):
    __doc__ = (
        """Streaming recall ``tp / (tp + fn)`` with scikit-learn's averages.

    Per-class recall (``average=None``) is what to watch for a minority class. Its
    'macro' average equals :func:`sklearn.metrics.recall_score` with ``average='macro'``
    over the classes ``0 .. num_classes - 1``; that is the balanced accuracy
    (:func:`sklearn.metrics.balanced_accuracy_score`) only when every class occurs in
    ``y_true``. A class that is predicted but absent from ``y_true`` has recall
    ``zero_division`` and enters the mean here, while balanced accuracy leaves it out.

    Parameters
    ----------
"""
        + _COMMON_PARAMETERS
        + """
    Examples
    --------
    >>> from tfbalance.metrics import Recall
    >>> m = Recall(average=None)
    >>> m.update_state([0, 1, 2, 2], [[.8, .1, .1], [.1, .2, .7], [.1, .1, .8], [.3, .6, .1]])
    >>> m.result().numpy()
    array([1. , 0. , 0.5], dtype=float32)
    """
    )

    _score = "recall"

    def __init__(
        self,
        *,
        average: str | None = "auto",
        num_classes: int | None = None,
        threshold: Threshold = 0.5,
        from_logits: bool = False,
        multi_label: bool = False,
        pos_label: int = 1,
        zero_division: float = 0.0,
        name: str | None = "recall_score",
        dtype: Any = None,
    ) -> None:
        super().__init__(
            average=average,
            num_classes=num_classes,
            threshold=threshold,
            from_logits=from_logits,
            multi_label=multi_label,
            pos_label=pos_label,
            zero_division=zero_division,
            name=name,
            dtype=dtype,
        )


# --------------------------------------------------------------------------- best threshold


@keras.saving.register_keras_serializable(package="tfbalance")
class BestF1(_CountingMetric):
    """The best F1 over a fixed grid of decision thresholds, streamed over all batches.

    For each threshold ``t`` of ``linspace(0, 1, num_thresholds)`` a sample is predicted
    positive when its probability is greater than ``t``. Each update adds the weighted
    positives and negatives to a histogram over the grid, so memory is
    ``O(num_thresholds)`` per label whatever the number of samples, and the F1 at every
    threshold is exactly :func:`sklearn.metrics.f1_score` of ``y_prob > t``.
    :meth:`result` is the best of them and :meth:`best_threshold` the (smallest) threshold
    reaching it. A threshold with no true and no predicted positives scores 0.

    Parameters
    ----------
    num_thresholds : int, default 201
        Size of the grid, from 2 to 10**6 (201 gives steps of 0.005).
    from_logits : bool, default False
        Whether ``y_pred`` holds logits; the grid always applies to probabilities.
    multi_label : bool, default False
        ``y_pred`` and multi-hot ``y_true`` of shape ``(n, C)``: one curve per label.
    average : {'auto', 'micro', 'macro', None}, default 'auto'
        Multi-label only. ``None``: the best F1 of each label (each at its own threshold);
        ``'macro'``: their mean; ``'micro'``: the best pooled F1 at one shared threshold.
        ``'auto'`` is ``'macro'``. Binary inputs have one curve, and ignore it.
    num_classes : int, optional
        Number of labels with ``multi_label=True``; read from the first ``y_pred`` when
        left out.
    name : str, optional
        Metric name.
    dtype : str, optional
        dtype of the result.

    Raises
    ------
    ValueError
        For ``num_thresholds`` outside [2, 10**6], an unknown ``average``, and (when updated) shapes that
        do not fit together, or labels other than 0/1 (a runtime check).
    TypeError
        For arguments of the wrong type.

    Examples
    --------
    >>> import numpy as np
    >>> from tfbalance.metrics import BestF1
    >>> rng = np.random.default_rng(0)
    >>> y_true = rng.integers(0, 2, 100)
    >>> y_prob = np.clip(0.3 * y_true + 0.7 * rng.random(100), 0, 1)
    >>> m = BestF1(num_thresholds=11)
    >>> m.update_state(y_true, y_prob)
    >>> round(float(m.best_threshold()), 3), round(float(m.result()), 3)
    (0.3, 0.794)
    """

    def __init__(
        self,
        *,
        num_thresholds: int = 201,
        from_logits: bool = False,
        multi_label: bool = False,
        average: str | None = "auto",
        num_classes: int | None = None,
        name: str | None = "best_f1",
        dtype: Any = None,
    ) -> None:
        super().__init__(name=name, dtype=dtype)
        self._direction = "up"
        self._label_rule = "BestF1 needs 0/1 labels"
        if isinstance(num_thresholds, (bool, np.bool_)) or not isinstance(
            num_thresholds, (int, np.integer)
        ):
            raise TypeError(
                "Invalid `num_thresholds`: expected an int >= 2. "
                f"Received: num_thresholds={num_thresholds!r}"
            )
        if not 2 <= num_thresholds <= 10**6:
            raise ValueError(
                "Invalid `num_thresholds`: expected an int in [2, 1000000]. "
                f"Received: num_thresholds={num_thresholds!r}"
            )
        self.num_thresholds = int(num_thresholds)
        self.from_logits = _check_bool(from_logits, "from_logits")
        self.multi_label = _check_bool(multi_label, "multi_label")
        self.average = _check_average(average, ("auto", "micro", "macro", None))
        self.num_classes = _check_num_classes(num_classes, minimum=1)
        self.thresholds = np.linspace(0.0, 1.0, self.num_thresholds).astype("float32")
        self._built_state = False
        if self.num_classes is not None or not self.multi_label:
            self._build_state(self.num_classes if self.multi_label else 1)

    def _build_state(self, num_labels: int) -> None:
        self.num_classes = num_labels if self.multi_label else None
        self._labels = num_labels
        # [positives, negatives] per label and bucket; bucket k holds the samples that are
        # predicted positive at thresholds 0..k-1 exactly.
        self._add_counts((2, num_labels, self.num_thresholds + 1), "histograms")
        self._built_state = True

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        """Add one batch to the per-threshold histograms (see the class docstring)."""
        y_true, y_pred, sample_weight = self._inputs(y_true, y_pred, sample_weight)
        shapes = f"y_true.shape={_shape(y_true)} and y_pred.shape={_shape(y_pred)}"
        if self.multi_label:
            if len(y_pred.shape) != 2 or len(y_true.shape) != 2 or (
                _shape(y_true)[-1] != _shape(y_pred)[-1]
            ) or _shape(y_pred)[-1] is None:
                raise ValueError(
                    "Invalid inputs: with multi_label=True, y_true and y_pred must both have "
                    f"shape (n, C) with C known. Received: {shapes}"
                )
            labels = _shape(y_pred)[-1]
            if self._built_state and labels != self._labels:
                raise ValueError(
                    f"Invalid inputs: y_pred has {labels} labels but the metric has "
                    f"{self._labels}. Received: {shapes}"
                )
        else:
            ok = all(
                len(t.shape) == 1 or (len(t.shape) == 2 and _shape(t)[-1] == 1)
                for t in (y_true, y_pred)
            )
            if not ok:
                raise ValueError(
                    "Invalid inputs: BestF1 scores a binary problem; y_true and y_pred must "
                    f"have shape (n,) or (n, 1) (use multi_label=True for (n, C)). "
                    f"Received: {shapes}"
                )
            labels = 1
        if sample_weight is not None:
            weight_shape = _shape(sample_weight)
            if not (len(weight_shape) == 1 or (len(weight_shape) == 2 and weight_shape[-1] == 1)):
                raise ValueError(
                    "Invalid `sample_weight`: expected shape (n,) or (n, 1). "
                    f"Received: sample_weight.shape={weight_shape} with {shapes}"
                )
        if not self._built_state:
            self._build_state(labels)
        batch = _batch_mismatch(
            {"y_true": y_true, "y_pred": y_pred, "sample_weight": sample_weight})
        histograms, flags, masks, quoted = _run_batch(
            _threshold_histograms, y_true, y_pred, sample_weight, labels=labels,
            num_thresholds=self.num_thresholds, from_logits=self.from_logits,
            dtype=self._count_dtype,
        )
        self._admit(flags, batch, masks,
                    {"y_pred": y_pred, "y_true": quoted, "sample_weight": sample_weight})
        self._accumulate("histograms", histograms)

    def _curves(self) -> tuple[Any, Any, Any]:
        """tp, fp and total positives per label and threshold: shapes (L, T), (L, T), (L, 1)."""
        histograms = self._read("histograms")

        def above(counts: Any) -> Any:
            # Positive at threshold i: the buckets k > i (a reversed cumulative sum).
            return ops.flip(ops.cumsum(ops.flip(counts, axis=1), axis=1), axis=1)[:, 1:]

        pos, neg = histograms[0], histograms[1]
        return above(pos), above(neg), ops.sum(pos, axis=1, keepdims=True)

    def _f1_curves(self) -> tuple[Any, str]:
        tp, fp, total = self._curves()
        average = self.average if self.average != "auto" else "macro"
        if not self.multi_label:
            average = "binary"
        if average == "micro":
            tp = ops.sum(tp, axis=0, keepdims=True)
            fp = ops.sum(fp, axis=0, keepdims=True)
            total = ops.sum(total, axis=0, keepdims=True)
        return _safe_divide(2 * tp, tp + fp + total, 0.0), average

    def f1_curve(self) -> Any:
        """The F1 at every threshold of :attr:`thresholds`.

        Returns
        -------
        tensor
            Shape ``(num_thresholds,)`` for binary inputs and ``average='micro'``, else
            ``(num_classes, num_thresholds)``.

        Examples
        --------
        >>> from tfbalance.metrics import BestF1
        >>> m = BestF1(num_thresholds=3)
        >>> m.update_state([1, 0, 1], [0.9, 0.6, 0.4])
        >>> [round(float(v), 3) for v in m.f1_curve()]
        [0.8, 0.5, 0.0]
        """
        curves, average = self._f1_curves()
        if average in ("binary", "micro"):
            curves = curves[0]
        return self._refuse_if_rejected(ops.cast(curves, self.dtype))[0]

    def result(self) -> Any:
        if not self._built_state:
            return ops.convert_to_tensor(0.0, self.dtype)
        curves, average = self._f1_curves()
        best = ops.max(curves, axis=1)
        if average in ("binary", "micro"):
            best = best[0]
        elif average == "macro":
            best = ops.mean(best)
        return self._refuse_if_rejected(ops.cast(best, self.dtype))[0]

    def best_threshold(self) -> Any:
        """The smallest grid threshold reaching the best F1.

        Returns
        -------
        tensor
            A scalar for binary inputs and ``average='micro'``; one threshold per label
            otherwise.

        Raises
        ------
        ValueError
            If no batch has been seen yet and the number of labels is unknown.

        Examples
        --------
        >>> from tfbalance.metrics import BestF1
        >>> m = BestF1(num_thresholds=5)
        >>> m.update_state([1, 0, 1, 0], [0.9, 0.3, 0.6, 0.55])
        >>> float(m.best_threshold())
        0.5
        """
        if not self._built_state:
            raise ValueError(
                "Invalid call: the metric has seen no batch yet and was made without "
                "`num_classes`. Received: num_classes=None"
            )
        curves, average = self._f1_curves()
        index = ops.argmax(curves, axis=1)
        chosen = ops.take(ops.convert_to_tensor(self.thresholds, self.dtype), index)
        chosen = chosen[0] if average in ("binary", "micro") else chosen
        return self._refuse_if_rejected(chosen)[0]

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "num_thresholds": self.num_thresholds,
            "from_logits": self.from_logits,
            "multi_label": self.multi_label,
            "average": self.average,
            "num_classes": self.num_classes,
        }

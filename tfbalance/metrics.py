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

Counts are accumulated in float64, so they stay exact far past float32's 2**24 limit; the
result has the metric's ``dtype`` (float32 by default).
"""

from __future__ import annotations

import math
from numbers import Real
from typing import Any, Sequence, Union

import keras
import numpy as np

from tfbalance._tf import tf

__all__ = ["BestF1", "F1Score", "FBetaScore", "Precision", "Recall"]

_AVERAGES = ("auto", "binary", "micro", "macro", "weighted", None)
_COUNT_DTYPE = "float64"

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


def _shape(tensor: tf.Tensor) -> tuple:
    return tuple(tensor.shape)


# --------------------------------------------------------------------------- tensor helpers


def _safe_divide(numerator: tf.Tensor, denominator: tf.Tensor, zero_division: float) -> tf.Tensor:
    """``numerator / denominator``, and ``zero_division`` where the denominator is 0 (sklearn)."""
    zero = tf.equal(denominator, 0)
    ratio = numerator / tf.where(zero, tf.ones_like(denominator), denominator)
    return tf.where(zero, tf.constant(zero_division, ratio.dtype), ratio)


def _nan_average(values: tf.Tensor, weights: tf.Tensor | None = None) -> tf.Tensor:
    """scikit-learn's ``_nanaverage``: NaNs are left out; all NaN gives NaN; zero total
    weight falls back to the plain mean of what is left."""
    valid = tf.logical_not(tf.math.is_nan(values))
    clean = tf.where(valid, values, tf.zeros_like(values))
    count = tf.reduce_sum(tf.cast(valid, values.dtype))
    plain = tf.reduce_sum(clean) / tf.maximum(count, 1)
    if weights is not None:
        kept = tf.where(valid, weights, tf.zeros_like(weights))
        total = tf.reduce_sum(kept)
        weighted = tf.reduce_sum(clean * kept) / tf.where(total > 0, total, tf.ones_like(total))
        plain = tf.where(total > 0, weighted, plain)
    return tf.where(count > 0, plain, tf.constant(math.nan, values.dtype))


def _check_batch(tensors: dict[str, tf.Tensor]) -> list:
    """Static batch-size agreement, plus a runtime check when a batch size is unknown."""
    items = [(k, t) for k, t in tensors.items() if t is not None]
    sizes = {k: t.shape[0] for k, t in items}
    known = {k: s for k, s in sizes.items() if s is not None}
    described = " and ".join(f"{k}.shape={_shape(t)}" for k, t in items)
    if len(set(known.values())) > 1:
        raise ValueError(
            f"Invalid inputs: y_true, y_pred and sample_weight must have the same batch size. "
            f"Received: {described}"
        )
    if len(known) == len(items):
        return []
    first = tf.shape(items[0][1])[0]
    return [
        tf.debugging.assert_equal(
            tf.shape(t)[0],
            first,
            message=f"Invalid inputs: batch sizes differ. Received: {described}",
        )
        for _, t in items[1:]
    ]


def _range_check(ids: tf.Tensor, num_classes: int, what: str) -> tf.Operation:
    """A runtime check that every id is in ``[0, num_classes)``, naming an offending id."""
    low = tf.reduce_min(ids)
    high = tf.reduce_max(ids)
    ok = tf.logical_and(low >= 0, high < num_classes)
    bad = tf.where(high >= num_classes, high, low)
    return tf.debugging.Assert(
        ok,
        [f"Invalid `y_true`: {what} must be in [0, {num_classes}). Found label id", bad],
        name="check_label_ids",
    )


# --------------------------------------------------------------------------- count kernels
# One compiled function per input form: eagerly, a single call replaces some twenty op
# dispatches; inside a traced step (model.fit, strategy.run) it is inlined like any op.
# Each returns the batch's rows (tp, fp, fn) per class, shape (3, C), in float64.


def _weights(sample_weight: tf.Tensor | None, like: tf.Tensor, dtype: Any) -> tf.Tensor:
    if sample_weight is None:
        return tf.ones(tf.shape(like)[:1], dtype)
    return tf.cast(tf.reshape(sample_weight, [-1]), dtype)


# Turn the batch sums (total weight, true positives+negatives... see _binary_counts) into
# the (3, 2) rows tp, fp, fn of classes 0 and 1. Class 0 is scored too (for 'macro',
# 'weighted', None and pos_label=0): its true positives are class 1's true negatives, and
# its false positives and negatives are class 1's false negatives and positives.
_BINARY_ROWS = np.array(
    [  # total, support, predicted, tp
        [1, -1, -1, 1], [0, 0, 0, 1],  # tp of class 0 (= tn), of class 1
        [0, 1, 0, -1], [0, 0, 1, -1],  # fp of class 0 (= fn), of class 1
        [0, 0, 1, -1], [0, 1, 0, -1],  # fn of class 0 (= fp), of class 1
    ],
    dtype=_COUNT_DTYPE,
)
# [tp, predicted, support] -> [tp, fp, fn]
_SUMS_TO_ROWS = np.array([[1, 0, 0], [-1, 1, 0], [-1, 0, 1]], dtype=_COUNT_DTYPE)


@tf.function(autograph=False, reduce_retracing=True)
def _binary_counts(y_true, y_pred, sample_weight, *, num_classes, cut, one_hot, dtype):
    del num_classes, one_hot  # always two classes, 0/1 ids
    truth = tf.cast(tf.reshape(y_true, [-1]), dtype)
    predicted = tf.cast(tf.reshape(y_pred, [-1]) > tf.constant(cut, y_pred.dtype), dtype)
    weights = _weights(sample_weight, truth, dtype)
    weighted_truth = weights * truth
    defect = tf.abs(truth * (truth - 1))  # 0 exactly for labels 0 and 1
    sums = tf.reduce_sum(
        tf.stack([weights, weighted_truth, weights * predicted, weighted_truth * predicted,
                  defect]),
        axis=1,
    )
    check = tf.debugging.Assert(
        tf.equal(sums[4], 0),
        ["Invalid `y_true`: binary labels must be 0 or 1. Found label",
         tf.gather(truth, tf.argmax(defect))],
        name="check_binary_labels",
    )
    with tf.control_dependencies([check]):
        counts = tf.linalg.matvec(_BINARY_ROWS, tf.cast(sums[:4], _COUNT_DTYPE))
    return tf.reshape(counts, [3, 2])


@tf.function(autograph=False, reduce_retracing=True)
def _multi_class_counts(y_true, y_pred, sample_weight, *, num_classes, cut, one_hot, dtype):
    del cut  # the prediction is the argmax
    pred_ids = tf.argmax(y_pred, axis=-1, output_type=tf.int32)
    if one_hot:
        true_ids = tf.argmax(y_true, axis=-1, output_type=tf.int32)
        checks = []
    else:
        true_ids = tf.cast(tf.reshape(y_true, [-1]), tf.int32)
        checks = [_range_check(true_ids, num_classes, "class ids")]
    weights = _weights(sample_weight, true_ids, dtype)
    with tf.control_dependencies(checks):
        hits = tf.where(tf.equal(true_ids, pred_ids), weights, tf.zeros_like(weights))
        sums = tf.stack([
            tf.math.unsorted_segment_sum(hits, true_ids, num_classes),
            tf.math.unsorted_segment_sum(weights, pred_ids, num_classes),
            tf.math.unsorted_segment_sum(weights, true_ids, num_classes),
        ])
    return tf.matmul(_SUMS_TO_ROWS, tf.cast(sums, _COUNT_DTYPE))


@tf.function(autograph=False, reduce_retracing=True)
def _multi_label_counts(y_true, y_pred, sample_weight, *, cut, dtype):
    predicted = tf.cast(y_pred > tf.constant(cut, y_pred.dtype), dtype)
    truth = tf.cast(y_true, dtype)
    check = tf.debugging.Assert(
        tf.reduce_all(tf.logical_or(tf.equal(truth, 0), tf.equal(truth, 1))),
        ["Invalid `y_true`: multi-label targets must be 0 or 1. Found values", y_true],
        summarize=10,
        name="check_multi_hot",
    )
    with tf.control_dependencies([check]):
        if sample_weight is not None:
            weights = tf.cast(tf.reshape(sample_weight, [-1, 1]), dtype)
            predicted_w = predicted * weights
            truth_w = truth * weights
        else:
            predicted_w, truth_w = predicted, truth
        sums = tf.stack([
            tf.reduce_sum(predicted_w * truth, axis=0),
            tf.reduce_sum(predicted_w, axis=0),
            tf.reduce_sum(truth_w, axis=0),
        ])
    return tf.matmul(_SUMS_TO_ROWS, tf.cast(sums, _COUNT_DTYPE))


@tf.function(autograph=False, reduce_retracing=True)
def _threshold_histograms(y_true, y_pred, sample_weight, *, labels, num_thresholds, from_logits,
                          dtype):
    """(2, labels, num_thresholds + 1) float64: weighted positives and negatives per bucket."""
    probs = tf.reshape(y_pred, [-1, labels])
    if from_logits:
        probs = tf.sigmoid(probs)
    truth = tf.cast(tf.reshape(y_true, [-1, labels]), dtype)
    check = tf.debugging.Assert(
        tf.reduce_all(tf.logical_or(tf.equal(truth, 0), tf.equal(truth, 1))),
        ["Invalid `y_true`: BestF1 needs 0/1 labels. Found values", y_true],
        summarize=10,
        name="check_binary_labels",
    )
    thresholds = np.linspace(0.0, 1.0, num_thresholds).astype("float32")
    # searchsorted(left) counts the thresholds strictly below p: the exact comparison
    # `p > t` for every grid point at once.
    bucket = tf.searchsorted(
        tf.constant(thresholds, probs.dtype), tf.reshape(probs, [-1]), side="left"
    )
    segments = bucket + tf.tile(tf.range(labels) * (num_thresholds + 1), [tf.shape(probs)[0]])
    flat_truth = tf.reshape(truth, [-1])
    if sample_weight is None:
        weights = tf.ones_like(flat_truth)
    else:
        weights = tf.reshape(
            tf.broadcast_to(tf.cast(tf.reshape(sample_weight, [-1, 1]), dtype), tf.shape(truth)),
            [-1],
        )
    positives = weights * flat_truth
    with tf.control_dependencies([check]):
        sums = tf.math.unsorted_segment_sum(
            tf.stack([positives, weights - positives], axis=1),
            segments,
            labels * (num_thresholds + 1),
        )
    return tf.reshape(tf.transpose(tf.cast(sums, _COUNT_DTYPE)), [2, labels, num_thresholds + 1])


# --------------------------------------------------------------------------- confusion metrics


class _ConfusionMetric(keras.metrics.Metric):
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
        self.confusion = self.add_variable(
            shape=(3, num_classes), initializer="zeros", dtype=_COUNT_DTYPE, name="confusion"
        )
        self._built_state = True

    def reset_state(self) -> None:
        for variable in self.variables:
            variable.assign(tf.zeros(variable.shape, variable.dtype))

    @property
    def true_positives(self) -> tf.Tensor:
        """Weighted true positives per class (float64)."""
        return tf.convert_to_tensor(self.confusion)[0]

    @property
    def false_positives(self) -> tf.Tensor:
        """Weighted false positives per class (float64)."""
        return tf.convert_to_tensor(self.confusion)[1]

    @property
    def false_negatives(self) -> tf.Tensor:
        """Weighted false negatives per class (float64)."""
        return tf.convert_to_tensor(self.confusion)[2]

    @property
    def support(self) -> tf.Tensor:
        """Weighted number of true samples per class (float64)."""
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
        y_pred = tf.convert_to_tensor(y_pred)
        if not y_pred.dtype.is_floating:
            y_pred = tf.cast(y_pred, self.dtype)
        y_true = tf.convert_to_tensor(y_true)
        if sample_weight is not None:
            sample_weight = tf.cast(tf.convert_to_tensor(sample_weight), y_pred.dtype)
        columns = self._columns(y_true, y_pred, sample_weight)
        if not self._built_state:
            self._build_state(2 if columns == 1 and not self.multi_label else columns)
        checks = _check_batch({"y_true": y_true, "y_pred": y_pred, "sample_weight": sample_weight})
        if self.multi_label:
            cut = self.threshold
            if self.from_logits:
                cut = [_logit(t) for t in cut] if isinstance(cut, list) else _logit(cut)
            kernel = _multi_label_counts
            options = {"cut": cut, "dtype": self.dtype}
        else:
            cut = self.threshold
            if columns == 1 and self.from_logits:
                cut = _logit(cut)  # type: ignore[arg-type]
            one_hot = y_true.shape.rank == 2 and y_true.shape[-1] == columns and columns > 1
            kernel = _binary_counts if columns == 1 else _multi_class_counts
            options = {"num_classes": self.num_classes, "cut": cut, "one_hot": one_hot,
                       "dtype": self.dtype}
        with tf.control_dependencies(checks):
            counts = kernel(y_true, y_pred, sample_weight, **options)
        self.confusion.assign_add(counts)

    def _columns(self, y_true: tf.Tensor, y_pred: tf.Tensor, sample_weight: Any) -> int:
        """Static checks of the shapes; returns the number of columns of ``y_pred``."""
        shapes = f"y_true.shape={_shape(y_true)} and y_pred.shape={_shape(y_pred)}"
        if y_pred.shape.rank not in (1, 2) or y_true.shape.rank not in (1, 2):
            raise ValueError(
                "Invalid inputs: expected y_pred of shape (n,), (n, 1) or (n, C) and y_true of "
                f"shape (n,), (n, 1) or (n, C). Received: {shapes}"
            )
        columns = 1 if y_pred.shape.rank == 1 else y_pred.shape[-1]
        if columns is None:
            raise ValueError(
                "Invalid inputs: the number of columns of y_pred must be known when the metric "
                f"is traced. Received: {shapes}"
            )
        true_columns = 1 if y_true.shape.rank == 1 else y_true.shape[-1]
        if self.multi_label:
            if y_pred.shape.rank != 2 or true_columns != columns:
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
            if sample_weight.shape.rank not in (1, 2) or (
                sample_weight.shape.rank == 2 and sample_weight.shape[-1] != 1
            ):
                raise ValueError(
                    "Invalid `sample_weight`: expected shape (n,) or (n, 1). "
                    f"Received: sample_weight.shape={weight_shape} with {shapes}"
                )
        return columns

    # ---- results

    def precision_recall_fscore_support(
        self, *, average: str | None = "auto"
    ) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor | None]:
        """Precision, recall, F-beta and support so far, as
        :func:`sklearn.metrics.precision_recall_fscore_support` returns them.

        Parameters
        ----------
        average : {'auto', 'binary', 'micro', 'macro', 'weighted', None}, default 'auto'
            ``'auto'`` uses the metric's own averaging; ``None`` gives per-class vectors.

        Returns
        -------
        tuple of tf.Tensor
            ``(precision, recall, fbeta, support)`` in the metric's dtype; ``support``
            (the weighted number of true samples per class) is ``None`` when averaged.

        Raises
        ------
        ValueError
            If no batch has been seen yet and ``num_classes`` was not given.

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
        tp, fp, fn = tf.unstack(tf.convert_to_tensor(self.confusion))
        if average == "binary":
            if self.num_classes != 2 or self.multi_label:
                raise ValueError(
                    "Invalid `average`: 'binary' needs a binary problem, but there are "
                    f"{self.num_classes} classes. Received: average='binary'"
                )
            tp, fp, fn = tp[self.pos_label], fp[self.pos_label], fn[self.pos_label]
        elif average == "micro":
            tp, fp, fn = tf.reduce_sum(tp), tf.reduce_sum(fp), tf.reduce_sum(fn)
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
        cast = lambda v: tf.cast(v, self.dtype)  # noqa: E731
        if average is None:
            return cast(precision), cast(recall), cast(fscore), cast(support)
        return cast(precision), cast(recall), cast(fscore), None

    def result(self) -> tf.Tensor:
        if not self._built_state:
            return tf.constant(0.0, self.dtype)
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
        them). Label ids outside ``[0, num_classes)`` fail a runtime check
        (``tf.errors.InvalidArgumentError``) whose message names the bad id.
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

    Per-class recall (``average=None``) is what to watch for a minority class; its
    'macro' average is the balanced accuracy of a multi-class problem.

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
class BestF1(keras.metrics.Metric):
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
        Size of the grid, >= 2 (201 gives steps of 0.005).
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
        For ``num_thresholds < 2``, an unknown ``average``, and (when updated) shapes that
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
        if isinstance(num_thresholds, (bool, np.bool_)) or not isinstance(
            num_thresholds, (int, np.integer)
        ):
            raise TypeError(
                "Invalid `num_thresholds`: expected an int >= 2. "
                f"Received: num_thresholds={num_thresholds!r}"
            )
        if num_thresholds < 2:
            raise ValueError(
                "Invalid `num_thresholds`: expected an int >= 2. "
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
        self.histograms = self.add_variable(
            shape=(2, num_labels, self.num_thresholds + 1), initializer="zeros",
            dtype=_COUNT_DTYPE, name="histograms",
        )
        self._built_state = True

    def reset_state(self) -> None:
        for variable in self.variables:
            variable.assign(tf.zeros(variable.shape, variable.dtype))

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        """Add one batch to the per-threshold histograms (see the class docstring)."""
        y_pred = tf.convert_to_tensor(y_pred)
        if not y_pred.dtype.is_floating:
            y_pred = tf.cast(y_pred, self.dtype)
        y_true = tf.convert_to_tensor(y_true)
        if sample_weight is not None:
            sample_weight = tf.cast(tf.convert_to_tensor(sample_weight), self.dtype)
        shapes = f"y_true.shape={_shape(y_true)} and y_pred.shape={_shape(y_pred)}"
        if self.multi_label:
            if y_pred.shape.rank != 2 or y_true.shape.rank != 2 or (
                y_true.shape[-1] != y_pred.shape[-1]
            ) or y_pred.shape[-1] is None:
                raise ValueError(
                    "Invalid inputs: with multi_label=True, y_true and y_pred must both have "
                    f"shape (n, C) with C known. Received: {shapes}"
                )
            labels = y_pred.shape[-1]
            if self._built_state and labels != self._labels:
                raise ValueError(
                    f"Invalid inputs: y_pred has {labels} labels but the metric has "
                    f"{self._labels}. Received: {shapes}"
                )
        else:
            ok = all(
                t.shape.rank == 1 or (t.shape.rank == 2 and t.shape[-1] == 1)
                for t in (y_true, y_pred)
            )
            if not ok:
                raise ValueError(
                    "Invalid inputs: BestF1 scores a binary problem; y_true and y_pred must "
                    f"have shape (n,) or (n, 1) (use multi_label=True for (n, C)). "
                    f"Received: {shapes}"
                )
            labels = 1
        if sample_weight is not None and not (
            sample_weight.shape.rank == 1
            or (sample_weight.shape.rank == 2 and sample_weight.shape[-1] == 1)
        ):
            raise ValueError(
                "Invalid `sample_weight`: expected shape (n,) or (n, 1). "
                f"Received: sample_weight.shape={_shape(sample_weight)} with {shapes}"
            )
        if not self._built_state:
            self._build_state(labels)
        checks = _check_batch({"y_true": y_true, "y_pred": y_pred, "sample_weight": sample_weight})
        with tf.control_dependencies(checks):
            histograms = _threshold_histograms(
                y_true, y_pred, sample_weight, labels=labels,
                num_thresholds=self.num_thresholds, from_logits=self.from_logits, dtype=self.dtype,
            )
        self.histograms.assign_add(histograms)

    def _curves(self) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """tp, fp and total positives per label and threshold: shapes (L, T), (L, T), (L, 1)."""
        pos, neg = tf.unstack(tf.convert_to_tensor(self.histograms))
        # Positive at threshold i: the buckets k > i.
        tp = tf.cumsum(pos, axis=1, exclusive=True, reverse=True)[:, :-1]
        fp = tf.cumsum(neg, axis=1, exclusive=True, reverse=True)[:, :-1]
        return tp, fp, tf.reduce_sum(pos, axis=1, keepdims=True)

    def _f1_curves(self) -> tuple[tf.Tensor, str]:
        tp, fp, total = self._curves()
        average = self.average if self.average != "auto" else "macro"
        if not self.multi_label:
            average = "binary"
        if average == "micro":
            tp = tf.reduce_sum(tp, axis=0, keepdims=True)
            fp = tf.reduce_sum(fp, axis=0, keepdims=True)
            total = tf.reduce_sum(total, axis=0, keepdims=True)
        return _safe_divide(2 * tp, tp + fp + total, 0.0), average

    def f1_curve(self) -> tf.Tensor:
        """The F1 at every threshold of :attr:`thresholds`.

        Returns
        -------
        tf.Tensor
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
        return tf.cast(curves, self.dtype)

    def result(self) -> tf.Tensor:
        if not self._built_state:
            return tf.constant(0.0, self.dtype)
        curves, average = self._f1_curves()
        best = tf.reduce_max(curves, axis=1)
        if average in ("binary", "micro"):
            best = best[0]
        elif average == "macro":
            best = tf.reduce_mean(best)
        return tf.cast(best, self.dtype)

    def best_threshold(self) -> tf.Tensor:
        """The smallest grid threshold reaching the best F1.

        Returns
        -------
        tf.Tensor
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
        index = tf.argmax(curves, axis=1)
        chosen = tf.gather(tf.constant(self.thresholds, self.dtype), index)
        return chosen[0] if average in ("binary", "micro") else chosen

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "num_thresholds": self.num_thresholds,
            "from_logits": self.from_logits,
            "multi_label": self.multi_label,
            "average": self.average,
            "num_classes": self.num_classes,
        }

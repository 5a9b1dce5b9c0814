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
cannot raise, so the refusal is recorded in the state: the traced result is NaN and the
eager ``result()`` that ``fit`` and ``evaluate`` call at the end of an epoch raises
``ValueError`` saying what was refused, until ``reset_state()``. An empty batch (0 rows) is
legal and adds nothing.

How the checks stay cheap: each is a sum taken with the counts (``y_pred - y_pred`` is 0,
or NaN for a NaN or infinite value; a label's badness is ``|t * t - t|``, 0 only for 0 and
1), and the state is one variable holding the counts and then those sums, so an update is
one pass of reductions and one ``assign_add``, with no comparison, select or second variable
on the hot path.
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import keras
import numpy as np
from keras import ops

from tfbalance._validation import check_bool, check_choice, check_int, check_real

__all__ = ["BestF1", "F1Score", "FBetaScore", "Precision", "Recall"]

_AVERAGES = ("auto", "binary", "micro", "macro", "weighted", None)

Threshold = float | Sequence[float]


# --------------------------------------------------------------------------- argument checks
# The kit in tfbalance._validation checks types and ranges; what is specific to the metrics
# (the averages a metric offers, scikit-learn's zero_division values, probability thresholds)
# is built on it here.


def _check_average(average: Any, allowed: Sequence[str | None] = _AVERAGES) -> str | None:
    words = [a for a in allowed if a is not None]
    return check_choice(average, "average", words, allow_none=None in allowed)


def _check_zero_division(zero_division: Any) -> float:
    expected = "expected 0, 1 or float('nan')"
    if isinstance(zero_division, (float, np.floating)) and math.isnan(zero_division):
        return math.nan  # check_real refuses NaN, which is one of scikit-learn's values here
    try:
        value = check_real(zero_division, "zero_division")
    except TypeError:
        raise TypeError(
            f"Invalid `zero_division`: {expected}. Received: zero_division={zero_division!r}"
        ) from None
    if value not in (0.0, 1.0):
        raise ValueError(
            f"Invalid `zero_division`: {expected}. Received: zero_division={zero_division!r}"
        )
    return value


def _check_probability(value: Any, arg_name: str) -> float:
    number = check_real(value, arg_name)
    if not 0.0 <= number <= 1.0:
        raise ValueError(
            f"Invalid `{arg_name}`: expected a probability in [0, 1] (with from_logits=True "
            f"too: it applies to sigmoid(logit)). Received: {arg_name}={value!r}"
        )
    return number


def _check_threshold(threshold: Any) -> float | list[float]:
    """A probability in [0, 1], or a non-empty list of them (one per label)."""
    if not isinstance(threshold, (list, tuple, np.ndarray)):
        return _check_probability(threshold, "threshold")
    values = list(np.asarray(threshold, dtype=object).reshape(-1))
    if not values:
        raise ValueError(
            "Invalid `threshold`: expected a probability or a non-empty list of them. "
            f"Received: threshold={threshold!r}"
        )
    return [_check_probability(v, f"threshold[{i}]") for i, v in enumerate(values)]


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

class _Batch(NamedTuple):
    """One update's inputs as tensors (see ``_CountingMetric._prepare``)."""

    y_true: Any
    y_pred: Any
    sample_weight: Any  # None when not given
    mismatch: Any  # None, or the run-time count of tensors whose batch size differs
    shapes: str  # "y_true.shape=... and y_pred.shape=...", for messages


# --------------------------------------------------------------------------- count kernels
# A kernel turns one batch into its counts, in `dtype` (the count dtype): 1-D tensors (or
# scalars) whose concatenation is the metric's flat state layout; then two checks, scalars
# in `dtype`: the y_pred check (0, or NaN when a prediction is NaN or infinite: the sum of
# `y_pred - y_pred`) and the y_true check (the sum of the label badness); and that badness,
# a tensor that is exactly 0 where a label can be scored and positive or NaN where it
# cannot. The checks are sums like the counts and go into the same state update (no
# comparisons, selects or second variable on the hot path); only an eager update that has
# to name the first bad value looks at the badness entry by entry.


def _segment_sum(values: Any, ids: Any, size: int) -> Any:
    """Sums of ``values`` per id in ``[0, size)``."""
    if _on_meta_device(values):
        # Keras builds torch state by a trace on the "meta" device, which has shapes but no
        # values; torch's segment sum needs values (and Keras' scatter loops over rows).
        return ops.zeros((size,), _dtype(values))
    return ops.segment_sum(values, ids, num_segments=size)


def _on_meta_device(tensor: Any) -> bool:
    return getattr(getattr(tensor, "device", None), "type", None) == "meta"


def _argmax(y_pred: Any) -> Any:
    """The first index of each row's largest value (int32), as ``numpy.argmax``: -0.0 and
    0.0 are equal, and a tie goes to the lower index.

    ``ops.argmax`` is that on torch. On TensorFlow and on JAX's CPU it first rewrites every
    -0.0 of a float input as a tiny negative number, so that a row ``[-0.0, 0.0]`` gives 1
    where numpy (and scikit-learn on its output) gives 0; on TensorFlow it also costs four
    times as much as ``top_k``.
    """
    backend = keras.backend.backend()
    if backend == "tensorflow":
        # top_k is documented to keep the lower index first among equal values.
        return ops.top_k(y_pred, 1)[1][:, 0]
    if backend == "jax":
        # The first column equal to the row's maximum, by an integer argmax (no rewrite).
        is_max = ops.equal(y_pred, ops.max(y_pred, axis=-1, keepdims=True))
        return ops.cast(ops.argmax(ops.cast(is_max, "int32"), axis=-1), "int32")
    return ops.cast(ops.argmax(y_pred, axis=-1), "int32")


def _not_finite(values: Any, dtype: str) -> Any:
    """0 where ``values`` is finite, NaN where it is NaN or infinite (elementwise)."""
    return ops.cast(values - values, dtype)


def _off_0_1(truth: Any) -> Any:
    """0 exactly where ``truth`` is 0 or 1; positive or NaN elsewhere.

    In binary floating point ``t * t`` rounds to ``t`` only for 0 and 1 (for any other
    finite ``t`` the two differ by more than half a unit in the last place, or ``t * t``
    overflows, or underflows to 0 for a tiny non-zero ``t``), and inf and NaN give inf or
    NaN: one multiply, subtract and abs instead of two comparisons and a logical or.
    """
    return ops.abs(truth * truth - truth)


def _checks(y_pred: Any, badness: Any, dtype: str) -> list:
    """The y_pred and y_true checks: 0, or NaN / positive when the batch is bad."""
    return [ops.sum(_not_finite(y_pred, dtype)), ops.cast(ops.sum(badness), dtype)]


def _like(tensor: Any, model: Any) -> Any:
    """``tensor`` of shape (n,) or (n, 1) with the rank of ``model`` (one of those two)."""
    if len(tensor.shape) == len(model.shape):
        return tensor
    return ops.reshape(tensor, [-1] if len(model.shape) == 1 else [-1, 1])


def _binary_counts(y_true, y_pred, sample_weight, *, cut, dtype):
    """tp, predicted and support of classes 0 and 1.

    Class 0 is scored too (for 'macro', 'weighted', None and pos_label=0). Its counts
    follow from class 1's and the total weight: its true positives are the samples that
    are neither true nor predicted positives (``total - support - predicted + tp``); five
    scalar operations where its own rows would cost three more passes and sums."""
    cut = ops.convert_to_tensor(cut, _dtype(y_pred))  # as numpy compares `p > 0.3` (NEP 50)
    truth = ops.cast(_like(y_true, y_pred), dtype)
    predicted = ops.cast(y_pred > cut, dtype)
    badness = _off_0_1(truth)
    if sample_weight is None:
        total = ops.cast(ops.shape(truth)[0], dtype)
        weighted_truth, weighted_predicted = truth, predicted
    else:
        weights = ops.cast(_like(sample_weight, y_pred), dtype)
        total = ops.sum(weights)
        weighted_truth, weighted_predicted = truth * weights, predicted * weights
    hits = ops.sum(weighted_truth * predicted)
    positives, support = ops.sum(weighted_predicted), ops.sum(weighted_truth)
    negatives = total - positives
    counts = [negatives - support + hits, hits, negatives, positives, total - support, support]
    return counts, _checks(y_pred, badness, dtype), badness


def _indicator_counts(truth: Any, predicted: Any, sample_weight: Any, dtype: str) -> list:
    """tp, predicted and support per column of 0/1 matrices (n, C) of labels and
    predictions."""
    if sample_weight is not None:
        weights = ops.cast(ops.reshape(sample_weight, [-1, 1]), dtype)
        predicted, weighted_truth = predicted * weights, truth * weights
    else:
        weighted_truth = truth
    return [ops.sum(predicted * truth, axis=0), ops.sum(predicted, axis=0),
            ops.sum(weighted_truth, axis=0)]


def _one_hot_badness(truth: Any) -> Any:
    """Per row: 0 exactly when the row is one 1 among zeros (a sum of non-negative terms
    is 0 only when every term is, and the row sum of 0/1 values is an exact count)."""
    return ops.sum(_off_0_1(truth), axis=-1) + ops.abs(ops.sum(truth, axis=-1) - 1)


def _one_hot_counts(y_true, y_pred, sample_weight, *, num_classes, dtype):
    truth = ops.cast(y_true, dtype)
    if _on_meta_device(y_pred):
        predicted = ops.zeros_like(truth)  # torch's one_hot needs values (see _segment_sum)
    else:
        predicted = ops.one_hot(_argmax(y_pred), num_classes, dtype=dtype)
    badness = _one_hot_badness(truth)
    counts = _indicator_counts(truth, predicted, sample_weight, dtype)
    return counts, _checks(y_pred, badness, dtype), badness


def _class_ids(ids: Any, num_classes: int) -> tuple[Any, Any]:
    """Class ids as int32 for counting, and their badness: 0 exactly for a whole number in
    ``[0, num_classes)``. Bad ids are counted as some class in range; the batch is refused."""
    if "float" not in _dtype(ids):
        inside = ops.clip(ids, 0, num_classes - 1)
        # A comparison, not |ids - inside|: that difference overflows for the extreme ints.
        return ops.cast(inside, "int32"), ops.cast(ops.not_equal(ids, inside), "float32")
    # NaN must not reach the int cast (its result is undefined); it is bad either way.
    inside = ops.clip(ops.where(ops.isnan(ids), ops.zeros_like(ids), ids), 0, num_classes - 1)
    badness = ops.abs(ids - inside) + ops.abs(inside - ops.floor(inside))
    return ops.cast(inside, "int32"), badness


def _class_id_counts(y_true, y_pred, sample_weight, *, num_classes, dtype):
    true_ids, badness = _class_ids(ops.reshape(y_true, [-1]), num_classes)
    pred_ids = _argmax(y_pred)
    if sample_weight is None:
        weights = ops.ones_like(true_ids, dtype=dtype)
    else:
        weights = ops.cast(ops.reshape(sample_weight, [-1]), dtype)
    hits = ops.where(ops.equal(true_ids, pred_ids), weights, ops.zeros_like(weights))
    counts = [_segment_sum(hits, true_ids, num_classes),
              _segment_sum(weights, pred_ids, num_classes),
              _segment_sum(weights, true_ids, num_classes)]
    return counts, _checks(y_pred, badness, dtype), badness


def _multi_label_counts(y_true, y_pred, sample_weight, *, cut, dtype):
    cut = ops.convert_to_tensor(cut, _dtype(y_pred))  # one threshold, or one per label
    truth = ops.cast(y_true, dtype)
    predicted = ops.cast(y_pred > cut, dtype)
    badness = _off_0_1(truth)
    counts = _indicator_counts(truth, predicted, sample_weight, dtype)
    return counts, _checks(y_pred, badness, dtype), badness


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
    # A NaN batch is refused; NaN only must not index out of range here.
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
    badness = _off_0_1(truth)
    return [sums], _checks(y_pred, badness, dtype), badness


# What a batch can be refused for: the last entries of every metric's state, each 0 until a
# batch is refused for that reason.
_REJECTS = ("y_pred", "y_true", "sample_weight", "batch")


def _checked(kernel, y_true, y_pred, sample_weight, mismatch=None, **static):
    """One batch: the update of the state (counts, then one entry per reason of
    ``_REJECTS``), those last entries on their own (an eager update reads them back) and the
    label badness (for an eager message)."""
    counts, checks, badness = kernel(y_true, y_pred, sample_weight, **static)
    dtype = static["dtype"]
    zero = ops.zeros((), dtype)
    checks = [
        *checks,
        zero if sample_weight is None else ops.sum(_not_finite(sample_weight, dtype)),
        zero if mismatch is None else ops.cast(mismatch, dtype),
    ]
    if all(len(c.shape) == 0 for c in counts):  # one op for scalar counts and checks alike
        delta = ops.stack([*counts, *checks])
    else:
        delta = ops.concatenate([*counts, ops.stack(checks)])
    return delta, delta[-len(_REJECTS):], badness


_COMPILED: dict = {}


def _checked_eager(kernel, y_true, y_pred, sample_weight=None, **static):
    return _checked(kernel, y_true, y_pred, sample_weight, **static)


def _run_batch(kernel: Callable, batch: _Batch, **static: Any) -> tuple[Any, Any, Any]:
    """``_checked`` as one compiled call when eager (TensorFlow, JAX): it replaces some fifty
    op dispatches. Inside a trace (model.fit, tf.function, jax.jit) it is inlined as is."""
    backend = keras.backend.backend()
    if backend not in ("tensorflow", "jax") or not _is_concrete(batch.y_pred):
        return _checked(kernel, batch.y_true, batch.y_pred, batch.sample_weight,
                        mismatch=batch.mismatch, **static)
    # Eager inputs have known batch sizes, so `batch.mismatch` is None here. One compiled
    # function per kernel, settings and input signature (dtypes and shapes but the batch
    # size, which varies from batch to batch): the kernels read ranks and column counts.
    args = tuple(t for t in (batch.y_true, batch.y_pred, batch.sample_weight) if t is not None)
    signature = tuple((_dtype(t), tuple(t.shape[1:])) for t in args)
    key = (kernel.__name__, backend, signature, tuple(sorted(static.items())))
    compiled = _COMPILED.get(key)
    if compiled is None:
        bound = functools.partial(_checked_eager, kernel, **static)
        if backend == "tensorflow":
            import tensorflow as tf  # the loaded Keras backend, for its compiler only

            compiled = tf.function(bound, autograph=False, input_signature=[
                tf.TensorSpec([None, *t.shape[1:]], t.dtype) for t in args])
        else:
            import jax  # the loaded Keras backend, for its compiler only

            compiled = jax.jit(bound)
        _COMPILED[key] = compiled
    return compiled(*args)


# --------------------------------------------------------------------------- shared state


class _CountingMetric(keras.metrics.Metric):
    """What every metric here shares: input preparation and shape rules, counts in float64
    (or compensated float32), and the refusal of bad batches.

    A bad batch (a NaN or infinite ``y_pred`` or ``sample_weight``, a label the metric
    cannot score, batch sizes that differ) raises ``ValueError`` in ``update_state`` when
    the values are at hand (eager). Inside a traced function (``model.fit`` and
    ``evaluate`` on every backend, ``tf.function``, ``jax.jit``) nothing can raise at the
    batch, so the refusal is recorded in the state's last entries: traced results are NaN,
    and an eager ``result()`` (which ``fit`` and ``evaluate`` call at the end of an epoch)
    raises ``ValueError`` saying what was refused, until ``reset_state()`` (Keras' own, which
    zeroes every state variable).

    Subclasses set ``multi_label`` and ``num_classes`` (``None`` until known) and build
    their counts with ``_add_counts`` in ``_build_state``.
    """

    _label_rule = "labels must be 0 or 1"
    multi_label: bool
    num_classes: int | None

    def __init__(self, *, name: str | None, dtype: Any) -> None:
        super().__init__(name=name, dtype=dtype)
        self._direction = "up"
        self._built_state = False

    # ---- state: one flat variable, the counts then one entry per reason of `_REJECTS`

    def _add_counts(self, shape: tuple) -> None:
        """Create the state for counts of ``shape`` (maybe inside a symbolic trace)."""
        self._counts_shape = shape
        size = int(np.prod(shape)) + len(_REJECTS)
        self._count_dtype = _count_dtype()
        self.counts = self.add_variable(
            shape=(size,), initializer="zeros", dtype=self._count_dtype, name="counts")
        if self._count_dtype != "float64":
            # float32 alone stops counting at 2**24 (16,777,216 + 1 == 16,777,216); a
            # second variable keeps each sum's rounding error (TwoSum), ~48 exact bits.
            self.counts_low = self.add_variable(
                shape=(size,), initializer="zeros", dtype=self._count_dtype, name="counts_low")
        self._built_state = True

    def _accumulate(self, delta: Any) -> None:
        high = self.counts
        if self._count_dtype == "float64":
            high.assign_add(delta)
            return
        low = self.counts_low
        old = ops.convert_to_tensor(high)
        total = old + delta
        virtual = total - old
        error = (old - (total - virtual)) + (delta - virtual)  # exact: old + delta - total
        carried = ops.convert_to_tensor(low) + error
        renormalized = total + carried
        high.assign(renormalized)
        low.assign(carried - (renormalized - total))

    def _state(self) -> Any:
        value = ops.convert_to_tensor(self.counts)
        if self._count_dtype != "float64":
            value = value + ops.convert_to_tensor(self.counts_low)
        return value

    def _counts(self) -> Any:
        """The counts so far, of the shape given to ``_add_counts``."""
        return ops.reshape(self._state()[: -len(_REJECTS)], self._counts_shape)

    # ---- inputs

    def _prepare(self, y_true: Any, y_pred: Any, sample_weight: Any) -> _Batch:
        """Tensors, with ``y_pred`` and the weights floating (float16/bfloat16 predictions
        widened to float32, exactly), the weights' shape checked, and the batch sizes."""
        y_pred = ops.convert_to_tensor(y_pred)
        if "float" not in _dtype(y_pred):
            y_pred = ops.cast(y_pred, self.dtype)
        if _dtype(y_pred) in ("float16", "bfloat16"):
            y_pred = ops.cast(y_pred, "float32")
        y_true = ops.convert_to_tensor(y_true)
        shapes = f"y_true.shape={_shape(y_true)} and y_pred.shape={_shape(y_pred)}"
        if sample_weight is not None:
            sample_weight = ops.convert_to_tensor(sample_weight)
            if "float" not in _dtype(sample_weight):
                sample_weight = ops.cast(sample_weight, self.dtype)
            weight_shape = _shape(sample_weight)
            if len(weight_shape) not in (1, 2) or (
                len(weight_shape) == 2 and weight_shape[-1] != 1
            ):
                raise ValueError(
                    "Invalid `sample_weight`: expected shape (n,) or (n, 1). "
                    f"Received: sample_weight.shape={weight_shape} with {shapes}"
                )
        mismatch = _batch_mismatch(
            {"y_true": y_true, "y_pred": y_pred, "sample_weight": sample_weight})
        return _Batch(y_true, y_pred, sample_weight, mismatch, shapes)

    def _columns(self, batch: _Batch, *, classes: bool) -> int:
        """Static shape rules; returns the number of columns of ``y_pred``. ``classes``:
        whether ``(n, C)`` predictions of exclusive classes are accepted."""
        y_true, y_pred, shapes = batch.y_true, batch.y_pred, batch.shapes
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
        elif columns > 1 and not classes:
            raise ValueError(
                f"Invalid inputs: {type(self).__name__} scores a binary problem; y_true and "
                "y_pred must have shape (n,) or (n, 1) (use multi_label=True for (n, C)). "
                f"Received: {shapes}"
            )
        elif true_columns not in (1, columns):
            raise ValueError(
                "Invalid inputs: y_true must hold class ids (shape (n,) or (n, 1)) or one-hot "
                f"rows with as many columns as y_pred. Received: {shapes}"
            )
        expected = 2 if columns == 1 and not self.multi_label else columns
        if self.num_classes is not None and expected != self.num_classes:
            raise ValueError(
                f"Invalid inputs: y_pred has {columns} column(s), which means {expected} "
                f"classes, but the metric has num_classes={self.num_classes} (given, or read "
                f"from its first batch). Received: {shapes}"
            )
        return columns

    # ---- one update

    def _count(self, kernel: Callable, batch: _Batch, **static: Any) -> None:
        """Run ``kernel`` on the batch and add it to the state; a bad batch raises now
        (eager) or is recorded for `result()` (traced)."""
        delta, rejects, badness = _run_batch(kernel, batch, **static)
        if _is_concrete(rejects):
            found = ops.convert_to_numpy(rejects)
            if np.any(found != 0):  # NaN included
                raise ValueError(self._batch_message(batch, found, badness))
        self._accumulate(delta)

    def _batch_message(self, batch: _Batch, found: np.ndarray, badness: Any) -> str:
        """Names the first bad value of an eager batch (built only when one is refused)."""
        kind = _REJECTS[int(np.flatnonzero(found != 0)[0])]
        if kind == "y_true":
            # Quoted in the shape given: per entry, or per row for one-hot rows.
            mask = ops.convert_to_numpy(badness) != 0  # NaN included
            values = ops.convert_to_numpy(batch.y_true)
            if mask.size == values.size:
                mask = mask.reshape(values.shape)
        else:
            values = ops.convert_to_numpy(getattr(batch, kind))
            mask = ~np.isfinite(values)
        index = tuple(int(i) for i in np.argwhere(mask)[0])
        where = "[" + ", ".join(str(i) for i in index) + "]"
        value = values[index].tolist()
        count = int(mask.sum())
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
        rejects = self._state()[-len(_REJECTS):]
        if not _is_concrete(rejects):
            refused = ops.any(ops.not_equal(rejects, 0))  # NaN included
            return tuple(
                None if v is None else ops.where(refused, ops.zeros_like(v) + math.nan, v)
                for v in values
            )
        found = ops.convert_to_numpy(rejects) != 0
        if found.any():
            kind = _REJECTS[int(np.flatnonzero(found)[0])]
            reason, received = {
                "y_pred": ("held NaN or infinite predictions (a diverged model has no score)",
                           "y_pred=nan"),
                "y_true": (f"held labels the metric cannot score ({self._label_rule})",
                           "y_true=<invalid labels>"),
                "sample_weight": ("held NaN or infinite weights", "sample_weight=nan"),
                "batch": ("gave y_true, y_pred and sample_weight different batch sizes",
                          "inputs=<different batch sizes>"),
            }[kind]
            raise ValueError(
                f"Invalid `{kind if kind != 'batch' else 'inputs'}`: a batch given to "
                f"update_state inside a traced function (model.fit / evaluate, tf.function, "
                f"jax.jit) {reason}; `{self.name}` has no score until reset_state(). "
                f"Received: {received}"
            )
        return values


class _ConfusionMetric(_CountingMetric):
    """Per-class true/false positives and false negatives; subclasses pick the score."""

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
        self.beta = check_real(beta, "beta", minimum=0, min_open=True)
        self.average = _check_average(average)
        self.multi_label = check_bool(multi_label, "multi_label")
        self.from_logits = check_bool(from_logits, "from_logits")
        self.num_classes = check_int(
            num_classes, "num_classes", minimum=1 if self.multi_label else 2, allow_none=True)
        self.threshold = _check_threshold(threshold)
        self.pos_label = check_int(pos_label, "pos_label")
        self.zero_division = _check_zero_division(zero_division)
        if self.multi_label and self.average == "binary":
            raise ValueError(
                "Invalid `average`: 'binary' is for binary targets, not multi-label ones; use "
                "'micro', 'macro', 'weighted' or None. Received: average='binary'"
            )
        if isinstance(self.threshold, list) and not self.multi_label:
            raise ValueError(
                "Invalid `threshold`: a list of per-label thresholds needs multi_label=True. "
                f"Received: threshold={threshold!r}"
            )
        # The decision rule `p > threshold`, as `logit > logit(threshold)` for logits.
        cut: Any = self.threshold
        if self.from_logits:
            cut = [_logit(t) for t in cut] if isinstance(cut, list) else _logit(cut)
        self._cut = tuple(cut) if isinstance(cut, list) else cut
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
        # Rows: true positives, predicted and true samples (support) per class; false
        # positives and negatives are differences of them.
        self._add_counts((3, num_classes))

    @property
    def true_positives(self) -> Any:
        """Weighted true positives per class (float64, or float32 without it)."""
        return self._counts()[0]

    @property
    def false_positives(self) -> Any:
        """Weighted false positives per class (float64, or float32 without it)."""
        counts = self._counts()
        return counts[1] - counts[0]

    @property
    def false_negatives(self) -> Any:
        """Weighted false negatives per class (float64, or float32 without it)."""
        counts = self._counts()
        return counts[2] - counts[0]

    @property
    def support(self) -> Any:
        """Weighted number of true samples per class (float64, or float32 without it)."""
        return self._counts()[2]

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
        batch = self._prepare(y_true, y_pred, sample_weight)
        columns = self._columns(batch, classes=True)
        if not self._built_state:
            self._build_state(2 if columns == 1 and not self.multi_label else columns)
        kernel: Callable[..., Any]
        static: dict[str, Any] = {"dtype": self._count_dtype}
        if self.multi_label:
            self._label_rule = "multi-label targets must be 0 or 1"
            kernel, static["cut"] = _multi_label_counts, self._cut
        elif columns == 1:
            self._label_rule = "binary labels must be 0 or 1"
            kernel, static["cut"] = _binary_counts, self._cut
        elif len(batch.y_true.shape) == 2 and batch.y_true.shape[-1] == columns:
            self._label_rule = f"one-hot rows must hold a single 1 among {columns} zeros and ones"
            kernel, static["num_classes"] = _one_hot_counts, columns
        else:
            self._label_rule = f"class ids must be whole numbers in [0, {columns})"
            kernel, static["num_classes"] = _class_id_counts, columns
        self._count(kernel, batch, **static)

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
        tp, predicted, support = ops.unstack(self._counts())
        if average == "binary":
            if self.num_classes != 2 or self.multi_label:
                raise ValueError(
                    "Invalid `average`: 'binary' needs a binary problem, but there are "
                    f"{self.num_classes} classes. Received: average='binary'"
                )
            label = self.pos_label
            tp, predicted, support = tp[label], predicted[label], support[label]
        elif average == "micro":
            tp, predicted, support = ops.sum(tp), ops.sum(predicted), ops.sum(support)
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
        For ``num_thresholds`` outside [2, 10**6], an unknown ``average``, and (when
        updated) shapes that do not fit together, labels other than 0/1, NaN or infinite
        predictions or weights (refused as for :class:`F1Score`).
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
        self._label_rule = "BestF1 needs 0/1 labels"
        self.num_thresholds = check_int(num_thresholds, "num_thresholds", minimum=2,
                                        maximum=10**6)
        self.from_logits = check_bool(from_logits, "from_logits")
        self.multi_label = check_bool(multi_label, "multi_label")
        self.average = _check_average(average, ("auto", "micro", "macro", None))
        self.num_classes = check_int(num_classes, "num_classes", minimum=1, allow_none=True)
        self.thresholds = np.linspace(0.0, 1.0, self.num_thresholds).astype("float32")
        if not self.multi_label:
            self._build_state(1)
        elif self.num_classes is not None:
            self._build_state(self.num_classes)

    def _build_state(self, num_labels: int) -> None:
        self.num_classes = num_labels if self.multi_label else None
        self._labels = num_labels
        # [positives, negatives] per label and bucket; bucket k holds the samples that are
        # predicted positive at thresholds 0..k-1 exactly.
        self._add_counts((2, num_labels, self.num_thresholds + 1))

    @property
    def histograms(self) -> Any:
        """Weighted positives and negatives per label and grid bucket, shape
        ``(2, labels, num_thresholds + 1)``: bucket ``k`` holds the samples predicted
        positive at thresholds ``0 .. k - 1`` exactly (float64, or float32 without it)."""
        return self._counts()

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        """Add one batch to the per-threshold histograms (see the class docstring)."""
        batch = self._prepare(y_true, y_pred, sample_weight)
        labels = self._columns(batch, classes=False)
        if not self._built_state:
            self._build_state(labels)
        self._count(_threshold_histograms, batch, labels=labels,
                    num_thresholds=self.num_thresholds, from_logits=self.from_logits,
                    dtype=self._count_dtype)

    def _curves(self) -> tuple[Any, Any, Any]:
        """tp, fp and total positives per label and threshold: shapes (L, T), (L, T), (L, 1)."""
        histograms = self._counts()

        def above(counts: Any) -> Any:
            # Positive at threshold i: the buckets k > i (a reversed cumulative sum).
            return ops.flip(ops.cumsum(ops.flip(counts, axis=1), axis=1), axis=1)[:, 1:]

        pos, neg = histograms[0], histograms[1]
        return above(pos), above(neg), ops.sum(pos, axis=1, keepdims=True)

    def _f1_curves(self) -> tuple[Any, str | None]:
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

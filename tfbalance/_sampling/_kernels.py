"""Graph ops of the resampling: the per-row work of a batch, and the run-time checks.

Everything here is a vectorised op on a whole batch (class ids in, row indices out); the
pipeline (``_pipeline``) decides which run in the parallel ``map`` and which in the scan.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from tfbalance._labels import Label, check_batch_rows, get_label
from tfbalance._random import split_seed
from tfbalance._sampling._plans import ExactPlan, FixedRatesPlan, OnlinePlan, Plan
from tfbalance._tf import tf
from tfbalance._validation import MAX_CLASS_ID

__all__ = [
    "attach_weights",
    "check_random_order",
    "check_seen",
    "check_weight_structure",
    "class_ids",
    "hypergeometric",
    "make_emit",
    "pad_to",
]


def make_emit(plan: Plan, shuffle: bool, sample_weight: bool):
    """The per-row part of a batch's resampling: ``(element, ids, params, seed) -> rows``.

    ``params`` are what the plan's mode computes per batch: ``(taken, batch_counts)`` in
    exact mode (the scan's picks per class), ``(rates, weights)`` otherwise.
    """
    pick = _exact_picker(plan) if isinstance(plan, ExactPlan) else _bernoulli_picker(plan)

    def emit(element: Any, ids: tf.Tensor, params: Any, seed: tf.Tensor):
        seed_keep, _, seed_rank, seed_shuffle = split_seed(seed, 4)
        index, weights = pick(ids, params, seed_keep, seed_rank)
        if shuffle:
            index = tf.random.experimental.stateless_shuffle(index, seed_shuffle)
        out = tf.nest.map_structure(lambda t: tf.gather(t, index), element)
        if sample_weight:
            row_weights = tf.gather(weights, tf.gather(ids, index))
            out = attach_weights(out, tf.cast(row_weights, tf.float32))
        return out

    return emit


def _exact_picker(plan: ExactPlan):
    """Exact mode: every row ``whole`` times, plus once for the rows chosen in its class."""
    whole = tf.constant(plan.whole, tf.int64)
    weights = tf.constant(plan.weights, tf.float64)
    num_classes = plan.num_classes

    def pick(ids: tf.Tensor, params: Any, seed_keep: tf.Tensor, seed_rank: tf.Tensor):
        taken, batch_counts = params
        chosen = _choose_in_classes(ids, taken, batch_counts, num_classes, seed_rank)
        if plan.may_repeat:
            index = tf.repeat(tf.range(tf.size(ids)),
                              tf.gather(whole, ids) + tf.cast(chosen, tf.int64))
        else:
            index = tf.cast(tf.where(chosen)[:, 0], tf.int32)
        return index, weights

    return pick


def _bernoulli_picker(plan: FixedRatesPlan | OnlinePlan):
    """Fixed or online rates: ``floor(rate)`` copies, and one more with the fraction."""

    def pick(ids: tf.Tensor, params: Any, seed_keep: tf.Tensor, seed_rank: tf.Tensor):
        rates, weights = params
        row_rates = tf.gather(rates, ids)
        uniform = tf.random.stateless_uniform([tf.size(ids)], seed_keep, dtype=tf.float64)
        if plan.may_repeat:
            copies = tf.floor(row_rates)
            repeats = tf.cast(copies, tf.int64) + tf.cast(uniform < row_rates - copies,
                                                          tf.int64)
            index = tf.repeat(tf.range(tf.size(ids)), repeats)
        else:
            # Rates never exceed 1: a row is kept or dropped, which tf.where finds without
            # building repeat counts.
            index = tf.cast(tf.where(uniform < row_rates)[:, 0], tf.int32)
        return index, weights

    return pick


def _choose_in_classes(
    ids: tf.Tensor, taken: tf.Tensor, batch_counts: tf.Tensor, num_classes: int, seed: tf.Tensor
) -> tf.Tensor:
    """A bool mask choosing, for every class ``c``, ``taken[c]`` of its rows uniformly at random.

    The rows are put in a uniformly random order and each is ranked among the rows of its
    class; the first ``taken[c]`` of a class form a uniformly random subset of that size.
    """
    rows = tf.size(ids)
    order = tf.random.experimental.stateless_shuffle(tf.range(rows), seed)
    shuffled = tf.gather(ids, order)
    if num_classes == 2:
        # Two classes, the common case: one running count of class 1 ranks both, at less
        # than half the cost of the general ranking below.
        ones_before = tf.cumsum(shuffled, exclusive=True)
        rank = tf.where(shuffled > 0, ones_before, tf.range(rows) - ones_before)
    else:
        # A stable sort by class keeps the random order within each class; a row's rank is
        # its sorted position minus its class's first position. (An integer sort costs less
        # than a one-hot running count from about four classes on.)
        position = tf.math.invert_permutation(tf.argsort(shuffled, stable=True))
        starts = tf.cast(tf.cumsum(batch_counts, exclusive=True), tf.int32)
        rank = position - tf.gather(starts, shuffled)
    picked = rank < tf.gather(tf.cast(taken, tf.int32), shuffled)
    return tf.gather(picked, tf.math.invert_permutation(order))


def class_ids(
    element: Any, label: Label, plan: Plan, label_text: str, user_batches: bool
) -> tf.Tensor:
    """The batch's class ids as an int32 vector, checked against the plan's classes.

    On the user's batches (not those built from single rows here) every component must also
    have one row per label.
    """
    labels = tf.reshape(tf.cast(get_label(element, label), tf.int64), [-1])
    checks = [_check_labels(labels, plan, label_text)]
    if user_batches:
        checks.extend(check_batch_rows(element, tf.size(labels)))
    with tf.control_dependencies(checks):
        return tf.cast(labels, tf.int32)




# The order test raises when a batch's class mix has probability below 2 * exp(-30)
# (about 2e-13) under a random row order: a correct stream then trips it about once in
# 10**12 class-batch checks, while a label-sorted one trips within a batch of its first
# change of class.
_ORDER_TEST_LOG_BOUND = 30.0


def check_random_order(
    seen: tf.Tensor, read: tf.Tensor, batch_counts: tf.Tensor, rows: tf.Tensor, label_text: str
) -> tf.Operation:
    """Online mode: refuse a batch whose class mix a random row order cannot explain.

    In a randomly ordered stream the last ``n`` of the ``N`` rows read so far are a uniform
    random subset of them, so given the running count ``T_c`` of class ``c`` its count in
    the batch is hypergeometric(N, T_c, n). Hoeffding's bound for sampling without
    replacement gives ``P(|m_c / n - q_c| >= |a_c - q_c|) <= 2 exp(-n KL(a_c || q_c))`` with
    ``q_c = T_c / N`` and ``a_c = m_c / n``; a sorted or grouped stream (the online estimate
    would then be wrong) makes ``n KL`` huge at its first change of class. The bound holds
    for small counts too, where a z-score would flag the first row of a rare class.
    """
    n = tf.cast(rows, tf.float64)
    prior = read > rows  # the first batch has nothing to be compared with
    q = tf.cast(seen, tf.float64) / tf.maximum(tf.cast(read, tf.float64), 1.0)
    a = tf.cast(batch_counts, tf.float64) / tf.maximum(n, 1.0)
    kl = (tf.math.xlogy(a, a) - tf.math.xlogy(a, q)
          + tf.math.xlogy(1.0 - a, 1.0 - a) - tf.math.xlogy(1.0 - a, 1.0 - q))
    statistic = n * tf.reduce_max(tf.concat([kl, tf.zeros([1], tf.float64)], 0))
    return tf.debugging.Assert(
        tf.logical_not(prior) | (statistic <= _ORDER_TEST_LOG_BOUND),
        [
            f"Invalid dataset: the class distribution is estimated online (counts=None), "
            f"which needs rows in random order, but this batch's class mix is one a random "
            f"order gives with probability below 2e-13 (the stream looks sorted or grouped "
            f"by label, and the online rates would be wrong; label={label_text}). Shuffle "
            f"the rows before this transform, or pass counts=tfbalance.class_counts(...) "
            f"(initial_dist= for rejection_resample). Rows read:",
            read,
            "rows of each class so far:",
            seen,
            "in this batch:",
            batch_counts,
        ],
    )


def pad_to(vector: tf.Tensor, width: tf.Tensor) -> tf.Tensor:
    return tf.pad(vector, [[0, width - tf.size(vector)]])


def _check_labels(labels: tf.Tensor, plan: Plan, label_text: str) -> tf.Tensor:
    num_classes = plan.num_classes
    known = None if isinstance(plan, OnlinePlan) else plan.known
    if known is not None:
        classes = np.flatnonzero(known).tolist()
        allowed = f"the classes with rows in the known distribution: {classes}"
    elif num_classes is not None:
        allowed = f"0..{num_classes - 1} (num_classes={num_classes})"
    else:
        allowed = f"the class ids 0..MAX_CLASS_ID={MAX_CLASS_ID}"

    if known is not None and not known.all():
        # A class inside the range may still be unknown: the per-row test decides, and the
        # bad values for the message are only gathered when it fails.
        known_classes = tf.constant(known)

        def valid() -> tf.Tensor:
            inside = (labels >= 0) & (labels < num_classes)
            return inside & tf.gather(known_classes, tf.where(inside, labels, 0))

        return _assert_lazily(
            tf.reduce_all(valid()),
            lambda: [
                f"Invalid labels: label={label_text} read class ids outside {allowed}. "
                "Bad values (first 10):",
                tf.boolean_mask(labels, tf.logical_not(valid()))[:10],
            ],
        )
    # On the usual path two reductions decide, and they also name the offending values, so
    # a plain Assert needs no tf.cond to build its message lazily (a cond's branch functions
    # add about 10 ms to the setup of every iterator).
    extremes = tf.stack([tf.reduce_min(labels), tf.reduce_max(labels)])
    ok = extremes[0] >= 0
    # Without a known class count the bound keeps the running per-class vector (bincount)
    # small and the int32 ids exact; a mis-parsed id column (2**40) would wrap or exhaust
    # memory.
    ok &= extremes[1] < (MAX_CLASS_ID + 1 if num_classes is None else num_classes)
    return tf.debugging.Assert(
        ok,
        [
            f"Invalid labels: label={label_text} read class ids outside {allowed}. Smallest "
            "and largest class id in the batch:",
            extremes,
        ],
    )


def _assert_lazily(condition: tf.Tensor, data: Callable[[], list]) -> tf.Tensor:
    """An assertion whose message tensors are only computed when it fails (hot paths)."""

    def fail() -> tf.Tensor:
        with tf.control_dependencies([tf.debugging.Assert(condition, data(), summarize=10)]):
            return tf.identity(condition)

    return tf.cond(condition, lambda: tf.identity(condition), fail)


def check_seen(
    seen: tf.Tensor, read: tf.Tensor, is_end: tf.Tensor, plan: OnlinePlan, label_text: str,
    has_end: bool,
) -> tf.Operation:
    present = seen > 0
    enough = tf.reduce_sum(tf.cast(present, tf.int32)) >= 2
    if plan.required is not None:
        required = tf.constant(plan.required)
        missing = tf.where(required & tf.logical_not(present))[:, 0]
        enough = enough & tf.equal(tf.size(missing), 0)
    else:
        missing = tf.zeros([0], tf.int64)
    deadline = read >= plan.max_wait
    if has_end:
        deadline = deadline | (is_end & (read > 0))
    return tf.debugging.Assert(
        tf.logical_not(deadline) | enough,
        [
            f"Invalid dataset: the class distribution is estimated online (counts=None), but "
            f"after reading the rows below fewer than 2 classes or not every required class "
            f"has appeared (label={label_text}; max_wait_elements={plan.max_wait}). Pass "
            f"`counts` / `initial_dist`, fix the label, or raise `max_wait_elements`. "
            f"Rows read:",
            read,
            "rows seen per class:",
            seen,
            "required classes missing:",
            missing,
        ],
    )


def hypergeometric(
    seed: tf.Tensor, population: tf.Tensor, successes: tf.Tensor, draws: tf.Tensor
) -> tf.Tensor:
    """One hypergeometric draw per class (int64 vectors in, int64 vector out).

    The number of "successes" among ``draws`` items taken without replacement from
    ``population`` items of which ``successes`` are successes. Drawn by inverse sampling of
    the log-pmf over the feasible values ``max(0, m - (R - K)) .. min(m, K)``, so the result
    is always feasible and the running totals of exact mode stay exact.

    Only a window of ``mean +- (12 sd + 24)`` values is evaluated (``sd`` of the binomial with
    the same ``m`` and ``K / R``, which bounds the hypergeometric's tails): the mass left out
    is below 1e-25, far under what float64 sampling can resolve, and the window keeps the
    cost per batch in the hundreds of values instead of the batch size.
    """
    R, K, m = population, successes, draws
    low = tf.maximum(tf.zeros_like(m), m - (R - K))
    high = tf.minimum(m, K)
    share = tf.cast(K, tf.float64) / tf.cast(tf.maximum(R, 1), tf.float64)
    mean = tf.cast(m, tf.float64) * share
    sd = tf.sqrt(tf.cast(m, tf.float64) * share * (1.0 - share))
    half = tf.cast(tf.math.ceil(12.0 * sd), tf.int64) + 24
    start = tf.maximum(low, tf.minimum(tf.cast(tf.round(mean), tf.int64) - half, high - 2 * half))
    end = tf.minimum(high, start + 2 * half)
    width = tf.reduce_max(tf.concat([end - start + 1, tf.ones([1], tf.int64)], 0))
    k = start[:, None] + tf.range(width, dtype=tf.int64)[tf.newaxis, :]
    R, K, m = R[:, None], K[:, None], m[:, None]
    # Relative log-pmf from the ratio of neighbours, pmf(k + 1) / pmf(k) =
    # (K - k)(m - k) / ((k + 1)(R - K - m + k + 1)): one log per value instead of four
    # log-gammas. Values past `end` are masked out.
    feasible = k <= end[:, None]
    kf = tf.cast(tf.minimum(k, end[:, None]), tf.float64)
    Rf, Kf, mf = (tf.cast(x, tf.float64) for x in (R, K, m))
    ratio = (Kf - kf) * (mf - kf) / ((kf + 1.0) * (Rf - Kf - mf + kf + 1.0))
    log_ratio = tf.math.log(tf.where(ratio > 0, ratio, tf.ones_like(ratio)))
    log_pmf = tf.cumsum(log_ratio, axis=1, exclusive=True)
    log_pmf = tf.where(feasible, log_pmf, tf.constant(-np.inf, tf.float64))
    log_pmf -= tf.reduce_max(log_pmf, axis=1, keepdims=True)
    offset = tf.random.stateless_categorical(log_pmf, 1, seed, dtype=tf.int64)[:, 0]
    return start + offset



# --------------------------------------------------------------------------------------------
# Importance weights
# --------------------------------------------------------------------------------------------


def check_weight_structure(spec: Any) -> None:
    if isinstance(spec, dict) or (isinstance(spec, tuple) and len(spec) in (2, 3)):
        return
    raise TypeError(
        "Invalid `sample_weight`: weights are added to (x, y) / (x, y, w) tuples or dict "
        f"elements, but the dataset's elements are {spec!r}. Received: sample_weight=True"
    )


def attach_weights(rows: Any, weights: tf.Tensor) -> Any:
    if isinstance(rows, dict):
        rows = dict(rows)
        if "sample_weight" in rows:
            rows["sample_weight"] = rows["sample_weight"] * _like(weights, rows["sample_weight"])
        else:
            rows["sample_weight"] = weights
        return rows
    if len(rows) == 2:
        return (rows[0], rows[1], weights)
    return (rows[0], rows[1], rows[2] * _like(weights, rows[2]))


def _like(weights: tf.Tensor, existing: tf.Tensor) -> tf.Tensor:
    weights = tf.cast(weights, existing.dtype)
    rank = existing.shape.rank
    if rank is not None and rank > 1:
        weights = tf.reshape(weights, [-1] + [1] * (rank - 1))
    return weights

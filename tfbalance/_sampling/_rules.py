"""What a resampling asks of each class, as graph ops on a vector of class counts.

One implementation of imbalanced-learn's ``sampling_strategy`` rules serves both modes: with
known counts it runs once, eagerly, when the transform is built (``known_targets``); online
it runs in every scan step on the running counts (``StrategyRule``). The two modes therefore
share the words, the tie rule, the ratio arithmetic and the error messages; a check that
fails on known counts raises ``ValueError`` at once, the same check on running counts is a
``tf.debugging.Assert`` (``InvalidArgumentError`` at run time).

Counts are float64 vectors indexed by class id (whole numbers below 2**53 are exact, and so
are imbalanced-learn's ``int(n_minority / ratio)`` and ``int(n_majority * ratio - n)``,
which are the same IEEE operations here). Online, the running counts get the same integer
targets, so at the end of an epoch the rates are those the known counts would give.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from tfbalance._distribution import ClassDistribution
from tfbalance._tf import tf
from tfbalance._validation import (
    SamplingStrategy,
    StrategyCallable,
    StrategyCounts,
    StrategyForm,
    StrategyRatio,
    StrategyWord,
    check_sampling_strategy,
    check_wanted_counts,
)

__all__ = [
    "RejectionRule",
    "StrategyRule",
    "OnlineRule",
    "known_targets",
    "resolve_sampling_strategy",
    "sampling_targets",
    "strategy_targets",
]


@dataclass(frozen=True)
class StrategyCheck:
    """A condition on the counts: the class ids that violate it (empty when it holds).

    ``message`` heads the run-time assertion (followed by the offending class ids);
    ``explain`` words the ``ValueError`` (or warning) raised on known counts, from the list
    of offending class ids.
    """

    offending: tf.Tensor
    message: str
    explain: Callable[[list[int]], str]
    warning: bool = False


# The classes each word resamples, among those present (ids, majority, minority -> mask).
_WORDS: dict[str, Callable[[tf.Tensor, tf.Tensor, tf.Tensor], tf.Tensor]] = {
    "all": lambda ids, majority, minority: tf.ones_like(ids, tf.bool),
    "majority": lambda ids, majority, minority: tf.equal(ids, majority),
    "minority": lambda ids, majority, minority: tf.equal(ids, minority),
    "not majority": lambda ids, majority, minority: tf.not_equal(ids, majority),
    "not minority": lambda ids, majority, minority: tf.not_equal(ids, minority),
}


def strategy_targets(
    form: StrategyForm, under: bool, seen: tf.Tensor
) -> tuple[tf.Tensor, tf.Tensor, list[StrategyCheck]]:
    """The rows each class should have after resampling (imbalanced-learn's rules).

    Parameters
    ----------
    form : StrategyWord, StrategyRatio or StrategyCounts
        A checked ``sampling_strategy`` (``check_sampling_strategy``).
    under : bool
        Under-sampling (else over-sampling).
    seen : tf.Tensor
        float64 class counts; a class with count 0 is not present in the data.

    Returns
    -------
    targets, chosen, checks
        float64 target per class (classes not resampled keep their count), the bool mask of
        the classes the strategy resamples, and the conditions the counts must meet.
    """
    present = seen > 0
    size = tf.size(seen)
    ids = tf.range(size)
    inf = tf.constant(np.inf, tf.float64)
    n_max = tf.reduce_max(tf.concat([seen, tf.zeros([1], tf.float64)], 0))
    n_min = tf.reduce_min(tf.concat([tf.where(present, seen, inf), tf.reshape(inf, [1])], 0))
    # Ties go to the smallest class id, as imbalanced-learn's classes come from np.unique.
    majority = tf.reduce_min(tf.where(present & tf.equal(seen, n_max), ids, size))
    minority = tf.reduce_min(tf.where(present & tf.equal(seen, n_min), ids, size))
    checks: list[StrategyCheck] = []
    if isinstance(form, StrategyWord):
        chosen = present & _WORDS[form.classes](ids, majority, minority)
        targets = tf.where(chosen, n_min if under else n_max, seen)
    elif isinstance(form, StrategyRatio):
        ratio = form.ratio
        num_present = tf.reduce_sum(tf.cast(present, tf.int32))
        checks.append(StrategyCheck(
            tf.where(present & (num_present > 2))[:, 0],
            "Invalid `sampling_strategy`: a float is only allowed for a binary target, but "
            f"the data hold more than 2 classes; for multi-class use a dict. Received: "
            f"sampling_strategy={ratio!r}. Classes present:",
            lambda bad: (
                "Invalid `sampling_strategy`: a float is only allowed for a binary target "
                f"(2 classes), but the data have {len(bad)} classes; for multi-class use a "
                f"dict. Received: sampling_strategy={ratio!r}"
            ),
        ))
        if under:
            wanted = tf.floor(n_min / ratio)  # imbalanced-learn keeps int(n_minority / ratio)
            chosen = present & tf.not_equal(ids, minority)
            targets = tf.where(chosen, wanted, seen)
            bad = chosen & (targets > seen)
            text = ("Invalid `sampling_strategy`: the ratio would generate new samples in the "
                    "majority class while under-sampling it; increase the ratio. "
                    f"Received: sampling_strategy={ratio!r}")
        else:
            # imbalanced-learn generates int(n_majority * ratio - n) rows
            generated = tf.floor(n_max * ratio - seen)
            chosen = present & tf.not_equal(ids, majority)
            targets = tf.where(chosen, seen + generated, seen)
            bad = chosen & (generated <= 0)
            text = ("Invalid `sampling_strategy`: the ratio would remove samples from the "
                    "minority class while over-sampling it; increase the ratio. "
                    f"Received: sampling_strategy={ratio!r}")
        message = text  # the same words on known and on running counts

        def explain_ratio(bad: list[int]) -> str:
            return message

        checks.append(StrategyCheck(
            tf.where(bad)[:, 0],
            text + " (the minority/majority ratio of the data exceeds it). Classes:",
            explain_ratio,
        ))
    elif isinstance(form, StrategyCounts):
        targets, chosen = _wanted_counts(form, under, seen, present, n_max, majority, checks)
    else:
        raise TypeError(
            "Invalid `sampling_strategy`: a callable must be resolved on known counts first "
            f"(known_targets). Received: sampling_strategy={form!r}"
        )
    return targets, chosen, checks


def _wanted_counts(
    form: StrategyCounts, under: bool, seen: tf.Tensor, present: tf.Tensor, n_max: tf.Tensor,
    majority: tf.Tensor, checks: list[StrategyCheck],
) -> tuple[tf.Tensor, tf.Tensor]:
    size = tf.size(seen, out_type=tf.int64)
    keys = tf.constant(form.classes, tf.int64, shape=[len(form.classes)])
    values = tf.constant(form.wanted, tf.float64, shape=[len(form.wanted)])
    inside = (keys >= 0) & (keys < size)
    known = inside & tf.gather(present, tf.where(inside, keys, 0))
    shown = form.shown

    def absent(bad: list[int]) -> str:
        classes = np.flatnonzero(seen.numpy() > 0).tolist()
        return (
            f"Invalid `sampling_strategy`: the target class(es) {sorted(bad)} are not present "
            f"in the data (classes with rows: {classes}). Received: sampling_strategy={shown}"
        )

    checks.append(StrategyCheck(
        tf.boolean_mask(keys, tf.logical_not(known)),
        "Invalid `sampling_strategy`: target classes not present in the data. "
        f"Received: sampling_strategy={shown}. Classes:",
        absent,
    ))
    index = tf.boolean_mask(keys, known)[:, None]
    chosen = tf.scatter_nd(index, tf.ones([tf.shape(index)[0]], tf.bool), [size])
    targets = tf.tensor_scatter_nd_update(seen, index, tf.boolean_mask(values, known))
    asked = dict(zip(form.classes, form.wanted, strict=True))

    def wrong(bad: list[int], kind: str, relation: str) -> str:
        c = bad[0]
        return (
            f"Invalid `sampling_strategy`: with {kind}, the number of samples in a class "
            f"should be {relation} to the original number of samples. Originally, class {c} "
            f"has {int(seen.numpy()[c])} samples and {asked[c]} samples are asked. Received: "
            f"sampling_strategy={shown}"
        )

    if under:
        checks.append(StrategyCheck(
            tf.where(chosen & (targets > seen))[:, 0],
            "Invalid `sampling_strategy`: with under-sampling a class cannot be asked for "
            f"more rows than it has. Received: sampling_strategy={shown}. Classes:",
            lambda bad: wrong(bad, "under-sampling", "less or equal"),
        ))
    else:
        checks.append(StrategyCheck(
            tf.where(chosen & (targets < seen))[:, 0],
            "Invalid `sampling_strategy`: with over-sampling a class cannot be asked for "
            f"fewer rows than it has. Received: sampling_strategy={shown}. Classes:",
            lambda bad: wrong(bad, "over-sampling", "greater or equal"),
        ))

        def beyond(bad: list[int]) -> str:
            c, top = bad[0], int(majority.numpy())
            return (
                f"After over-sampling, the number of samples ({asked[c]}) in class {c} will "
                f"be larger than the number of samples in the majority class (class #{top} "
                f"-> {int(n_max.numpy())})"
            )

        checks.append(StrategyCheck(
            tf.where(chosen & (targets > n_max))[:, 0], "", beyond, warning=True
        ))
    return targets, chosen


def assert_checks(checks: list[StrategyCheck]) -> list[tf.Operation]:
    """The run-time assertions of ``checks`` (online); warnings are for known counts only."""
    return [
        tf.debugging.Assert(tf.equal(tf.size(check.offending), 0),
                            [check.message, check.offending])
        for check in checks if not check.warning
    ]


# --------------------------------------------------------------------------- known counts


def known_targets(
    sampling_strategy: SamplingStrategy | StrategyForm,
    counts: Mapping[int, int],
    sampling_type: str,
    num_classes: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The strategy on known counts: int64 targets and the bool mask of resampled classes.

    Vectors are indexed by class id, of length ``num_classes`` (default: the largest class
    id in ``counts`` plus one). Runs ``strategy_targets`` eagerly once (also when called
    while a ``tf.function`` traces); a violated check raises ``ValueError`` with
    imbalanced-learn's wording.
    """
    form = (sampling_strategy
            if isinstance(sampling_strategy, (StrategyWord, StrategyRatio, StrategyCounts,
                                              StrategyCallable))
            else check_sampling_strategy(sampling_strategy, sampling_type))
    stats = {int(c): int(n) for c, n in sorted(counts.items()) if n > 0}
    if len(stats) <= 1:
        raise ValueError(
            "Invalid `counts`: resampling needs more than 1 class with rows, but "
            f"{len(stats)} class(es) have rows. Received: counts={dict(counts)!r}"
        )
    if isinstance(form, StrategyCallable):
        form = check_wanted_counts(form.function(ClassDistribution(stats)), form.function)
    size = max(counts) + 1 if num_classes is None else num_classes
    vector = np.zeros(size, dtype=np.float64)
    for c, n in counts.items():
        vector[int(c)] = n
    with tf.init_scope():  # eager even inside a tf.function being traced
        targets, chosen, checks = strategy_targets(
            form, sampling_type == "under-sampling", tf.constant(vector)
        )
        for check in checks:
            offending = check.offending.numpy().tolist()
            if not offending:
                continue
            if check.warning:
                warnings.warn(check.explain(offending), UserWarning, stacklevel=4)
            else:
                raise ValueError(check.explain(offending))
        return targets.numpy().astype(np.int64), chosen.numpy()


def sampling_targets(
    sampling_strategy: SamplingStrategy | StrategyForm,
    counts: Mapping[int, int],
    sampling_type: str,
    num_classes: int | None = None,
) -> np.ndarray:
    """The per-class row counts after resampling, as an int64 vector indexed by class id.

    Classes the strategy does not resample keep their count.
    """
    return known_targets(sampling_strategy, counts, sampling_type, num_classes)[0]


def resolve_sampling_strategy(
    sampling_strategy: SamplingStrategy, counts: Mapping[int, int], sampling_type: str
) -> dict[int, int]:
    """imbalanced-learn's ``sampling_strategy_`` for known class counts.

    For under-sampling the number of rows to *keep* of each resampled class, for
    over-sampling the number of rows to *generate*, sorted by class (the rules of
    ``tfbalance._validation.check_sampling_strategy``).
    """
    targets, chosen = known_targets(sampling_strategy, counts, sampling_type)
    under = sampling_type == "under-sampling"
    return {
        c: int(targets[c]) if under else int(targets[c]) - int(counts[c])
        for c in map(int, np.flatnonzero(chosen))
    }


# --------------------------------------------------------------------------- online rules


def _importance(initial: tf.Tensor, output: tf.Tensor) -> tf.Tensor:
    """``p_c / q_c``: input share over output share (0 where the class is not output)."""
    p = initial / tf.maximum(tf.reduce_sum(initial), 1e-300)
    q = output / tf.maximum(tf.reduce_sum(output), 1e-300)
    return tf.where(q > 0, p / tf.where(q > 0, q, tf.ones_like(q)), tf.zeros_like(q))


@dataclass(frozen=True)
class StrategyRule:
    """Online ``undersample`` / ``oversample``: the strategy on the running counts."""

    form: StrategyWord | StrategyRatio
    under: bool

    def __call__(self, seen: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, list[tf.Operation]]:
        """Rates, importance weights and run-time checks from float64 running counts."""
        targets, _, checks = strategy_targets(self.form, self.under, seen)
        present = seen > 0
        rates = tf.where(present, targets / tf.where(present, seen, tf.ones_like(seen)),
                         tf.zeros_like(seen))
        return rates, _importance(seen, targets), assert_checks(checks)


@dataclass(frozen=True, eq=False)
class RejectionRule:
    """Online ``rejection_resample``: acceptance rates from the running counts.

    ``target`` is the wanted distribution, or None for 'balanced' over the classes seen.
    """

    target: np.ndarray | None

    def __call__(self, seen: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, list[tf.Operation]]:
        """Rates, importance weights and run-time checks from float64 running counts."""
        present = seen > 0
        if self.target is None:  # 'balanced' over the classes seen so far
            wanted = tf.cast(present, tf.float64)
        else:
            wanted = tf.constant(self.target, tf.float64)
        ratio = tf.where(present, wanted / tf.where(present, seen, tf.ones_like(seen)),
                         tf.zeros_like(seen))
        # Classes not seen yet are left out of the maximum during warm-up (their ratio would
        # be infinite); a target class that never appears is an error after max_wait.
        largest = tf.reduce_max(tf.concat([ratio, tf.zeros([1], tf.float64)], 0))
        rates = ratio / tf.maximum(largest, tf.constant(1e-300, tf.float64))
        return rates, _importance(seen, wanted * tf.cast(present, tf.float64)), []


OnlineRule = StrategyRule | RejectionRule

"""Sampling plans: what a transform computes per class, resolved once in Python.

One frozen dataclass per mode, holding only what that mode needs; the pipeline dispatches on
the type:

* ``FixedRatesPlan``: the class distribution is known (``counts`` for undersample /
  oversample, ``initial_dist`` for rejection_resample), so every batch is resampled with the
  same per-class rates, independently of the others.
* ``OnlinePlan``: the distribution is estimated from the running counts; its ``rule`` turns
  them into rates and weights in every scan step.
* ``ExactPlan``: known counts and ``exact=True``: the rows and picks still to go per class are
  carried from batch to batch, so each epoch yields exactly the targets.

A transform's plan is its ``plan`` attribute (read-only), e.g. to work out the rows per epoch
that a transform yields (``expected_rows``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tfbalance._distribution import ClassDistribution, CountsLike, as_class_distribution
from tfbalance._sampling._rules import OnlineRule, RejectionRule, StrategyRule, known_targets
from tfbalance._tf import tf
from tfbalance._validation import (
    StrategyCallable,
    StrategyCounts,
    StrategyRatio,
    check_num_classes,
    check_positive_int,
    check_sampling_strategy,
    resolve_distribution,
)

__all__ = [
    "DEFAULT_MAX_WAIT",
    "ExactPlan",
    "FixedRatesPlan",
    "OnlinePlan",
    "Plan",
    "count_plan",
    "rejection_plan",
]

DEFAULT_MAX_WAIT = 100_000


def _frozen(array: np.ndarray) -> np.ndarray:
    array = np.array(array)  # a copy the plan owns
    array.setflags(write=False)
    return array


@dataclass(frozen=True, eq=False)
class FixedRatesPlan:
    """Known distribution, Bernoulli draws: row of class ``c`` emitted ``rates[c]`` times on
    average (``floor`` times plus once more with probability of the fraction)."""

    rates: np.ndarray  # float64[C]
    weights: np.ndarray  # float64[C] importance weights p_c / q_c
    known: np.ndarray  # bool[C] the classes with rows in the known distribution
    may_repeat: bool  # whether a row can be emitted more than once (oversampling)
    source: str  # the argument that gave the distribution: 'counts' or 'initial_dist'

    def __post_init__(self) -> None:
        for field in ("rates", "weights", "known"):
            object.__setattr__(self, field, _frozen(getattr(self, field)))

    @property
    def num_classes(self) -> int:
        return len(self.rates)

    def expected_rows(self, counts: np.ndarray) -> float:
        """The expected output rows of an epoch with these class counts."""
        counts = np.asarray(counts, dtype=np.float64)
        size = min(len(counts), self.num_classes)
        return float((counts[:size] * self.rates[:size]).sum())


@dataclass(frozen=True, eq=False)
class ExactPlan:
    """Known counts, exact targets: each row of class ``c`` is emitted ``whole[c]`` times,
    plus once more for ``picks[c]`` of the class's ``rows[c]`` rows, chosen uniformly."""

    rows: np.ndarray  # int64[C] rows per epoch
    whole: np.ndarray  # int64[C] guaranteed copies per row
    picks: np.ndarray  # int64[C] rows emitted once more, per epoch
    weights: np.ndarray  # float64[C] importance weights p_c / q_c
    may_repeat: bool

    source = "counts"

    def __post_init__(self) -> None:
        for field in ("rows", "whole", "picks", "weights"):
            object.__setattr__(self, field, _frozen(getattr(self, field)))

    @property
    def num_classes(self) -> int:
        return len(self.rows)

    @property
    def known(self) -> np.ndarray:
        return self.rows > 0

    @property
    def total(self) -> int:
        """Output rows per epoch."""
        return int((self.whole * self.rows + self.picks).sum())

    def expected_rows(self, counts: np.ndarray | None = None) -> float:
        """The output rows of an epoch (fixed: the epoch must hold ``rows``)."""
        return float(self.total)


@dataclass(frozen=True, eq=False)
class OnlinePlan:
    """Distribution estimated online: ``rule(running counts) -> (rates, weights, checks)``."""

    rule: OnlineRule
    num_classes: int | None  # None: grows with the labels seen
    required: np.ndarray | None  # bool[C] classes that must appear (None: any two)
    max_wait: int  # input rows after which a required class must have appeared
    may_repeat: bool

    def expected_rows(self, counts: np.ndarray) -> float:
        """The expected output rows of an epoch whose running counts end at ``counts``.

        The rates of the last batch applied to the whole epoch: the warm-up bias
        (``undersample``'s docstring) is not included.
        """
        seen = np.asarray(counts, dtype=np.float64)
        with tf.init_scope():
            rates, _, _ = self.rule(tf.constant(seen))
            return float((seen * rates.numpy()).sum())


Plan = FixedRatesPlan | ExactPlan | OnlinePlan


def count_plan(
    sampling_type: str,
    counts: CountsLike | None,
    sampling_strategy: Any,
    exact: bool,
    num_classes: int | None,
    max_wait_elements: int,
) -> Plan:
    """The plan of ``undersample`` / ``oversample``."""
    max_wait = check_positive_int(max_wait_elements, "max_wait_elements")
    num_classes = check_num_classes(num_classes, allow_none=True)
    form = check_sampling_strategy(sampling_strategy, sampling_type)
    under = sampling_type == "under-sampling"
    if counts is None:
        if exact:
            raise ValueError(
                "Invalid `exact`: exact mode needs the class counts of an epoch; pass "
                "counts=tfbalance.class_counts(...). Received: exact=True, counts=None"
            )
        if isinstance(form, (StrategyCounts, StrategyCallable)):
            raise ValueError(
                "Invalid `sampling_strategy`: a dict or callable asks for row counts, which "
                "need the class counts of the data; pass counts=tfbalance.class_counts(...). "
                f"Received: sampling_strategy={sampling_strategy!r}, counts=None"
            )
        if isinstance(form, StrategyRatio) and num_classes is not None and num_classes != 2:
            raise ValueError(
                "Invalid `sampling_strategy`: a float is only allowed for a binary target "
                f"(2 classes), but num_classes={num_classes}; for multi-class use a dict. "
                f"Received: sampling_strategy={form.ratio!r}"
            )
        return OnlinePlan(
            rule=StrategyRule(form, under),
            num_classes=num_classes,
            required=None if num_classes is None else _frozen(np.ones(num_classes, bool)),
            max_wait=max_wait,
            may_repeat=not under,
        )
    if num_classes is not None:
        raise ValueError(
            "Invalid `num_classes`: it is only used when counts=None (the classes are those "
            f"of `counts`). Received: num_classes={num_classes!r}"
        )
    dist = as_class_distribution(counts, "counts")
    rows = dist.to_array()
    targets, _ = known_targets(form, dist.counts, sampling_type, len(rows))
    weights = _importance(rows.astype(np.float64), targets.astype(np.float64))
    if exact:
        if under:
            whole, picks = np.zeros_like(rows), targets
        else:
            whole = np.where(rows > 0, targets // np.maximum(rows, 1), 0)
            picks = np.where(rows > 0, targets % np.maximum(rows, 1), 0)
        return ExactPlan(rows=rows, whole=whole, picks=picks, weights=weights,
                         may_repeat=not under)
    with np.errstate(divide="ignore", invalid="ignore"):
        rates = np.where(rows > 0, targets / np.maximum(rows, 1), 0.0)
    return FixedRatesPlan(rates=rates, weights=weights, known=rows > 0, may_repeat=not under,
                          source="counts")


def rejection_plan(
    target_dist: Any, initial_dist: Any, num_classes: int | None, max_wait_elements: int
) -> Plan:
    """The plan of ``rejection_resample``."""
    max_wait = check_positive_int(max_wait_elements, "max_wait_elements")
    num_classes = check_num_classes(num_classes, allow_none=True)
    if isinstance(target_dist, str) and target_dist != "balanced":
        raise ValueError(
            "Invalid `target_dist`: expected 'balanced', a list or a dict of class "
            f"probabilities. Received: target_dist={target_dist!r}"
        )
    if initial_dist is None:
        target = None
        if not isinstance(target_dist, str):
            if num_classes is None:
                num_classes = _vector_size(target_dist, "target_dist")
            target = resolve_distribution(target_dist, num_classes, "target_dist")
        elif num_classes is not None:
            target = np.full(num_classes, 1.0 / num_classes)
        return OnlinePlan(
            rule=RejectionRule(None if target is None else _frozen(target)),
            num_classes=num_classes,
            required=None if target is None else _frozen(target > 0),
            max_wait=max_wait,
            may_repeat=False,
        )
    if num_classes is not None:
        raise ValueError(
            "Invalid `num_classes`: it is only used when initial_dist=None. "
            f"Received: num_classes={num_classes!r}"
        )
    if isinstance(initial_dist, ClassDistribution):
        if initial_dist.total == 0:
            raise ValueError(
                f"Invalid `initial_dist`: the distribution is empty. Received: "
                f"initial_dist={initial_dist.counts!r}"
            )
        initial = initial_dist.to_array() / initial_dist.total
    else:
        size = _vector_size(initial_dist, "initial_dist")
        initial = resolve_distribution(initial_dist, size, "initial_dist")
    size = len(initial)
    if np.count_nonzero(initial) < 2:
        raise ValueError(
            "Invalid `initial_dist`: resampling needs more than 1 class with a probability "
            f"above 0. Received: initial_dist={_show(initial_dist)}"
        )
    if isinstance(target_dist, str):
        target = np.full(size, 1.0 / size)
    else:
        target = resolve_distribution(target_dist, size, "target_dist")
    impossible = np.flatnonzero((target > 0) & (initial == 0))
    if impossible.size:
        raise ValueError(
            f"Invalid `target_dist`: class(es) {impossible.tolist()} have a target probability "
            "above 0 but initial probability 0, so no amount of input can reach the target. "
            f"Received: target_dist={target_dist!r}, initial_dist={_show(initial_dist)}"
        )
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(initial > 0, target / np.where(initial > 0, initial, 1.0), 0.0)
    return FixedRatesPlan(rates=ratio / ratio.max(), weights=_importance(initial, target),
                          known=initial > 0, may_repeat=False, source="initial_dist")


def _vector_size(values: Any, arg_name: str) -> int:
    if isinstance(values, Mapping):
        keys = [k for k in values if isinstance(k, (int, np.integer)) and not isinstance(k, bool)]
        if len(keys) != len(values) or any(k < 0 for k in keys):
            raise ValueError(
                f"Invalid `{arg_name}`: dict keys must be non-negative class ids. "
                f"Received: {arg_name}={values!r}"
            )
        if not keys:
            raise ValueError(f"Invalid `{arg_name}`: no classes. Received: {arg_name}={values!r}")
        return int(max(keys)) + 1
    if isinstance(values, (Sequence, np.ndarray)) and not isinstance(values, (str, bytes)):
        return int(np.asarray(values, dtype=object).size)
    raise TypeError(
        f"Invalid `{arg_name}`: expected a list or a dict {{class_id: probability}}. "
        f"Received: {arg_name}={values!r}"
    )


def _importance(initial: np.ndarray, output: np.ndarray) -> np.ndarray:
    """``p_c / q_c``: input share over output share (0 where the class is not output)."""
    p = initial / initial.sum()
    q = output / output.sum() if output.sum() > 0 else output
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(q > 0, p / np.where(q > 0, q, 1.0), 0.0)


def _show(value: Any) -> str:
    if isinstance(value, ClassDistribution):
        return repr(value.counts)
    return repr(value)

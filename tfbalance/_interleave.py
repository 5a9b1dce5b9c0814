"""Per-class streams merged on the fly: weighted interleaving, weight schedules, exact batches.

At scale the cheapest balanced input is one stream per class (see ``split_by_class``) merged
with chosen weights: no row is read only to be thrown away, as rejection resampling does.

* ``class_datasets`` opens one ``tf.data.Dataset`` per class, from split shards or, as a
  fallback, by filtering an ordinary dataset (which re-reads the source once per class).
* ``interleave_by_class`` merges the streams; each output row's class is drawn from the
  current weights (a fixed vector, a ``tf.Variable`` read once per output batch, or a
  schedule). The merge works on blocks: a whole batch's classes (with fixed weights, a
  whole epoch's class counts) are drawn in one op and the batch is cut from the streams'
  blocks, never row by row (see "How the batched merge works" below). Rows stay
  independent draws.
* ``LinearSchedule`` / ``ExponentialSchedule`` move the weights from one distribution to
  another over epochs or steps; ``InterleaveScheduleCallback`` drives them during ``fit``.
* ``balanced_batches`` yields batches with exactly the requested rows of every class.

Randomness is stateless: draws come from ``tf.data.Dataset.random(seed=...,
rerandomize_each_iteration=True)`` through ``tf.random.stateless_*`` ops, so the output is
deterministic under a seed, differs per epoch and restores from an iterator checkpoint.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple, cast

import keras
import numpy as np

from tfbalance._class_streams import ClassDatasets
from tfbalance._distribution import CountsLike, as_class_distribution
from tfbalance._labels import map_elements
from tfbalance._tf import named, tf
from tfbalance._validation import (
    check_int,
    check_positive_int,
    check_real,
    check_seed,
    is_integer,
    resolve_class_vector,
)

__all__ = [
    "ExponentialSchedule",
    "InterleaveScheduleCallback",
    "LinearSchedule",
    "WeightSchedule",
    "balanced_batches",
    "interleave_by_class",
]

DistributionLike = str | Mapping[int, float] | Sequence[float] | np.ndarray


# Row output (no `batch_size`) is merged in internal batches of this many rows: the class
# draws of a batch are one vectorised op. Rows stay i.i.d.; a weights variable is read once
# per batch, so a change reaches the row output within this many rows.
DRAW_BLOCK_ROWS = 1024
# Streams of rows are read this many rows at a time (one `batch` per block), so the merge
# handles blocks, not rows. Block streams (ClassDatasets.block_size) keep their block size.
FETCH_BLOCK_ROWS = 1024
# A block stream without a row among its first this many blocks counts as empty.
PROBE_BLOCKS = 1000
# Fixed weights plan a whole epoch (a few numbers per class and batch, some 40 bytes), and a
# schedule keeps a table of every batch's weights, when the epoch has at most this many
# batches (1M: 1024-row batches of 10^9 rows) and (class, batch) pairs (80 MB); longer
# epochs use the scan merge and a vector of weights, so memory stays bounded whatever the
# epoch length.
PLANNED_BATCHES = 1 << 20
PLANNED_CELLS = 1 << 21
# A batch's per-class counts reach the merging scan as digits of this base, one element per
# digit (see "How the batched merge works"): 2 digits per class for batches up to 4095.
COUNT_BASE = 64


# --------------------------------------------------------------------------------------
# Weight schedules
# --------------------------------------------------------------------------------------


def _resolve_distribution(
    spec: Any, num_classes: int, counts: np.ndarray | None, arg_name: str
) -> np.ndarray:
    """A probability vector from 'balanced', 'natural', a list or a dict."""
    if isinstance(spec, str):
        if spec == "balanced":
            return np.full(num_classes, 1.0 / num_classes)
        if spec == "natural":
            if counts is None:
                raise ValueError(
                    f"Invalid `{arg_name}`: 'natural' needs the class counts; pass `counts` "
                    "or streams from class_datasets/split_by_class, which carry them. "
                    f"Received: {arg_name}='natural'"
                )
            if counts.sum() <= 0:
                raise ValueError(
                    f"Invalid `{arg_name}`: 'natural' needs counts with a positive total. "
                    f"Received: counts={counts.tolist()}"
                )
            return counts / counts.sum()
        raise ValueError(
            f"Invalid `{arg_name}`: expected 'balanced', 'natural', a list of per-class "
            f"weights or a dict {{class_id: weight}}. Received: {arg_name}={spec!r}"
        )
    vector = resolve_class_vector(spec, num_classes, arg_name)
    total = float(vector.sum())
    if total <= 0:
        raise ValueError(
            f"Invalid `{arg_name}`: at least one weight must be positive. "
            f"Received: {arg_name}={spec!r}"
        )
    return vector / total


def _check_unit(unit: Any) -> str:
    if unit not in ("epoch", "step"):
        raise ValueError(f"Invalid `unit`: expected 'epoch' or 'step'. Received: unit={unit!r}")
    return unit


def _check_distribution_spec(spec: Any, arg_name: str) -> Any:
    if isinstance(spec, str):
        if spec not in ("balanced", "natural"):
            raise ValueError(
                f"Invalid `{arg_name}`: expected 'balanced', 'natural', a list of per-class "
                f"weights or a dict {{class_id: weight}}. Received: {arg_name}={spec!r}"
            )
        return spec
    if isinstance(spec, np.ndarray):
        return spec.tolist()
    if isinstance(spec, Mapping):
        return dict(spec)
    if isinstance(spec, Sequence):
        return list(spec)
    raise TypeError(
        f"Invalid `{arg_name}`: expected 'balanced', 'natural', a list or a dict. "
        f"Received: {arg_name}={spec!r}"
    )


class _Binding(NamedTuple):
    """A pipeline a schedule drives: its weights variable, and the schedule's two ends.

    ``plan`` is ``None`` for a vector of the current weights, or ``(batches, batch, rows)``
    for a table of the weights of every batch of an epoch (see ``WeightSchedule._bind``).
    """

    variable: tf.Variable
    start: np.ndarray
    end: np.ndarray
    plan: tuple[int, int, int] | None


class WeightSchedule:
    """Base class: class weights that move from ``start`` to ``end`` as training runs.

    Subclasses define ``progress(t)``, the fraction of the way from ``start`` to ``end`` at
    epoch or step ``t`` (0 at ``t=0``). Pass a schedule as ``weights`` to
    ``interleave_by_class`` and add ``InterleaveScheduleCallback(schedule)`` to ``fit``.

    Examples
    --------
    >>> schedule = LinearSchedule("natural", "balanced", duration=4)
    >>> schedule.weights(2, counts=[30, 10]).round(3).tolist()
    [0.625, 0.375]
    """

    def __init__(
        self,
        start: DistributionLike = "natural",
        end: DistributionLike = "balanced",
        *,
        unit: str = "epoch",
        interpolation: str = "linear",
    ) -> None:
        self.start = _check_distribution_spec(start, "start")
        self.end = _check_distribution_spec(end, "end")
        self.unit = _check_unit(unit)
        if interpolation not in ("linear", "geometric"):
            raise ValueError(
                "Invalid `interpolation`: expected 'linear' or 'geometric'. "
                f"Received: interpolation={interpolation!r}"
            )
        self.interpolation = interpolation
        # One record per pipeline this schedule drives.
        self._bindings: list[_Binding] = []

    def progress(self, t: float) -> float:
        """Fraction of the move done at epoch/step ``t``: 0 at the start, 1 at the end."""
        raise NotImplementedError

    def _check_t(self, t: Any) -> float:
        return check_real(t, "t", minimum=0)

    def _mix(self, start: np.ndarray, end: np.ndarray, t: float) -> np.ndarray:
        return self._mix_at(start, end, np.array([self._check_t(t)]))[0]

    def _mix_at(self, start: np.ndarray, end: np.ndarray, times: np.ndarray) -> np.ndarray:
        """The weights at each of ``times`` (already checked), one row per time."""
        alpha = np.clip([self.progress(float(t)) for t in times], 0.0, 1.0)[:, None]
        linear = (1.0 - alpha) * start + alpha * end
        if self.interpolation == "linear":
            mixed = linear
        else:
            with np.errstate(divide="ignore"):
                mixed = np.power(start, 1.0 - alpha) * np.power(end, alpha)
            # Disjoint supports: the geometric path is undefined halfway; go linear.
            mixed = np.where(mixed.sum(axis=1, keepdims=True) > 0, mixed, linear)
        return mixed / mixed.sum(axis=1, keepdims=True)

    def weights(
        self,
        t: float,
        *,
        counts: CountsLike | None = None,
        num_classes: int | None = None,
    ) -> np.ndarray:
        """The class probabilities at epoch/step ``t``.

        ``counts`` is needed when ``start`` or ``end`` is 'natural'; ``num_classes`` when
        neither is a list (e.g. 'balanced' without counts).
        """
        counts_array = None
        if counts is not None:
            counts_array = as_class_distribution(counts).to_array(num_classes).astype(np.float64)
            num_classes = counts_array.size
        if num_classes is None:
            for spec in (self.start, self.end):
                if isinstance(spec, list):
                    num_classes = len(spec)
        if num_classes is None:
            raise ValueError(
                "Invalid `num_classes`: pass `counts` or `num_classes` to resolve "
                f"start={self.start!r} and end={self.end!r}. Received: num_classes=None"
            )
        start = _resolve_distribution(self.start, num_classes, counts_array, "start")
        end = _resolve_distribution(self.end, num_classes, counts_array, "end")
        return self._mix(start, end, t)

    def _bind(
        self,
        start: np.ndarray,
        end: np.ndarray,
        plan: tuple[int, int, int] | None = None,
    ) -> tf.Variable:
        """A variable of this schedule's weights for one pipeline, set to those at ``t = 0``.

        ``start`` and ``end`` are the schedule's two ends resolved for that pipeline.

        ``plan=None``: the current weights, a vector (an endless epoch reads it each
        batch). ``plan=(batches, batch, rows)``: a ``[batches, num_classes]`` table of the
        weights of every batch of an epoch of ``rows`` rows in batches of ``batch``; batch
        ``b`` of each epoch reads row ``b`` when it is drawn.
        """
        value = self._mix(start, end, 0).astype(np.float32)
        if plan is not None:
            value = np.tile(value, [plan[0], 1])
        variable = tf.Variable(value, trainable=False, name="class_weights")
        self._bindings.append(_Binding(variable, start, end, plan))
        return variable

    def _check_bound(self) -> None:
        if not self._bindings:
            raise ValueError(
                "Invalid `schedule`: it drives no pipeline yet; pass it as `weights` to "
                f"interleave_by_class before fit. Received: schedule={self!r}"
            )

    def update(self, t: float) -> np.ndarray | None:
        """Set the weights of every pipeline built with this schedule to those at ``t``.

        Every batch from the next one the merge draws on follows them (with a known epoch
        length, every row of the epoch's table is set to them). Returns the weights of the
        last bound pipeline (``None`` when none is bound). ``InterleaveScheduleCallback``
        calls this during ``fit``.
        """
        return self._assign(t, tables=True)

    def _assign(self, t: float, *, tables: bool) -> np.ndarray | None:
        """Set the vector bindings (and, if ``tables``, every table row) to the weights at t."""
        current = None
        for binding in self._bindings:
            current = self._mix(binding.start, binding.end, t)
            if binding.plan is None:
                binding.variable.assign(current.astype(np.float32))
            elif tables:
                binding.variable.assign(np.tile(current.astype(np.float32), [binding.plan[0], 1]))
        return current

    def _plan_epoch(self, first_step: int, steps: int | None) -> None:
        """Give every batch of each table-driven pipeline's epoch the weights of its step.

        The epoch starts at step ``first_step`` and takes ``steps`` steps of ``fit``
        (``None``: unknown, taken as one pipeline batch a step). A pipeline batch gets the
        weights of the step that trains its first row, so when the pipeline's batches are
        the steps' batches, batch ``b`` gets exactly those of step ``first_step + b``.
        """
        for binding in self._bindings:
            if binding.plan is None:
                continue
            batches, batch, rows = binding.plan
            index = np.arange(batches, dtype=np.int64)
            offsets = index if steps is None else index * batch * steps // rows
            times, where = np.unique(first_step + offsets, return_inverse=True)
            table = self._mix_at(binding.start, binding.end, times.astype(np.float64))
            binding.variable.assign(table[where].astype(np.float32))

    def get_config(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "end": self.end,
            "unit": self.unit,
            "interpolation": self.interpolation,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]):
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


@keras.saving.register_keras_serializable(package="tfbalance")
class LinearSchedule(WeightSchedule):
    """Weights that move linearly from ``start`` to ``end`` over ``duration`` epochs or steps.

    At ``t`` the weights are ``(1 - a) * start + a * end`` with ``a = min(t / duration, 1)``
    (both ends normalised to probabilities), then they stay at ``end``.

    Parameters
    ----------
    start, end : 'natural', 'balanced', list or dict
        Distributions at ``t = 0`` and ``t >= duration``. 'natural' is the class
        frequencies of the data (from the counts the pipeline knows). Either direction
        works: natural -> balanced to ease into balancing, balanced -> natural to fine-tune
        towards the deployment prior.
    duration : int
        Epochs (or steps) the move takes; positive.
    unit : {'epoch', 'step'}
        What ``t`` counts: epochs or optimizer steps (see ``InterleaveScheduleCallback``
        for when the weights change).

    Examples
    --------
    >>> schedule = LinearSchedule("natural", "balanced", duration=2)
    >>> [schedule.weights(t, counts=[90, 10]).round(2).tolist() for t in range(3)]
    [[0.9, 0.1], [0.7, 0.3], [0.5, 0.5]]
    """

    def __init__(
        self,
        start: DistributionLike = "natural",
        end: DistributionLike = "balanced",
        *,
        duration: int,
        unit: str = "epoch",
    ) -> None:
        super().__init__(start, end, unit=unit, interpolation="linear")
        self.duration = check_positive_int(duration, "duration")

    def progress(self, t: float) -> float:
        return min(t / self.duration, 1.0)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        del config["interpolation"]
        return {**config, "duration": self.duration}


@keras.saving.register_keras_serializable(package="tfbalance")
class ExponentialSchedule(WeightSchedule):
    """Weights that move from ``start`` to ``end`` with exponentially shrinking steps.

    The progress at ``t`` is ``a = 1 - rate ** t``. With the default geometric
    interpolation the weights are proportional to ``start ** (1 - a) * end ** a``; from
    'natural' to 'balanced' that is ``counts ** (rate ** t)``, exactly the class
    distribution of catalyst's ``DynamicBalanceClassSampler`` (its ``D_i ** (lambda **
    epoch)``, with ``rate`` = its ``exp_lambda``). ``interpolation='linear'`` mixes the two
    distributions arithmetically instead.

    Unlike that sampler, the epoch length does not shrink as the weights balance: the
    pipeline draws rows with replacement from per-class streams, so no row is discarded.

    Parameters
    ----------
    start, end : 'natural', 'balanced', list or dict
        Distributions at ``t = 0`` and in the limit.
    rate : float
        In (0, 1): the share of the remaining distance left after each epoch/step.
    unit : {'epoch', 'step'}
        What ``t`` counts.
    interpolation : {'geometric', 'linear'}
        How ``start`` and ``end`` are mixed.

    Examples
    --------
    >>> schedule = ExponentialSchedule("natural", "balanced", rate=0.5)
    >>> [schedule.weights(t, counts=[81, 1]).round(3).tolist() for t in (0, 1, 2)]
    [[0.988, 0.012], [0.9, 0.1], [0.75, 0.25]]
    """

    def __init__(
        self,
        start: DistributionLike = "natural",
        end: DistributionLike = "balanced",
        *,
        rate: float = 0.9,
        unit: str = "epoch",
        interpolation: str = "geometric",
    ) -> None:
        super().__init__(start, end, unit=unit, interpolation=interpolation)
        self.rate = check_real(rate, "rate", minimum=0, maximum=1, min_open=True, max_open=True)

    def progress(self, t: float) -> float:
        return 1.0 - self.rate**t

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "rate": self.rate}


@keras.saving.register_keras_serializable(package="tfbalance")
class InterleaveScheduleCallback(keras.callbacks.Callback):
    """Drive a weight schedule during ``fit`` and log the current class weights.

    With ``unit='epoch'`` the weights are set at each epoch's start from the epoch number
    (so ``initial_epoch`` resumes the schedule where it was); with ``unit='step'`` before
    every batch from the number of batches trained in this ``fit`` call plus
    ``initial_step``. The weights in use are added to the epoch logs as
    ``interleave_weight_<class>`` (so ``History`` and TensorBoard record them).

    With a known epoch length (the usual case) a pipeline holds a table of the weights of
    every batch of its epoch, and ``unit='step'`` fills it at each epoch's start: each
    batch gets the weights of the step that trains it. What prefetching builds ahead
    therefore changes nothing, and the same seed gives the same rows, run after run. A batch
    of ``interleave_by_class``'s own ``batch_size`` that equals ``fit``'s is exactly one
    step; otherwise (say row output batched by the user) a pipeline batch of 1024 rows
    takes the weights of the step that trains its first row, from ``fit``'s steps per
    epoch. This assumes each epoch of ``fit`` reads one epoch of the pipeline (a finite
    dataset, no ``steps_per_epoch``). A pipeline of endless epochs reads the weights once
    per batch, set before every step: rows already prefetched keep their classes, so new
    weights apply from the next batch the merge draws.

    Parameters
    ----------
    schedule : WeightSchedule
        The schedule passed as ``weights`` to ``interleave_by_class``.
    initial_step : int
        Steps already done (``unit='step'`` only), to resume a schedule.
    verbose : int
        1 prints the weights when they are set at an epoch's start.

    Examples
    --------
    >>> import keras, numpy as np, tensorflow as tf
    >>> streams = [tf.data.Dataset.from_tensor_slices(([[0.0]] * 8, [0] * 8)),
    ...            tf.data.Dataset.from_tensor_slices(([[1.0]] * 2, [1] * 2))]
    >>> schedule = LinearSchedule("natural", "balanced", duration=1)
    >>> ds = interleave_by_class(streams, schedule, seed=0).batch(5)
    >>> model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    >>> model.compile("sgd", "mse")
    >>> history = model.fit(ds, epochs=2, verbose=0, shuffle=False,
    ...                     callbacks=[InterleaveScheduleCallback(schedule)])
    >>> [round(float(w), 2) for w in history.history["interleave_weight_1"]]
    [0.2, 0.5]
    """

    def __init__(self, schedule: WeightSchedule, *, initial_step: int = 0, verbose: int = 0):
        super().__init__()
        if not isinstance(schedule, WeightSchedule):
            raise TypeError(
                "Invalid `schedule`: expected a WeightSchedule such as LinearSchedule or "
                f"ExponentialSchedule. Received: schedule={schedule!r}"
            )
        self.schedule = schedule
        self.initial_step = check_int(initial_step, "initial_step", minimum=0)
        self.verbose = verbose
        self._step = self.initial_step
        self._current: np.ndarray | None = None
        # Whether this epoch's step weights were laid out at its start (unit='step').
        self._planned = False

    def _set(self, t: float) -> None:
        self.schedule._check_bound()
        self._current = self.schedule.update(t)

    def on_train_begin(self, logs=None):
        self._step = self.initial_step
        self._current = None
        self._planned = False

    def on_epoch_begin(self, epoch, logs=None):
        if self.schedule.unit == "epoch":
            self._set(epoch)
            if self.verbose:
                print(f"Epoch {epoch + 1}: class weights {np.round(self._current, 4).tolist()}")
        else:
            self.schedule._check_bound()
            steps = (self.params or {}).get("steps")
            self.schedule._plan_epoch(self._step, steps if is_integer(steps) else None)
            self._planned = True

    def on_train_batch_begin(self, batch, logs=None):
        if self.schedule.unit == "step":
            # Tables got this epoch's steps at its start (unless no epoch began: then every
            # row follows this step); vectors take the weights of this step now.
            self.schedule._check_bound()
            self._current = self.schedule._assign(self._step, tables=not self._planned)
            self._step += 1

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None and self._current is not None:
            for class_id, value in enumerate(self._current):
                logs[f"interleave_weight_{class_id}"] = float(value)

    def get_config(self) -> dict[str, Any]:
        return {
            "schedule": keras.saving.serialize_keras_object(self.schedule),
            "initial_step": self.initial_step,
            "verbose": self.verbose,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]):
        config = dict(config)
        config["schedule"] = keras.saving.deserialize_keras_object(config["schedule"])
        return cls(**config)


# --------------------------------------------------------------------------------------
# Interleaving
# --------------------------------------------------------------------------------------


def _as_stream_dict(datasets: Any) -> dict[int, tf.data.Dataset]:
    if isinstance(datasets, Mapping):
        items = list(datasets.items())
    elif isinstance(datasets, (list, tuple)):
        items = list(enumerate(datasets))
    else:
        raise TypeError(
            "Invalid `datasets`: expected a list of tf.data.Dataset indexed by class id or a "
            f"dict {{class_id: dataset}}. Received: datasets={datasets!r}"
        )
    if not items:
        raise ValueError(f"Invalid `datasets`: no class streams. Received: datasets={datasets!r}")
    streams = {}
    for key, ds in items:
        try:
            check_int(key, "class id", minimum=0)
        except (TypeError, ValueError) as exc:  # the check picks the class, this the words
            raise type(exc)(
                "Invalid `datasets`: class ids (dict keys) must be non-negative integers. "
                f"Received: class id {key!r}"
            ) from None
        if not isinstance(ds, tf.data.Dataset):
            raise TypeError(
                f"Invalid `datasets`: the stream of class {key} is not a tf.data.Dataset. "
                f"Received: {ds!r}"
            )
        streams[int(key)] = ds
    return dict(sorted(streams.items()))


def _stream_counts(
    streams: dict[int, tf.data.Dataset], counts: Any, datasets: Any
) -> np.ndarray | None:
    """Counts indexed by class id: given, carried by ClassDatasets, or known cardinalities."""
    size = max(streams) + 1
    if counts is None and isinstance(datasets, ClassDatasets):
        counts = datasets.counts
    if counts is not None:
        dist = as_class_distribution(counts)
        unknown = sorted(set(dist.classes) - set(streams))
        if unknown and any(dist.counts[c] for c in unknown):
            raise ValueError(
                f"Invalid `counts`: classes {unknown} have counts but no stream. "
                f"Received: counts={dist.counts}"
            )
        return dist.to_array(max(size, max(dist.classes) + 1))[:size].astype(np.float64)
    cardinalities = np.zeros(size)
    for class_id, ds in streams.items():
        n = int(ds.cardinality())
        if n < 0:
            return None
        cardinalities[class_id] = n
    return cardinalities


def _block_size(datasets: Any) -> int | None:
    """Rows per block when the streams yield blocks (``ClassDatasets.block_size``), else None."""
    block_size = datasets.block_size if isinstance(datasets, ClassDatasets) else None
    return check_positive_int(block_size, "datasets.block_size", allow_none=True)


# tf.data functions that need no AutoGraph conversion (it cannot parse lambdas defined on
# one line with others, and warns).
@tf.autograph.experimental.do_not_convert
def _has_rows(*block: Any) -> tf.Tensor:
    return tf.shape(tf.nest.flatten(block)[0])[0] > 0


def _probe_empty(streams: dict[int, tf.data.Dataset], block_size: int | None = None) -> list[int]:
    # One bounded read per stream, so an empty class stream fails here instead of making a
    # repeated stream spin forever. A block stream is empty when it holds no row: blocks of
    # 0 rows repeated forever would hang the merge just the same.
    empty = []
    for class_id, ds in streams.items():
        if block_size:
            # Bounded even for a repeated stream of empty blocks, which would never end.
            rows = ds.take(PROBE_BLOCKS).filter(_has_rows)
            n = sum(1 for _ in rows.take(1))
        else:
            n = int(ds.cardinality())
            if n == tf.data.UNKNOWN_CARDINALITY:
                n = sum(1 for _ in ds.take(1))
        if n == 0:
            empty.append(class_id)
    return empty


def _resolve_weights(
    weights: Any, streams: dict[int, tf.data.Dataset], counts: np.ndarray | None
) -> tuple[np.ndarray | None, tf.Variable | None, WeightSchedule | None]:
    size = max(streams) + 1
    has_stream = np.zeros(size, dtype=bool)
    has_stream[list(streams)] = True
    if isinstance(weights, WeightSchedule):
        # Streams without a class id in between get no weight: resolve over present ids.
        present = np.flatnonzero(has_stream)
        if len(present) != size:
            raise ValueError(
                "Invalid `weights`: schedules need a stream for every class id 0..K-1; "
                f"the streams cover {present.tolist()}. Received: weights={weights!r}"
            )
        return None, None, weights
    if isinstance(weights, tf.Variable):
        if not weights.dtype.is_floating or weights.shape.rank != 1 or weights.shape[0] != size:
            raise ValueError(
                f"Invalid `weights`: a tf.Variable of weights must be a float vector of "
                f"length {size} (one per class id). Received: weights={weights!r}"
            )
        vector = resolve_class_vector(weights.numpy().tolist(), size, "weights")
        _check_vector(vector, has_stream, weights)
        return vector, weights, None
    if isinstance(weights, str):
        if weights == "balanced":
            vector = has_stream.astype(np.float64)
        elif weights == "natural":
            if counts is None:
                raise ValueError(
                    "Invalid `weights`: 'natural' needs the class counts; pass `counts` or "
                    "streams from class_datasets (which carry them). Received: "
                    "weights='natural'"
                )
            vector = counts.copy()
        else:
            raise ValueError(
                "Invalid `weights`: expected 'balanced', 'natural', a list or dict of "
                "per-class weights, a tf.Variable or a WeightSchedule. "
                f"Received: weights={weights!r}"
            )
    elif isinstance(weights, (Mapping, Sequence, np.ndarray)):
        if isinstance(weights, Mapping):
            missing = sorted(
                k for k, v in weights.items()
                if is_integer(k)
                and (k >= size or not has_stream[k])
            )
            if missing:
                raise ValueError(
                    f"Invalid `weights`: classes {missing} have a weight but no stream "
                    f"(streams: {sorted(streams)}). Received: weights={weights!r}"
                )
        vector = resolve_class_vector(weights, size, "weights")
    else:
        raise TypeError(
            "Invalid `weights`: expected 'balanced', 'natural', a list or dict of per-class "
            f"weights, a tf.Variable or a WeightSchedule. Received: weights={weights!r}"
        )
    _check_vector(vector, has_stream, weights)
    return vector / vector.sum(), None, None


def _check_vector(vector: np.ndarray, has_stream: np.ndarray, weights: Any) -> None:
    if vector.sum() <= 0:
        raise ValueError(
            "Invalid `weights`: at least one weight must be positive. "
            f"Received: weights={weights!r}"
        )
    orphan = np.flatnonzero((vector > 0) & ~has_stream)
    if orphan.size:
        raise ValueError(
            f"Invalid `weights`: classes {orphan.tolist()} have a weight but no stream. "
            f"Received: weights={weights!r}"
        )


def _epoch_rows(
    epoch_rows: Any,
    steps_per_epoch: Any,
    batch_size: Any,
    counts: np.ndarray | None,
) -> int | None:
    for name, value in (
        ("epoch_rows", epoch_rows),
        ("steps_per_epoch", steps_per_epoch),
        ("batch_size", batch_size),
    ):
        check_positive_int(value, name, allow_none=True)
    if steps_per_epoch is not None:
        if batch_size is None:
            raise ValueError(
                "Invalid `steps_per_epoch`: it needs `batch_size` (the rows of one step). "
                f"Received: steps_per_epoch={steps_per_epoch}, batch_size=None"
            )
        if epoch_rows is not None:
            raise ValueError(
                "Invalid `epoch_rows`: give `epoch_rows` or `steps_per_epoch`, not both. "
                f"Received: epoch_rows={epoch_rows}, steps_per_epoch={steps_per_epoch}"
            )
        return int(steps_per_epoch) * int(batch_size)
    if epoch_rows is not None:
        return int(epoch_rows)
    if counts is None:
        return None
    return int(counts.sum())


def interleave_by_class(
    datasets: Sequence[tf.data.Dataset] | Mapping[int, tf.data.Dataset],
    weights: Any = "balanced",
    *,
    seed: int | None = None,
    counts: CountsLike | None = None,
    epoch_rows: int | None = None,
    batch_size: int | None = None,
    steps_per_epoch: int | None = None,
    name: str | None = None,
) -> tf.data.Dataset:
    """Merge per-class streams into one, drawing each row's class from the weights.

    Every output row is drawn independently: class ``c`` with probability
    ``weights[c] / sum(weights)``, then the next row of stream ``c``. Streams are repeated
    as needed, so a small class is re-read rather than exhausted. The merge is batched: no
    row passes through tf.data alone. With fixed weights and a known epoch length, every
    batch's class counts are drawn in one vectorised op when the epoch starts and each
    stream is sliced into its batches' pieces (``rebatch``); with a ``tf.Variable`` or
    schedule, each batch's classes are drawn from the weights of the moment, and the
    batch is gathered from per-class ring buffers that the streams fill a block at a
    time. Either way the rows of a batch are independent draws (class counts have binomial
    spread, positions are random) and each stream's rows come out in its order.

    Parameters
    ----------
    datasets : list, dict or ClassDatasets of tf.data.Dataset
        One stream per class: a list indexed by class id or a dict ``{class_id:
        dataset}``, e.g. from ``class_datasets``. Streams yield rows, which are batched
        into blocks of 1024 to be merged, or, for a ``ClassDatasets`` whose
        ``block_size`` is set (``SplitResult.datasets(block_size=...)``), blocks of rows,
        used as they are (no row is unbatched). All streams must have the same element
        structure of dense tensors with fixed row shapes, which the output keeps.
    weights : str, list, dict, tf.Variable or WeightSchedule
        * ``'balanced'`` (default): every stream equally likely;
        * ``'natural'``: the class frequencies (from ``counts``);
        * a list indexed by class id or a dict ``{class_id: weight}`` (normalised);
        * a float ``tf.Variable`` of length ``max class id + 1``, read once per output
          batch (per 1024 rows for row output), so assigning to it while training runs
          changes the mix from the next batch on (rows prefetched downstream keep their
          classes), and an invalid assignment fails at that batch too;
        * a ``LinearSchedule`` / ``ExponentialSchedule``, driven during ``fit`` by
          ``InterleaveScheduleCallback``. Read once per batch, as a ``tf.Variable``;
          with a known epoch length each batch reads its own row of a table of the
          epoch's weights, which the callback fills at the epoch's start with the
          weights of the step (or epoch) that trains each batch, so the output does not
          depend on prefetch timing and the same seed repeats the run.
    seed : int, optional
        Seed of the class draws. The same seed gives the same sequence; each new epoch
        (iteration) draws afresh.
    counts : ClassDistribution, dict or list, optional
        Rows per class. Default: those carried by ``ClassDatasets``, else the streams' known
        cardinalities. Used for 'natural' and the default epoch length.
    epoch_rows : int, optional
        Rows per epoch. Default: the total of ``counts`` (one pass's worth of rows, whatever
        the weights, so epochs stay comparable with unbalanced training and a schedule
        never changes their length). Without counts the output is infinite (pass
        ``steps_per_epoch`` to ``fit``).
    batch_size : int, optional
        Rows per output batch: the merge builds batches of this size directly (no
        ``.batch`` or rebatch needed). The last batch of an epoch is shorter when the epoch
        length is not a multiple of it; with ``steps_per_epoch`` every batch is full and
        has a static batch dimension. ``None`` (default): the output is rows.
    steps_per_epoch : int, optional
        Epoch length in batches of ``batch_size`` (instead of ``epoch_rows``).
    name : str, optional
        Name of the tf.data op that delivers the output (for profiles and debugging), as
        tf.data's own ``name=`` arguments.

    Returns
    -------
    tf.data.Dataset
        Rows (or batches) of the streams' structure; with a known epoch length its
        cardinality is set, so Keras shows a real progress bar.

    Raises
    ------
    ValueError
        A stream with weight > 0 is empty; weights negative, all zero, NaN, of the wrong
        length, or naming a class without a stream; bad epoch arguments. A ``tf.Variable``
        later set to such values makes iteration fail with ``InvalidArgumentError``.
    TypeError
        ``datasets`` or ``weights`` of the wrong kind; an epoch argument or class id that
        is not an int.

    Notes
    -----
    Iterator checkpoints (``tf.train.Checkpoint(iterator=it)``) restore the position and
    the random state; a ``tf.Variable`` of weights is not part of the iterator's state, so
    checkpoint it too (``tf.train.Checkpoint(iterator=it, weights=variable)``); a
    schedule's weights come back from its callback (``initial_step`` or ``fit``'s
    ``initial_epoch``).

    A ``tf.Variable`` (or schedule) is captured by the input pipeline, so that form runs in
    the training process (as Keras ``fit`` does); pipelines shipped to tf.data service
    workers need fixed weights.

    Memory and reading are bounded by the buffers: a class stream is read at most one
    block ahead of the rows the merge has cut from it, and a buffer holds at most a block
    plus a batch of rows. Weights that are fixed let tf.data compute batches ahead in
    parallel (an order-keeping map: the output does not depend on it); their epoch plan
    holds a few numbers per class and batch (epochs of up to 2**20 batches and 2**21
    batches times classes; longer ones are merged by the buffered path, whose memory does
    not grow with the epoch). A schedule's table holds a float per class and batch, within
    the same bounds (else a vector). With a ``tf.Variable`` or schedule the pipeline turns
    parallelism off (map parallelization and prefetch injection) so new weights reach the
    next batch.

    Each epoch starts every stream from its beginning. With the default epoch length a
    majority stream is only partly read per epoch, so shuffle its shards and rows
    (``class_datasets`` reshuffles the shard order each epoch; add ``.shuffle(buffer)`` to
    each stream) for every epoch to see different rows. Construction reads one row of each
    stream whose cardinality is unknown, to reject empty streams instead of hanging.

    Examples
    --------
    >>> import tensorflow as tf
    >>> negatives = tf.data.Dataset.from_tensor_slices(([0.0] * 90, [0] * 90))
    >>> positives = tf.data.Dataset.from_tensor_slices(([1.0] * 10, [1] * 10))
    >>> ds = interleave_by_class([negatives, positives], "balanced", seed=1)
    >>> int(ds.cardinality())
    100
    >>> labels = [int(y) for _, y in ds]
    >>> 35 < sum(labels) < 65
    True

    Batches straight out, from streams of blocks (as a split's ``datasets(block_size=)``
    gives):

    >>> from tfbalance import ClassDatasets
    >>> blocks = ClassDatasets({0: negatives.batch(32), 1: positives.batch(32)},
    ...                        counts=[90, 10], block_size=32)
    >>> batches = interleave_by_class(blocks, "balanced", seed=1, batch_size=25)
    >>> [int(y.shape[0]) for _, y in batches]
    [25, 25, 25, 25]
    """
    seed = check_seed(seed)
    streams = _as_stream_dict(datasets)
    block_size = _block_size(datasets)
    row_spec = _row_spec(streams, block_size)
    counts_array = _stream_counts(streams, counts, datasets)
    vector, variable, schedule = _resolve_weights(weights, streams, counts_array)
    rows = _epoch_rows(epoch_rows, steps_per_epoch, batch_size, counts_array)
    size = max(streams) + 1
    ends = None
    if schedule is not None:
        ends = (
            _resolve_distribution(schedule.start, size, counts_array, "start"),
            _resolve_distribution(schedule.end, size, counts_array, "end"),
        )
        vector = schedule._mix(*ends, 0)

    assert vector is not None  # weights, a variable or a schedule: each gives a start vector
    # A schedule reaches every class its start or end weighs (both ends normalised, so a
    # mix is positive exactly there); a stream with no rows must weigh nothing throughout.
    reached = vector if ends is None else vector + ends[1]
    empty = _probe_empty(streams, block_size)
    bad = [c for c in empty if reached[c] > 0]
    if bad:
        raise ValueError(
            f"Invalid `datasets`: the streams of classes {bad} are empty but their weight is "
            "positive; an interleaved stream could never deliver their rows. "
            f"Received: weights={weights!r}"
        )
    empty_mask = np.zeros(size, dtype=bool)
    empty_mask[empty] = True
    for class_id in range(size):
        if class_id not in streams:
            empty_mask[class_id] = True

    # Rows go out in batches of `batch_size`, or (row output) in internal batches of
    # DRAW_BLOCK_ROWS that are unbatched at the end, so a weights change still shows
    # within that many rows.
    out_batch = DRAW_BLOCK_ROWS if batch_size is None else int(batch_size)
    fetch = block_size or FETCH_BLOCK_ROWS
    if seed is None:
        # Plan and merge must draw from the same seeds; two unseeded random ops would not.
        # Drawn with TF's RNG, so tf.random.set_seed still makes runs repeatable.
        if tf.executing_eagerly():
            seed = int(tf.random.uniform([], 0, 2**62, dtype=tf.int64))
        else:  # built while tracing: no value to read, so NumPy's entropy
            seed = int(np.random.default_rng().integers(2**62))
    batches = None if rows is None else -(-rows // out_batch)
    # Plans of an epoch (fixed weights: every batch's class counts; a schedule: every
    # batch's weights) hold a few numbers per class and batch, so only up to a bound.
    fits = batches is not None and batches <= PLANNED_BATCHES and batches * size <= PLANNED_CELLS
    if schedule is not None:
        # With a known epoch, a table of every batch's weights (batch b reads row b), which
        # the callback can fill ahead; else a vector of the current weights.
        layout = (cast(int, batches), out_batch, cast(int, rows)) if fits else None
        assert ends is not None  # resolved above with the schedule
        variable = schedule._bind(*ends, layout)
    by_batch = schedule is not None and fits
    if variable is None and fits:
        # Fixed weights and a known epoch: every batch's class counts are drawn when the
        # epoch starts, and each class stream is cut into its batches' pieces by rebatch.
        drawn = [c for c in streams if not empty_mask[c] and cast(np.ndarray, vector)[c] > 0]
        merged = _planned_batches(
            {c: _class_blocks(streams[c], block_size) for c in drawn},
            cast(np.ndarray, vector), seed, out_batch, cast(int, rows),
        )
    else:
        parts = {
            c: _fetch_blocks(streams[c], block_size, fetch)
            for c in streams
            if not empty_mask[c]
        }
        plan = _merge_plan(vector, variable, empty_mask, seed, out_batch, rows, fetch, by_batch)
        fixed_logits = None if variable is not None else _fixed_logits(vector)
        merged = _merge_batches(
            parts, size, row_spec, plan, seed, out_batch, fetch, rows, fixed_logits
        )
    if batch_size is None:
        merged = merged.unbatch()
        if rows is not None:
            merged = merged.apply(tf.data.experimental.assert_cardinality(rows))
    elif rows is not None:
        steps = -(-rows // out_batch)
        if rows % out_batch == 0:
            # Every batch is full: say so in the static shape, as batch(drop_remainder=True).
            merged = map_elements(
                merged,
                tf.autograph.experimental.do_not_convert(
                    lambda b: tf.nest.map_structure(
                        lambda t: tf.ensure_shape(t, [out_batch] + t.shape[1:].as_list()), b
                    )
                ),
            )
        merged = merged.apply(tf.data.experimental.assert_cardinality(steps))
    if variable is not None:
        # The weights variable is state outside the iterator: an iterator checkpoint saves
        # the position and random state; the weights are saved with the model or callback.
        options = tf.data.Options()
        options.experimental_external_state_policy = (
            tf.data.experimental.ExternalStatePolicy.IGNORE
        )
        # tf.data would run the stateless maps after the plan in parallel or prefetch the
        # output, computing batches ahead with the old weights; off, a new value reaches
        # the next batch (the user's own prefetch, if any, still runs ahead).
        options.experimental_optimization.map_parallelization = False
        options.experimental_optimization.inject_prefetch = False
        merged = merged.with_options(options)
    return named(merged, name)


# How the batched merge works
# ---------------------------
# Fixed weights, known epoch (`_planned_batches`): when an epoch starts, one key gives every
# batch's class counts (a chain of binomials, each over all batches at once) and seed. Each
# class stream, repeated, is cut by `rebatch` with the vector of its counts, so piece b of
# class c holds exactly its rows of batch b, in stream order; a zip brings batch b's pieces
# together and a parallel map shuffles the batch's class ids with its seed and stitches
# each piece's rows into the positions of its class. Multinomial counts in uniformly random
# positions are exactly the law of independent per-row class draws.
#
# A weights variable, or an endless or very long epoch (`_merge_plan` + `_merge_batches`):
# each class stream is read in blocks of exactly `fetch` rows, so the rows a class has
# buffered are known from the class counts alone. A plan stream (a scan over seeds) draws
# the classes of each output batch at once (categorical from the current weights, a
# schedule's from the batch's row of its table, counted
# per class) and lists the elements the merge must see for that batch: the class id of
# every block to fetch, the counts as digit tags (a variable read twice could give two
# different draws, so they travel instead of being redrawn; with fixed weights the merge
# redraws them), then the batch tag, which brings the batch's seed (the plan's seeds
# again, from the same op and seed). `choose_from_datasets` turns that list into one
# stream of (tag, seed, block) elements. A scan keeps one ring buffer per component for
# all classes and treats every element alike: it writes the element's block (no rows for
# a tag) in place after its class's rows and gathers the batch (no rows but at the batch
# tag) in its final order.


def _fixed_logits(vector: np.ndarray) -> tf.Tensor:
    log_weights = np.full(vector.shape, -np.inf)
    log_weights[vector > 0] = np.log(vector[vector > 0])
    return tf.constant(log_weights[None], tf.float32)


def _draw_counts(logits: tf.Tensor, n: tf.Tensor, pair: tf.Tensor, size: int) -> tf.Tensor:
    """Per-class counts of ``n`` independent class draws: one vectorised op per batch."""
    draws = tf.random.stateless_categorical(
        logits, tf.cast(n, tf.int32), seed=pair, dtype=tf.int64
    )[0]
    counts = tf.math.bincount(draws, minlength=size, maxlength=size, dtype=tf.int64)
    return tf.reshape(counts, [size])


def _sent_classes(size: int) -> int:
    """Classes whose counts travel as digits: all but the last (one, for one class)."""
    return max(size - 1, 1)


def _batch_rows(step: tf.Tensor, batch: int, rows: int | None) -> tf.Tensor:
    """Rows of output batch ``step``: ``batch``, or what is left of the epoch."""
    if rows is None:
        return tf.constant(batch, tf.int64)
    return tf.minimum(tf.constant(batch, tf.int64), rows - step * batch)


def _digits(batch: int) -> int:
    """Digits of base COUNT_BASE that hold any count 0..batch."""
    digits = 1
    while COUNT_BASE**digits <= batch:
        digits += 1
    return digits


def _row_spec(streams: dict[int, tf.data.Dataset], block_size: int | None) -> Any:
    """The element spec of one row, checked to be the same dense structure in every stream."""
    specs = {}
    for class_id, ds in streams.items():
        spec = ds.element_spec
        for leaf in tf.nest.flatten(spec):
            if not isinstance(leaf, tf.TensorSpec):
                raise TypeError(
                    "Invalid `datasets`: the batched merge gathers dense tensors; the stream "
                    f"of class {class_id} yields {type(leaf).__name__}. Received: {spec!r}"
                )
        if block_size:
            spec = tf.nest.map_structure(lambda s: tf.TensorSpec(s.shape[1:], s.dtype), spec)
        specs[class_id] = spec
    reference_id, reference = next(iter(specs.items()))
    for class_id, spec in specs.items():
        try:
            tf.nest.assert_same_structure(reference, spec)
            same = all(
                a.dtype == b.dtype
                for a, b in zip(tf.nest.flatten(reference), tf.nest.flatten(spec), strict=True)
            )
        except (TypeError, ValueError):
            same = False
        if not same:
            raise ValueError(
                "Invalid `datasets`: every class stream must yield the same structure and "
                f"dtypes; class {class_id} yields {spec!r}, class {reference_id} "
                f"{reference!r}."
            )
        for leaf in tf.nest.flatten(spec):
            if not leaf.shape.is_fully_defined():
                raise ValueError(
                    "Invalid `datasets`: the batched merge stacks rows into tensors, so each "
                    f"row component needs a fixed shape; class {class_id} yields rows of "
                    f"{spec!r}. Pad or reshape the rows first."
                )
    # Rows of different classes may differ in static shape only where one is unknown,
    # which the check above rules out; the first spec describes them all.
    return reference


def _fetch_blocks(ds: tf.data.Dataset, block_size: int | None, fetch: int) -> tf.data.Dataset:
    """An endless stream of blocks of exactly ``fetch`` rows of one class, in stream order."""
    if block_size:
        # A split's blocks end short at each file's end; rebatch slices and joins whole
        # tensors (no per-row work) so every block has `fetch` rows.
        return ds.repeat().rebatch(fetch, drop_remainder=True)
    return ds.repeat().batch(fetch, drop_remainder=True)


def _class_blocks(ds: tf.data.Dataset, block_size: int | None) -> tf.data.Dataset:
    """An endless stream of blocks (of any sizes) of one class, in stream order."""
    if block_size:
        return ds.repeat()
    return ds.repeat().batch(FETCH_BLOCK_ROWS)


def _planned_batches(
    blocks: dict[int, tf.data.Dataset],
    vector: np.ndarray,
    seed: int,
    batch: int,
    rows: int,
) -> tf.data.Dataset:
    """The merge under fixed weights and a known epoch length: no scan, no per-batch plan.

    When an epoch starts, one vectorised draw gives every batch's class counts: a
    multinomial (the counts of ``n`` independent class draws) as a chain of binomials, one
    per class, each over all the epoch's batches at once. Each class stream is then cut by
    ``rebatch`` into pieces of exactly its counts, batch after batch (whole-tensor slices,
    read in order, at most one block ahead), and a seeded shuffle of the batch's class ids
    gives the positions of each class's rows: multinomial counts in uniformly random
    positions are exactly the law of independent per-row draws. Batches are assembled by
    a parallel, order-keeping map, one ``dynamic_stitch`` per component.
    """
    classes = sorted(blocks)
    probs = vector[classes] / vector[classes].sum()
    # P(class i | not one of the classes before it): the binomial chain of a multinomial.
    rest = np.cumsum(probs[::-1])[::-1]
    conditional = [min(float(p / r), 1.0) for p, r in zip(probs[:-1], rest[:-1], strict=True)]
    batches = -(-rows // batch)
    kinds = len(classes)

    @tf.autograph.experimental.do_not_convert
    def epoch(key):
        sizes = tf.minimum(
            tf.constant(batch, tf.int64), rows - tf.range(batches, dtype=tf.int64) * batch
        )
        left = tf.cast(sizes, tf.float64)
        counts = []
        for i, q in enumerate(conditional):
            drawn = tf.random.stateless_binomial(
                [batches], seed=tf.random.experimental.stateless_fold_in(key, i),
                counts=left, probs=tf.constant(q, tf.float64), output_dtype=tf.int64,
            )
            counts.append(drawn)
            left = left - tf.cast(drawn, tf.float64)
        counts.append(tf.cast(left, tf.int64))
        pairs = tf.random.stateless_uniform(
            [batches, 2], seed=tf.random.experimental.stateless_fold_in(key, kinds),
            minval=None, maxval=None, dtype=tf.int64,
        )
        pieces = tuple(blocks[c].rebatch(n) for c, n in zip(classes, counts, strict=True))
        plan = tf.data.Dataset.from_tensor_slices((pairs, tf.stack(counts, axis=1)))
        return tf.data.Dataset.zip((plan,) + pieces)

    @tf.autograph.experimental.do_not_convert
    def arrange(plan, *pieces):
        pair, counts = plan
        ids = tf.random.experimental.stateless_shuffle(
            tf.repeat(tf.range(kinds, dtype=tf.int32), counts), seed=pair
        )
        places = tf.dynamic_partition(tf.range(tf.size(ids)), ids, kinds)
        return tf.nest.map_structure(lambda *parts: tf.dynamic_stitch(places, parts), *pieces)

    keys = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2).take(1)
    return keys.flat_map(epoch).map(
        arrange, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True
    )


def _merge_plan(
    vector: np.ndarray,
    variable: tf.Variable | None,
    empty_mask: np.ndarray,
    seed: int | None,
    batch: int,
    rows: int | None,
    fetch: int,
    by_batch: bool = False,
) -> tf.data.Dataset:
    """The choice stream of the merge: per batch, blocks to fetch, the counts, the batch tag.

    ``by_batch``: ``variable`` is a table with a row of weights for every batch of the
    epoch (a schedule's), and batch ``b`` reads row ``b``; else a vector read each batch.
    Tags ``0..K-1`` fetch a block of that class; ``K + 1 + d`` is the digit ``d`` of a
    count (weights variable only); ``K`` ends the batch and brings its seed. The plan
    tracks how many rows each class has buffered (``fill``), so it fetches a block only
    when the batch needs more rows than the buffer holds: a buffer never exceeds
    ``fetch + batch`` rows.
    """
    size = vector.size
    digits = _digits(batch)
    places = tf.constant([COUNT_BASE ** (digits - 1 - i) for i in range(digits)], tf.int64)
    empty = tf.constant(empty_mask)
    seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
    if rows is not None:
        seeds = seeds.take(-(-rows // batch))

    def logits(step):
        if variable is None:
            return _fixed_logits(vector)
        w = tf.cast(variable[step] if by_batch else variable.read_value(), tf.float32)
        ok = tf.logical_and(
            tf.reduce_all(tf.math.is_finite(w)),
            tf.logical_and(tf.reduce_all(w >= 0), tf.reduce_sum(w) > 0),
        )
        ok = tf.logical_and(ok, tf.logical_not(tf.reduce_any(tf.logical_and(empty, w > 0))))
        check = tf.debugging.Assert(
            ok,
            [
                "Invalid `weights`: the weights must be finite, non-negative, not all zero, "
                "and zero for every class without rows. Received: weights=",
                w,
            ],
        )
        with tf.control_dependencies([check]):
            return tf.math.log(w)[None]

    @tf.autograph.experimental.do_not_convert
    def plan(state, pair):
        fill, step = state
        counts = _draw_counts(logits(step), _batch_rows(step, batch, rows), pair, size)
        need = (tf.maximum(counts - fill, 0) + fetch - 1) // fetch
        fill = fill + need * fetch - counts
        fetches = tf.repeat(tf.range(size, dtype=tf.int64), need)
        if variable is None:
            # Fixed weights: the merge redraws the same classes from the batch's seed.
            return (fill, step + 1), tf.concat([fetches, [size]], 0)
        # The merge knows each batch's size, so the last class's count need not travel.
        sent = counts[: _sent_classes(size)]
        count_digits = size + 1 + tf.reshape((sent[:, None] // places) % COUNT_BASE, [-1])
        return (fill, step + 1), tf.concat([fetches, count_digits, [size]], 0)

    start = (tf.zeros([size], tf.int64), tf.constant(0, tf.int64))
    tags = seeds.scan(start, plan).unbatch()
    if variable is None:
        # Nothing in it reads state that changes, so it may run ahead of the merge.
        tags = tags.prefetch(tf.data.AUTOTUNE)
    return tags


def _merge_batches(
    parts: dict[int, tf.data.Dataset],
    size: int,
    row_spec: Any,
    plan: tf.data.Dataset,
    seed: int | None,
    batch: int,
    fetch: int,
    rows: int | None,
    fixed_logits: tf.Tensor | None,
) -> tf.data.Dataset:
    """Follow ``plan``: buffer each class's blocks, gather every batch off the buffers' fronts.

    Every element of the plan's stream takes the same path through one scan step, without
    branches: its block (0 rows for a tag) is written into the buffers, and its batch (0
    rows but at the batch tag) is gathered from them, one op per component each.
    """
    digits = _digits(batch)
    no_pair = tf.zeros([2], tf.int64)
    empty_block = tf.nest.map_structure(
        lambda s: tf.zeros([0] + s.shape.as_list(), s.dtype), row_spec
    )

    def constant(value):
        return tf.data.Dataset.from_tensors(value).repeat()

    def tagged(ds, tag):
        # A zip, not a map: tf.data would parallelize a map and read blocks ahead.
        return tf.data.Dataset.zip((constant(tf.constant(tag, tf.int64)), constant(no_pair), ds))

    def token(tag):
        return tf.data.Dataset.from_tensors((tf.constant(tag, tf.int64), no_pair, empty_block))

    inputs = [
        tagged(parts[c], c) if c in parts else token(c).take(0)  # never chosen: weight 0
        for c in range(size)
    ]
    # The batch tag brings the batch's seed: the plan's seeds again (the same op with the
    # same seed gives the same pairs, batch by batch), so the classes drawn here are those
    # the plan fetched blocks for.
    seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
    inputs.append(tf.data.Dataset.zip(
        (constant(tf.constant(size, tf.int64)), seeds, constant(empty_block))
    ))
    if fixed_logits is None:
        inputs += [token(size + 1 + d).repeat() for d in range(COUNT_BASE)]
    elements = tf.data.Dataset.choose_from_datasets(inputs, plan, stop_on_empty_dataset=True)

    # One ring buffer per component holds every class: class c owns rows
    # [c * capacity, (c + 1) * capacity). A class holds fewer than `fetch` rows after a
    # batch and gets blocks only while it has fewer than the batch needs, so it never holds
    # more than `fetch + batch`. Rows are written at offsets modulo the capacity, so taking
    # a batch's rows moves nothing, and one gather per component builds the batch in its
    # final row order.
    capacity = fetch + batch
    sent = _sent_classes(size)
    classes = tf.range(size, dtype=tf.int64)

    def allocate(tag):
        # Blocks are written into the buffers in place (InplaceUpdate), so every iteration
        # and every component needs a buffer of its own. A fill whose value comes from the
        # element cannot be folded into a constant that iterators would share, and giving
        # component j `j` spare rows makes the fills differ, so no two are merged into one
        # tensor. (`Empty` would do it too, but is stateful: no iterator checkpoints.)
        zero = tf.minimum(tag, 0)
        specs = tf.nest.flatten(row_spec)
        fills = [
            tf.fill([size * capacity + j] + s.shape.as_list(),
                    tf.gather(tf.zeros([1], s.dtype), zero))
            for j, s in enumerate(specs)
        ]
        return tf.nest.pack_sequence_as(row_spec, fills)

    @tf.autograph.experimental.do_not_convert
    def step(state, element):
        buffers, heads, fills, counts, position, emitted = state
        tag, pair, block = element
        # The first step of an iteration replaces the initial 0-row buffers.
        first = tf.shape(tf.nest.flatten(buffers)[0])[0] == 0
        buffers = tf.cond(first, lambda: allocate(tag), lambda: buffers)

        # Write the block (no rows unless the tag is a class) after the class's rows.
        class_id = tf.minimum(tag, size - 1)
        arrived = tf.shape(tf.nest.flatten(block)[0], out_type=tf.int64)[0]
        offsets = heads[class_id] + fills[class_id] + tf.range(arrived)
        at = tf.cast(class_id * capacity + offsets % capacity, tf.int32)
        buffers = tf.nest.map_structure(
            lambda buf, new: tf.raw_ops.InplaceUpdate(x=buf, i=at, v=new), buffers, block
        )
        fills = fills + tf.one_hot(class_id, size, dtype=tf.int64) * arrived

        # The batch tag: the classes of the batch's rows, position by position.
        ready = tf.equal(tag, size)
        n = tf.where(ready, _batch_rows(emitted, batch, rows), 0)
        if fixed_logits is not None:
            drawn = tf.random.stateless_categorical(
                fixed_logits, tf.cast(n, tf.int32), seed=pair, dtype=tf.int64
            )[0]
        else:
            # A digit tag adds its digit to the count of the class it belongs to.
            is_digit = tag > size
            digit_class = tf.minimum(position // digits, sent - 1)
            value = counts[digit_class] * COUNT_BASE + (tag - size - 1)
            counts = tf.where(
                is_digit & tf.equal(classes, digit_class), value, counts
            )
            position = position + tf.cast(is_digit, tf.int64)
            full = counts
            if sent < size:
                last = n - tf.reduce_sum(counts[:sent])
                full = tf.concat([counts[:sent], [last]], 0)
            full = tf.where(ready, full, 0)
            # Counts from independent draws, put in positions by a seeded permutation: the
            # law of per-row independent draws.
            ordered = tf.repeat(classes, full)
            key = tf.random.experimental.stateless_fold_in(pair, 1)
            drawn = tf.gather(
                ordered, tf.argsort(tf.random.stateless_uniform(tf.shape(ordered), seed=key))
            )
            counts = tf.where(ready, tf.zeros_like(counts), counts)
            position = tf.where(ready, tf.zeros_like(position), position)
        taken = tf.math.bincount(drawn, minlength=size, maxlength=size, dtype=tf.int64)
        taken = tf.reshape(taken, [size])

        # Row i of the batch is the next unread row of its class: its rank among the
        # batch's rows of that class, after the class's head (a stable sort by class).
        order = tf.argsort(drawn, stable=True)
        by_class = tf.gather(drawn, order)
        rank = tf.range(n) - tf.gather(tf.cumsum(taken, exclusive=True), by_class)
        slot = by_class * capacity + (tf.gather(heads, by_class) + rank) % capacity
        slots = tf.scatter_nd(order[:, None], slot, tf.cast(tf.reshape(n, [1]), tf.int32))
        out = tf.nest.map_structure(lambda buf: tf.gather(buf, slots), buffers)

        heads = (heads + taken) % capacity
        fills = fills - taken
        emitted = emitted + tf.cast(ready, tf.int64)
        # The plan fetched blocks for exactly the rows taken; a mismatch would read rows
        # the buffers do not hold, so it fails loudly instead.
        check = tf.debugging.Assert(
            tf.reduce_all(fills >= 0)
            & tf.logical_or(tf.logical_not(ready), tf.reduce_all(fills < fetch)),
            ["The merge's buffers disagree with its plan: rows left", fills],
        )
        with tf.control_dependencies([check]):
            new_state = (buffers, heads, fills, counts, position, emitted)
            return tf.nest.map_structure(tf.identity, (new_state, out))

    start = (
        empty_block,
        tf.zeros([size], tf.int64),
        tf.zeros([size], tf.int64),
        tf.zeros([size], tf.int64),
        tf.constant(0, tf.int64),
        tf.constant(0, tf.int64),
    )
    # Only the batch tag's step gathers rows (every batch has at least one).
    return elements.scan(start, step).filter(_has_rows)


# --------------------------------------------------------------------------------------
# Exact batch composition
# --------------------------------------------------------------------------------------


def balanced_batches(
    datasets: Sequence[tf.data.Dataset] | Mapping[int, tf.data.Dataset],
    rows_per_class: int | Sequence[int] | Mapping[int, int] = 32,
    *,
    seed: int | None = None,
    counts: CountsLike | None = None,
    steps_per_epoch: int | None = None,
    name: str | None = None,
) -> tf.data.Dataset:
    """Batches holding exactly ``rows_per_class[c]`` rows of every class ``c``, shuffled.

    For losses and metrics that need each batch to contain the minority (contrastive
    losses, per-batch F1, AUC): e.g. 32 positives + 32 negatives in every batch. Each
    stream is repeated as needed and read in order; the rows of a batch are permuted with
    a seeded stateless shuffle.

    Parameters
    ----------
    datasets : list, dict or ClassDatasets of tf.data.Dataset
        One stream per class (list indexed by class id, or dict) of rows, or of blocks of
        rows for a ``ClassDatasets`` with ``block_size`` set: each class's rows of a batch
        are sliced off its blocks (``rebatch``), never unbatched.
    rows_per_class : int, list or dict
        Rows of each class per batch: one int for all classes, or per class (a class
        may get 0, but not all).
    seed : int, optional
        Seed of the within-batch shuffle.
    counts : ClassDistribution, dict or list, optional
        Rows per class, for the default epoch length (else ``ClassDatasets.counts`` or the
        streams' cardinalities).
    steps_per_epoch : int, optional
        Batches per epoch. Default: ``ceil(total rows / batch size)`` when the counts are
        known (one pass's worth of rows), else infinite.
    name : str, optional
        Name of the tf.data op that delivers the output (for profiles and debugging), as
        tf.data's own ``name=`` arguments.

    Returns
    -------
    tf.data.Dataset
        Batches of ``sum(rows_per_class)`` rows with the streams' structure.

    Raises
    ------
    ValueError
        A stream with rows requested is empty; bad ``rows_per_class`` or ``steps_per_epoch``.
    TypeError
        ``datasets`` is not a list/dict of datasets; ``steps_per_epoch`` is not an int.

    Examples
    --------
    >>> import tensorflow as tf
    >>> negatives = tf.data.Dataset.from_tensor_slices(([0.0] * 90, [0] * 90))
    >>> positives = tf.data.Dataset.from_tensor_slices(([1.0] * 10, [1] * 10))
    >>> ds = balanced_batches([negatives, positives], {0: 3, 1: 2}, seed=0,
    ...                       steps_per_epoch=2)
    >>> [sorted(y.numpy().tolist()) for _, y in ds]
    [[0, 0, 0, 1, 1], [0, 0, 0, 1, 1]]
    """
    seed = check_seed(seed)
    streams = _as_stream_dict(datasets)
    size = max(streams) + 1
    if is_integer(rows_per_class):
        if rows_per_class <= 0:
            raise ValueError(
                "Invalid `rows_per_class`: expected a positive int, or per-class counts. "
                f"Received: rows_per_class={rows_per_class!r}"
            )
        per_class = {c: int(rows_per_class) for c in streams}
    else:
        if isinstance(rows_per_class, Mapping):
            orphans = sorted(k for k in rows_per_class if k not in streams)
            if orphans:
                raise ValueError(
                    f"Invalid `rows_per_class`: classes {orphans} have rows but no stream. "
                    f"Received: rows_per_class={rows_per_class!r}"
                )
        vector = resolve_class_vector(cast(Any, rows_per_class), size, "rows_per_class")
        if np.any(vector != np.round(vector)) or vector.sum() <= 0:
            raise ValueError(
                "Invalid `rows_per_class`: expected whole, non-negative numbers of rows, not "
                f"all zero. Received: rows_per_class={rows_per_class!r}"
            )
        orphan = [c for c in np.flatnonzero(vector) if c not in streams]
        if orphan:
            raise ValueError(
                f"Invalid `rows_per_class`: classes {orphan} have rows but no stream. "
                f"Received: rows_per_class={rows_per_class!r}"
            )
        per_class = {c: int(vector[c]) for c in streams if vector[c] > 0}
    batch = sum(per_class.values())
    counts_array = _stream_counts(streams, counts, datasets)
    if steps_per_epoch is not None:
        steps = check_positive_int(steps_per_epoch, "steps_per_epoch")
    elif counts_array is not None:
        steps = max(1, math.ceil(counts_array.sum() / batch))
    else:
        steps = None

    used = {c: streams[c] for c in per_class}
    block_size = _block_size(datasets)
    empty = _probe_empty(used, block_size)
    if empty:
        raise ValueError(
            f"Invalid `datasets`: the streams of classes {empty} are empty but rows of them "
            f"are requested in every batch. Received: rows_per_class={rows_per_class!r}"
        )
    # Each class contributes one piece of exactly k rows per batch: rows are batched, block
    # streams rebatched (slicing whole blocks, no per-row work).
    parts = tuple(
        _fetch_blocks(used[c], block_size, k) for c, k in per_class.items()
    )
    seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)

    sizes = list(per_class.values())

    @tf.autograph.experimental.do_not_convert
    def combine(pair, *blocks):
        # Row i of the batch is row order[i] of the classes' pieces laid end to end; each
        # piece's rows go straight to their places (one dynamic_stitch, no concat).
        order = tf.argsort(tf.random.stateless_uniform([batch], seed=pair))
        places = tf.split(tf.math.invert_permutation(order), sizes)
        return tf.nest.map_structure(
            lambda *t: tf.ensure_shape(tf.dynamic_stitch(places, t), [batch] + t[0].shape[1:]),
            *blocks,
        )

    out = tf.data.Dataset.zip((seeds,) + parts).map(
        combine, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True
    )
    if steps is not None:
        out = out.take(steps).apply(tf.data.experimental.assert_cardinality(steps))
    return named(out, name)

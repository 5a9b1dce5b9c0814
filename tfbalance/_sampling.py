"""Streaming resampling transforms: ``undersample``, ``oversample``, ``rejection_resample``.

How they work
-------------
Each transform returns a ``dataset -> dataset`` function for ``dataset.apply``. Internally it
always works on *batches of rows*:

* a batched input (a vector of class ids per element, as ``read_csv`` yields) is resampled
  batch by batch: this is the fast path;
* an unbatched input (a scalar class id per element) is batched internally
  (``_UNBATCHED_CHUNK`` rows), resampled the same way and unbatched again, so the element
  structure and spec that go in come out.

Every random draw is a vectorised, stateless op keyed by a per-batch seed from
``tf.data.Dataset.random(seed, rerandomize_each_iteration=True)``; a batch's class ids become
the indices of the rows to emit (a dropped row is absent, a duplicated one repeated), and one
``tf.gather`` per component builds the output batch.

* With fixed rates (Bernoulli mode with known counts, ``rejection_resample`` with
  ``initial_dist``) batches are independent, so each is resampled inside one parallel
  ``map``; the only sequential step after it ORs a vector of the classes each batch held.
* Online and exact modes carry state from batch to batch. One ``Dataset.scan`` step per batch
  updates it (running class counts; rows and picks still to go) and yields per-class numbers
  only; the per-row work runs in the parallel ``map`` after it, so the sequential part stays
  a few vector ops per batch.

The scan state and the seed stream are part of the iterator, so it is checkpointable and
needs no Python state; one iterator reads each input row once per epoch.

``read_csv(..., resample=transform)`` runs a transform that only drops rows on the batches of
raw lines, with the class ids decoded first (``resample_before_decoding``): only the rows kept
are decoded in full. The output is the same as applying the transform to the decoded batches.

An empty end-of-epoch batch is appended to the input, tagged by a seed without
``SEED_TAG``, so the last scan step can check what only the end of an epoch can tell: in
exact mode, that the data held as many rows of each class as ``counts`` said; with fixed
rates, that every class the known distribution gives rows appeared; online, that every
required class appeared.

Modes
-----
* Bernoulli with known ``counts``: class ``c`` has rate ``r_c = target_c / count_c``; each row
  is emitted ``floor(r_c)`` times plus once more with probability ``r_c - floor(r_c)``, so the
  expected output count of every class is its target.
* Online (``counts=None``): the same, with the counts replaced by the running counts of the
  rows read so far *including the current batch*. See ``undersample`` for the warm-up bias.
* Exact (``exact=True``): sequential selection sampling at the batch level. With ``R_c`` rows of
  class ``c`` still to come, ``K_c`` of which must still be picked, the number of picks among
  the ``m_c`` rows of class ``c`` in this batch is hypergeometric(``R_c``, ``K_c``, ``m_c``);
  it is drawn from its log-pmf (``stateless_categorical`` over the feasible values near the
  mean), and that many rows are chosen uniformly inside the batch (the first rows of the class
  in a stateless shuffle; with many classes, the smallest stateless uniform keys).
  The picks form a uniformly random ``K_c``-subset of the class, and their number is exact.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence, Union

import numpy as np

from tfbalance._deprecation import warn_deprecated
from tfbalance._distribution import ClassDistribution, CountsLike, as_class_distribution
from tfbalance._labels import (
    Label,
    batched_label_rank,
    check_batch_rows,
    check_dataset,
    check_label_argument,
    get_label,
)
from tfbalance._random import SEED_TAG, split_seed, zip_with_seeds
from tfbalance._tf import named, tf
from tfbalance._validation import (
    MAX_CLASS_ID,
    SAMPLING_STRATEGY_WORDS,
    SamplingStrategy,
    check_num_classes,
    check_positive_int,
    check_seed,
    resolve_distribution,
    sampling_targets,
)

__all__ = [
    "undersample",
    "oversample",
    "rejection_resample",
    "rebatch",
    "expected_steps",
]

Transform = Callable[[tf.data.Dataset], tf.data.Dataset]
TargetDist = Union[str, Mapping[int, float], Sequence[float], np.ndarray]

_UNBATCHED_CHUNK = 1024
_DEFAULT_MAX_WAIT = 100_000


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------


def undersample(
    *,
    label: Label = None,
    counts: CountsLike | None = None,
    sampling_strategy: SamplingStrategy = "auto",
    exact: bool = False,
    seed: int | None = None,
    sample_weight: bool = False,
    num_classes: int | None = None,
    max_wait_elements: int = _DEFAULT_MAX_WAIT,
    name: str | None = None,
) -> Transform:
    """Random undersampling of a stream, as a ``dataset.apply`` transform.

    Rows of the resampled classes are dropped at random so that each class reaches the count
    that ``sampling_strategy`` asks for; no row is ever duplicated. The elements that come
    out have the structure of those that go in (no ``(class, element)`` pairs).

    Parameters
    ----------
    label : None, str, int or callable
        Where the class id is: ``None`` = second item of ``(x, y)`` / ``(x, y, w)`` tuples,
        a ``str`` a dict key (also of the features dict in ``(features, ...)``), an ``int``
        a tuple position, a callable ``element -> class ids``. Class ids are integers: a
        scalar per element (unbatched) or a vector per batch (batched, the fast path).
    counts : ClassDistribution, dict or list, optional
        The class counts of one epoch of the input (``tfbalance.class_counts``). When None
        they are estimated online from the rows read so far: the rate applied to a row uses
        the counts of all rows up to and including its batch, so early batches are resampled
        with noisy rates (relative error about ``sqrt((1 - p_c) / (n p_c))`` after ``n``
        rows). The expected output then differs from the target by O(log N) rows from the
        ratio's estimation bias, which decays as 1/n, plus O(sqrt(N)) noise. This assumes the
        class order is random: a batch whose class mix a random order gives with
        probability below 2e-13 (a stream sorted or grouped by label) raises
        ``InvalidArgumentError``; for such data pass ``counts`` or shuffle first.
    sampling_strategy : str, float, dict or callable
        imbalanced-learn semantics (for under-sampling): ``'auto'`` (= ``'not minority'``),
        ``'majority'``, ``'not minority'``, ``'not majority'``, ``'all'``; a float in
        ``(0, 1]`` for binary data: the wanted minority/majority ratio; a dict
        ``{class: rows to keep}``; a callable ``ClassDistribution -> dict``. Dicts and
        callables need ``counts``.
    exact : bool
        Yield exactly the requested count of each class per epoch (needs ``counts``, and the
        whole epoch must flow through this one transform, e.g. apply it before sharding).
        Each epoch draws a fresh uniformly random subset; the same seed reproduces the same
        sequence of epochs. On unbatched input the output declares its cardinality.
    seed : int, optional
        Seed of the stateless random draws.
    sample_weight : bool
        Also emit each row's importance weight ``p_c / q_c`` (input share over output share
        of its class; the output's mean weight is 1, and the weighted loss estimates the loss
        on the original distribution): ``(x, y)`` becomes ``(x, y, w)``, an existing weight in
        ``(x, y, w)`` is multiplied, dict elements get a ``"sample_weight"`` key.
    num_classes : int, optional
        Online mode only: the number of classes. Labels outside ``[0, num_classes)`` are then
        an error and every class must appear within ``max_wait_elements`` rows.
    max_wait_elements : int
        Online mode: the number of input rows after which a required class that has not
        appeared raises an error (at least two classes must appear). The end of an epoch is
        checked the same way, so an impossible request never hangs a repeated pipeline.
    name : str, optional
        Name of the tf.data operations.

    Returns
    -------
    Callable[[tf.data.Dataset], tf.data.Dataset]

    Raises
    ------
    ValueError
        Bad ``sampling_strategy`` (imbalanced-learn's checks), ``exact=True`` without
        ``counts``, fewer than two classes with rows, a dict asking for more rows than a class
        has. At run time (``tf.errors.InvalidArgumentError``): labels outside the known
        classes (or above ``MAX_CLASS_ID`` online); in exact mode a class count that does
        not match ``counts``; with ``counts``, an epoch without a class they give rows;
        online, a required class that never appears, or a stream not in random order.
    TypeError
        Labels that are not integers, or arguments of the wrong type.

    Examples
    --------
    >>> import numpy as np, tensorflow as tf
    >>> y = np.array([0] * 80 + [1] * 20)
    >>> ds = tf.data.Dataset.from_tensor_slices((np.arange(100.0), y))
    >>> out = ds.apply(undersample(counts=[80, 20], exact=True, seed=1))
    >>> int(out.cardinality())
    40
    >>> np.bincount([int(t) for _, t in out])
    array([20, 20])
    >>> batched = ds.batch(32).apply(undersample(counts=[80, 20], exact=True, seed=1))
    >>> np.bincount(np.concatenate([t.numpy() for _, t in batched]))
    array([20, 20])
    """
    check_label_argument(label)
    seed = check_seed(seed)
    _check_bool(exact, "exact")
    _check_bool(sample_weight, "sample_weight")
    plan = _count_plan(
        "under-sampling", counts, sampling_strategy, exact, num_classes, max_wait_elements
    )
    settings = _Settings("undersample", counts=_held(counts), sampling_strategy=sampling_strategy)
    return _transform(plan, label=label, seed=seed, shuffle=False, sample_weight=sample_weight,
                      name=name, settings=settings)


def oversample(
    *,
    label: Label = None,
    counts: CountsLike | None = None,
    sampling_strategy: SamplingStrategy = "auto",
    exact: bool = False,
    seed: int | None = None,
    shuffle: bool = True,
    sample_weight: bool = False,
    num_classes: int | None = None,
    max_wait_elements: int = _DEFAULT_MAX_WAIT,
    name: str | None = None,
) -> Transform:
    """Random oversampling of a stream, as a ``dataset.apply`` transform.

    Each row of a resampled class with rate ``r = target / count`` is emitted ``floor(r)``
    times, and once more with probability ``r - floor(r)`` (Bernoulli mode) or for exactly
    ``target mod count`` rows chosen uniformly at random (exact mode). Every row therefore
    appears at least once. The copies are mixed by a seeded shuffle inside each batch
    (a bounded shuffle: ``_UNBATCHED_CHUNK`` rows on unbatched input, the input batch on
    batched input), so duplicates do not arrive in runs.

    Parameters
    ----------
    label, counts, exact, seed, sample_weight, num_classes, max_wait_elements, name
        As in ``undersample`` (online estimation, exact mode, weights and errors alike).
    sampling_strategy : str, float, dict or callable
        imbalanced-learn semantics (for over-sampling): ``'auto'`` (= ``'not majority'``),
        ``'minority'``, ``'not minority'``, ``'not majority'``, ``'all'``; a float in
        ``(0, 1]`` for binary data: the wanted minority/majority ratio; a dict
        ``{class: wanted rows}`` (at least the class's count); a callable
        ``ClassDistribution -> dict``. Dicts and callables need ``counts``.
    shuffle : bool
        Shuffle each output batch so copies of a row are spread out.

    Returns
    -------
    Callable[[tf.data.Dataset], tf.data.Dataset]

    Raises
    ------
    ValueError
        As ``undersample``; a dict asking for fewer rows than a class has.
    TypeError
        As ``undersample``.

    Examples
    --------
    >>> import numpy as np, tensorflow as tf
    >>> y = np.array([0] * 80 + [1] * 20)
    >>> ds = tf.data.Dataset.from_tensor_slices((np.arange(100.0), y))
    >>> out = ds.apply(oversample(counts=[80, 20], exact=True, seed=1))
    >>> int(out.cardinality())
    160
    >>> np.bincount([int(t) for _, t in out])
    array([80, 80])
    """
    check_label_argument(label)
    seed = check_seed(seed)
    _check_bool(exact, "exact")
    _check_bool(shuffle, "shuffle")
    _check_bool(sample_weight, "sample_weight")
    plan = _count_plan(
        "over-sampling", counts, sampling_strategy, exact, num_classes, max_wait_elements
    )
    settings = _Settings("oversample", counts=_held(counts), sampling_strategy=sampling_strategy)
    return _transform(plan, label=label, seed=seed, shuffle=shuffle, sample_weight=sample_weight,
                      name=name, settings=settings)


def rejection_resample(
    *,
    label: Label = None,
    target_dist: TargetDist = "balanced",
    initial_dist: Union[ClassDistribution, Mapping[int, float], Sequence[float], None] = None,
    seed: int | None = None,
    sample_weight: bool = False,
    num_classes: int | None = None,
    max_wait_elements: int = _DEFAULT_MAX_WAIT,
    name: str | None = None,
) -> Transform:
    """Rejection resampling to a target class distribution, as a ``dataset.apply`` transform.

    A row of class ``c`` is accepted with probability
    ``a_c = (target_c / initial_c) / max_k(target_k / initial_k)``: the largest acceptance
    probabilities whose output has the target distribution, so the input consumed per output
    row is the minimum, ``max_k(target_k / initial_k)``. Unlike
    ``tf.data.Dataset.rejection_resample`` it keeps the element structure, accepts batched
    input, reads its input once with one iterator, and draws stateless seeded randoms.

    Parameters
    ----------
    label, seed, sample_weight, max_wait_elements, name
        As in ``undersample``.
    target_dist : 'balanced', list or dict
        The wanted class probabilities (non-negative, summing to 1, or whole-number counts,
        which are normalised); ``'balanced'`` is uniform over the classes of
        ``initial_dist`` (every class id up to its largest), over ``num_classes``, or,
        online without ``num_classes``, over the classes seen so far.
    initial_dist : ClassDistribution, list or dict, optional
        The input's class probabilities (summing to 1) or counts (a ``ClassDistribution``,
        or a list or dict of whole numbers, normalised). When None it is estimated online
        from the rows read so far, with the warm-up bias described in ``undersample``.
        A class it gives a share above 0 that never appears in an epoch raises at the end
        of the epoch.
    num_classes : int, optional
        Online mode: the number of classes (defaults to the length of a list ``target_dist``).

    Returns
    -------
    Callable[[tf.data.Dataset], tf.data.Dataset]

    Raises
    ------
    ValueError
        Negative target or initial probabilities, probabilities not summing to 1, unknown
        classes in dicts, a target class with initial probability 0. At run time
        (``tf.errors.InvalidArgumentError``): labels outside the known classes; online, a
        target class that never appears within ``max_wait_elements`` rows.
    TypeError
        Labels that are not integers, or arguments of the wrong type.

    Examples
    --------
    >>> import numpy as np, tensorflow as tf
    >>> y = np.array([0] * 800 + [1] * 200)
    >>> ds = tf.data.Dataset.from_tensor_slices((np.arange(1000.0), y)).batch(100)
    >>> out = ds.apply(rejection_resample(initial_dist=[0.8, 0.2], seed=3))
    >>> labels = np.concatenate([t.numpy() for _, t in out])
    >>> int((labels == 1).sum())  # every minority row is kept (acceptance 1)
    200
    >>> abs(int((labels == 0).sum()) - 200) < 60  # majority rows kept with probability 1/4
    True
    """
    check_label_argument(label)
    seed = check_seed(seed)
    _check_bool(sample_weight, "sample_weight")
    plan = _rejection_plan(target_dist, initial_dist, num_classes, max_wait_elements)
    settings = _Settings("rejection_resample", target_dist=target_dist, initial_dist=initial_dist,
                         num_classes=num_classes)
    return _transform(plan, label=label, seed=seed, shuffle=False, sample_weight=sample_weight,
                      name=name, settings=settings)


def rebatch(
    batch_size: int,
    *,
    drop_remainder: bool = False,
    num_rows: int | None = None,
    name: str | None = None,
) -> Transform:
    """Regroup a resampled batched stream into training batches of ``batch_size`` rows.

    The batched fast path reads big batches (e.g. 8192 rows), resamples inside each, and
    yields batches of varying size; this re-cuts them with ``Dataset.rebatch``. When the
    number of rows per epoch is known (``num_rows``, e.g. from exact mode), the result declares
    its cardinality so Keras shows a real progress bar.

    Parameters
    ----------
    batch_size : int
        Rows per output batch.
    drop_remainder : bool
        Drop the last, smaller batch.
    num_rows : int, optional
        The number of rows per epoch, to declare ``ceil(num_rows / batch_size)`` batches
        (floor with ``drop_remainder``); a wrong number raises at the end of the epoch.

    Notes
    -----
    ``tf.distribute`` with a single replica (e.g. ``MirroredStrategy`` on one GPU, or
    ``model.fit`` inside its scope) re-batches datasets given to
    ``experimental_distribute_dataset`` and undoes ``Dataset.rebatch``: build the pipeline
    in ``distribute_datasets_from_function`` instead, or set
    ``options.experimental_distribute.auto_shard_policy`` to ``AutoShardPolicy.OFF``.
    name : str, optional
        Name of the tf.data op that delivers the output (for profiles and debugging), as
        tf.data's own ``name=`` arguments.

    Returns
    -------
    Callable[[tf.data.Dataset], tf.data.Dataset]

    Examples
    --------
    >>> import numpy as np, tensorflow as tf
    >>> y = np.array([0] * 80 + [1] * 20)
    >>> ds = tf.data.Dataset.from_tensor_slices((np.arange(100.0), y)).batch(50)
    >>> out = (ds.apply(undersample(counts=[80, 20], exact=True, seed=0))
    ...          .apply(rebatch(16, num_rows=40)))
    >>> int(out.cardinality()), [int(tf.size(t)) for _, t in out]
    (3, [16, 16, 8])
    """
    batch_size = check_positive_int(batch_size, "batch_size")
    _check_bool(drop_remainder, "drop_remainder")
    if num_rows is not None:
        if isinstance(num_rows, (bool, np.bool_)) or not isinstance(num_rows, (int, np.integer)):
            raise TypeError(f"Invalid `num_rows`: expected an int. Received: num_rows={num_rows!r}")
        if num_rows < 0:
            raise ValueError(
                f"Invalid `num_rows`: expected a non-negative int. Received: num_rows={num_rows!r}"
            )

    def apply(dataset: tf.data.Dataset) -> tf.data.Dataset:
        check_dataset(dataset)
        out = dataset.rebatch(batch_size, drop_remainder=drop_remainder)
        if num_rows is not None:
            steps = num_rows // batch_size if drop_remainder else -(-num_rows // batch_size)
            out = out.apply(tf.data.experimental.assert_cardinality(steps))
        return named(out, name)

    return apply


def expected_steps(
    transform: Transform | None = None,
    counts: CountsLike | None = None,
    *,
    batch_size: int,
    drop_remainder: bool = False,
    method: str | None = None,
    sampling_strategy: SamplingStrategy | None = None,
    target_dist: TargetDist | None = None,
) -> int:
    """Training steps per epoch of ``transform`` applied to data with the given class counts.

    Exact for ``exact=True`` (the output row count is then fixed); for the Bernoulli modes it
    is the expectation (rounded to the nearest row) of a count that varies by a few standard
    deviations of ``sqrt(rows)``. Use it for ``steps_per_epoch`` when the output's
    cardinality is unknown. The settings are the transform's own (``sampling_strategy``,
    ``target_dist``, ``initial_dist``, ``counts``), so they cannot disagree with what is
    applied.

    Parameters
    ----------
    transform : transform
        What ``undersample``, ``oversample`` or ``rejection_resample`` returned.
    counts : ClassDistribution, dict or list, optional
        Class counts of one epoch of the transform's input. Optional when the transform
        holds them (``undersample`` / ``oversample`` with ``counts=``,
        ``rejection_resample`` with a ``ClassDistribution`` as ``initial_dist``); given
        too, they must be the same counts. Required otherwise (online transforms, and
        ``initial_dist`` given as probabilities: the counts then give the input's size).
    batch_size : int
        Rows per training batch.
    drop_remainder : bool
        Whether the last, smaller batch is dropped.
    method, sampling_strategy, target_dist
        Deprecated (until 0.3.0), with the old form ``expected_steps(counts,
        batch_size=..., method=...)``: pass the transform instead.

    Returns
    -------
    int

    Raises
    ------
    ValueError
        ``counts`` missing where the transform holds none, or different from those it
        holds; class ids the transform does not know.
    TypeError
        ``transform`` is not a tfbalance resampling transform.

    Examples
    --------
    >>> counts = [319_553, 62_601]
    >>> expected_steps(undersample(seed=0), counts, batch_size=256)  # 125,202 rows
    490
    >>> expected_steps(oversample(counts=counts, exact=True, seed=0), batch_size=256)
    2497
    """
    old_form: dict[str, Any] = {
        key: value
        for key, value in (
            ("method", method), ("sampling_strategy", sampling_strategy),
            ("target_dist", target_dist),
        )
        if value is not None
    }
    if transform is None and counts is None:
        raise TypeError(
            "Invalid `transform`: expected the transform of tfbalance.undersample, oversample "
            "or rejection_resample. Received: transform=None"
        )
    if transform is None or not callable(transform) or old_form:
        settings, counts = _old_expected_steps_form(transform, counts, **old_form)
    else:
        settings = _transform_settings(transform)
    batch_size = check_positive_int(batch_size, "batch_size")
    _check_bool(drop_remainder, "drop_remainder")
    rows = _expected_rows(settings, counts)
    return rows // batch_size if drop_remainder else -(-rows // batch_size)


@dataclass(frozen=True)
class _Settings:
    """What a resampling factory was called with (read back by ``expected_steps``)."""

    method: str  # "undersample", "oversample" or "rejection_resample"
    counts: Any = None  # undersample / oversample ``counts``
    sampling_strategy: Any = "auto"
    target_dist: Any = "balanced"
    initial_dist: Any = None
    num_classes: int | None = None


def _held(counts: CountsLike | None) -> ClassDistribution | None:
    """The counts a transform holds, as an immutable value (a list given could change)."""
    return None if counts is None else as_class_distribution(counts, "counts")


def _transform_settings(transform: Any) -> _Settings:
    """The settings of a tfbalance transform: the one place ``expected_steps`` looks inside."""
    settings = getattr(transform, "_settings", None) if isinstance(transform, _Resampling) else None
    if not isinstance(settings, _Settings):
        raise TypeError(
            "Invalid `transform`: expected the transform of tfbalance.undersample, oversample "
            f"or rejection_resample. Received: transform={transform!r}"
        )
    return settings


def _old_expected_steps_form(
    counts: Any, also_counts: Any, method: str = "undersample",
    sampling_strategy: Any = "auto", target_dist: Any = "balanced",
) -> tuple[_Settings, Any]:
    """0.1.0's ``expected_steps(counts, method=..., sampling_strategy=..., target_dist=...)``."""
    if counts is not None and callable(counts):
        raise TypeError(
            "Invalid arguments: method=, sampling_strategy= and target_dist= belong to the "
            "deprecated form expected_steps(counts, method=...); with a transform, its own "
            f"settings apply. Received: transform={counts!r}"
        )
    if counts is not None and also_counts is not None:
        raise TypeError(
            "Invalid arguments: the deprecated form takes the counts once, as "
            f"expected_steps(counts, batch_size=...). Received: {counts!r}, {also_counts!r}"
        )
    counts = also_counts if counts is None else counts
    if method not in ("undersample", "oversample", "rejection_resample"):
        raise ValueError(
            "Invalid `method`: expected 'undersample', 'oversample' or 'rejection_resample'. "
            f"Received: method={method!r}"
        )
    setting = (
        f"target_dist={target_dist!r}" if method == "rejection_resample"
        else f"sampling_strategy={sampling_strategy!r}"
    )
    warn_deprecated(
        "expected_steps(counts, method=..., sampling_strategy=..., target_dist=...)",
        f"expected_steps(tfbalance.{method}({setting}), counts, batch_size=...)",
    )
    return _Settings(method, sampling_strategy=sampling_strategy, target_dist=target_dist), counts


def _expected_rows(settings: _Settings, counts: Any) -> int:
    if settings.method == "rejection_resample":
        held = settings.initial_dist
        held = held if isinstance(held, ClassDistribution) else None
    else:
        held = settings.counts
    if counts is None:
        if held is None:
            raise ValueError(
                "Invalid `counts`: the transform holds no class counts (it estimates them "
                "online, or its initial_dist is probabilities); pass the class counts of one "
                "epoch of its input. Received: counts=None"
            )
        dist = as_class_distribution(held, "counts")
    else:
        dist = as_class_distribution(counts, "counts")
        if held is not None and _dense(as_class_distribution(held, "counts")) != _dense(dist):
            raise ValueError(
                "Invalid `counts`: they differ from the counts the transform was made with "
                f"({as_class_distribution(held).counts}); pass the same counts or none. "
                f"Received: counts={dist.counts}"
            )
    if settings.method != "rejection_resample":
        kind = "under-sampling" if settings.method == "undersample" else "over-sampling"
        return int(sampling_targets(settings.sampling_strategy, dist.counts, kind).sum())
    initial: Any = settings.initial_dist
    if initial is None:  # online: the rates the counts of the whole epoch give
        size = max(dist.counts) + 1 if settings.num_classes is None else settings.num_classes
        initial = ClassDistribution(dict(enumerate(dist.to_array(max(size, len(dist.to_array())))
                                              .tolist())))
    plan = _rejection_plan(settings.target_dist, initial, None, _DEFAULT_MAX_WAIT)
    rates = np.asarray(plan.rates, dtype=np.float64)
    rows = dist.to_array()
    unknown = np.flatnonzero(rows)[np.flatnonzero(rows) >= rates.size]
    if unknown.size:
        raise ValueError(
            f"Invalid `counts`: class(es) {unknown.tolist()} are not classes of the "
            f"transform (of its initial_dist or num_classes). Received: counts={dist.counts}"
        )
    return int(round(float((rows * rates[: rows.size]).sum())))


def _dense(dist: ClassDistribution) -> list[int]:
    """Counts by class id, without trailing zeros (``[5, 3]`` and ``{0: 5, 1: 3, 2: 0}`` agree)."""
    return np.trim_zeros(dist.to_array(), "b").tolist()


# --------------------------------------------------------------------------------------------
# Plans: what each transform computes per class, resolved once in Python
# --------------------------------------------------------------------------------------------


class _Plan:
    """Static description of a resampling: per-class parameters or an online rule."""

    def __init__(self, mode: str, num_classes: int | None) -> None:
        self.mode = mode  # "static", "online" or "exact"
        self.num_classes = num_classes  # None: grows with the labels seen (online)
        self.known: np.ndarray | None = None  # bool[C]: classes allowed at run time
        self.rates: np.ndarray | None = None  # float64[C] (static)
        self.weights: np.ndarray | None = None  # float64[C] (static and exact)
        self.rows: np.ndarray | None = None  # int64[C] rows per epoch (exact)
        self.picks: np.ndarray | None = None  # int64[C] extra picks per epoch (exact)
        self.whole: np.ndarray | None = None  # int64[C] guaranteed copies per row (exact)
        self.total: int | None = None  # output rows per epoch (exact)
        self.online_rule: Callable[[tf.Tensor], tuple[tf.Tensor, tf.Tensor]] | None = None
        self.required: np.ndarray | None = None  # bool[C] classes that must appear (online)
        self.max_wait = _DEFAULT_MAX_WAIT
        self.may_repeat = False  # whether a row can be emitted more than once (oversampling)
        self.source = "counts"  # the argument that gave the known distribution


def _count_plan(
    sampling_type: str,
    counts: CountsLike | None,
    sampling_strategy: Any,
    exact: bool,
    num_classes: int | None,
    max_wait_elements: int,
) -> _Plan:
    max_wait = check_positive_int(max_wait_elements, "max_wait_elements")
    num_classes = check_num_classes(num_classes, allow_none=True)
    if counts is None:
        if exact:
            raise ValueError(
                "Invalid `exact`: exact mode needs the class counts of an epoch; pass "
                "counts=tfbalance.class_counts(...). Received: exact=True, counts=None"
            )
        plan = _Plan("online", num_classes)
        plan.may_repeat = sampling_type == "over-sampling"
        plan.max_wait = max_wait
        plan.online_rule = _online_strategy_rule(sampling_strategy, sampling_type, num_classes)
        if num_classes is not None:
            plan.required = np.ones(num_classes, dtype=bool)
        return plan
    if num_classes is not None:
        raise ValueError(
            "Invalid `num_classes`: it is only used when counts=None (the classes are those "
            f"of `counts`). Received: num_classes={num_classes!r}"
        )
    dist = as_class_distribution(counts, "counts")
    rows = dist.to_array()
    targets = sampling_targets(sampling_strategy, dist.counts, sampling_type, len(rows))
    plan = _Plan("exact" if exact else "static", len(rows))
    plan.may_repeat = sampling_type == "over-sampling"
    plan.known = rows > 0
    plan.weights = _importance(rows.astype(np.float64), targets.astype(np.float64))
    with np.errstate(divide="ignore", invalid="ignore"):
        plan.rates = np.where(rows > 0, targets / np.maximum(rows, 1), 0.0)
    if exact:
        plan.rows = rows
        if sampling_type == "under-sampling":
            plan.whole = np.zeros_like(rows)
            plan.picks = targets
        else:
            plan.whole = np.where(rows > 0, targets // np.maximum(rows, 1), 0)
            plan.picks = np.where(rows > 0, targets % np.maximum(rows, 1), 0)
        plan.total = int(targets.sum())
    return plan


def _rejection_plan(
    target_dist: Any, initial_dist: Any, num_classes: int | None, max_wait_elements: int
) -> _Plan:
    max_wait = check_positive_int(max_wait_elements, "max_wait_elements")
    num_classes = check_num_classes(num_classes, allow_none=True)
    if isinstance(target_dist, str) and target_dist != "balanced":
        raise ValueError(
            "Invalid `target_dist`: expected 'balanced', a list or a dict of class "
            f"probabilities. Received: target_dist={target_dist!r}"
        )
    if initial_dist is None:
        if not isinstance(target_dist, str) and num_classes is None:
            num_classes = _vector_size(target_dist, "target_dist")
        target = None
        if not isinstance(target_dist, str):
            target = resolve_distribution(target_dist, num_classes, "target_dist")
        elif num_classes is not None:
            target = np.full(num_classes, 1.0 / num_classes)
        plan = _Plan("online", num_classes)
        plan.max_wait = max_wait
        plan.online_rule = _online_rejection_rule(target)
        if target is not None:
            plan.required = target > 0
        return plan
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
    plan = _Plan("static", size)
    plan.source = "initial_dist"
    plan.known = initial > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(initial > 0, target / np.where(initial > 0, initial, 1.0), 0.0)
    plan.rates = ratio / ratio.max()
    plan.weights = _importance(initial, target)
    return plan


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


# --------------------------------------------------------------------------------------------
# Online rules (graph ops): rates and weights from the running class counts
# --------------------------------------------------------------------------------------------


def _online_strategy_rule(sampling_strategy: Any, sampling_type: str, num_classes: int | None):
    """Graph version of the imbalanced-learn words and ratios, for running counts."""
    under = sampling_type == "under-sampling"
    if isinstance(sampling_strategy, (Mapping,)) or (
        callable(sampling_strategy) and not isinstance(sampling_strategy, str)
    ):
        raise ValueError(
            "Invalid `sampling_strategy`: a dict or callable asks for row counts, which need "
            "the class counts of the data; pass counts=tfbalance.class_counts(...). "
            f"Received: sampling_strategy={sampling_strategy!r}, counts=None"
        )
    # Validate the word or ratio exactly as with counts, on a stand-in binary distribution
    # (the online data are only known at run time).
    stand_in = {0: 3, 1: 1}
    ratio: float | None = None
    if isinstance(sampling_strategy, str):
        if sampling_strategy not in SAMPLING_STRATEGY_WORDS:
            sampling_targets(sampling_strategy, stand_in, sampling_type)  # raises
        word = sampling_strategy
        if word == "auto":
            word = "not minority" if under else "not majority"
        if (word == "majority" and not under) or (word == "minority" and under):
            sampling_targets(word, stand_in, sampling_type)  # raises imbalanced-learn's error
    else:
        if isinstance(sampling_strategy, (bool, np.bool_)) or not isinstance(
            sampling_strategy, (int, float, np.integer, np.floating)
        ):
            sampling_targets(sampling_strategy, stand_in, sampling_type)  # raises TypeError
        ratio = float(sampling_strategy)
        if not 0 < ratio <= 1:
            sampling_targets(ratio, stand_in, sampling_type)  # raises the range error
        if num_classes is not None and num_classes != 2:
            raise ValueError(
                "Invalid `sampling_strategy`: a float is only allowed for a binary target "
                f"(2 classes), but num_classes={num_classes}; for multi-class use a dict. "
                f"Received: sampling_strategy={ratio!r}"
            )
        word = None

    def rule(seen: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, list]:
        present = seen > 0
        size = tf.size(seen)
        ids = tf.range(size)
        inf = tf.constant(np.inf, tf.float64)
        n_max = tf.reduce_max(tf.concat([seen, tf.zeros([1], tf.float64)], 0))
        n_min = tf.reduce_min(tf.concat([tf.where(present, seen, inf), tf.reshape(inf, [1])], 0))
        majority = tf.reduce_min(tf.where(present & tf.equal(seen, n_max), ids, size))
        minority = tf.reduce_min(tf.where(present & tf.equal(seen, n_min), ids, size))
        checks = []
        if word is not None:
            chosen = {
                "all": present,
                "majority": tf.equal(ids, majority),
                "minority": tf.equal(ids, minority),
                "not majority": present & tf.not_equal(ids, majority),
                "not minority": present & tf.not_equal(ids, minority),
            }[word]
            target = tf.where(chosen, n_min if under else n_max, seen)
        else:
            num_present = tf.reduce_sum(tf.cast(present, tf.int32))
            checks.append(
                tf.debugging.Assert(
                    num_present <= 2,
                    [
                        "Invalid `sampling_strategy`: a float is only allowed for a binary "
                        "target, but the stream holds more than 2 classes; number of classes "
                        "seen:",
                        num_present,
                    ],
                )
            )
            if under:
                wanted = n_min / ratio
                chosen = present & tf.not_equal(ids, minority)
                target = tf.where(chosen, wanted, seen)
                checks.append(
                    tf.debugging.Assert(
                        tf.reduce_all(~chosen | (wanted <= seen)),
                        [
                            "Invalid `sampling_strategy`: the ratio would generate new samples "
                            "in the majority class while under-sampling it (the running "
                            "minority/majority ratio of the stream exceeds it); increase the "
                            f"ratio. Received: sampling_strategy={ratio!r}"
                        ],
                    )
                )
            else:
                wanted = n_max * ratio
                chosen = present & tf.not_equal(ids, majority)
                target = tf.where(chosen, wanted, seen)
                checks.append(
                    tf.debugging.Assert(
                        tf.reduce_all(~chosen | (wanted > seen)),
                        [
                            "Invalid `sampling_strategy`: the ratio would remove samples from "
                            "the minority class while over-sampling it (the running "
                            "minority/majority ratio of the stream exceeds it); increase the "
                            f"ratio. Received: sampling_strategy={ratio!r}"
                        ],
                    )
                )
        rates = tf.where(present, target / tf.where(present, seen, tf.ones_like(seen)),
                         tf.zeros_like(seen))
        return rates, _tf_importance(seen, target), checks

    return rule


def _online_rejection_rule(target: np.ndarray | None):
    def rule(seen: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, list]:
        present = seen > 0
        if target is None:  # 'balanced' over the classes seen so far
            wanted = tf.cast(present, tf.float64)
        else:
            wanted = tf.constant(target, tf.float64)
        ratio = tf.where(present, wanted / tf.where(present, seen, tf.ones_like(seen)),
                         tf.zeros_like(seen))
        # Classes not seen yet are left out of the maximum during warm-up (their ratio would
        # be infinite); a target class that never appears is an error after max_wait.
        largest = tf.reduce_max(tf.concat([ratio, tf.zeros([1], tf.float64)], 0))
        rates = ratio / tf.maximum(largest, tf.constant(1e-300, tf.float64))
        return rates, _tf_importance(seen, wanted * tf.cast(present, tf.float64)), []

    return rule


def _tf_importance(initial: tf.Tensor, output: tf.Tensor) -> tf.Tensor:
    p = initial / tf.maximum(tf.reduce_sum(initial), 1e-300)
    q = output / tf.maximum(tf.reduce_sum(output), 1e-300)
    return tf.where(q > 0, p / tf.where(q > 0, q, tf.ones_like(q)), tf.zeros_like(q))


# --------------------------------------------------------------------------------------------
# The transform
# --------------------------------------------------------------------------------------------


def _transform(
    plan: _Plan, *, label: Label, seed: int | None, shuffle: bool, sample_weight: bool,
    name: str | None, settings: _Settings | None = None,
) -> Transform:
    return _Resampling(plan, label, seed, shuffle, sample_weight, name, settings)


class _Resampling:
    """The ``dataset -> dataset`` function the transforms return.

    A class rather than a closure so ``read_csv(resample=...)`` can see whether the transform
    only drops rows of ``(features, label)`` batches, and then resample lines before decoding.
    """

    def __init__(
        self, plan: _Plan, label: Label, seed: int | None, shuffle: bool, sample_weight: bool,
        name: str | None, settings: _Settings | None = None,
    ) -> None:
        self._settings = settings  # what the factory was called with, for expected_steps
        self._plan = plan
        self._label = label
        self._seed = seed
        self._shuffle = shuffle
        self._sample_weight = sample_weight
        self._name = name

    def __repr__(self) -> str:
        made_by = "resampling" if self._settings is None else self._settings.method
        return f"<tfbalance.{made_by} transform>"

    @property
    def drops_rows_only(self) -> bool:
        """Whether every row is emitted at most once and the label is ``(x, y)``'s ``y``."""
        return not self._plan.may_repeat and self._label in (None, 1)

    def __call__(self, dataset: tf.data.Dataset) -> tf.data.Dataset:
        check_dataset(dataset)
        plan, label = self._plan, self._label
        rank = batched_label_rank(dataset, label)
        if self._sample_weight:
            _check_weight_structure(dataset.element_spec)
        batched = _internal_batch(dataset) if rank == 0 else dataset
        out = _resample_batches(batched, plan, label, self._seed, self._shuffle,
                                self._sample_weight, self._name, user_batches=rank == 1)
        if rank == 0:
            out = out.unbatch()
            if plan.total is not None:
                out = out.apply(tf.data.experimental.assert_cardinality(plan.total))
        else:
            # A batch may lose every row, and a training step on an empty batch is never
            # wanted. (Unbatching above drops empty batches by itself.)
            out = out.filter(_has_rows)
        return out


def resample_before_decoding(
    resample: Any,
    lines: tf.data.Dataset,
    decode: Callable[..., Any],
    decode_labels: Callable[..., tf.Tensor],
    **map_options: Any,
) -> tf.data.Dataset:
    """``read_csv``'s ``resample=``: batches of raw lines in, resampled decoded batches out.

    ``lines`` yields tuples of line vectors (plus what ``decode`` needs); ``decode_labels``
    checks every line and returns its class ids; ``decode(*lines, fields_checked=True)`` turns
    kept lines into ``(features, labels)``. A transform that only drops rows runs on
    ``(lines, ids)`` so only the rows it keeps are decoded in full; any other is applied to the
    decoded batches. Either way the output equals ``decoded.apply(resample)``.
    """
    if not isinstance(resample, _Resampling):
        raise TypeError(
            "Invalid `resample`: expected a transform from tfbalance.undersample, oversample "
            "or rejection_resample (use dataset.apply for other functions). Received: "
            f"resample={resample!r}"
        )
    if not resample.drops_rows_only:
        return lines.map(decode, **map_options).apply(resample)

    def with_ids(*line_batch: tf.Tensor):
        return line_batch, decode_labels(*line_batch)

    def decode_kept(line_batch: tuple, ids: tf.Tensor, *weights: tf.Tensor):
        return (*decode(*line_batch, fields_checked=True), *weights)

    return lines.map(with_ids, **map_options).apply(resample).map(decode_kept, **map_options)


def _has_rows(*element: Any) -> tf.Tensor:
    first = tf.nest.flatten(element)[0]
    rows = first.nrows() if isinstance(first, tf.RaggedTensor) else tf.shape(first)[0]
    return rows > 0


def _internal_batch(dataset: tf.data.Dataset) -> tf.data.Dataset:
    specs = tf.nest.flatten(dataset.element_spec)
    if all(isinstance(s, tf.TensorSpec) and s.shape.is_fully_defined() for s in specs):
        return dataset.batch(_UNBATCHED_CHUNK)
    return dataset.ragged_batch(_UNBATCHED_CHUNK)


def _resample_batches(
    batched: tf.data.Dataset, plan: _Plan, label: Label, seed: int | None, shuffle: bool,
    sample_weight: bool, name: str | None, *, user_batches: bool,
) -> tf.data.Dataset:
    label_text = repr(label) if not callable(label) else getattr(label, "__name__", "callable")
    emit = _make_emit(plan, shuffle, sample_weight)
    parallel = dict(num_parallel_calls=tf.data.AUTOTUNE, deterministic=True, name=name)
    if plan.mode == "static":
        # Fixed rates need no running state, so every batch is resampled independently in
        # one parallel map. A scan after it only ORs the classes each batch held, so the end
        # of the epoch can tell a class of the counts that never appeared.
        params = (tf.constant(plan.rates, tf.float64), tf.constant(plan.weights, tf.float64))
        seeded, has_end = _with_end_marker(zip_with_seeds(batched, seed))

        def resample(element: Any, seed: tf.Tensor):
            ids = _class_ids(element, label, plan, label_text, user_batches)
            out = emit(element, ids, params, seed)
            if not has_end:
                return out
            held = tf.math.bincount(ids, minlength=plan.num_classes,
                                    maxlength=plan.num_classes, dtype=tf.int32) > 0
            return out, held, tf.not_equal(seed[1], SEED_TAG)

        emitted = seeded.map(resample, **parallel)
        if has_end:
            emitted = emitted.scan(tf.zeros([plan.num_classes], tf.bool),
                                   _make_static_end_check(plan, label_text))
    else:
        # Running counts (online) and rows still to pick (exact) are sequential: a scan step
        # per batch updates them and yields per-class parameters only; the per-row work runs
        # in the parallel map after it.
        seeded, has_end = _with_end_marker(zip_with_seeds(batched, seed))
        step = _make_step(plan, label, label_text, has_end, user_batches)
        scanned = seeded.scan(_initial_state(plan), step)
        emitted = scanned.map(emit, **parallel)
    return emitted


def _make_emit(plan: _Plan, shuffle: bool, sample_weight: bool):
    """The per-row part of a batch's resampling: ``(element, ids, params, seed) -> rows``."""
    duplicates = plan.may_repeat
    whole = tf.constant(plan.whole if plan.mode == "exact" else np.zeros(0), tf.int64)
    exact_weights = tf.constant(plan.weights if plan.mode == "exact" else np.zeros(0),
                                tf.float64)

    def emit(element: Any, ids: tf.Tensor, params: Any, seed: tf.Tensor):
        rows = tf.size(ids)
        seed_keep, _, seed_rank, seed_shuffle = split_seed(seed, 4)
        if plan.mode == "exact":
            taken, batch_counts = params
            weights = exact_weights
            chosen = _choose_in_classes(ids, taken, batch_counts, plan.num_classes, seed_rank)
            if duplicates:
                index = tf.repeat(tf.range(rows), tf.gather(whole, ids) + tf.cast(chosen, tf.int64))
            else:
                index = tf.cast(tf.where(chosen)[:, 0], tf.int32)
        else:
            rates, weights = params
            row_rates = tf.gather(rates, ids)
            uniform = tf.random.stateless_uniform([rows], seed_keep, dtype=tf.float64)
            if duplicates:
                copies = tf.floor(row_rates)
                repeats = tf.cast(copies, tf.int64) + tf.cast(uniform < row_rates - copies,
                                                              tf.int64)
                index = tf.repeat(tf.range(rows), repeats)
            else:
                # Rates never exceed 1: a row is kept or dropped, which tf.where finds without
                # building repeat counts.
                index = tf.cast(tf.where(uniform < row_rates)[:, 0], tf.int32)
        if shuffle:
            index = tf.random.experimental.stateless_shuffle(index, seed_shuffle)
        out = tf.nest.map_structure(lambda t: tf.gather(t, index), element)
        if sample_weight:
            row_weights = tf.gather(weights, tf.gather(ids, index))
            out = _attach_weights(out, tf.cast(row_weights, tf.float32))
        return out

    return emit


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


def _class_ids(
    element: Any, label: Label, plan: _Plan, label_text: str, user_batches: bool
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


def _with_end_marker(seeded: tf.data.Dataset) -> tuple[tf.data.Dataset, bool]:
    """Append an empty batch, tagged by an end-of-epoch seed, to ``(batch, seed)`` pairs.

    The last scan step of an epoch can then check what only the end of an epoch can tell.
    Real seeds carry ``SEED_TAG`` in their second word, so no per-batch flag is needed.
    Returns the dataset unchanged (and False) when no empty batch can be built (ragged or
    unknown-rank components).
    """
    batch_spec, _ = seeded.element_spec
    empty = _empty_batch(batch_spec)
    if empty is None:
        return seeded, False
    end = tf.data.Dataset.from_tensors((empty, tf.zeros([2], tf.int64)))
    return seeded.concatenate(end), True


def _empty_batch(spec: Any) -> Any:
    flat = tf.nest.flatten(spec)
    tensors = []
    for s in flat:
        if not isinstance(s, tf.TensorSpec) or s.shape.rank is None or s.shape.rank == 0:
            return None
        dims = [0] + [d if d is not None else 0 for d in s.shape.as_list()[1:]]
        tensors.append(tf.zeros(dims, s.dtype))
    return tf.nest.pack_sequence_as(spec, tensors)


def _initial_state(plan: _Plan) -> dict[str, tf.Tensor]:
    size = plan.num_classes
    state = {
        "seen": tf.zeros([0 if size is None else size], tf.int64),
        "read": tf.constant(0, tf.int64),
    }
    if plan.mode == "exact":
        state["remaining"] = tf.constant(plan.rows, tf.int64)
        state["picks"] = tf.constant(plan.picks, tf.int64)
    return state


def _make_step(plan: _Plan, label: Label, label_text: str, has_end: bool, user_batches: bool):
    """The scan step of the online and exact modes: running state in, per-class parameters out."""
    size = plan.num_classes

    def step(state: dict[str, tf.Tensor], inputs: Any):
        element, seed = inputs
        is_end = tf.not_equal(seed[1], SEED_TAG)
        ids = _class_ids(element, label, plan, label_text, user_batches)
        rows = tf.size(ids, out_type=tf.int64)
        if size is None:
            batch_counts = tf.math.bincount(ids, dtype=tf.int64)
            width = tf.maximum(tf.size(state["seen"]), tf.size(batch_counts))
            seen = _pad_to(state["seen"], width) + _pad_to(batch_counts, width)
        else:
            batch_counts = tf.math.bincount(ids, minlength=size, maxlength=size, dtype=tf.int64)
            seen = state["seen"] + batch_counts
        read = state["read"] + rows
        new_state = dict(state, seen=seen, read=read)

        checks = []
        if plan.mode == "exact":
            remaining, picks = state["remaining"], state["picks"]
            checks.append(
                tf.debugging.Assert(
                    tf.reduce_all(batch_counts <= remaining),
                    [
                        f"Invalid `counts`: the dataset has more rows of some class than "
                        f"`counts` says (exact mode needs the counts of one whole epoch; "
                        f"label={label_text}). Rows still expected per class:",
                        remaining,
                        "rows of each class in this batch:",
                        batch_counts,
                    ],
                )
            )
            if has_end:
                checks.append(
                    tf.debugging.Assert(
                        tf.logical_not(is_end) | tf.reduce_all(tf.equal(remaining, 0)),
                        [
                            f"Invalid `counts`: the epoch ended with fewer rows than `counts` "
                            f"says (exact mode needs the counts of one whole epoch; under "
                            f"sharding or tf.data service dynamic sharding pass each shard's "
                            f"own counts; label={label_text}). Rows missing per class:",
                            remaining,
                        ],
                    )
                )
            with tf.control_dependencies(checks):
                _, seed_hyper, _, _ = split_seed(seed, 4)
                taken = _hypergeometric(seed_hyper, remaining, picks, batch_counts)
            params = (taken, batch_counts)
            new_state["remaining"] = remaining - batch_counts
            new_state["picks"] = picks - taken
        else:
            rates, weights, rule_checks = plan.online_rule(tf.cast(seen, tf.float64))
            checks.extend(rule_checks)
            checks.append(_check_seen(seen, read, is_end, plan, label_text, has_end))
            checks.append(_check_random_order(seen, read, _pad_to(batch_counts, tf.size(seen)),
                                              rows, label_text))
            with tf.control_dependencies(checks):
                params = (tf.identity(rates), tf.identity(weights))
        with tf.control_dependencies(checks):
            ids = tf.identity(ids)
        return new_state, (element, ids, params, seed)

    return step


def _make_static_end_check(plan: _Plan, label_text: str):
    """The scan step after a static resampling: the end of an epoch must have seen every
    class that the known distribution gives rows (as exact mode checks its counts)."""
    expected = tf.constant(plan.known)
    argument = "initial_dist" if plan.source == "initial_dist" else "counts"

    def step(seen: tf.Tensor, inputs: Any):
        out, held, is_end = inputs
        seen = seen | held
        missing = tf.where(expected & tf.logical_not(seen))[:, 0]
        # An epoch without a single row says nothing about the distribution: a tf.data
        # service worker that was handed no split reads nothing, and that is legitimate.
        check = tf.debugging.Assert(
            tf.logical_not(is_end) | tf.equal(tf.size(missing), 0)
            | tf.logical_not(tf.reduce_any(seen)),
            [
                f"Invalid `{argument}`: the epoch ended without a row of some class that "
                f"`{argument}` gives rows, so the data are not what `{argument}` describes "
                f"(e.g. a wrong label, or counts of other data; under sharding or tf.data "
                f"service dynamic sharding pass each shard's own {argument}; "
                f"label={label_text}). Classes missing:",
                missing,
            ],
        )
        with tf.control_dependencies([check]):
            out = tf.nest.map_structure(tf.identity, out)
        return seen, out

    return step


# The order test raises when a batch's class mix has probability below 2 * exp(-30)
# (about 2e-13) under a random row order: a correct stream then trips it about once in
# 10**12 class-batch checks, while a label-sorted one trips within a batch of its first
# change of class.
_ORDER_TEST_LOG_BOUND = 30.0


def _check_random_order(
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


def _pad_to(vector: tf.Tensor, width: tf.Tensor) -> tf.Tensor:
    return tf.pad(vector, [[0, width - tf.size(vector)]])


def _check_labels(labels: tf.Tensor, plan: _Plan, label_text: str) -> tf.Tensor:
    num_classes = plan.num_classes
    if plan.known is not None:
        classes = np.flatnonzero(plan.known).tolist()
        allowed = f"the classes with rows in the known distribution: {classes}"
    elif num_classes is not None:
        allowed = f"0..{num_classes - 1} (num_classes={num_classes})"
    else:
        allowed = f"the class ids 0..MAX_CLASS_ID={MAX_CLASS_ID}"

    if plan.known is not None and not plan.known.all():
        # A class inside the range may still be unknown: the per-row test decides, and the
        # bad values for the message are only gathered when it fails.
        known = tf.constant(plan.known)

        def valid() -> tf.Tensor:
            inside = (labels >= 0) & (labels < num_classes)
            return inside & tf.gather(known, tf.where(inside, labels, 0))

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


def _check_seen(
    seen: tf.Tensor, read: tf.Tensor, is_end: tf.Tensor, plan: _Plan, label_text: str,
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


def _hypergeometric(
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


def _check_weight_structure(spec: Any) -> None:
    if isinstance(spec, dict) or (isinstance(spec, tuple) and len(spec) in (2, 3)):
        return
    raise TypeError(
        "Invalid `sample_weight`: weights are added to (x, y) / (x, y, w) tuples or dict "
        f"elements, but the dataset's elements are {spec!r}. Received: sample_weight=True"
    )


def _attach_weights(rows: Any, weights: tf.Tensor) -> Any:
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


def _check_bool(value: Any, arg_name: str) -> None:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"Invalid `{arg_name}`: expected a bool. Received: {arg_name}={value!r}")


def _show(value: Any) -> str:
    if isinstance(value, ClassDistribution):
        return repr(value.counts)
    return repr(value)


"""The public resampling functions: each checks its arguments, builds a plan, returns the
transform (the design is in the package docstring)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tfbalance._deprecation import warn_deprecated
from tfbalance._distribution import ClassDistribution, CountsLike, as_class_distribution
from tfbalance._labels import Label, check_dataset, check_label_argument
from tfbalance._sampling._pipeline import Resampling
from tfbalance._sampling._plans import (
    DEFAULT_MAX_WAIT,
    FixedRatesPlan,
    count_plan,
    rejection_plan,
)
from tfbalance._sampling._rules import sampling_targets
from tfbalance._tf import named, tf
from tfbalance._validation import (
    SamplingStrategy,
    check_bool,
    check_int,
    check_positive_int,
    check_seed,
)

__all__ = [
    "undersample",
    "oversample",
    "rejection_resample",
    "rebatch",
    "expected_steps",
]

Transform = Callable[[tf.data.Dataset], tf.data.Dataset]
TargetDist = str | Mapping[int, float] | Sequence[float] | np.ndarray



def undersample(
    *,
    label: Label = None,
    counts: CountsLike | None = None,
    sampling_strategy: SamplingStrategy = "auto",
    exact: bool = False,
    seed: int | None = None,
    sample_weight: bool = False,
    num_classes: int | None = None,
    max_wait_elements: int = DEFAULT_MAX_WAIT,
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
    return _count_resampling(
        "undersample", label=label, counts=counts, sampling_strategy=sampling_strategy,
        exact=exact, seed=seed, shuffle=False, sample_weight=sample_weight,
        num_classes=num_classes, max_wait_elements=max_wait_elements, name=name,
    )


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
    max_wait_elements: int = DEFAULT_MAX_WAIT,
    name: str | None = None,
) -> Transform:
    """Random oversampling of a stream, as a ``dataset.apply`` transform.

    Each row of a resampled class with rate ``r = target / count`` is emitted ``floor(r)``
    times, and once more with probability ``r - floor(r)`` (Bernoulli mode) or for exactly
    ``target mod count`` rows chosen uniformly at random (exact mode). Every row therefore
    appears at least once. The copies are mixed by a seeded shuffle inside each batch
    (a bounded shuffle: ``UNBATCHED_CHUNK`` (1024) rows on unbatched input, the input batch on
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
    return _count_resampling(
        "oversample", label=label, counts=counts, sampling_strategy=sampling_strategy,
        exact=exact, seed=seed, shuffle=shuffle, sample_weight=sample_weight,
        num_classes=num_classes, max_wait_elements=max_wait_elements, name=name,
    )


# The sampling kind of each count-driven transform, as `count_plan` names it in messages.
_COUNT_KINDS = {"undersample": "under-sampling", "oversample": "over-sampling"}


def _count_resampling(
    method: str,
    *,
    label: Label,
    counts: CountsLike | None,
    sampling_strategy: SamplingStrategy,
    exact: bool,
    seed: int | None,
    shuffle: bool,
    sample_weight: bool,
    num_classes: int | None,
    max_wait_elements: int,
    name: str | None,
) -> Transform:
    """The one body of ``undersample`` and ``oversample``: checks, plan, settings."""
    check_label_argument(label)
    seed = check_seed(seed)
    check_bool(exact, "exact")
    check_bool(shuffle, "shuffle")
    check_bool(sample_weight, "sample_weight")
    plan = count_plan(
        _COUNT_KINDS[method], counts, sampling_strategy, exact, num_classes, max_wait_elements
    )
    settings = _Settings(method, counts=_held(counts), sampling_strategy=sampling_strategy)
    return Resampling(plan, label=label, seed=seed, shuffle=shuffle, sample_weight=sample_weight,
                      name=name, settings=settings)


def rejection_resample(
    *,
    label: Label = None,
    target_dist: TargetDist = "balanced",
    initial_dist: ClassDistribution | Mapping[int, float] | Sequence[float] | None = None,
    seed: int | None = None,
    sample_weight: bool = False,
    num_classes: int | None = None,
    max_wait_elements: int = DEFAULT_MAX_WAIT,
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
    check_bool(sample_weight, "sample_weight")
    plan = rejection_plan(target_dist, initial_dist, num_classes, max_wait_elements)
    settings = _Settings("rejection_resample", target_dist=target_dist, initial_dist=initial_dist,
                         num_classes=num_classes)
    return Resampling(plan, label=label, seed=seed, shuffle=False, sample_weight=sample_weight,
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
    check_bool(drop_remainder, "drop_remainder")
    if num_rows is not None:
        num_rows = check_int(num_rows, "num_rows", minimum=0)

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
    check_bool(drop_remainder, "drop_remainder")
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
    settings = transform.settings if isinstance(transform, Resampling) else None
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
    plan = rejection_plan(settings.target_dist, initial, None, DEFAULT_MAX_WAIT)
    # A given initial_dist always makes a fixed-rates plan.
    assert isinstance(plan, FixedRatesPlan)
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

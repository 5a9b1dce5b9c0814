"""The public resampling functions: each checks its arguments, builds a plan, returns the
transform (the design is in the package docstring)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from tfbalance._distribution import ClassDistribution, CountsLike, as_class_distribution
from tfbalance._labels import Label, check_dataset, check_label_argument
from tfbalance._sampling._pipeline import Resampling
from tfbalance._sampling._plans import DEFAULT_MAX_WAIT, count_plan, rejection_plan
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
    check_label_argument(label)
    seed = check_seed(seed)
    check_bool(exact, "exact")
    check_bool(sample_weight, "sample_weight")
    plan = count_plan(
        "under-sampling", counts, sampling_strategy, exact, num_classes, max_wait_elements
    )
    return Resampling(plan, label=label, seed=seed, shuffle=False, sample_weight=sample_weight,
                      name=name)


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
    check_label_argument(label)
    seed = check_seed(seed)
    check_bool(exact, "exact")
    check_bool(shuffle, "shuffle")
    check_bool(sample_weight, "sample_weight")
    plan = count_plan(
        "over-sampling", counts, sampling_strategy, exact, num_classes, max_wait_elements
    )
    return Resampling(plan, label=label, seed=seed, shuffle=shuffle, sample_weight=sample_weight,
                      name=name)


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
    return Resampling(plan, label=label, seed=seed, shuffle=False, sample_weight=sample_weight,
                      name=name)


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
    counts: CountsLike,
    *,
    batch_size: int,
    method: str = "undersample",
    sampling_strategy: SamplingStrategy = "auto",
    target_dist: TargetDist = "balanced",
    drop_remainder: bool = False,
) -> int:
    """Training steps per epoch after resampling a data set with the given class counts.

    Exact for ``exact=True`` (the output row count is then fixed); for the Bernoulli modes it
    is the expectation (rounded to the nearest row) of a count that varies by a few standard
    deviations of ``sqrt(rows)``. Use it for ``steps_per_epoch`` when the output's
    cardinality is unknown.

    Parameters
    ----------
    counts : ClassDistribution, dict or list
        Class counts of one epoch of input.
    batch_size : int
        Rows per training batch.
    method : {'undersample', 'oversample', 'rejection_resample'}
        The transform.
    sampling_strategy : str, float, dict or callable
        For ``undersample`` / ``oversample``.
    target_dist : 'balanced', list or dict
        For ``rejection_resample``.
    drop_remainder : bool
        Whether the last, smaller batch is dropped.

    Returns
    -------
    int

    Examples
    --------
    >>> expected_steps([319_553, 62_601], batch_size=256)  # 125,202 rows
    490
    >>> expected_steps([319_553, 62_601], batch_size=256, method="oversample")
    2497
    """
    batch_size = check_positive_int(batch_size, "batch_size")
    rows = _expected_rows(counts, method, sampling_strategy, target_dist)
    return rows // batch_size if drop_remainder else -(-rows // batch_size)



def _expected_rows(counts: Any, method: str, sampling_strategy: Any, target_dist: Any) -> int:
    dist = as_class_distribution(counts, "counts")
    if method in ("undersample", "oversample"):
        kind = "under-sampling" if method == "undersample" else "over-sampling"
        return int(sampling_targets(sampling_strategy, dist.counts, kind).sum())
    if method == "rejection_resample":
        plan = rejection_plan(target_dist, dist, None, DEFAULT_MAX_WAIT)
        return int(round(plan.expected_rows(dist.to_array())))
    raise ValueError(
        "Invalid `method`: expected 'undersample', 'oversample' or 'rejection_resample'. "
        f"Received: method={method!r}"
    )

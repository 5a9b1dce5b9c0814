"""The transform: a plan applied to a stream, batch by batch (see the package docstring)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tfbalance._labels import Label, batched_label_rank, check_dataset
from tfbalance._random import SEED_TAG, split_seed, zip_with_seeds
from tfbalance._sampling._kernels import (
    check_random_order,
    check_seen,
    check_weight_structure,
    class_ids,
    hypergeometric,
    make_emit,
    pad_to,
)
from tfbalance._sampling._plans import ExactPlan, FixedRatesPlan, OnlinePlan, Plan
from tfbalance._tf import tf

__all__ = ["Resampling", "UNBATCHED_CHUNK"]

# Rows per internal batch on unbatched input (also the span of oversampling's shuffle there).
UNBATCHED_CHUNK = 1024


class Resampling:
    """The ``dataset -> dataset`` function that undersample, oversample and
    rejection_resample return.

    Besides ``__call__`` it has ``apply_to_lines``, the method ``read_csv(resample=...)``
    calls, and the read-only settings it was built with (``plan``, ``label``, ``seed``, ...).
    """

    def __init__(
        self, plan: Plan, *, label: Label, seed: int | None, shuffle: bool,
        sample_weight: bool, name: str | None, settings: Any = None,
    ) -> None:
        self._settings = settings  # the factory's arguments, read back by expected_steps
        self._plan = plan
        self._label = label
        self._seed = seed
        self._shuffle = shuffle
        self._sample_weight = sample_weight
        self._name = name

    @property
    def plan(self) -> Plan:
        """What the transform computes per class (``FixedRatesPlan``, ``OnlinePlan`` or
        ``ExactPlan``, frozen): e.g. ``plan.expected_rows(counts)``."""
        return self._plan

    @property
    def settings(self) -> Any:
        """The arguments the factory was called with (what ``expected_steps`` reads)."""
        return self._settings

    @property
    def label(self) -> Label:
        """Where the class id is read from each element."""
        return self._label

    @property
    def seed(self) -> int | None:
        return self._seed

    @property
    def sample_weight(self) -> bool:
        """Whether the output carries importance weights."""
        return self._sample_weight

    def __repr__(self) -> str:
        return (f"Resampling({type(self._plan).__name__}, label={self._label!r}, "
                f"seed={self._seed!r}, sample_weight={self._sample_weight!r})")

    def __call__(self, dataset: tf.data.Dataset) -> tf.data.Dataset:
        check_dataset(dataset)
        plan, label = self._plan, self._label
        rank = batched_label_rank(dataset, label)
        if self._sample_weight:
            check_weight_structure(dataset.element_spec)
        batched = _internal_batch(dataset) if rank == 0 else dataset
        out = _resample_batches(batched, plan, label, self._seed, self._shuffle,
                                self._sample_weight, self._name, user_batches=rank == 1)
        if rank == 0:
            out = out.unbatch()
            if isinstance(plan, ExactPlan):
                out = out.apply(tf.data.experimental.assert_cardinality(plan.total))
        else:
            # A batch may lose every row, and a training step on an empty batch is never
            # wanted. (Unbatching above drops empty batches by itself.)
            out = out.filter(_has_rows)
        return out

    def apply_to_lines(
        self,
        lines: tf.data.Dataset,
        decode_labels: Callable[..., tf.Tensor],
        decode: Callable[..., Any],
        **map_options: Any,
    ) -> tf.data.Dataset:
        """This transform applied to text records before they are decoded.

        The protocol ``read_csv(resample=...)`` uses (any ``dataset -> dataset`` callable
        without this method is applied to the decoded batches instead):

        * ``lines`` yields tuples of equally long vectors, one batch of records each (the
          text and what the decoder needs to name a record in its errors);
        * ``decode_labels(*batch)`` checks every record of a batch in full and returns its
          class ids (an int vector);
        * ``decode(*batch, fields_checked=False)`` decodes a batch into
          ``(features, labels)``; ``fields_checked=True`` skips the record checks, for
          records that ``decode_labels`` has checked;
        * ``map_options`` are the reader's ``Dataset.map`` options (parallelism,
          determinism), for the maps built here.

        The result equals ``lines.map(decode, **map_options).apply(self)``, element for
        element. A transform that only drops rows and reads the label of ``(x, y)`` runs on
        ``(batch, class ids)`` pairs, so only the records it keeps are decoded in full; any
        other (oversampling, another ``label``) decodes first.
        """
        if self._plan.may_repeat or self._label not in (None, 1):
            return lines.map(decode, **map_options).apply(self)

        def with_ids(*batch: tf.Tensor):
            return batch, decode_labels(*batch)

        def decode_kept(batch: tuple, ids: tf.Tensor, *weights: tf.Tensor):
            return (*decode(*batch, fields_checked=True), *weights)

        return lines.map(with_ids, **map_options).apply(self).map(decode_kept, **map_options)


def _has_rows(*element: Any) -> tf.Tensor:
    first = tf.nest.flatten(element)[0]
    rows = first.nrows() if isinstance(first, tf.RaggedTensor) else tf.shape(first)[0]
    return rows > 0


def _internal_batch(dataset: tf.data.Dataset) -> tf.data.Dataset:
    specs = tf.nest.flatten(dataset.element_spec)
    if all(isinstance(s, tf.TensorSpec) and s.shape.is_fully_defined() for s in specs):
        return dataset.batch(UNBATCHED_CHUNK)
    return dataset.ragged_batch(UNBATCHED_CHUNK)


def _resample_batches(
    batched: tf.data.Dataset, plan: Plan, label: Label, seed: int | None, shuffle: bool,
    sample_weight: bool, name: str | None, *, user_batches: bool,
) -> tf.data.Dataset:
    label_text = repr(label) if not callable(label) else getattr(label, "__name__", "callable")
    emit = make_emit(plan, shuffle, sample_weight)
    parallel = dict(num_parallel_calls=tf.data.AUTOTUNE, deterministic=True, name=name)
    if isinstance(plan, FixedRatesPlan):
        # Fixed rates need no running state, so every batch is resampled independently in
        # one parallel map. A scan after it only ORs the classes each batch held, so the end
        # of the epoch can tell a class of the counts that never appeared.
        params = (tf.constant(plan.rates, tf.float64), tf.constant(plan.weights, tf.float64))
        seeded, has_end = _with_end_marker(zip_with_seeds(batched, seed))

        def resample(element: Any, seed: tf.Tensor):
            ids = class_ids(element, label, plan, label_text, user_batches)
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


def _initial_state(plan: Plan) -> dict[str, tf.Tensor]:
    size = plan.num_classes
    state = {
        "seen": tf.zeros([0 if size is None else size], tf.int64),
        "read": tf.constant(0, tf.int64),
    }
    if isinstance(plan, ExactPlan):
        state["remaining"] = tf.constant(plan.rows, tf.int64)
        state["picks"] = tf.constant(plan.picks, tf.int64)
    return state


def _make_step(
    plan: ExactPlan | OnlinePlan, label: Label, label_text: str, has_end: bool,
    user_batches: bool,
):
    """The scan step of the online and exact modes: running state in, per-class parameters out."""
    size = plan.num_classes

    def step(state: dict[str, tf.Tensor], inputs: Any):
        element, seed = inputs
        is_end = tf.not_equal(seed[1], SEED_TAG)
        ids = class_ids(element, label, plan, label_text, user_batches)
        rows = tf.size(ids, out_type=tf.int64)
        if size is None:
            batch_counts = tf.math.bincount(ids, dtype=tf.int64)
            width = tf.maximum(tf.size(state["seen"]), tf.size(batch_counts))
            seen = pad_to(state["seen"], width) + pad_to(batch_counts, width)
        else:
            batch_counts = tf.math.bincount(ids, minlength=size, maxlength=size, dtype=tf.int64)
            seen = state["seen"] + batch_counts
        read = state["read"] + rows
        new_state = dict(state, seen=seen, read=read)

        checks = []
        if isinstance(plan, ExactPlan):
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
                taken = hypergeometric(seed_hyper, remaining, picks, batch_counts)
            params = (taken, batch_counts)
            new_state["remaining"] = remaining - batch_counts
            new_state["picks"] = picks - taken
        else:
            rates, weights, rule_checks = plan.rule(tf.cast(seen, tf.float64))
            checks.extend(rule_checks)
            checks.append(check_seen(seen, read, is_end, plan, label_text, has_end))
            checks.append(check_random_order(seen, read, pad_to(batch_counts, tf.size(seen)),
                                              rows, label_text))
            with tf.control_dependencies(checks):
                params = (tf.identity(rates), tf.identity(weights))
        with tf.control_dependencies(checks):
            ids = tf.identity(ids)
        return new_state, (element, ids, params, seed)

    return step


def _make_static_end_check(plan: FixedRatesPlan, label_text: str):
    """The scan step after a static resampling: the end of an epoch must have seen every
    class that the known distribution gives rows (as exact mode checks its counts)."""
    expected = tf.constant(plan.known)
    argument = plan.source

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

"""Stratified holdout splits of a stream: exact per-class proportions in one pass per split.

How it works
------------
Per class ``c`` with ``n_c`` rows, the split sizes come from largest-remainder rounding of
``n_c * f_j`` (computed in exact rational arithmetic; see :func:`_split_sizes`). Row ``i``
of class ``c`` (its rank among the class-``c`` rows in source order) goes to the split
whose range of ``[0, n_c)`` holds ``pi_c(i)``, where ``pi_c`` is a seeded pseudo-random
permutation of ``[0, n_c)``: a keyed Feistel network on the smallest even number of bits
covering ``n_c``, with cycle walking back into range. Because ``pi_c`` is a bijection,
split ``j`` receives exactly its ``s_cj`` rows of class ``c``; because it is a pure
function of ``(seed, c, i)``, every pass, in any process, sends row ``i`` to the same
split, so the splits are a partition.

Why not Knuth's selection sampling (bin ``j`` with probability remaining_j / remaining)?
It is just as exact, but each row's draw depends on every earlier row's outcome, so a
batch is a sequential loop; the permutation decides every row independently, so a batch
is a handful of vectorised integer ops, and the only state is one running count per
class (a ``Dataset.scan``, saved in iterator checkpoints).

One pass of the source is made per split (each split filters its rows out of the same
assignment). That is only a partition if the source yields the same rows in the same
order on every pass: :func:`_check_deterministic_order` refuses sources whose order is
known to change between iterations.

The kernel (``_Assigner``, with ``_split_table``) is shared with ``write_stratified_split``
(``_holdout.py``), which writes every split's rows to files in a single pass: the same seed
and counts place every row in the same split there.
"""

from __future__ import annotations

import fractions as _fractions
import math
import os
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from tfbalance._counting import _is_file_source, class_counts
from tfbalance._csv import read_csv
from tfbalance._distribution import ClassDistribution, CountsLike, as_class_distribution
from tfbalance._labels import Label, batched_label_rank, check_label_argument, get_label
from tfbalance._tf import tf
from tfbalance._validation import check_int, check_real

__all__ = ["StratifiedSplit", "stratified_split"]

# Rows per internal batch for unbatched sources (tf.data costs microseconds per element).
_UNBATCHED_CHUNK = 1024
# Feistel rounds: four make a pseudo-random permutation (Luby-Rackoff).
_ROUNDS = 4
_MASK64 = (1 << 64) - 1
_SUM_TOLERANCE = 1e-9
_MAX_CLASS_ROWS = (1 << 32) - 1
# The functions handed to tf.data hold no Python control flow on tensors; converting them
# with AutoGraph anyway took seconds per call of stratified_split.
_plain = tf.autograph.experimental.do_not_convert


# --------------------------------------------------------------------------- validation


def _check_fractions(fractions: Any) -> dict[str, _fractions.Fraction]:
    """``{name: exact fraction}`` normalised to sum to 1, or a ValueError/TypeError."""
    if not isinstance(fractions, Mapping):
        raise TypeError(
            "Invalid `fractions`: expected a dict {split name: fraction}, e.g. "
            "{'train': 0.8, 'val': 0.1, 'test': 0.1}. "
            f"Received: fractions={fractions!r}"
        )
    if not fractions:
        raise ValueError(
            "Invalid `fractions`: expected at least one split. Received: fractions={}"
        )
    exact: dict[str, _fractions.Fraction] = {}
    for name, value in fractions.items():
        if not isinstance(name, str) or not name:
            raise TypeError(
                "Invalid `fractions`: split names must be non-empty strings. "
                f"Received: fractions={fractions!r} (name {name!r})"
            )
        check_real(value, f"fractions[{name!r}]", minimum=0)
        # Fraction(float) is the float's exact binary value: the rounding below is exact.
        exact[name] = _fractions.Fraction(value)
    total = sum(exact.values())
    if abs(float(total) - 1.0) > _SUM_TOLERANCE:
        raise ValueError(
            f"Invalid `fractions`: the fractions must sum to 1 (within {_SUM_TOLERANCE}); "
            f"they sum to {float(total)!r}. Received: fractions={fractions!r}"
        )
    return {name: value / total for name, value in exact.items()}


def _split_sizes(n: int, fractions: Sequence[_fractions.Fraction]) -> list[int]:
    """Largest-remainder rounding of ``n * f_j``: sizes that sum to ``n`` exactly.

    Each split gets ``floor(n * f_j)``; the rows left over go one each to the splits with
    the largest fractional parts ``n * f_j - floor(n * f_j)``, ties to the split listed
    first. A split never gets more than ``ceil(n * f_j)`` nor fewer than ``floor``.
    """
    quotas = [n * f for f in fractions]
    sizes = [math.floor(q) for q in quotas]
    left = n - sum(sizes)
    order = sorted(range(len(quotas)), key=lambda j: (-(quotas[j] - sizes[j]), j))
    for j in order[:left]:
        sizes[j] += 1
    return sizes


# --------------------------------------------------------------------------- keyed permutation


def _mix64(value: int) -> int:
    """splitmix64's finaliser: a bijective 64-bit hash (the same in every process)."""
    value &= _MASK64
    value = ((value ^ (value >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    value = ((value ^ (value >> 27)) * 0x94D049BB133111EB) & _MASK64
    return value ^ (value >> 31)


def _round_keys(seed: int, num_classes: int) -> np.ndarray:
    """``[num_classes, _ROUNDS]`` uint32 Feistel keys derived from ``(seed, class, round)``."""
    base = _mix64(_mix64(seed & _MASK64) ^ 0x57A7_1F1E_D5B1_17)
    keys = [
        [_mix64(_mix64(base + c) + r) >> 32 for r in range(_ROUNDS)] for c in range(num_classes)
    ]
    return np.array(keys, dtype=np.uint32).reshape(num_classes, _ROUNDS)


def _half_bits(n: int) -> int:
    """Half of the smallest even bit width whose range holds ``n`` values (at least 1)."""
    bits = max(int(n - 1).bit_length(), 2)
    return (bits + 1) // 2


def _u32(value: int) -> tf.Tensor:
    return tf.constant(value, tf.uint32)


def _round_function(key: tf.Tensor, half: tf.Tensor) -> tf.Tensor:
    # MurmurHash3's 32-bit finaliser of the keyed half: every input bit reaches every
    # output bit.
    value = tf.bitwise.bitwise_xor(half * _u32(0x9E3779B1), key)
    value = tf.bitwise.bitwise_xor(value, tf.bitwise.right_shift(value, _u32(16)))
    value = value * _u32(0x85EBCA6B)
    value = tf.bitwise.bitwise_xor(value, tf.bitwise.right_shift(value, _u32(13)))
    value = value * _u32(0xC2B2AE35)
    return tf.bitwise.bitwise_xor(value, tf.bitwise.right_shift(value, _u32(16)))


def _feistel(x: tf.Tensor, keys: tf.Tensor, half_bits: tf.Tensor) -> tf.Tensor:
    """One keyed bijection of ``[0, 4 ** half_bits)``, elementwise (all uint32)."""
    mask = tf.bitwise.left_shift(tf.ones_like(half_bits), half_bits) - _u32(1)
    left = tf.bitwise.right_shift(x, half_bits)
    right = tf.bitwise.bitwise_and(x, mask)
    for r in range(_ROUNDS):
        mixed = tf.bitwise.bitwise_and(_round_function(keys[:, r], right), mask)
        left, right = right, tf.bitwise.bitwise_xor(left, mixed)
    return tf.bitwise.bitwise_or(tf.bitwise.left_shift(left, half_bits), right)


def _permute(index: tf.Tensor, n: tf.Tensor, keys: tf.Tensor, half_bits: tf.Tensor) -> tf.Tensor:
    """``pi(index)`` in ``[0, n)``: the Feistel bijection, re-applied until back in range.

    Cycle walking terminates because ``index < n`` lies on the bijection's own cycle, and
    taking each cycle's next point in ``[0, n)`` is itself a bijection of ``[0, n)``. The
    domain is under ``4 n``, so a row needs fewer than 3 more applications on average.
    Only the rows still out of range are walked: the loop's later steps work on a few
    rows, not the whole batch. (Taking three applications per loop step measured no
    faster.)
    """
    x = _feistel(index, keys, half_bits)

    def walk(x):
        out = tf.where(x >= n)
        rows = tf.gather_nd
        moved = _feistel(rows(x, out), rows(keys, out), rows(half_bits, out))
        return (tf.tensor_scatter_nd_update(x, out, moved),)

    (x,) = tf.while_loop(lambda x: tf.reduce_any(x >= n), walk, (x,))
    return x


# --------------------------------------------------------------------------- source checks


def _datasets_in(dataset: tf.data.Dataset) -> Iterator[tf.data.Dataset]:
    seen: set[int] = set()
    stack = [dataset]
    while stack:
        ds = stack.pop()
        if id(ds) in seen:
            continue
        seen.add(id(ds))
        yield ds
        # tf.data has no public graph walk; `_inputs()` is how its own optimisations do it.
        stack.extend(ds._inputs())  # pylint: disable=protected-access


def _unseeded(ds: tf.data.Dataset) -> bool:
    # tf.data stores a missing seed as the pair (0, 0), which its kernels replace by fresh
    # random seeds.
    seeds = [getattr(ds, "_seed", None), getattr(ds, "_seed2", None)]
    if any(s is None for s in seeds):
        return True
    return all(int(s) == 0 for s in seeds if s is not None)


def _order_problem(dataset: tf.data.Dataset) -> str | None:
    """Why ``dataset`` may yield a different order on another pass, or None."""
    if dataset.options().deterministic is False:
        return "its options set deterministic=False"
    for ds in _datasets_in(dataset):
        kind = type(ds).__name__
        reshuffle = getattr(ds, "_reshuffle_each_iteration", None)
        rerandomize = getattr(ds, "_rerandomize", None)
        if "Shuffle" in kind:
            if reshuffle is not False:
                return "it holds a shuffle with reshuffle_each_iteration=True"
            if _unseeded(ds):
                return "it holds a shuffle without a seed"
        if kind.endswith("RandomDataset") and (
            rerandomize is not False or _unseeded(ds)
        ):
            return "it draws from Dataset.random (e.g. sample_from_datasets) without a fixed seed"
        if getattr(ds, "_deterministic", None) == "false":
            return f"a {kind.lstrip('_')} in it runs with deterministic=False"
    return None


def _check_source(dataset: tf.data.Dataset) -> None:
    problem = _order_problem(dataset)
    if problem is not None:
        raise ValueError(
            f"Invalid `source`: its order may change between passes ({problem}), and each "
            "split is one pass of the source, so rows could land in two splits or in none. "
            "Split an unshuffled source and shuffle the splits instead, e.g. "
            "stratified_split(ds, ...)['train'].shuffle(...). "
            f"Received: source={dataset!r}"
        )
    if int(dataset.cardinality()) == int(tf.data.INFINITE_CARDINALITY):
        raise ValueError(
            "Invalid `source`: the dataset is infinite (repeat it after splitting). "
            f"Received: source={dataset!r}"
        )


# --------------------------------------------------------------------------- result


class StratifiedSplit(Mapping):
    """The splits made by :func:`stratified_split`: ``{name: tf.data.Dataset}``.

    A read-only mapping in the order of ``fractions``, with the exact class counts every
    split will yield (known before any pass).

    Attributes
    ----------
    counts : dict of str to ClassDistribution
        Rows of each class in each split.
    source_counts : ClassDistribution
        Rows of each class in the source.
    seed : int
        The seed that assigned the rows.

    Examples
    --------
    >>> import tensorflow as tf
    >>> import tfbalance
    >>> ds = tf.data.Dataset.from_tensor_slices(([0.0] * 20, [0] * 15 + [1] * 5))
    >>> splits = tfbalance.stratified_split(ds, fractions={"a": 0.6, "b": 0.4}, seed=1)
    >>> list(splits), splits.counts["b"].counts
    (['a', 'b'], {0: 6, 1: 2})
    """

    def __init__(
        self,
        datasets: dict[str, tf.data.Dataset],
        counts: dict[str, ClassDistribution],
        source_counts: ClassDistribution,
        seed: int,
    ) -> None:
        self._datasets = dict(datasets)
        self.counts = dict(counts)
        self.source_counts = source_counts
        self.seed = seed

    def __getitem__(self, name: str) -> tf.data.Dataset:
        return self._datasets[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._datasets)

    def __len__(self) -> int:
        return len(self._datasets)

    def __repr__(self) -> str:
        sizes = ", ".join(f"{name!r}: {dist.total} rows" for name, dist in self.counts.items())
        return f"StratifiedSplit({{{sizes}}}, seed={self.seed})"


# --------------------------------------------------------------------------- the transform


def _mask_rows(element: Any, keep: tf.Tensor) -> Any:
    def mask(t):
        if isinstance(t, tf.RaggedTensor):
            return tf.ragged.boolean_mask(t, keep)
        return tf.boolean_mask(t, keep)

    return tf.nest.map_structure(mask, element)


def _empty_batch(batched: tf.data.Dataset) -> tf.data.Dataset:
    """One batch of zero rows with ``batched``'s structure (the end-of-pass marker)."""
    specs = tf.nest.flatten(batched.element_spec)
    if all(isinstance(s, tf.TensorSpec) and s.shape.rank for s in specs):
        empty = [
            tf.zeros([0] + [d if d is not None else 0 for d in s.shape.as_list()[1:]], s.dtype)
            for s in specs
        ]
        return tf.data.Dataset.from_tensors(
            tf.nest.pack_sequence_as(batched.element_spec, empty)
        )
    # Ragged or other components: take the first batch and drop its rows.
    return batched.take(1).map(_plain(
        lambda *e: _mask_rows(
            e if isinstance(batched.element_spec, tuple) else e[0],
            tf.zeros([_rows_of(e)], tf.bool),
        )
    ))


def _rows_of(element: Any) -> tf.Tensor:
    first = tf.nest.flatten(element, expand_composites=False)[0]
    if isinstance(first, tf.RaggedTensor):
        return first.nrows()
    return tf.shape(first)[0]


def _label_text(label: Label) -> str:
    return repr(label) if not callable(label) else getattr(label, "__name__", "callable")


class _Assigner:
    """The split of every row: the one kernel ``stratified_split`` and the file writer share.

    ``index(seen, y)`` ranks a batch's rows within their classes after the ``seen`` rows
    of each class already passed (the only state, carried by a ``Dataset.scan``);
    ``place(y, index)`` maps each row's rank through its class's keyed permutation to its
    split id (a pure function: it runs in parallel, outside the scan).
    """

    def __init__(self, table: dict[str, np.ndarray], label: Label) -> None:
        self.num_classes = int(table["n"].shape[0])
        self.n = tf.constant(table["n"], tf.int64)
        self.bounds = tf.constant(table["bounds"], tf.uint32)  # [C, k]: cumulative split ends
        self.keys = tf.constant(table["keys"], tf.uint32)
        self.half_bits = tf.constant(table["half_bits"], tf.uint32)
        self.text = _label_text(label)

    def index(self, seen: tf.Tensor, y: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """``(rows seen per class after this batch, each row's rank within its class)``."""
        num_classes, n, text = self.num_classes, self.n, self.text
        y = tf.reshape(tf.cast(y, tf.int64), [-1])
        in_range = tf.debugging.Assert(
            tf.reduce_all((y >= 0) & (y < num_classes)),
            [f"Invalid `counts`: counts cover class ids 0..{num_classes - 1}, but label="
             f"{text} holds class ids from", tf.reduce_min(y), "to", tf.reduce_max(y)],
        )
        with tf.control_dependencies([in_range]):
            y = tf.clip_by_value(y, 0, num_classes - 1)
        # Rank of each row among the rows of its class in this batch (stable sort).
        order = tf.argsort(y, stable=True)
        ranked = tf.gather(y, order)
        sorted_rank = tf.range(tf.size(y), dtype=tf.int64) - tf.searchsorted(
            ranked, ranked, side="left", out_type=tf.int64
        )
        rank = tf.gather(sorted_rank, tf.math.invert_permutation(order))
        index = tf.gather(seen, y) + rank
        now = seen + tf.math.bincount(y, minlength=num_classes, maxlength=num_classes,
                                      dtype=tf.int64)
        too_many = tf.debugging.Assert(
            tf.reduce_all(index < tf.gather(n, y)),
            ["Invalid `counts`: the source has more rows of some class than `counts` says "
             f"(label={text}). Rows seen so far per class:", now, "counts:", n], summarize=64,
        )
        with tf.control_dependencies([too_many]):
            index = tf.identity(index)
        return now, index

    def check_end(self, now: tf.Tensor, is_end: tf.Tensor) -> tf.Operation:
        """At the end of the pass, every class must have had its ``counts`` rows."""
        return tf.debugging.Assert(
            tf.logical_or(tf.logical_not(is_end), tf.reduce_all(tf.equal(now, self.n))),
            ["Invalid `counts`: the source ended with fewer rows than `counts` says "
             f"(label={self.text}). Rows per class:", now, "counts:", self.n], summarize=64,
        )

    def place(self, y: tf.Tensor, index: tf.Tensor) -> tf.Tensor:
        """Each row's split id (int32), from its class and rank."""
        y = tf.clip_by_value(tf.reshape(tf.cast(y, tf.int64), [-1]), 0, self.num_classes - 1)
        position = _permute(
            tf.cast(index, tf.uint32), tf.cast(tf.gather(self.n, y), tf.uint32),
            tf.gather(self.keys, y), tf.gather(self.half_bits, y),
        )
        return tf.reduce_sum(
            tf.cast(position[:, None] >= tf.gather(self.bounds, y), tf.int32), axis=1
        )


def _split_table(
    source_counts: ClassDistribution,
    shares: Mapping[str, _fractions.Fraction],
    seed: int,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """``(sizes [C, k], table)``: every class's split sizes and the kernel's constants."""
    num_classes = max(source_counts.counts) + 1
    n = source_counts.to_array(num_classes).astype(np.int64)
    if n.max() > _MAX_CLASS_ROWS:
        raise ValueError(
            f"Invalid `counts`: at most {_MAX_CLASS_ROWS:,} rows per class are supported (the "
            f"permutation works on 32 bits). Received: counts={source_counts.counts}"
        )
    sizes = np.array([_split_sizes(int(n_c), list(shares.values())) for n_c in n],
                     dtype=np.int64).reshape(num_classes, len(shares))
    table: dict[str, np.ndarray] = {
        "n": n,
        "bounds": np.cumsum(sizes, axis=1).astype(np.uint32),
        "keys": _round_keys(seed, num_classes),
        "half_bits": np.array([_half_bits(int(n_c)) for n_c in n], dtype=np.uint32),
    }
    return sizes, table


def _assignments(
    batched: tf.data.Dataset,
    label: Label,
    table: dict[str, np.ndarray],
) -> tf.data.Dataset:
    """``(element, split id per row, is_end)``: the one assignment every split filters."""
    assigner = _Assigner(table, label)
    is_tuple = isinstance(batched.element_spec, tuple)

    flagged = batched.map(_plain(lambda *e: (e if is_tuple else e[0], False)))
    flagged = flagged.concatenate(_empty_batch(batched).map(_plain(lambda *e: (
        e if is_tuple else e[0], True))))

    @_plain
    def step(seen, item):
        element, is_end = item
        y = tf.reshape(tf.cast(get_label(element, label), tf.int64), [-1])
        now, index = assigner.index(seen, y)
        with tf.control_dependencies([assigner.check_end(now, is_end)]):
            index = tf.identity(index)
        return now, (element, y, index, is_end)

    @_plain
    def place(element, y, index, is_end):
        return element, assigner.place(y, index), is_end

    indexed = flagged.scan(tf.zeros([assigner.num_classes], tf.int64), step)
    return indexed.map(place, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def stratified_split(
    source: str | os.PathLike | Sequence[str | os.PathLike] | tf.data.Dataset,
    label: Label = None,
    fractions: Mapping[str, float] | None = None,
    *,
    seed: int,
    counts: CountsLike | None = None,
    verbose: bool | None = None,
    name: str | None = None,
    **csv_options: Any,
) -> StratifiedSplit:
    """Split a dataset or CSV files into holdouts with exact per-class proportions.

    Every class is divided in the requested proportions (largest-remainder rounding per
    class), every row lands in exactly one split, and the same row lands in the same split
    on every pass and in every process, under the same ``seed`` and source order. Each
    split is one streaming pass of the source (graph-only, memory bounded by one batch,
    checkpointable); see the module docstring of ``tfbalance._stratified`` for how.

    Parameters
    ----------
    source : tf.data.Dataset, or str, path or list of them
        A finite dataset, batched (the labels are a vector per batch) or not, or CSV
        files / glob patterns read with ``tfbalance.read_csv(source, label,
        **csv_options)`` (then ``label`` is the label column's name, and the splits yield
        ``(features, label)`` batches).
    label : None, str, int or callable
        Where the class id is, as in ``tfbalance.class_counts``.
    fractions : dict of str to float, default {'train': 0.8, 'val': 0.1, 'test': 0.1}
        Split name -> share of every class, each >= 0, summing to 1 (within 1e-9).
    seed : int
        Decides which rows go where. Use the same seed wherever the splits are read.
    counts : ClassDistribution, dict or list of int, optional
        Rows per class of the source. Counted in one extra pass (``class_counts``) when
        omitted. Wrong counts raise ``InvalidArgumentError`` during the pass (a class with
        more rows as soon as it shows, fewer at the end of the pass).
    verbose : bool, optional
        Progress bar of the counting pass (``None``: only on a terminal).
    name : str, optional
        Names the op that delivers each split: ``f"{name}_{split}"`` (as tf.data's
        ``name=``, shown in profiles and debug output).
    **csv_options
        Passed to ``tfbalance.read_csv`` for CSV sources.

    Returns
    -------
    StratifiedSplit
        ``{name: tf.data.Dataset}`` in the order of ``fractions``, with ``.counts``, the
        exact class counts of every split. The element structure of the source is kept;
        batched sources yield their batches with the other splits' rows taken out (empty
        batches are dropped: re-batch with ``tfbalance.rebatch`` if sizes matter), and
        unbatched sources declare each split's exact cardinality.

    Raises
    ------
    ValueError
        For bad ``fractions``; a source that is infinite or whose order may change between
        passes (a shuffle that reshuffles each iteration or has no seed, e.g.
        ``read_csv(shuffle=True)``; ``deterministic=False`` options or parallel maps;
        ``Dataset.random`` without a fixed seed); negative class ids.
    TypeError
        For arguments of the wrong type, or labels that are not integer class ids.
    tf.errors.InvalidArgumentError
        During a pass, when the source disagrees with ``counts``.

    Notes
    -----
    *Rounding.* Class ``c`` with ``n_c`` rows gives split ``j`` ``floor(n_c * f_j)``
    rows; the ``r`` rows left go one each to the ``r`` splits with the largest remainders
    ``n_c * f_j - floor(n_c * f_j)``, ties to the split listed first. So a class smaller
    than the number of splits fills the splits with the largest fractions first.

    *What holds when the order is not deterministic.* The exact class counts of each
    split hold in every pass, but not the partition: a row is placed by its rank among
    its class's rows, so another order on another pass can put a row in two splits, or
    in none. Order changes that the source's structure shows are refused; others (e.g. a
    ``map`` drawing ``tf.random.uniform``) are not detected. Under ``tf.distribute`` the
    splits are sharded by data (``AutoShardPolicy.DATA``), since a file shard of the
    source would rank rows differently.

    Examples
    --------
    >>> import numpy as np
    >>> import tensorflow as tf
    >>> import tfbalance
    >>> y = np.array([0] * 90 + [1] * 10)
    >>> ds = tf.data.Dataset.from_tensor_slices((np.arange(100.0), y)).batch(32)
    >>> splits = tfbalance.stratified_split(
    ...     ds, fractions={"train": 0.8, "val": 0.1, "test": 0.1}, seed=0)
    >>> {name: dist.counts for name, dist in splits.counts.items()}
    {'train': {0: 72, 1: 8}, 'val': {0: 9, 1: 1}, 'test': {0: 9, 1: 1}}
    >>> test_rows = np.concatenate([x.numpy() for x, _ in splits["test"]])
    >>> len(test_rows), int(sum(y[test_rows.astype(int)]))
    (10, 1)
    """
    if fractions is None:
        fractions = {"train": 0.8, "val": 0.1, "test": 0.1}
    shares = _check_fractions(fractions)
    seed = check_int(seed, "seed")
    check_label_argument(label)
    if name is not None and (not isinstance(name, str) or not name):
        raise TypeError(
            f"Invalid `name`: expected a non-empty str or None. Received: name={name!r}"
        )
    if _is_file_source(source):
        if not isinstance(label, str):
            raise TypeError(
                "Invalid `label`: for CSV sources, expected the label column's name. "
                f"Received: label={label!r}"
            )
        dataset = read_csv(source, label, **csv_options)
        dataset_label: Label = None
    elif isinstance(source, tf.data.Dataset):
        if csv_options:
            raise TypeError(
                f"Options {sorted(csv_options)} apply to CSV sources only. "
                f"Received: source={source!r}"
            )
        dataset, dataset_label = source, label
    else:
        raise TypeError(
            "Invalid `source`: expected a tf.data.Dataset or a CSV path, glob or list of "
            f"paths. Received: source={source!r}"
        )
    _check_source(dataset)
    rank = batched_label_rank(dataset, dataset_label)
    if counts is None:
        source_counts = class_counts(dataset, dataset_label, verbose=verbose)
    else:
        source_counts = as_class_distribution(counts, "counts")
    names = getattr(source_counts, "names", None)
    sizes, table = _split_table(source_counts, shares, seed)

    batched = dataset
    if rank == 0:
        specs = tf.nest.flatten(dataset.element_spec)
        fixed = all(isinstance(s, tf.TensorSpec) and s.shape.is_fully_defined() for s in specs)
        batched = (dataset.batch if fixed else dataset.ragged_batch)(_UNBATCHED_CHUNK)
    assigned = _assignments(batched, dataset_label, table)

    options = tf.data.Options()
    # A file shard of the source would rank rows differently from the full source.
    options.experimental_distribute.auto_shard_policy = (
        tf.data.experimental.AutoShardPolicy.DATA
    )
    splits: dict[str, tf.data.Dataset] = {}
    split_counts: dict[str, ClassDistribution] = {}
    for j, split_name in enumerate(shares):
        @_plain
        def select(element, split, is_end, j=j):
            del is_end
            return _mask_rows(element, tf.equal(split, j))

        @_plain
        def keep(element, split, is_end, j=j):
            del element
            # The end marker passes the scan to run its check; drop it and empty batches.
            return tf.logical_and(tf.logical_not(is_end), tf.reduce_any(tf.equal(split, j)))

        out = assigned.filter(keep).map(
            select, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        if rank == 0:
            out = out.unbatch().apply(
                tf.data.experimental.assert_cardinality(int(sizes[:, j].sum()))
            )
        op_name = None if name is None else f"{name}_{split_name}"
        splits[split_name] = out.with_options(options, name=op_name)
        split_counts[split_name] = ClassDistribution(sizes[:, j].tolist(), names=names)
    return StratifiedSplit(splits, split_counts, source_counts, seed)

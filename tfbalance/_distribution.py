"""``ClassDistribution``: per-class counts, the value type every other API accepts.

A leaf module (numpy only), so that every part of the package can use the type without
importing the counting, CSV or TensorFlow code.

Class ids and the classes of the data
-------------------------------------
A ``ClassDistribution`` holds the ids it was given with their counts. Only ids with rows
are classes *of the data*: ``minority``, ``majority``, ``imbalance_ratio`` and what a
``sampling_strategy`` callable sees cover those (imbalanced-learn passes ``Counter(y)``,
which has no zeros). A zero count appears in ``counts`` only when a user gave it (a list
position or a dict key: a class declared but empty); counting labels never invents one.
``to_array`` gives the dense vector, indexed by id, that graphs need.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypeGuard

import numpy as np

__all__ = ["MAX_CLASS_ID", "ClassDistribution", "CountsLike", "as_class_distribution", "is_integer"]

# The largest class id accepted anywhere (counts, labels, files). Per-class state is a dense
# vector indexed by id (graph state, bincount, to_array), so an id is memory: 2**20 - 1 keeps
# any such vector under 8 MB, while a mis-parsed id column (2**40) would ask for terabytes.
MAX_CLASS_ID = 2**20 - 1


def is_integer(value: Any) -> TypeGuard[int | np.integer]:
    """A Python or NumPy integer, never a bool: the rule of every integer check (the kit's too)."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


class ClassDistribution:
    """Per-class counts of a data set, with the summaries imbalance work needs.

    Parameters
    ----------
    counts : dict or sequence of int
        ``{class_id: count}``, or a list whose position ``i`` holds the count of class ``i``.
        Class ids are integers in ``[0, MAX_CLASS_ID]`` (``2**20 - 1``); counts are
        non-negative integers. A zero count declares a class without rows: it is listed in
        ``counts`` but is not a class of the data (see ``minority``).
    names : sequence of str, optional
        Human-readable class names, indexed by class id (e.g. the string labels that
        ``read_csv`` mapped to ids).

    Examples
    --------
    >>> dist = ClassDistribution([319_553, 62_601])
    >>> dist.counts
    {0: 319553, 1: 62601}
    >>> dist.total, dist.majority, dist.minority
    (382154, 0, 1)
    >>> round(dist.imbalance_ratio, 3)
    5.105
    >>> {c: round(p, 4) for c, p in dist.proportions.items()}
    {0: 0.8362, 1: 0.1638}

    Only ids with rows count as classes of the data:

    >>> labels = ClassDistribution.from_labels([1, 1, 2, 3, 3, 3])
    >>> labels.counts, labels.minority, labels.imbalance_ratio
    ({1: 2, 2: 1, 3: 3}, 2, 3.0)
    >>> labels.to_array()
    array([0, 2, 1, 3])
    """

    def __init__(
        self,
        counts: Mapping[int, int] | Sequence[int] | np.ndarray,
        names: Sequence[str] | None = None,
    ) -> None:
        self._counts = _validate_counts(counts, "counts")
        if names is not None:
            names = tuple(str(n) for n in names)
            if len(names) <= max(self._counts):
                raise ValueError(
                    "Invalid `names`: expected one name per class id up to "
                    f"{max(self._counts)}. Received: names={list(names)!r}"
                )
        self._names = names

    @classmethod
    def from_labels(cls, labels: Iterable[int], names: Sequence[str] | None = None):
        """Count an in-memory array of class ids (small data; use ``class_counts`` to stream).

        >>> ClassDistribution.from_labels([0, 1, 1, 2]).counts
        {0: 1, 1: 2, 2: 1}
        """
        array = np.asarray(list(labels) if not isinstance(labels, np.ndarray) else labels)
        if array.size and not np.issubdtype(array.dtype, np.integer):
            raise TypeError(
                f"Invalid `labels`: class ids must be integers. Received: dtype={array.dtype}"
            )
        if array.size and array.min() < 0:
            raise ValueError(
                "Invalid `labels`: class ids must be non-negative. "
                f"Received: labels containing {int(array.min())}"
            )
        if array.size and array.max() > MAX_CLASS_ID:
            raise ValueError(
                f"Invalid `labels`: class ids must be at most MAX_CLASS_ID={MAX_CLASS_ID}. "
                f"Received: labels containing {int(array.max())}"
            )
        if not array.size:
            return cls({}, names=names)
        # Only the ids that occur: an id without rows is not a class of the data.
        ids, counts = np.unique(array.reshape(-1), return_counts=True)
        return cls(dict(zip(ids.tolist(), counts.tolist(), strict=False)), names=names)

    @property
    def counts(self) -> dict[int, int]:
        """``{class_id: count}``, sorted by class id: the ids given (a zero only if given)."""
        return dict(self._counts)

    @property
    def classes(self) -> list[int]:
        """The class ids of ``counts``, sorted."""
        return list(self._counts)

    @property
    def num_classes(self) -> int:
        """Number of class ids (the length of ``classes``)."""
        return len(self._counts)

    def present(self) -> ClassDistribution:
        """The classes of the data only: the ids with a count above 0.

        >>> ClassDistribution([5, 0, 3]).present().counts
        {0: 5, 2: 3}
        """
        return ClassDistribution(self._with_rows(), names=self._names)

    @property
    def names(self) -> tuple[str, ...] | None:
        """Class names indexed by class id, when known."""
        return self._names

    @property
    def total(self) -> int:
        """Number of rows counted."""
        return sum(self._counts.values())

    @property
    def proportions(self) -> dict[int, float]:
        """``{class_id: count / total}``; raises ``ValueError`` when ``total`` is 0."""
        total = self.total
        if total == 0:
            raise ValueError("The distribution is empty (total=0): proportions are undefined.")
        return {c: n / total for c, n in self._counts.items()}

    def _with_rows(self) -> dict[int, int]:
        with_rows = {c: n for c, n in self._counts.items() if n > 0}
        if not with_rows:
            raise ValueError(
                "The distribution has no rows (total=0): it has no majority or minority "
                f"class. Received: counts={self._counts!r}"
            )
        return with_rows

    @property
    def majority(self) -> int:
        """The class with the most rows (the smallest id on ties)."""
        counts = self._with_rows()
        return max(counts, key=lambda c: (counts[c], -c))

    @property
    def minority(self) -> int:
        """The class with the fewest rows, among those with rows (the smallest id on ties)."""
        counts = self._with_rows()
        return min(counts, key=lambda c: (counts[c], c))

    @property
    def imbalance_ratio(self) -> float:
        """Majority count / minority count, over the classes with rows."""
        counts = self._with_rows()
        return counts[self.majority] / counts[self.minority]

    def to_array(self, num_classes: int | None = None) -> np.ndarray:
        """Counts as a dense int64 vector indexed by class id (missing ids count 0).

        >>> ClassDistribution({0: 4, 2: 1}).to_array()
        array([4, 0, 1])
        """
        size = max(self._counts) + 1 if num_classes is None else int(num_classes)
        if size <= max(self._counts):
            raise ValueError(
                f"Invalid `num_classes`: class id {max(self._counts)} needs at least "
                f"{max(self._counts) + 1}. Received: num_classes={num_classes}"
            )
        array = np.zeros(size, dtype=np.int64)
        for c, n in self._counts.items():
            array[c] = n
        return array

    def name(self, class_id: int) -> str:
        """The class's name when known, else its id as text."""
        if self._names is not None and class_id < len(self._names):
            return self._names[class_id]
        return str(class_id)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary."""
        empty = self.total == 0
        result: dict[str, Any] = {
            "counts": {str(c): n for c, n in self._counts.items()},
            "total": self.total,
            "num_classes": self.num_classes,
            "majority": None if empty else self.majority,
            "minority": None if empty else self.minority,
            "imbalance_ratio": None if empty else self.imbalance_ratio,
        }
        if self.total:
            result["proportions"] = {str(c): p for c, p in self.proportions.items()}
        if self._names is not None:
            result["names"] = list(self._names)
        return result

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ClassDistribution):
            return NotImplemented
        return self._counts == other._counts and self._names == other._names

    def __hash__(self) -> int:
        return hash((tuple(self._counts.items()), self._names))

    def __repr__(self) -> str:
        total = self.total
        width = max([len("class")] + [len(self.name(c)) for c in self._counts])
        lines = [f"ClassDistribution(total={total:,}, num_classes={self.num_classes})"]
        lines.append(f"  {'class':>{width}}  {'count':>12}  {'share':>8}")
        for c, n in self._counts.items():
            share = f"{n / total:8.2%}" if total else f"{'-':>8}"
            lines.append(f"  {self.name(c):>{width}}  {n:>12,}  {share}")
        if total:
            lines.append(f"  imbalance ratio {self.imbalance_ratio:.3f}")
        return "\n".join(lines)


CountsLike = ClassDistribution | Mapping[int, int] | Sequence[int] | np.ndarray


def _validate_counts(counts: Any, arg_name: str) -> dict[int, int]:
    if isinstance(counts, ClassDistribution):
        return counts.counts
    if isinstance(counts, Mapping):
        items = list(counts.items())
    elif isinstance(counts, (Sequence, np.ndarray)) and not isinstance(counts, (str, bytes)):
        if len(counts) > MAX_CLASS_ID + 1:
            raise ValueError(
                f"Invalid `{arg_name}`: class ids must be at most MAX_CLASS_ID={MAX_CLASS_ID}, "
                f"but the list holds {len(counts)} counts. Received: {arg_name}={_short(counts)}"
            )
        items = list(enumerate(np.asarray(counts).tolist()))
    else:
        raise TypeError(
            f"Invalid `{arg_name}`: expected a ClassDistribution, a dict {{class_id: count}} "
            f"or a list of counts. Received: {arg_name}={counts!r}"
        )
    if not items:
        raise ValueError(f"Invalid `{arg_name}`: no classes. Received: {arg_name}={counts!r}")
    result: dict[int, int] = {}
    for c, n in items:
        if not is_integer(c) or c < 0:
            raise (ValueError if is_integer(c) else TypeError)(
                f"Invalid `{arg_name}`: class ids must be non-negative integers. "
                f"Received: {arg_name}={_short(counts)} (class id {c!r})"
            )
        if c > MAX_CLASS_ID:
            raise ValueError(
                f"Invalid `{arg_name}`: class ids must be at most MAX_CLASS_ID={MAX_CLASS_ID} "
                f"(per-class state is a dense vector indexed by id). "
                f"Received: {arg_name}={_short(counts)} (class id {int(c)})"
            )
        if isinstance(n, (float, np.floating)) and float(n).is_integer():
            n = int(n)
        if not is_integer(n) or n < 0:
            # 1.5 (a float left over) or -1 is a bad count, "3" or True no count at all.
            bad_value = is_integer(n) or isinstance(n, (float, np.floating))
            raise (ValueError if bad_value else TypeError)(
                f"Invalid `{arg_name}`: counts must be non-negative integers. "
                f"Received: {arg_name}={counts!r} (count {n!r} for class {c})"
            )
        result[int(c)] = int(n)
    return dict(sorted(result.items()))


def _short(value: Any) -> str:
    text = repr(value.tolist() if isinstance(value, np.ndarray) else value)
    return text if len(text) <= 200 else text[:197] + "..."


def as_class_distribution(counts: CountsLike, arg_name: str = "counts") -> ClassDistribution:
    """Coerce a ``ClassDistribution``, dict or list of counts, naming ``arg_name`` in errors."""
    if isinstance(counts, ClassDistribution):
        return counts
    return ClassDistribution(_validate_counts(counts, arg_name))

"""``ClassDistribution``: per-class counts, the value type every other API accepts.

A leaf module (numpy only), so that every part of the package can use the type without
importing the counting, CSV or TensorFlow code.
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Mapping, Sequence, Union

import numpy as np

__all__ = ["ClassDistribution", "CountsLike", "as_class_distribution"]


class ClassDistribution:
    """Per-class counts of a data set, with the summaries imbalance work needs.

    Parameters
    ----------
    counts : dict or sequence of int
        ``{class_id: count}``, or a list whose position ``i`` holds the count of class ``i``.
        Class ids are non-negative integers; counts are non-negative integers.
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
    """

    def __init__(
        self,
        counts: Union[Mapping[int, int], Sequence[int], np.ndarray],
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
        return cls(np.bincount(array.reshape(-1)) if array.size else {}, names=names)

    @property
    def counts(self) -> dict[int, int]:
        """``{class_id: count}``, sorted by class id."""
        return dict(self._counts)

    @property
    def classes(self) -> list[int]:
        """The class ids, sorted."""
        return list(self._counts)

    @property
    def num_classes(self) -> int:
        """Number of classes (the length of ``classes``)."""
        return len(self._counts)

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

    @property
    def majority(self) -> int:
        """The class with the largest count (the smallest id on ties)."""
        return max(self._counts, key=lambda c: (self._counts[c], -c))

    @property
    def minority(self) -> int:
        """The class with the smallest count (the smallest id on ties)."""
        return min(self._counts, key=lambda c: (self._counts[c], c))

    @property
    def imbalance_ratio(self) -> float:
        """Largest count / smallest count (``inf`` when a class has count 0)."""
        smallest = self._counts[self.minority]
        largest = self._counts[self.majority]
        return math.inf if smallest == 0 else largest / smallest

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
        result: dict[str, Any] = {
            "counts": {str(c): n for c, n in self._counts.items()},
            "total": self.total,
            "num_classes": self.num_classes,
            "majority": self.majority,
            "minority": self.minority,
            "imbalance_ratio": self.imbalance_ratio,
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
        lines.append(f"  imbalance ratio {self.imbalance_ratio:.3f}")
        return "\n".join(lines)


CountsLike = Union[ClassDistribution, Mapping[int, int], Sequence[int], np.ndarray]


def _validate_counts(counts: Any, arg_name: str) -> dict[int, int]:
    if isinstance(counts, ClassDistribution):
        return counts.counts
    if isinstance(counts, Mapping):
        items = list(counts.items())
    elif isinstance(counts, (Sequence, np.ndarray)) and not isinstance(counts, (str, bytes)):
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
        if isinstance(c, (bool, np.bool_)) or not isinstance(c, (int, np.integer)) or c < 0:
            raise ValueError(
                f"Invalid `{arg_name}`: class ids must be non-negative integers. "
                f"Received: {arg_name}={counts!r} (class id {c!r})"
            )
        if isinstance(n, (float, np.floating)) and float(n).is_integer():
            n = int(n)
        if isinstance(n, (bool, np.bool_)) or not isinstance(n, (int, np.integer)) or n < 0:
            raise ValueError(
                f"Invalid `{arg_name}`: counts must be non-negative integers. "
                f"Received: {arg_name}={counts!r} (count {n!r} for class {c})"
            )
        result[int(c)] = int(n)
    return dict(sorted(result.items()))


def as_class_distribution(counts: CountsLike, arg_name: str = "counts") -> ClassDistribution:
    """Coerce a ``ClassDistribution``, dict or list of counts, naming ``arg_name`` in errors."""
    if isinstance(counts, ClassDistribution):
        return counts
    return ClassDistribution(_validate_counts(counts, arg_name))

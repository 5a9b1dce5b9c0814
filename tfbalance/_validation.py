"""Argument checks shared by every sampler, weighting and interleaving function.

One place resolves each user-facing form (target distributions, class weights, and the
imbalanced-learn ``sampling_strategy`` words) so every API accepts the same inputs and
rejects bad ones with the same wording: "Invalid `arg`: <expected>. Received: arg=<value>".
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, overload

import numpy as np

from tfbalance._distribution import MAX_CLASS_ID, ClassDistribution, is_integer

__all__ = [
    "MAX_CLASS_ID",
    "resolve_class_vector",
    "resolve_target_distribution",
    "resolve_distribution",
    "check_seed",
    "SAMPLING_STRATEGY_WORDS",
    "check_bool",
    "check_choice",
    "check_column",
    "check_int",
    "check_real",
    "SamplingStrategy",
    "StrategyCallable",
    "StrategyCounts",
    "StrategyForm",
    "StrategyRatio",
    "StrategyWord",
    "check_sampling_strategy",
    "check_wanted_counts",
    "check_positive_int",
    "check_num_classes",
    "is_integer",
]

VectorLike = Mapping[int, float] | Sequence[float] | np.ndarray


def resolve_class_vector(
    values: VectorLike,
    num_classes: int,
    arg_name: str,
    *,
    allow_missing: bool = True,
) -> np.ndarray:
    """A float64 vector of length ``num_classes`` from a list or ``{class_id: value}`` dict.

    Values must be finite and non-negative. With a dict, classes it leaves out get 0 when
    ``allow_missing``; keys outside ``[0, num_classes)`` are an error. Class ids above
    ``MAX_CLASS_ID`` are refused before anything is allocated.
    """
    if num_classes > MAX_CLASS_ID + 1:
        raise ValueError(
            f"Invalid `{arg_name}`: class ids must be at most MAX_CLASS_ID={MAX_CLASS_ID}, but "
            f"class id {num_classes - 1} was given. Received: {arg_name}={_short(values)}"
        )
    if isinstance(values, Mapping):
        vector = np.zeros(num_classes, dtype=np.float64)
        for key, value in values.items():
            try:
                check_int(key, "class", minimum=0, maximum=num_classes - 1)
            except (TypeError, ValueError) as exc:  # the check picks the class, this the words
                raise type(exc)(
                    f"Invalid `{arg_name}`: class {key!r} is not one of the known classes "
                    f"0..{num_classes - 1}. Received: {arg_name}={values!r}"
                ) from None
            vector[int(key)] = _as_float(value, arg_name, values)
        if not allow_missing and len(values) != num_classes:
            missing = sorted(set(range(num_classes)) - set(int(k) for k in values))
            raise ValueError(
                f"Invalid `{arg_name}`: no value for classes {missing}. "
                f"Received: {arg_name}={values!r}"
            )
    elif isinstance(values, (Sequence, np.ndarray)) and not isinstance(values, (str, bytes)):
        flat = list(np.asarray(values, dtype=object).reshape(-1))
        if len(flat) != num_classes:
            raise ValueError(
                f"Invalid `{arg_name}`: expected {num_classes} values, one per class. "
                f"Received: {arg_name}={_short(values)} with {len(flat)} values"
            )
        vector = np.array([_as_float(v, arg_name, values) for v in flat], dtype=np.float64)
    else:
        raise TypeError(
            f"Invalid `{arg_name}`: expected a list of per-class values or a dict "
            f"{{class_id: value}}. Received: {arg_name}={values!r}"
        )
    if np.any(vector < 0):
        raise ValueError(
            f"Invalid `{arg_name}`: values must be non-negative. "
            f"Received: {arg_name}={_short(values)}"
        )
    return vector


def resolve_target_distribution(
    target: VectorLike,
    num_classes: int,
    arg_name: str = "target_dist",
    *,
    atol: float = 1e-6,
) -> np.ndarray:
    """A probability vector: non-negative, finite, summing to 1 within ``atol``."""
    vector = resolve_class_vector(target, num_classes, arg_name)
    total = float(vector.sum())
    if abs(total - 1.0) > atol:
        raise ValueError(
            f"Invalid `{arg_name}`: the probabilities must sum to 1, but they sum to "
            f"{total:.6g}. Received: {arg_name}={_short(target)}"
        )
    return vector / total


def resolve_distribution(
    values: VectorLike, num_classes: int, arg_name: str, *, atol: float = 1e-6
) -> np.ndarray:
    """A probability vector from probabilities (summing to 1) or counts (normalised).

    Values that are all whole numbers are counts, whatever their sum; others are
    probabilities and must sum to 1 within ``atol``, so a mistyped probability list such as
    ``[0.5, 0.6]`` is refused rather than silently rescaled.
    """
    vector = resolve_class_vector(values, num_classes, arg_name)
    if np.all(vector == np.round(vector)):
        total = float(vector.sum())
        if total <= 0:
            raise ValueError(
                f"Invalid `{arg_name}`: counts must not all be 0. "
                f"Received: {arg_name}={_short(values)}"
            )
        return vector / total
    return resolve_target_distribution(values, num_classes, arg_name, atol=atol)


def check_seed(seed: Any) -> int | None:
    """``None`` or a Python/NumPy integer (booleans rejected)."""
    return check_int(seed, "seed", allow_none=True)


SAMPLING_KINDS = ("under-sampling", "over-sampling")
SAMPLING_STRATEGY_WORDS = ("auto", "majority", "minority", "not minority", "not majority", "all")

SamplingStrategy = str | float | Mapping[int, int] | Callable[[Any], Mapping[int, int]]


# A checked ``sampling_strategy``: one frozen type per form, so the rules
# (``tfbalance._sampling._rules``) dispatch on the type. Everything that can be checked without
# the class counts is checked here, once, when the transform is built; what depends on the
# counts (a dict's classes present, a ratio's feasibility) is decided by the rules, on known
# counts once and on running counts per batch alike.


@dataclass(frozen=True)
class StrategyWord:
    """One of imbalanced-learn's words, with ``'auto'`` resolved: the classes resampled."""

    classes: str  # 'all', 'majority', 'minority', 'not majority' or 'not minority'


@dataclass(frozen=True)
class StrategyRatio:
    """A float in ``(0, 1]``: the wanted minority/majority ratio (binary data)."""

    ratio: float


@dataclass(frozen=True)
class StrategyCounts:
    """A dict ``{class: wanted rows}`` with int keys and non-negative int values."""

    classes: tuple[int, ...]
    wanted: tuple[int, ...]
    shown: str  # the user's argument, for messages


@dataclass(frozen=True)
class StrategyCallable:
    """A callable ``ClassDistribution -> dict``, turned into ``StrategyCounts`` on the counts."""

    function: Callable[[ClassDistribution], Mapping[int, int]]


StrategyForm = StrategyWord | StrategyRatio | StrategyCounts | StrategyCallable


def check_sampling_strategy(sampling_strategy: Any, sampling_type: str) -> StrategyForm:
    """Check an imbalanced-learn ``sampling_strategy`` as far as it can be without counts.

    The semantics are imbalanced-learn's (``imblearn.utils.check_sampling_strategy``), so
    users' existing settings mean the same thing here:

    * ``'auto'`` is ``'not minority'`` for under-sampling and ``'not majority'`` for
      over-sampling; the words name the classes that are resampled, and each resampled class
      is brought to the minority count (under-sampling) or the majority count (over-sampling);
      ``'majority'`` cannot over-sample and ``'minority'`` cannot under-sample.
    * A float (binary problems only) in ``(0, 1]`` is the wanted minority/majority ratio after
      resampling: under-sampling keeps ``int(n_minority / ratio)`` majority rows, over-sampling
      generates ``int(n_majority * ratio - n_minority)`` minority rows.
    * A dict ``{class: wanted count}``; classes it leaves out are not resampled.
    * A callable ``f(distribution) -> dict``, resolved like a dict. imbalanced-learn passes the
      label array ``y``; a stream has no such array in memory, so the callable receives the
      ``ClassDistribution`` of the classes present (``.counts``, ``.majority``, ...): like
      imbalanced-learn's ``Counter(y)`` it has no class with count 0.

    Only classes with a non-zero count are "present in the data"; ties between classes go to
    the smallest class id, as in imbalanced-learn (which orders classes by ``np.unique``).
    ``tfbalance._sampling._rules`` applies the result to class counts.
    """
    if sampling_type not in SAMPLING_KINDS:
        raise ValueError(
            f"Invalid `sampling_type`: expected one of {SAMPLING_KINDS}. "
            f"Received: sampling_type={sampling_type!r}"
        )
    under = sampling_type == "under-sampling"
    if isinstance(sampling_strategy, str):
        if sampling_strategy not in SAMPLING_STRATEGY_WORDS:
            raise ValueError(
                f"Invalid `sampling_strategy`: a string must be one of "
                f"{list(SAMPLING_STRATEGY_WORDS)}. "
                f"Received: sampling_strategy={sampling_strategy!r}"
            )
        word = sampling_strategy
        if word == "auto":
            word = "not minority" if under else "not majority"
        if word == "majority" and not under:
            raise ValueError(
                "Invalid `sampling_strategy`: 'majority' cannot be used with over-sampling. "
                "Received: sampling_strategy='majority'"
            )
        if word == "minority" and under:
            raise ValueError(
                "Invalid `sampling_strategy`: 'minority' cannot be used with under-sampling. "
                "Received: sampling_strategy='minority'"
            )
        return StrategyWord(word)
    if isinstance(sampling_strategy, Mapping):
        return check_wanted_counts(sampling_strategy, sampling_strategy)
    if isinstance(sampling_strategy, numbers.Real) and not isinstance(
        sampling_strategy, (bool, np.bool_)
    ):
        ratio = float(sampling_strategy)
        if not 0 < ratio <= 1:
            raise ValueError(
                "Invalid `sampling_strategy`: a float must be in the range (0, 1]. "
                f"Received: sampling_strategy={ratio!r}"
            )
        return StrategyRatio(ratio)
    if callable(sampling_strategy) and not isinstance(sampling_strategy, (bool, np.bool_)):
        return StrategyCallable(sampling_strategy)
    raise TypeError(
        "Invalid `sampling_strategy`: expected a float, one of "
        f"{list(SAMPLING_STRATEGY_WORDS)}, a dict or a callable. "
        f"Received: sampling_strategy={sampling_strategy!r}"
    )


def check_wanted_counts(wanted: Any, shown: Any) -> StrategyCounts:
    """A ``{class: wanted rows}`` dict (given, or returned by a callable ``shown``)."""
    if not isinstance(wanted, Mapping):
        raise TypeError(
            "Invalid `sampling_strategy`: a callable must return a dict "
            f"{{class_id: wanted count}}, but it returned {wanted!r}. "
            f"Received: sampling_strategy={shown!r}"
        )
    for key, n in wanted.items():
        if not is_integer(key):
            raise TypeError(
                f"Invalid `sampling_strategy`: class {key!r} is not a class id (an int). "
                f"Received: sampling_strategy={_short(shown)}"
            )
        if not is_integer(n):
            raise TypeError(
                f"Invalid `sampling_strategy`: wanted counts must be ints, got {n!r} for class "
                f"{key}. Received: sampling_strategy={_short(shown)}"
            )
    if any(n < 0 for n in wanted.values()):
        raise ValueError(
            "Invalid `sampling_strategy`: the number of samples in a class cannot be "
            f"negative. Received: sampling_strategy={_short(shown)}"
        )
    return StrategyCounts(
        classes=tuple(int(k) for k in wanted),
        wanted=tuple(int(n) for n in wanted.values()),
        shown=_short(shown),
    )


def _describe_range(kind: str, minimum: Any, maximum: Any, min_open: bool, max_open: bool) -> str:
    if minimum is not None and maximum is not None:
        low = "(" if min_open else "["
        high = ")" if max_open else "]"
        return f"{kind} in {low}{minimum}, {maximum}{high}"
    if minimum is not None:
        if kind == "an int" and minimum == 1 and not min_open:
            return "a positive int"
        return f"{kind} {'>' if min_open else '>='} {minimum}"
    if maximum is not None:
        return f"{kind} {'<' if max_open else '<='} {maximum}"
    return kind


def _out_of_range(value: Any, minimum: Any, maximum: Any, min_open: bool, max_open: bool) -> bool:
    if minimum is not None and (value <= minimum if min_open else value < minimum):
        return True
    return maximum is not None and (value >= maximum if max_open else value > maximum)


@overload
def check_int(
    value: Any,
    arg_name: str,
    *,
    minimum: int | None = ...,
    maximum: int | None = ...,
    allow_none: Literal[False] = ...,
) -> int: ...


@overload
def check_int(
    value: Any,
    arg_name: str,
    *,
    minimum: int | None = ...,
    maximum: int | None = ...,
    allow_none: bool,
) -> int | None: ...


def check_int(
    value: Any,
    arg_name: str,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
    allow_none: bool = False,
) -> int | None:
    """A Python/NumPy integer (never a bool) within ``[minimum, maximum]``.

    ``None`` passes through when ``allow_none``. TypeError for a wrong type, ValueError for an
    integer out of range, both worded "Invalid `arg`: expected .... Received: arg=value".
    """
    expected = _describe_range("an int", minimum, maximum, False, False)
    if value is None and allow_none:
        return None
    if not is_integer(value):
        suffix = " or None" if allow_none else ""
        raise TypeError(
            f"Invalid `{arg_name}`: expected {expected}{suffix}. Received: {arg_name}={value!r}"
        )
    if _out_of_range(value, minimum, maximum, False, False):
        raise ValueError(
            f"Invalid `{arg_name}`: expected {expected}. Received: {arg_name}={value!r}"
        )
    return int(value)


@overload
def check_real(
    value: Any,
    arg_name: str,
    *,
    minimum: float | None = ...,
    maximum: float | None = ...,
    min_open: bool = ...,
    max_open: bool = ...,
    allow_none: Literal[False] = ...,
) -> float: ...


@overload
def check_real(
    value: Any,
    arg_name: str,
    *,
    minimum: float | None = ...,
    maximum: float | None = ...,
    min_open: bool = ...,
    max_open: bool = ...,
    allow_none: bool,
) -> float | None: ...


def check_real(
    value: Any,
    arg_name: str,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    min_open: bool = False,
    max_open: bool = False,
    allow_none: bool = False,
) -> float | None:
    """A finite real number (int or float, never a bool) within the given bounds.

    ``min_open``/``max_open`` exclude the bound itself (``beta > 0`` is ``minimum=0,
    min_open=True``). NaN and infinities are refused with ValueError.
    """
    expected = _describe_range("a finite number", minimum, maximum, min_open, max_open)
    if value is None and allow_none:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        suffix = " or None" if allow_none else ""
        raise TypeError(
            f"Invalid `{arg_name}`: expected {expected}{suffix}. Received: {arg_name}={value!r}"
        )
    number = float(value)
    if not math.isfinite(number) or _out_of_range(number, minimum, maximum, min_open, max_open):
        raise ValueError(
            f"Invalid `{arg_name}`: expected {expected}. Received: {arg_name}={value!r}"
        )
    return number


def check_bool(value: Any, arg_name: str) -> bool:
    """``True`` or ``False`` (a NumPy bool too); 0/1 and strings are refused."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(
            f"Invalid `{arg_name}`: expected True or False. Received: {arg_name}={value!r}"
        )
    return bool(value)


@overload
def check_choice(
    value: Any, arg_name: str, choices: Sequence[str], *, allow_none: Literal[False] = ...
) -> str: ...


@overload
def check_choice(
    value: Any, arg_name: str, choices: Sequence[str], *, allow_none: bool
) -> str | None: ...


def check_choice(
    value: Any, arg_name: str, choices: Sequence[str], *, allow_none: bool = False
) -> str | None:
    """One of ``choices`` (exact spelling); TypeError for a non-string, ValueError otherwise."""
    if value is None and allow_none:
        return None
    listed = ", ".join(repr(choice) for choice in choices) + (" or None" if allow_none else "")
    if not isinstance(value, str):
        raise TypeError(
            f"Invalid `{arg_name}`: expected one of {listed}. Received: {arg_name}={value!r}"
        )
    if value not in choices:
        raise ValueError(
            f"Invalid `{arg_name}`: expected one of {listed}. Received: {arg_name}={value!r}"
        )
    return value


def check_column(value: Any, arg_name: str, columns: Sequence[str]) -> str:
    """The name of one of ``columns`` (a CSV header), listing the header when it is not."""
    if not isinstance(value, str):
        raise TypeError(
            f"Invalid `{arg_name}`: expected a column name (str). Received: {arg_name}={value!r}"
        )
    if value not in columns:
        shown = ", ".join(repr(column) for column in list(columns)[:20])
        more = ", ..." if len(columns) > 20 else ""
        raise ValueError(
            f"Invalid `{arg_name}`: expected one of the columns [{shown}{more}]. "
            f"Received: {arg_name}={value!r}"
        )
    return value


@overload
def check_positive_int(value: Any, arg_name: str, *, allow_none: Literal[False] = ...) -> int: ...


@overload
def check_positive_int(value: Any, arg_name: str, *, allow_none: bool) -> int | None: ...


def check_positive_int(value: Any, arg_name: str, *, allow_none: bool = False) -> int | None:
    """A positive Python/NumPy integer (``None`` too when ``allow_none``)."""
    return check_int(value, arg_name, minimum=1, allow_none=allow_none)


@overload
def check_num_classes(
    value: Any, arg_name: str = ..., *, allow_none: Literal[False] = ...
) -> int: ...


@overload
def check_num_classes(value: Any, arg_name: str = ..., *, allow_none: bool) -> int | None: ...


def check_num_classes(
    value: Any, arg_name: str = "num_classes", *, allow_none: bool = False
) -> int | None:
    """A number of classes: a positive int up to ``MAX_CLASS_ID + 1`` (``None`` if allowed)."""
    value = check_positive_int(value, arg_name, allow_none=allow_none)
    if value is not None and value > MAX_CLASS_ID + 1:
        raise ValueError(
            f"Invalid `{arg_name}`: class ids must be at most MAX_CLASS_ID={MAX_CLASS_ID}, so "
            f"at most {MAX_CLASS_ID + 1} classes. Received: {arg_name}={value!r}"
        )
    return value


def _as_float(value: Any, arg_name: str, whole: Any) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(
        value, (int, float, np.integer, np.floating)
    ):
        raise TypeError(
            f"Invalid `{arg_name}`: values must be numbers. Received: {arg_name}={_short(whole)}"
        )
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(
            f"Invalid `{arg_name}`: values must be finite (got {value}). "
            f"Received: {arg_name}={_short(whole)}"
        )
    return value


def _short(value: Any) -> str:
    text = repr(value.tolist() if isinstance(value, np.ndarray) else value)
    return text if len(text) <= 200 else text[:197] + "..."

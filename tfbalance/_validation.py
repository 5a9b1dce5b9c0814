"""Argument checks shared by every sampler, weighting and interleaving function.

One place resolves each user-facing form (target distributions, class weights, and the
imbalanced-learn ``sampling_strategy`` words) so every API accepts the same inputs and
rejects bad ones with the same wording: "Invalid `arg`: <expected>. Received: arg=<value>".
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence, Union

import numpy as np

__all__ = ["resolve_class_vector", "resolve_target_distribution", "check_seed"]

VectorLike = Union[Mapping[int, float], Sequence[float], np.ndarray]


def resolve_class_vector(
    values: VectorLike,
    num_classes: int,
    arg_name: str,
    *,
    allow_missing: bool = True,
) -> np.ndarray:
    """A float64 vector of length ``num_classes`` from a list or ``{class_id: value}`` dict.

    Values must be finite and non-negative. With a dict, classes it leaves out get 0 when
    ``allow_missing``; keys outside ``[0, num_classes)`` are an error.
    """
    if isinstance(values, Mapping):
        vector = np.zeros(num_classes, dtype=np.float64)
        for key, value in values.items():
            if (
                isinstance(key, (bool, np.bool_))
                or not isinstance(key, (int, np.integer))
                or not 0 <= key < num_classes
            ):
                raise ValueError(
                    f"Invalid `{arg_name}`: class {key!r} is not one of the known classes "
                    f"0..{num_classes - 1}. Received: {arg_name}={values!r}"
                )
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
            f"Invalid `{arg_name}`: values must be non-negative. Received: {arg_name}={_short(values)}"
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


def check_seed(seed: Any) -> int | None:
    """``None`` or a Python/NumPy integer (booleans rejected)."""
    if seed is None:
        return None
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"Invalid `seed`: expected an int or None. Received: seed={seed!r}")
    return int(seed)


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

"""The one statistical tolerance every randomised test uses.

Randomised output is checked against its expectation with a tolerance of ``k`` binomial
standard errors, ``k * sqrt(p * (1 - p) / n)``, on seeded inputs, so a failure means a real
bias, not bad luck (at k = 4.5 a correct sampler fails about once in 150,000 checks).
"""

from __future__ import annotations

import math

K_SIGMA = 4.5


def binomial_tolerance(p: float, n: int, k: float = K_SIGMA) -> float:
    """Allowed absolute deviation of an observed proportion from ``p`` over ``n`` trials."""
    if n <= 0:
        raise ValueError(f"n must be positive. Received: n={n}")
    return k * math.sqrt(max(p * (1.0 - p), 0.0) / n)


def assert_proportion(observed: float, expected: float, n: int, k: float = K_SIGMA) -> None:
    """Assert ``observed`` lies within ``k`` binomial standard errors of ``expected``."""
    tolerance = binomial_tolerance(expected, n, k)
    assert abs(observed - expected) <= tolerance, (
        f"proportion {observed:.6f} differs from expected {expected:.6f} by "
        f"{abs(observed - expected):.6f} > {k} SE = {tolerance:.6f} (n={n})"
    )


def assert_count(observed: int, n: int, p: float, k: float = K_SIGMA) -> None:
    """Assert a Binomial(n, p) count lies within ``k`` standard errors of ``n * p``."""
    assert_proportion(observed / n, p, n, k)

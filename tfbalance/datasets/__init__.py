"""Data sets for examples, tests and benchmarks.

The synthetic insurance data and its test-split rule (``is_insurance_test_row``, shared by
``tfbalance demo``, the examples and the TFDS builder) need numpy only. The TFDS builder
(``InsuranceCrossSell``, ``insurance_split``) lives in
``tfbalance.datasets.insurance_cross_sell`` and is the only code that imports
tensorflow-datasets (the ``tfds`` extra): it is loaded on first use of its names, or by
``import tfbalance.datasets.insurance_cross_sell``, which registers the
``"insurance_cross_sell"`` dataset. When tensorflow-datasets is already imported,
``import tfbalance.datasets`` registers it too (the import costs nothing more then).
``import tfbalance`` loads this module (``tfbalance.datasets.make_insurance_csv``), never
tensorflow-datasets.
"""

from __future__ import annotations

import importlib
import sys
from typing import TYPE_CHECKING, Any

from tfbalance.datasets._split import INSURANCE_TEST_MODULUS, is_insurance_test_row
from tfbalance.datasets._synthetic import (
    INSURANCE_COLUMNS,
    insurance_positive_count,
    make_insurance_csv,
    make_insurance_dataframe,
)

if TYPE_CHECKING:  # the same names, eagerly, for type checkers and IDEs
    from tfbalance.datasets.insurance_cross_sell import InsuranceCrossSell, insurance_split

_BUILDER_MODULE = "tfbalance.datasets.insurance_cross_sell"
_BUILDER_NAMES = ("InsuranceCrossSell", "insurance_split")

__all__ = [
    "INSURANCE_COLUMNS",
    "INSURANCE_TEST_MODULUS",
    "InsuranceCrossSell",
    "insurance_positive_count",
    "insurance_split",
    "is_insurance_test_row",
    "make_insurance_csv",
    "make_insurance_dataframe",
]


def _import_builder() -> Any:
    try:
        import tensorflow_datasets  # noqa: F401
    except ImportError as exc:
        raise ImportError(
            "The insurance_cross_sell TFDS builder needs tensorflow-datasets, which is not "
            'installed. Install it with `pip install "tfbalance[tfds]"`.'
        ) from exc
    return importlib.import_module(_BUILDER_MODULE)


def __getattr__(name: str) -> Any:
    if name not in _BUILDER_NAMES:
        raise AttributeError(f"module 'tfbalance.datasets' has no attribute {name!r}")
    value = getattr(_import_builder(), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if sys.modules.get("tensorflow_datasets") is not None:
    _import_builder()

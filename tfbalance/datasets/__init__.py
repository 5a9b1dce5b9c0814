"""Data sets for examples, tests and benchmarks."""

from tfbalance.datasets._synthetic import (
    INSURANCE_COLUMNS,
    insurance_positive_count,
    make_insurance_csv,
    make_insurance_dataframe,
)

__all__ = [
    "INSURANCE_COLUMNS",
    "insurance_positive_count",
    "make_insurance_csv",
    "make_insurance_dataframe",
]

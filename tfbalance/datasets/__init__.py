"""Data sets for examples, tests and benchmarks."""

from tfbalance.datasets._synthetic import (
    INSURANCE_COLUMNS,
    insurance_positive_count,
    make_insurance_csv,
    make_insurance_dataframe,
)
from tfbalance.datasets.insurance_cross_sell import (  # registers the TFDS builder
    InsuranceCrossSell,
    insurance_split,
)

__all__ = [
    "INSURANCE_COLUMNS",
    "InsuranceCrossSell",
    "insurance_positive_count",
    "insurance_split",
    "make_insurance_csv",
    "make_insurance_dataframe",
]

"""Collection rules for the doctests under tfbalance/ (tests/ has its own conftest)."""

import importlib.util

# The TFDS builder's module imports tensorflow-datasets, an optional extra ("tfds"): without
# it, its doctests are skipped instead of failing to import.
collect_ignore = []
if importlib.util.find_spec("tensorflow_datasets") is None:
    collect_ignore.append("tfbalance/datasets/insurance_cross_sell.py")

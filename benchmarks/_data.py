"""Benchmark data: an insurance cross-sell CSV of N rows, generated once and cached.

Files live under ``benchmarks/data/`` (git-ignored), written in chunks by
``tfbalance.datasets.make_insurance_csv``.
"""

from __future__ import annotations

import os
from pathlib import Path

from tfbalance.datasets import make_insurance_csv

DATA_DIR = Path(__file__).resolve().parent / "data"
LABEL = "Response"


def insurance_csv(rows: int, *, seed: int = 0) -> Path:
    """Path of a cached insurance CSV with ``rows`` data rows, creating it if needed."""
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    path = DATA_DIR / f"insurance_{rows}_{seed}.csv"
    if path.exists():
        return path
    # Written under another name first, so an interrupted run never leaves a short file
    # that a later run would take for the cached one.
    tmp = path.with_suffix(".csv.part")
    make_insurance_csv(str(tmp), rows, seed=seed)
    os.replace(tmp, path)
    return path

"""Benchmark data: an insurance cross-sell CSV of N rows, generated once and cached.

Files live under ``benchmarks/data/`` (git-ignored). ``tfbalance.datasets.make_insurance_csv``
is used when it is available; otherwise a vectorised numpy/pandas generator with the same
schema and about 16.4% positive ``Response`` writes the file in chunks.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

DATA_DIR = Path(__file__).resolve().parent / "data"
COLUMNS = [
    "id", "Gender", "Age", "Driving_License", "Region_Code", "Previously_Insured",
    "Vehicle_Age", "Vehicle_Damage", "Annual_Premium", "Policy_Sales_Channel", "Vintage",
    "Response",
]
LABEL = "Response"


def insurance_csv(rows: int, *, seed: int = 0, chunk_rows: int = 500_000) -> Path:
    """Path of a cached insurance CSV with ``rows`` data rows, creating it if needed."""
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    path = DATA_DIR / f"insurance_{rows}_{seed}.csv"
    if path.exists():
        return path
    tmp = path.with_suffix(".csv.part")
    try:
        from tfbalance.datasets import make_insurance_csv  # type: ignore[attr-defined]
    except ImportError:
        make_insurance_csv = None
    if make_insurance_csv is not None:
        make_insurance_csv(str(tmp), rows, seed=seed)
    else:
        _fallback(tmp, rows, seed, chunk_rows)
    os.replace(tmp, path)
    return path


def _fallback(path: Path, rows: int, seed: int, chunk_rows: int) -> None:
    import pandas as pd

    rng = np.random.default_rng(seed)
    with open(path, "w", newline="") as f:
        f.write(",".join(COLUMNS) + "\n")
        for start in range(0, rows, chunk_rows):
            n = min(chunk_rows, rows - start)
            damage = rng.random(n) < 0.5
            insured = rng.random(n) < 0.46
            # Positives concentrate on damaged, previously uninsured vehicles (~16.4% overall).
            p = np.where(damage & ~insured, 0.53, 0.028)
            frame = pd.DataFrame({
                "id": np.arange(start + 1, start + n + 1),
                "Gender": np.where(rng.random(n) < 0.54, "Male", "Female"),
                "Age": rng.integers(20, 86, n),
                "Driving_License": (rng.random(n) < 0.998).astype(np.int64),
                "Region_Code": rng.integers(0, 53, n).astype(np.float64),
                "Previously_Insured": insured.astype(np.int64),
                "Vehicle_Age": rng.choice(["< 1 Year", "1-2 Year", "> 2 Years"], n,
                                          p=[0.43, 0.53, 0.04]),
                "Vehicle_Damage": np.where(damage, "Yes", "No"),
                "Annual_Premium": np.round(rng.gamma(4.0, 7600.0, n) + 2630.0, 1),
                "Policy_Sales_Channel": rng.integers(1, 164, n).astype(np.float64),
                "Vintage": rng.integers(10, 300, n),
                "Response": (rng.random(n) < p).astype(np.int64),
            }, columns=COLUMNS)
            frame.to_csv(f, header=False, index=False)

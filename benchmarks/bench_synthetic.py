"""Speed and peak memory of the synthetic insurance CSV writer.

``tfbalance.datasets.make_insurance_csv`` (chunked, vectorised text rendering) against the
usual pandas route for the same rows: build the DataFrame, then ``DataFrame.to_csv``. Each
measurement runs in a fresh subprocess so ``resource.getrusage`` peak RSS belongs to it
alone; the table shows the peak and the growth over the interpreter after imports.

    python benchmarks/bench_synthetic.py                     # 1M and 5M rows
    python benchmarks/bench_synthetic.py --rows 200000       # quick check
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def _worker(method: str, rows: int, path: str) -> dict:
    from tfbalance.datasets import make_insurance_csv, make_insurance_dataframe

    make_insurance_csv(path, 1_000)  # warm-up: imports and first-call costs
    base = _peak_mib()
    start = time.perf_counter()
    if method == "tfbalance":
        make_insurance_csv(path, rows, seed=0)
    else:
        make_insurance_dataframe(rows, seed=0).to_csv(path, index=False, lineterminator="\n")
    seconds = time.perf_counter() - start
    return {
        "method": method,
        "rows": rows,
        "seconds": seconds,
        "rows_per_s": rows / seconds,
        "peak_mib": _peak_mib(),
        "growth_mib": _peak_mib() - base,
        "bytes": os.path.getsize(path),
    }


def _measure(method: str, rows: int, directory: str) -> dict:
    path = os.path.join(directory, f"{method}_{rows}.csv")
    result = subprocess.run(
        [sys.executable, __file__, "--worker", method, str(rows), path],
        capture_output=True,
        text=True,
        check=True,
        # This checkout's tfbalance, not whichever one is installed.
        env={
            **os.environ,
            "TF_CPP_MIN_LOG_LEVEL": "3",
            "PYTHONPATH": os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")]),
        },
    )
    os.remove(path)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 5_000_000])
    parser.add_argument(
        "--worker", nargs=3, metavar=("METHOD", "ROWS", "PATH"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.worker:
        method, rows, path = args.worker
        print(json.dumps(_worker(method, int(rows), path)))
        return

    print(f"{'rows':>10}  {'method':<18} {'seconds':>8} {'rows/s':>12} {'peak MiB':>9} "
          f"{'growth MiB':>10}  speed-up")
    with tempfile.TemporaryDirectory() as directory:
        for rows in args.rows:
            ours = _measure("tfbalance", rows, directory)
            pandas = _measure("pandas", rows, directory)
            for r in (ours, pandas):
                name = "make_insurance_csv" if r["method"] == "tfbalance" else "pandas to_csv"
                ratio = pandas["seconds"] / r["seconds"]
                print(f"{rows:>10,}  {name:<18} {r['seconds']:>8.2f} {r['rows_per_s']:>12,.0f} "
                      f"{r['peak_mib']:>9.0f} {r['growth_mib']:>10.0f}  {ratio:.2f}x")


if __name__ == "__main__":
    main()

"""Copy the results table of a demo run into README.md (between the demo-results markers).

    tfbalance demo --out tfbalance-demo && python examples/update_readme_results.py

The README's table is therefore always a real run's output, never typed by hand.
"""

from __future__ import annotations

import argparse
import json
import os
import re

START, END = "<!-- demo-results:start -->", "<!-- demo-results:end -->"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="tfbalance-demo", help="the demo's --out folder")
    parser.add_argument("--readme", default="README.md")
    args = parser.parse_args(argv)
    with open(os.path.join(args.out, "results.md")) as handle:
        table = handle.read().strip()
    with open(os.path.join(args.out, "results.json")) as handle:
        results = json.load(handle)
    counts = results["full_counts"]
    summary = (
        f"{sum(counts.values()):,} rows ({counts.get('0', 0):,} / {counts.get('1', 0):,}); "
        f"demo wall time {results['wall_seconds']:.0f} s."
    )
    with open(args.readme) as handle:
        readme = handle.read()
    if START not in readme or END not in readme:
        raise SystemExit(f"{args.readme} has no {START} ... {END} markers")
    block = f"{START}\n{table}\n\n{summary}\n{END}"
    readme = re.sub(re.escape(START) + ".*?" + re.escape(END), lambda _: block, readme, flags=re.S)
    with open(args.readme, "w") as handle:
        handle.write(readme)
    print(f"Updated {args.readme} from {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

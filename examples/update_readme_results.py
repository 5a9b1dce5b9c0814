"""Copy the results of a demo run into README.md (between the demo-results markers).

    tfbalance demo --out tfbalance-demo && python examples/update_readme_results.py

The block is rendered from the run's results.json by the demo's own code (the same text as
its results.md), and results.json is kept as tests/data/demo_results.json, so that
tests/test_examples.py can check that README shows exactly what that run measured. The
README's table is therefore always a real run's output, never typed by hand.
"""

from __future__ import annotations

import argparse
import json
import os
import re

from tfbalance._demo import DemoResult, readme_block

START, END = "<!-- demo-results:start -->", "<!-- demo-results:end -->"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURE = os.path.join(ROOT, "tests", "data", "demo_results.json")


def render(results: dict) -> str:
    """The README block (markers included) for a results.json."""
    return f"{START}\n{readme_block(DemoResult.from_json(results))}{END}"


def readme_section(readme: str) -> str:
    """The block between the markers of README text (markers included)."""
    match = re.search(re.escape(START) + ".*?" + re.escape(END), readme, flags=re.S)
    if match is None:
        raise SystemExit(f"README has no {START} ... {END} markers")
    return match.group(0)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="tfbalance-demo", help="the demo's --out folder")
    parser.add_argument("--readme", default=os.path.join(ROOT, "README.md"))
    parser.add_argument("--fixture", default=FIXTURE, help="where to keep results.json")
    args = parser.parse_args(argv)
    with open(os.path.join(args.out, "results.json")) as handle:
        results = json.load(handle)
    results["data"] = os.path.basename(results["data"])  # no local paths in the repository
    with open(args.readme) as handle:
        readme = handle.read()
    readme = readme.replace(readme_section(readme), render(results))
    with open(args.readme, "w") as handle:
        handle.write(readme)
    os.makedirs(os.path.dirname(args.fixture), exist_ok=True)
    with open(args.fixture, "w") as handle:
        json.dump(results, handle, indent=2)
        handle.write("\n")
    print(f"Updated {args.readme} and {args.fixture} from {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

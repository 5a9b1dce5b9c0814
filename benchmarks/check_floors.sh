#!/usr/bin/env bash
# Check the declared dependency floors: build a virtual environment with every runtime
# dependency at the lowest version setup.cfg allows, then run the test suite against it.
#
#   bash benchmarks/check_floors.sh                       # the whole suite (slow on 2 cores)
#   bash benchmarks/check_floors.sh tests/test_cli.py ... # only these test files
#
# What is pinned: each ">=X" requirement of install_requires and of the tensorflow-cpu and
# tfds extras becomes "==X" (numpy, pandas, keras when a floor is declared, tensorflow-cpu,
# tensorflow-datasets, tensorflow-metadata). The test tools (pytest, scikit-learn,
# imbalanced-learn, matplotlib) are the harness, not what users install with tfbalance, so
# they resolve freely. Environment:
#   PYTHON   interpreter to build the venv from (default python3; the floors are per Python:
#            TensorFlow 2.16 has wheels for Python 3.9-3.12)
#   VENV     where to build it (default /tmp/tfbalance-floors; reused when it exists)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
VENV="${VENV:-/tmp/tfbalance-floors}"
CONSTRAINTS="$VENV/floors.txt"

[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
"$PYTHON" - "$CONSTRAINTS" <<'PY'
import configparser, re, sys
cfg = configparser.ConfigParser()
cfg.read("setup.cfg")
lines = cfg["options"]["install_requires"].splitlines()
for extra in ("tensorflow-cpu", "tfds"):
    lines += cfg["options.extras_require"].get(extra, "").splitlines()
# A Keras floor is pinned wherever it is declared (the test extra too).
lines += [l for l in cfg["options.extras_require"].get("test", "").splitlines()
          if l.strip().lower().startswith("keras")]
pins = []
for line in lines:
    line = line.split("#")[0].strip()
    match = re.fullmatch(r"([A-Za-z0-9_.\-\[\]]+?)(\[[^\]]*\])?\s*>=\s*([0-9][^,;\s]*)", line)
    if match:
        pins.append(f"{match.group(1)}=={match.group(3)}")
with open(sys.argv[1], "w") as handle:
    handle.write("\n".join(pins) + "\n")
print("floor set:", ", ".join(pins))
PY
# PIP_CONSTRAINT="" ignores a machine-wide constraints file: only the floors constrain here.
PIP_CONSTRAINT="" "$VENV/bin/python" -m pip install --quiet --upgrade pip
PIP_CONSTRAINT="" "$VENV/bin/python" -m pip install --quiet -c "$CONSTRAINTS" \
    -e ".[tensorflow-cpu,tfds,test]"
"$VENV/bin/python" -m pip list 2>/dev/null \
    | grep -iE '^(numpy|pandas|keras|tensorflow(-cpu|-datasets|-metadata)?|protobuf) '
"$VENV/bin/python" -m pytest -q -p no:cacheprovider "$@"

"""The ``tfbalance`` command line, run in-process through ``main(argv)``."""

from __future__ import annotations

import json
import os
import runpy
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest

import tfbalance
from tfbalance._cli import main
from tfbalance.datasets import insurance_positive_count, make_insurance_csv

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
N_ROWS = 3_000
MAIN_SCRIPT = os.path.join(os.path.dirname(tfbalance.__file__), "__main__.py")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(tfbalance.__file__)))


def _python(code, env=None, timeout=120):
    """Run ``code`` in a fresh interpreter that imports this checkout's tfbalance."""
    env = {**os.environ, **(env or {})}
    env["PYTHONPATH"] = os.pathsep.join([ROOT, env.get("PYTHONPATH", "")])
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
        env=env, timeout=timeout, cwd=ROOT,
    )  # fmt: skip


# Prints the TF_CPP_MIN_LOG_LEVEL that `tfbalance inspect` leaves set; {csv} is the file.
LOG_LEVEL_CODE = """
    import os, sys
    sys.argv[0] = "tfbalance"  # as the console script runs: the package stays lazy
    from tfbalance._cli import main
    code = main(["inspect", {csv!r}, "--label", "Response", "--json"])
    print("LEVEL", os.environ.get("TF_CPP_MIN_LOG_LEVEL"))
    sys.exit(code)
"""


def start_in_background(tmp_path_factory, launch):
    """The CSV the tests read, and the start-up log test's two interpreters, each of which
    imports TensorFlow (seconds of CPU): started with the session (tests/conftest.py)."""
    csv = make_insurance_csv(tmp_path_factory.mktemp("cli") / "train.csv", N_ROWS, seed=4)
    code = textwrap.dedent(LOG_LEVEL_CODE.format(csv=str(csv)))
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    env["PYTHONPATH"] = os.pathsep.join([ROOT, env.get("PYTHONPATH", "")])
    runs = {
        name: launch([sys.executable, "-c", code], env={**env, **extra}, cwd=ROOT, timeout=300)
        for name, extra in [("silenced", {}), ("shown", {"TF_CPP_MIN_LOG_LEVEL": "0"})]
    }
    return {"csv": csv, **runs}


@pytest.fixture(scope="module")
def insurance_csv(background):
    return background[__name__]["csv"]


def _sklearn_weights(labels):
    from sklearn.utils.class_weight import compute_class_weight

    classes = np.unique(labels)
    weights = compute_class_weight("balanced", classes=classes, y=labels)
    return dict(zip(classes.tolist(), weights, strict=True))


def test_inspect_text_report(insurance_csv, capsys):
    assert main(["inspect", insurance_csv, "--label", "Response", "--quiet"]) == 0
    out = capsys.readouterr().out
    labels = pd.read_csv(insurance_csv)["Response"].to_numpy()
    ones = insurance_positive_count(N_ROWS)
    assert f"Rows:    {N_ROWS:,}" in out
    assert f"{N_ROWS - ones:,}" in out and f"{ones:,}" in out
    assert f"{ones / N_ROWS:.2%}" in out
    assert f"Imbalance ratio: {(N_ROWS - ones) / ones:.3f}" in out
    weights = _sklearn_weights(labels)
    assert f"class_weight = {{0: {weights[0]:.4f}, 1: {weights[1]:.4f}}}" in out


def test_inspect_json_report_matches_pandas_and_sklearn(insurance_csv, capsys):
    assert main(["inspect", insurance_csv, "--label", "Vehicle_Age", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    labels = pd.read_csv(insurance_csv)["Vehicle_Age"]
    expected = labels.value_counts()
    # String labels get ids in sorted order; names holds the strings.
    assert report["names"] == sorted(expected.index)
    assert {report["names"][int(c)]: n for c, n in report["counts"].items()} == expected.to_dict()
    assert report["total"] == N_ROWS and report["num_classes"] == 3
    assert report["imbalance_ratio"] == pytest.approx(expected.max() / expected.min())
    ids = labels.map({name: i for i, name in enumerate(report["names"])}).to_numpy()
    weights = _sklearn_weights(ids)
    assert {int(c): w for c, w in report["class_weights"].items()} == pytest.approx(weights)
    assert report["files"] == [insurance_csv] and report["label"] == "Vehicle_Age"


def test_inspect_writes_a_png(insurance_csv, tmp_path, capsys):
    plot = tmp_path / "hist.png"
    assert main(["inspect", insurance_csv, "--label", "Response", "--plot", str(plot), "-q"]) == 0
    assert f"Wrote class histogram to {plot}" in capsys.readouterr().out
    with open(plot, "rb") as f:
        assert f.read(8) == PNG_MAGIC


def test_inspect_several_files_and_a_glob(insurance_csv, tmp_path, capsys):
    pattern = os.path.join(os.path.dirname(insurance_csv), "*.csv")
    assert main(["inspect", pattern, insurance_csv, "--label", "Response", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["total"] == 2 * N_ROWS


def test_inspect_weights_match_sklearn_and_skip_empty_classes(tmp_path, capsys):
    labels = np.array([0] * 7 + [2] * 3)
    path = tmp_path / "gap.csv"
    pd.DataFrame({"x": np.arange(10), "y": labels}).to_csv(path, index=False)
    assert main(["inspect", str(path), "--label", "y", "--json"]) == 0
    weights = json.loads(capsys.readouterr().out)["class_weights"]
    assert weights.get("1") is None
    assert {0: weights["0"], 2: weights["2"]} == pytest.approx(_sklearn_weights(labels))


def test_generate_writes_the_synthetic_file(tmp_path, capsys):
    out = tmp_path / "train.csv.gz"
    assert main(["generate", str(out), "--rows", "2_000", "--seed", "1"]) == 0
    message = capsys.readouterr().out
    assert message.startswith("Wrote 2,000 rows (328 with Response=1, 16.40%)")
    frame = pd.read_csv(out)
    assert len(frame) == 2_000 and int(frame["Response"].sum()) == 328
    # inspect reads the gzip file it wrote (quick-start round trip).
    assert main(["inspect", str(out), "--label", "Response", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["counts"] == {"0": 1_672, "1": 328}
    assert main(["generate", str(tmp_path / "k.csv"), "--rows", "500", "--positives", "5"]) == 0
    assert int(pd.read_csv(tmp_path / "k.csv")["Response"].sum()) == 5


@pytest.mark.parametrize(
    "argv, message",
    [
        (["inspect", "missing.csv", "--label", "y"], "no such file: missing.csv"),
        (["inspect", "nothing-*.csv", "--label", "y"], "no files match"),
        (["inspect", "{tmp}", "--label", "y"], "is a directory"),
        (["inspect", "{csv}", "--label", "Nope"], "Invalid `--label`: column 'Nope'"),
        (["generate", "{tmp}/x.csv", "--rows", "10", "--positives", "11"],
         "Invalid `--positives`: expected at most --rows (10) rows. Received: --positives 11"),
        (["generate", "{tmp}/no/such/dir/x.csv"], "No such file or directory"),
    ],
)
def test_errors_print_one_line_and_exit_2(insurance_csv, tmp_path, capsys, argv, message):
    argv = [a.format(tmp=tmp_path, csv=insurance_csv) for a in argv]
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert message in captured.err
    assert "Traceback" not in captured.err
    assert captured.err.startswith(f"tfbalance {argv[0]}: error: ")
    assert captured.err.count("\n") == 1
    # Flags, never the Python argument names behind them.
    for python_name in ("n_rows", "n_positive", "field_delim", "label=", "`label`"):
        assert python_name not in captured.err
    assert captured.out == ""


@pytest.mark.parametrize(
    "argv, message",
    [
        (["generate", "x.csv", "--rows", "0"], "argument --rows: expected a positive integer"),
        (["generate", "x.csv", "--positives", "-1"], "argument --positives: expected an integer"),
        (["demo", "--epochs", "0"], "argument --epochs: expected a positive integer"),
        (["demo", "--rows", "-5"], "argument --rows: expected a positive integer"),
        (["inspect", "x.csv", "--label", "y", "--delimiter", ";;"],
         "argument --delimiter: expected one single-byte character"),
        (["split", "x.csv", "--label", "y", "-o", "d", "--max-rows-per-shard", "0"],
         "argument --max-rows-per-shard: expected a positive integer"),
    ],
)
def test_bad_numbers_are_usage_errors_naming_the_flag(capsys, argv, message):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "usage: tfbalance" in err and message in err


@pytest.mark.parametrize(
    "argv",
    [[], ["inspect", "x.csv"], ["frobnicate"], ["generate", "x.csv", "--rows", "many"]],
)
def test_usage_errors_exit_2(capsys, argv):
    assert main(argv) == 2
    assert "usage: tfbalance" in capsys.readouterr().err


def test_help_and_version_exit_0(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "inspect" in out and "generate" in out
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("tfbalance ")


def test_help_version_and_usage_errors_do_not_import_tensorflow():
    # `tfbalance --help` must answer at once: nothing it runs may import TensorFlow.
    result = _python("""
        import contextlib, io, json, sys
        sys.argv[0] = "tfbalance"  # as the console script runs: the package stays lazy
        from tfbalance._cli import main
        codes = []
        for argv in (["--help"], ["--version"], ["inspect", "--help"], ["demo", "--help"],
                     ["split", "--help"], ["holdout", "--help"],
                     ["holdout", "x.csv", "--label", "y", "-o", "o", "--names", "a,b"],
                     ["generate", "x.csv", "--rows", "0"], ["frobnicate"]):
            with (contextlib.redirect_stdout(io.StringIO()),
                  contextlib.redirect_stderr(io.StringIO())):
                codes.append(main(argv))
        tf = sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras"))
        print(json.dumps({"codes": codes, "tf": tf}))
    """)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report == {"codes": [0, 0, 0, 0, 0, 0, 2, 2, 2], "tf": []}


def test_missing_tensorflow_is_one_line_exit_1(insurance_csv):
    # sys.modules[name] = None makes `import name` raise ImportError, as without the package.
    result = _python(f"""
        import sys
        sys.modules["tensorflow"] = None
        sys.argv[0] = "tfbalance"  # as the console script runs: the package stays lazy
        from tfbalance._cli import main
        sys.exit(main(["inspect", {str(insurance_csv)!r}, "--label", "Response"]))
    """)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.startswith("tfbalance inspect: error: tfbalance needs TensorFlow >= 2.16")
    assert "pip install" in result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


def test_tensorflow_startup_log_is_silenced_unless_asked_for(background):
    # LOG_LEVEL_CODE run without TF_CPP_MIN_LOG_LEVEL, and with the user's choice of 0.
    result = background[__name__]["silenced"].result()
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("LEVEL 2")
    for noise in ("oneDNN", "cpu_feature_guard", "absl::InitializeLog"):
        assert noise not in result.stderr
    # A level the user chose is left alone.
    shown = background[__name__]["shown"].result()
    assert shown.returncode == 0 and shown.stdout.strip().endswith("LEVEL 0")


def test_delimiter_for_inspect_and_split(tmp_path, capsys):
    from tfbalance import load_split

    frame = pd.DataFrame({"x": np.arange(12), "y": [0] * 9 + [1] * 3, "z": list("abcdefghijkl")})
    path = tmp_path / "data.tsv"
    frame.to_csv(path, sep="\t", index=False)
    expected = pd.read_csv(path, sep="\t")["y"].value_counts().sort_index().to_dict()
    assert main(["inspect", str(path), "--label", "y", "--json", "--delimiter", "\\t"]) == 0
    assert json.loads(capsys.readouterr().out)["counts"] == {str(k): v for k, v in expected.items()}
    # The comma default sees one column called "x\ty\tz" and says so, naming the flag.
    assert main(["inspect", str(path), "--label", "y"]) == 2
    assert "Invalid `--label`" in capsys.readouterr().err
    out = tmp_path / "split"
    argv = ["split", str(path), "--label", "y", "-o", str(out), "--format", "csv", "-q"]
    assert main(argv + ["--delimiter", "tab"]) == 0
    capsys.readouterr()
    assert load_split(out).counts.counts == expected


def test_python_dash_m(tmp_path, monkeypatch, capsys):
    # Runs tfbalance/__main__.py as `python -m tfbalance` does, without paying for a second
    # TensorFlow import in a subprocess.
    out = tmp_path / "m.csv"
    monkeypatch.setattr(sys, "argv", ["tfbalance", "generate", str(out), "--rows", "100"])
    with pytest.raises(SystemExit) as exit_info:
        runpy.run_path(MAIN_SCRIPT, run_name="__main__")
    assert exit_info.value.code == 0
    assert "Wrote 100 rows" in capsys.readouterr().out
    assert out.exists()


def test_split_command(tmp_path, capsys):
    from tfbalance import load_split

    source = tmp_path / "train.csv"
    make_insurance_csv(str(source), 500, seed=1)
    frame = pd.read_csv(source)
    out = tmp_path / "split"
    argv = ["split", str(source), "--label", "Response", "-o", str(out), "--format", "csv"]
    assert main(argv + ["--max-rows-per-shard", "100"]) == 0
    text = capsys.readouterr().out
    assert "Wrote 500 rows of 2 classes" in text
    expected = frame["Response"].value_counts().sort_index().to_dict()
    assert load_split(out).counts.counts == expected
    shards = pd.concat([pd.read_csv(p) for p in sorted(out.glob("class_*/part-*.csv"))])
    assert len(shards) == 500 and sorted(shards["id"]) == sorted(frame["id"])
    # An existing split is a user error (exit 2), replaced with --overwrite.
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "already holds a split; pass --overwrite to replace it" in err
    assert "Invalid `--output-dir`" in err and "overwrite=True" not in err
    assert main(argv + ["--overwrite", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["counts"] == {str(c): n for c, n in expected.items()}
    assert main(["split", str(tmp_path / "none.csv"), "--label", "y", "-o", str(out)]) == 2

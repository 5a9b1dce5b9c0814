"""The ``tfbalance`` command line, run in-process through ``main(argv)``."""

from __future__ import annotations

import json
import os
import runpy
import sys

import numpy as np
import pandas as pd
import pytest

import tfbalance
from tfbalance._cli import balanced_class_weights, main
from tfbalance.datasets import insurance_positive_count, make_insurance_csv

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
N_ROWS = 3_000
MAIN_SCRIPT = os.path.join(os.path.dirname(tfbalance.__file__), "__main__.py")


@pytest.fixture(scope="module")
def insurance_csv(tmp_path_factory):
    return make_insurance_csv(tmp_path_factory.mktemp("cli") / "train.csv", N_ROWS, seed=4)


def _sklearn_weights(labels):
    from sklearn.utils.class_weight import compute_class_weight

    classes = np.unique(labels)
    return dict(zip(classes.tolist(), compute_class_weight("balanced", classes=classes, y=labels)))


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


def test_balanced_class_weights_match_sklearn_and_skip_empty_classes():
    labels = np.array([0] * 7 + [2] * 3)
    weights = balanced_class_weights({0: 7, 1: 0, 2: 3})
    assert weights[1] is None
    assert {0: weights[0], 2: weights[2]} == pytest.approx(_sklearn_weights(labels))


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
        (["inspect", "{csv}", "--label", "Nope"], "Invalid `label`: column 'Nope'"),
        (["generate", "{tmp}/x.csv", "--rows", "0"], "Invalid `n_rows`"),
        (["generate", "{tmp}/x.csv", "--rows", "10", "--positives", "11"], "Invalid `n_positive`"),
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
    assert captured.out == ""


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
    assert "already holds a split" in capsys.readouterr().err
    assert main(argv + ["--overwrite", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["counts"] == {str(c): n for c, n in expected.items()}
    assert main(["split", str(tmp_path / "none.csv"), "--label", "y", "-o", str(out)]) == 2

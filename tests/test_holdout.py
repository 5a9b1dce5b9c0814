import fractions as exact
import json
import math
import os
import re
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

import tfbalance
from tests.killed_run import start_killed_writer
from tfbalance import (
    load_split,
    load_stratified_split,
    split_by_class,
    stratified_split,
    write_stratified_split,
)
from tfbalance._cli import main as cli_main

FRACTIONS = {"train": 0.8, "val": 0.1, "test": 0.1}


def _write_source(path, rows=400, seed=0):
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "id": np.arange(rows),
        "city": rng.choice(["Oslo", "São Paulo", "Kyiv, UA"], rows),  # quoted, non-ASCII
        "premium": np.round(rng.uniform(100, 900, rows), 2),
        # Class 2 has 2 rows: fewer than the 3 splits.
        "y": np.where(np.arange(rows) < 2, 2, (rng.random(rows) < 0.1).astype(int)),
    })
    frame.to_csv(path, index=False)
    return frame


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    path = tmp_path_factory.mktemp("src") / "data.csv"
    return str(path), _write_source(path)


def _expected_sizes(n, shares):
    """Largest-remainder rounding, written independently in exact arithmetic (oracle)."""
    quotas = [n * exact.Fraction(f) / sum(map(exact.Fraction, shares)) for f in shares]
    sizes = [math.floor(q) for q in quotas]
    order = sorted(range(len(shares)), key=lambda j: (-(quotas[j] - sizes[j]), j))
    for j in order[: n - sum(sizes)]:
        sizes[j] += 1
    return sizes


def _oracle_counts(frame, fractions):
    out = {name: {} for name in fractions}
    for c, n in frame["y"].value_counts().sort_index().items():
        sizes = _expected_sizes(int(n), list(fractions.values()))
        for name, size in zip(fractions, sizes, strict=True):
            out[name][int(c)] = size
    return out


def _read_split(paths):
    return pd.concat([pd.read_csv(p) for p in paths], ignore_index=True)


def _no_staging_left(parent):
    return [n for n in os.listdir(parent) if ".tfbalance-" in n]


# --------------------------------------------------------------------------- what is written


def test_counts_exact_and_splits_partition_the_input(source, tmp_path):
    path, frame = source
    out = write_stratified_split(path, "y", tmp_path / "out", fractions=FRACTIONS, seed=5,
                                 verbose=False)
    expected = _oracle_counts(frame, FRACTIONS)
    assert {s: d.counts for s, d in out.counts.items()} == expected
    assert out.source_counts.counts == frame["y"].value_counts().to_dict()
    parts = {}
    for name in FRACTIONS:
        assert out[name] and all(p.startswith(str(tmp_path / "out" / name) + os.sep)
                                 for p in out[name])
        parts[name] = _read_split(out[name])
        found = parts[name]["y"].value_counts()  # pandas oracle
        assert {c: int(found.get(c, 0)) for c in expected[name]} == expected[name]
    union = pd.concat(parts.values(), ignore_index=True)
    pd.testing.assert_frame_equal(union.sort_values("id").reset_index(drop=True), frame)
    # CSV shards hold the input lines byte for byte, under the input header.
    with open(path, "rb") as handle:
        header, *lines = handle.read().splitlines()
    written = []
    for name in FRACTIONS:
        for part in out[name]:
            with open(part, "rb") as handle:
                first, *rest = handle.read().splitlines()
            assert first == header
            written += rest
    assert sorted(written) == sorted(lines)
    manifest = json.loads((tmp_path / "out" / "split.json").read_text())
    assert manifest["splits"] == list(FRACTIONS) and manifest["seed"] == 5
    assert manifest["fractions"] == FRACTIONS
    assert manifest["counts"] == {s: {str(c): n for c, n in d.items()}
                                  for s, d in expected.items()}
    assert load_stratified_split(tmp_path / "out").counts == out.counts


@pytest.mark.parametrize("seed", [0, 11])
def test_same_assignment_as_stratified_split(source, tmp_path, seed):
    path, _ = source
    fractions = {"a": 0.5, "b": 0.3, "c": 0.2}
    streamed = stratified_split(path, "y", fractions, seed=seed, verbose=False)
    out = write_stratified_split(path, "y", tmp_path / "csv", fractions=fractions, seed=seed,
                                 verbose=False)
    typed = write_stratified_split(path, "y", tmp_path / "typed", fractions=fractions,
                                   seed=seed, format="tfrecord", verbose=False)
    for name in fractions:
        want = sorted(int(i) for x, _ in streamed[name] for i in x["id"].numpy())
        assert sorted(_read_split(out[name])["id"]) == want
        assert sorted(int(x["id"]) for x, _ in typed.dataset(name)) == want
        assert sorted(int(x["id"]) for x, _ in out.dataset(name)) == want


def test_dataset_source_same_assignment_as_stratified_split(tmp_path):
    y = np.array([0] * 37 + [1] * 9 + [2] * 4)
    x = np.arange(50, dtype=np.float64) + 0.25
    ds = tf.data.Dataset.from_tensor_slices((x, y))
    streamed = stratified_split(ds, fractions=FRACTIONS, seed=2)
    out = write_stratified_split(ds, None, tmp_path / "out", fractions=FRACTIONS, seed=2,
                                 format="tfrecord", counts=[37, 9, 4], verbose=False)
    for name in FRACTIONS:
        rows = sorted((float(a), int(b)) for a, b in out.dataset(name))
        assert rows == sorted((float(a), int(b)) for a, b in streamed[name])
        assert out.counts[name] == streamed.counts[name]
    with pytest.raises(ValueError, match="Invalid `format`: dataset sources .* format='tfrecord'"):
        write_stratified_split(ds, None, tmp_path / "csv", seed=2, verbose=False)
    with pytest.raises(ValueError, match="order may change between passes"):
        write_stratified_split(ds.shuffle(10), None, tmp_path / "shuffled", seed=2,
                               format="tfrecord", verbose=False)


def test_empty_split_and_reading_back(source, tmp_path):
    path, frame = source
    out = write_stratified_split(path, "y", tmp_path / "out", fractions={"all": 1.0,
                                                                         "none": 0.0},
                                 seed=0, verbose=False)
    assert out["none"] == [] and out.counts["none"].total == 0
    assert sorted(os.listdir(tmp_path / "out")) == ["all", "split.json"]
    assert len(list(out.dataset("none"))) == 0
    assert sum(1 for _ in out.dataset("all")) == len(frame)
    with pytest.raises(ValueError, match=r"Invalid `name`: expected one of the splits"):
        out.dataset("val")
    # The other splitter's folder and this one are told apart.
    with pytest.raises(ValueError, match="holds no stratified split"):
        load_stratified_split(split_by_class(path, "y", tmp_path / "bc", verbose=False)
                              .output_dir)
    with pytest.raises(ValueError, match="not a split manifest"):
        load_split(tmp_path / "out")


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("fractions, error, match", [
    ({"train": 0.8, "val": 0.1}, ValueError, "must sum to 1"),
    ({"train": 1.2, "val": -0.2}, ValueError, "finite number >= 0"),
    ([0.8, 0.2], TypeError, r"expected a dict \{split name: fraction\}"),
    ({"a/b": 0.5, "c": 0.5}, ValueError, "split names become folder names.*'a/b'"),
    ({".hidden": 1.0}, ValueError, "split names become folder names"),
    ({"split.json": 1.0}, ValueError, "split names become folder names"),
])
def test_bad_fractions_refused_before_anything_is_written(source, tmp_path, fractions, error,
                                                         match):
    path, _ = source
    with pytest.raises(error, match=match):
        write_stratified_split(path, "y", tmp_path / "out", fractions=fractions, seed=0,
                               verbose=False)
    assert os.listdir(tmp_path) == []


def test_bad_options(source, tmp_path):
    path, _ = source
    with pytest.raises(TypeError, match="Invalid `seed`: expected an int"):
        write_stratified_split(path, "y", tmp_path / "o", seed=None, verbose=False)
    with pytest.raises(ValueError, match="Invalid `format`: expected 'csv' or 'tfrecord'"):
        write_stratified_split(path, "y", tmp_path / "o", seed=0, format="parquet")
    with pytest.raises(ValueError, match="Invalid `batch_size`: expected a positive int"):
        write_stratified_split(path, "y", tmp_path / "o", seed=0, batch_size=0)
    with pytest.raises(TypeError, match="Invalid `source`"):
        write_stratified_split(42, "y", tmp_path / "o", seed=0)
    assert not os.path.exists(tmp_path / "o")


# --------------------------------------------------------------------------- data safety


@pytest.mark.parametrize("counts, match", [
    ({0: 300, 1: 10, 2: 2}, "more rows of some class than `counts` says"),
    ({0: 400, 1: 400, 2: 2}, "ended with fewer rows than `counts` says"),
    ({0: 360, 1: 38}, r"counts cover class ids 0\.\.1, but label='y' holds class ids from"),
])
def test_wrong_counts_fail_and_leave_nothing(source, tmp_path, counts, match):
    path, _ = source
    out = tmp_path / "out"
    first = write_stratified_split(path, "y", out, seed=1, verbose=False)
    with pytest.raises(ValueError, match=match):
        write_stratified_split(path, "y", out, seed=2, counts=counts, overwrite=True,
                               verbose=False)
    assert load_stratified_split(out).seed == 1  # the earlier split is untouched
    assert load_stratified_split(out).counts == first.counts
    assert not _no_staging_left(tmp_path)
    with pytest.raises(ValueError, match=match):
        write_stratified_split(path, "y", tmp_path / "new", seed=2, counts=counts,
                               verbose=False)
    assert not os.path.exists(tmp_path / "new") and not _no_staging_left(tmp_path)


def test_user_files_survive_overwrite_and_foreign_folders_are_refused(source, tmp_path):
    path, _ = source
    out = tmp_path / "out"
    write_stratified_split(path, "y", out, seed=0, verbose=False)
    with pytest.raises(ValueError, match="already holds a split; pass overwrite=True"):
        write_stratified_split(path, "y", out, seed=1, verbose=False)
    (out / "notes.txt").write_text("mine")
    (out / "val" / "extra.csv").write_text("keep me")
    with pytest.raises(ValueError, match=r"did not write \(notes.txt, val/extra.csv\)"):
        write_stratified_split(path, "y", out, seed=1, overwrite=True, verbose=False)
    assert (out / "notes.txt").read_text() == "mine"
    assert (out / "val" / "extra.csv").read_text() == "keep me"
    assert load_stratified_split(out).seed == 0
    os.remove(out / "notes.txt")
    os.remove(out / "val" / "extra.csv")
    # Another seed, other split names: the earlier split's files are all replaced.
    result = write_stratified_split(path, "y", out, fractions={"fit": 0.7, "holdout": 0.3},
                                    seed=1, overwrite=True, verbose=False)
    assert sorted(os.listdir(out)) == ["fit", "holdout", "split.json"]
    assert load_stratified_split(out).counts == result.counts
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "model.keras").write_text("x")
    with pytest.raises(ValueError, match=r"did not write \(model.keras\)"):
        write_stratified_split(path, "y", theirs, seed=0, overwrite=True, verbose=False)
    assert (theirs / "model.keras").read_text() == "x"
    assert not _no_staging_left(tmp_path)


def test_failed_pass_leaves_nothing_and_a_rerun_succeeds(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("x,y\n" + "1.5,0\n" * 50 + "1.5,0,9\n" + "2.5,1\n" * 5)
    with pytest.raises(ValueError, match=r"bad.csv.*line 52"):
        write_stratified_split(str(path), "y", tmp_path / "out", seed=0, batch_size=8,
                               counts={0: 50, 1: 6}, verbose=False)
    assert sorted(os.listdir(tmp_path)) == ["bad.csv"]
    path.write_text("x,y\n" + "1.5,0\n" * 50 + "2.5,1\n" * 6)
    out = write_stratified_split(str(path), "y", tmp_path / "out", seed=0, verbose=False)
    assert out.source_counts.counts == {0: 50, 1: 6}


def start_in_background(tmp_path_factory, launch):
    """The run killed mid-way (``tests/killed_run.py``), started at session start."""
    return start_killed_writer(
        tmp_path_factory, launch, "killed_holdout",
        'tfbalance.write_stratified_split(ds, None, sys.argv[1], seed=0, counts=[500, 500],'
        ' format="tfrecord", block_rows=5, verbose=False)',
    )


def test_killed_run_leaves_nothing_that_looks_complete_or_blocks_a_rerun(source, background):
    child, tmp_path = background[__name__]
    out = tmp_path / "out"
    try:
        child.wait_for_output("written\n", timeout=240)
        deadline = time.monotonic() + 60
        while not any(
            name.startswith("part-") for _, _, files in os.walk(tmp_path) for name in files
        ):
            assert time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        child.stop()  # SIGKILL
    staging = _no_staging_left(tmp_path)
    assert len(staging) == 1 and not out.exists()
    with pytest.raises(ValueError, match="holds no stratified split"):
        load_stratified_split(out)
    with pytest.raises(ValueError, match="temporary folder of an unfinished split"):
        load_stratified_split(tmp_path / staging[0])
    path, frame = source
    result = write_stratified_split(path, "y", out, seed=0, verbose=False)
    assert result.source_counts.total == len(frame)
    assert not _no_staging_left(tmp_path)  # the killed run's folder was cleaned up


def test_string_labels_same_ids_and_rows_as_stratified_split(source, tmp_path):
    path, frame = source
    streamed = stratified_split(path, "city", {"a": 0.5, "b": 0.5}, seed=9, verbose=False)
    out = write_stratified_split(path, "city", tmp_path / "out",
                                 fractions={"a": 0.5, "b": 0.5}, seed=9, verbose=False)
    for name in ("a", "b"):
        written = _read_split(out[name])
        assert sorted(written["id"]) == sorted(
            int(i) for x, _ in streamed[name] for i in x["id"].numpy())
        # Same ids; the file split also keeps the vocabulary's names.
        assert out.counts[name].counts == streamed.counts[name].counts
    assert sorted(out.source_counts.names) == sorted(frame["city"].unique())


# --------------------------------------------------------------------------- command line


def test_cli_holdout_prints_the_per_split_counts(source, tmp_path, capsys):
    path, frame = source
    out = tmp_path / "out"
    code = cli_main(["holdout", path, "--label", "y", "--fractions", "0.6,0.2,0.2",
                     "--names", "fit,tune,final", "--seed", "4", "-o", str(out), "-q"])
    assert code == 0
    text = capsys.readouterr().out
    expected = _oracle_counts(frame, {"fit": 0.6, "tune": 0.2, "final": 0.2})
    for name, per_class in expected.items():
        assert sum(per_class.values()) == len(_read_split(load_stratified_split(out)[name]))
        shown = ", ".join(f"class {c}: {per_class.get(c, 0):,}" for c in (0, 1, 2))
        assert f"  {name} (" in text and f"({shown})" in text
    assert load_stratified_split(out).seed == 4
    assert cli_main(["holdout", path, "--label", "y", "-o", str(out), "--json"]) == 2
    assert "pass --overwrite" in capsys.readouterr().err
    assert cli_main(["holdout", path, "--label", "y", "-o", str(out), "--json",
                     "--overwrite", "--format", "tfrecord"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["format"] == "tfrecord" and list(report["counts"]) == ["train", "val", "test"]
    assert report["counts"] == {s: {str(c): n for c, n in d.items()}
                                for s, d in _oracle_counts(frame, FRACTIONS).items()}


@pytest.mark.parametrize("argv, match", [
    (["--fractions", "0.8,0.1"], r"Invalid `--fractions`: .*sum to 1.*--fractions 0.8,0.1"),
    (["--fractions", "0.8,x"], r"--fractions: expected comma-separated numbers"),
    (["--names", "a,b"], r"Invalid `--names`: expected one distinct name per fraction"),
    (["--names", "a,a/b,c"], r"Invalid `--names`: split names become folder names"),
    (["--delimiter", ";;"], r"--delimiter: expected one single-byte character"),
])
def test_cli_holdout_errors_name_the_flags(source, tmp_path, capsys, argv, match):
    path, _ = source
    try:
        code = cli_main(["holdout", path, "--label", "y", "-o", str(tmp_path / "o"), *argv])
    except SystemExit as exc:  # argparse's own checks (flag types) exit with 2
        code = exc.code
    assert code == 2
    assert re.search(match, capsys.readouterr().err)
    assert not os.path.exists(tmp_path / "o")


def test_public_names():
    assert tfbalance.write_stratified_split is write_stratified_split
    assert tfbalance.StratifiedSplitFiles.__module__ == "tfbalance._holdout"

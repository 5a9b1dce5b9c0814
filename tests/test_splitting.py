import gzip
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

import tfbalance
from tests.killed_run import start_killed_writer
from tfbalance import class_datasets, interleave_by_class, load_split, split_by_class
from tfbalance._cli import main as cli_main


def _write_insurance_like(path, rows=3000, seed=0):
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "id": np.arange(1, rows + 1),
            "Gender": rng.choice(["Male", "Female"], rows),
            "Age": rng.integers(20, 85, rows),
            "Annual_Premium": np.round(rng.uniform(2630, 60000, rows), 1),
            "Vehicle_Age": rng.choice(["< 1 Year", "1-2 Year", "> 2 Years"], rows),
            "Response": (rng.random(rows) < 0.164).astype(int),
        }
    )
    frame.to_csv(path, index=False)
    return frame


def _raw_lines(path):
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as handle:
        return handle.read().splitlines()


def _rows_of(streams):
    """Every row of every class stream as a DataFrame (label column ``__y``)."""
    frames = []
    for class_id, ds in streams.items():
        for x, y in ds.batch(100_000):
            frame = pd.DataFrame({k: v.numpy() for k, v in x.items()})
            frame["__y"] = y.numpy()
            assert set(frame["__y"]) == {class_id}
            frames.append(frame)
    frame = pd.concat(frames, ignore_index=True)
    for column in frame.columns:
        if frame[column].dtype == object:
            frame[column] = frame[column].str.decode("utf-8")
    return frame


def _same_rows(got, expected):
    """Multiset equality of two frames with the same columns (pandas oracle)."""
    columns = sorted(expected.columns)
    got = got[columns].sort_values(columns).reset_index(drop=True)
    expected = expected[columns].sort_values(columns).reset_index(drop=True)
    pd.testing.assert_frame_equal(got, expected, check_dtype=False, rtol=1e-6)


def _no_staging_left(parent):
    return [n for n in os.listdir(parent) if ".tfbalance-" in n]


# --------------------------------------------------------------------------- formats


def test_csv_format_writes_input_lines_byte_for_byte(tmp_path):
    source = tmp_path / "data.csv"
    frame = _write_insurance_like(source)
    result = split_by_class(
        str(source), "Response", tmp_path / "out", format="csv", max_rows_per_shard=700,
        batch_size=512, verbose=False,
    )
    expected = frame["Response"].value_counts().sort_index().to_dict()
    assert result.counts.counts == expected
    header, *body = _raw_lines(source)
    written = []
    for class_id in result:
        files = result[class_id]
        assert len(files) == -(-expected[class_id] // 700)  # rotation by rows
        for path in files:
            lines = _raw_lines(path)
            assert lines[0] == header and len(lines) - 1 <= 700
            assert {int(row.rsplit(b",", 1)[1]) for row in lines[1:]} == {class_id}
            written.extend(lines[1:])
    assert sorted(written) == sorted(body)
    # Read back through the CSV stack, rows and blocks.
    _same_rows(_rows_of(result.datasets(seed=0)),
               frame.drop(columns="Response").assign(__y=frame["Response"]))


def test_typed_blocks_read_back_rows_and_blocks(tmp_path):
    source = tmp_path / "data.csv"
    frame = _write_insurance_like(source, rows=2500)
    result = split_by_class(str(source), "Response", tmp_path / "out", batch_size=300,
                            max_rows_per_shard=900, verbose=False)
    assert result.format == "tfrecord" and result.schema.label == "Response"
    manifest = json.loads((tmp_path / "out" / "split.json").read_text())
    assert manifest["schema"]["dtypes"]["Age"] == "int64"
    assert result.nbytes == sum(os.path.getsize(p) for c in result for p in result[c])
    expected = frame.drop(columns="Response").assign(__y=frame["Response"])
    _same_rows(_rows_of(result.datasets(seed=1)), expected)
    # Typed values come back as their dtypes, unparsed.
    x, y = next(iter(result.datasets(shuffle_files=False)[1]))
    assert x["Age"].dtype == tf.int64 and x["Annual_Premium"].dtype == tf.float32
    assert x["Gender"].dtype == tf.string and y.dtype == tf.int64 and "Response" not in x
    blocks = result.datasets(block_size=128, shuffle_files=False)
    assert blocks.block_size == 128 and blocks.counts == result.counts
    for class_id, ds in blocks.items():
        sizes = [int(tf.size(y)) for _, y in ds]
        assert sum(sizes) == result.counts.counts[class_id]
        assert all(s == 128 for s in sizes[:-1]) and 0 < sizes[-1] <= 128
        rows = _rows_of({class_id: ds.unbatch()})
        _same_rows(rows, expected[expected["__y"] == class_id])
    # Blocks of the stored size are the records themselves: full but at each file's end.
    stored = split_by_class(str(source), "Response", tmp_path / "b", batch_size=300,
                            max_rows_per_shard=900, block_rows=200, verbose=False)
    for class_id, ds in stored.datasets(block_size=200, shuffle_files=False).items():
        sizes = [int(tf.size(y)) for _, y in ds]
        n = stored.counts.counts[class_id]
        per_file = [min(900, n - start) for start in range(0, n, 900)]
        assert sizes == [min(200, rows - s) for rows in per_file for s in range(0, rows, 200)]


def test_class_datasets_from_split_feed_interleave(tmp_path):
    source = tmp_path / "data.csv"
    frame = _write_insurance_like(source, rows=800)
    split_by_class(str(source), "Response", tmp_path / "out", verbose=False)
    streams = class_datasets(str(tmp_path / "out"), seed=0)
    assert streams.counts.counts == frame["Response"].value_counts().sort_index().to_dict()
    merged = interleave_by_class(streams, "balanced", seed=0, epoch_rows=400)
    labels = np.concatenate([y for _, y in merged.batch(100).as_numpy_iterator()])
    assert labels.size == 400 and set(labels.tolist()) == {0, 1}


def test_multiple_files_glob_and_gzip_input(tmp_path):
    a = _write_insurance_like(tmp_path / "a.csv", rows=300, seed=1)
    b = _write_insurance_like(tmp_path / "b.csv", rows=200, seed=2)
    with open(tmp_path / "b.csv", "rb") as src, gzip.open(tmp_path / "c.csv.gz", "wb") as dst:
        dst.write(src.read())
    for fmt in ("csv", "tfrecord"):
        result = split_by_class(
            [str(tmp_path / "*.csv"), str(tmp_path / "c.csv.gz")], "Response",
            tmp_path / f"out_{fmt}", format=fmt, compression="GZIP", verbose=False,
        )
        total = pd.concat([a, b, b])
        assert result.counts.counts == total["Response"].value_counts().sort_index().to_dict()
        assert all(p.endswith(".gz") for c in result for p in result[c])
        _same_rows(_rows_of(result.datasets()),
                   total.drop(columns="Response").assign(__y=total["Response"]))


# --------------------------------------------------------------------------- dialects


def _dialect_cases(tmp_path):
    rng = np.random.default_rng(3)
    n = 400
    frame = pd.DataFrame({
        "label": rng.choice(["cat", "dog", "eel"], n, p=[0.7, 0.2, 0.1]),
        "city": rng.choice(["Lyon", "Saint-Denis, Réunion", 'say "hi"', "Oslo",
                            "two\nlines", "crlf\r\ninside"], n),
        "age": rng.integers(18, 90, n),
        "x": np.round(rng.normal(size=n), 3),
    })
    cases = {}
    cases["bom"] = tmp_path / "bom.csv"
    cases["bom"].write_bytes(b"\xef\xbb\xbf" + frame.to_csv(index=False).encode())
    cases["crlf"] = tmp_path / "crlf.csv"
    frame.to_csv(cases["crlf"], index=False, lineterminator="\r\n")
    cases["quotes"] = tmp_path / "quotes.csv"
    frame.to_csv(cases["quotes"], index=False, quoting=1)  # every field quoted
    cases["gzip"] = tmp_path / "g.csv.gz"
    frame.to_csv(cases["gzip"], index=False, compression="gzip")
    cases["gzip_crlf"] = tmp_path / "gc.csv.gz"
    frame.to_csv(cases["gzip_crlf"], index=False, compression="gzip", lineterminator="\r\n")
    numeric = frame.assign(label=frame["label"].map({"cat": 0, "dog": 1, "eel": 2}))
    cases["label_first_numeric"] = tmp_path / "numeric.csv"
    numeric.to_csv(cases["label_first_numeric"], index=False)
    return frame, cases


@pytest.mark.parametrize("fmt", ["tfrecord", "csv"])
def test_split_rows_equal_input_for_every_dialect(tmp_path, fmt):
    _, cases = _dialect_cases(tmp_path)
    if fmt == "csv":  # byte-copied lines: the cases whose text differs most from pandas'
        cases = {k: cases[k] for k in ("bom", "quotes", "gzip_crlf")}
    for name, path in cases.items():
        oracle = pd.read_csv(path, keep_default_na=False)
        assert list(oracle.columns) == ["label", "city", "age", "x"]  # no BOM in a name
        result = split_by_class(str(path), "label", tmp_path / f"{name}_{fmt}", format=fmt,
                                batch_size=64, verbose=False)
        vocabulary = result.schema.label_vocabulary
        ids = oracle["label"] if vocabulary is None else oracle["label"].map(
            {v: i for i, v in enumerate(vocabulary)})
        expected = oracle.drop(columns="label").assign(__y=ids)
        got = _rows_of(result.datasets())
        assert list(got.columns[:3]) == ["city", "age", "x"], name
        _same_rows(got, expected)
        if fmt == "csv":
            continue
        # Counter, reader and splitter agree on the classes.
        counted = tfbalance.class_counts(str(path), "label")
        read = np.concatenate([y for _, y in tfbalance.read_csv(
            str(path), schema=result.schema, batch_size=97).as_numpy_iterator()])
        ids, counts = np.unique(read, return_counts=True)
        assert result.counts.counts == dict(zip(ids, counts, strict=True)), name
        if vocabulary is None:
            assert counted.counts == result.counts.counts, name
        else:
            assert counted.names == vocabulary
            assert dict(zip(counted.names, counted.counts.values(), strict=False)) == {
                vocabulary[c]: n for c, n in result.counts.counts.items()}


# --------------------------------------------------------------------------- validation


def test_duplicate_column_names_refused(tmp_path):
    path = tmp_path / "dup.csv"
    path.write_text("x,x,label\n1,2,0\n3,4,1\n")
    with pytest.raises(
        ValueError, match=r"dup.csv.*, line 1: the header repeats the column names \[.x.\]"
    ):
        split_by_class(str(path), "label", tmp_path / "out", verbose=False)
    assert not (tmp_path / "out").exists() and not _no_staging_left(tmp_path)


def _long_csv(path, rows, bad_line=None, bad_text=None):
    lines = ["a,b,label"] + [f"{i},{i * 0.5},{i % 3}" for i in range(rows)]
    if bad_line is not None:
        lines[bad_line - 1] = bad_text
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize("fmt", ["tfrecord", "csv"])
@pytest.mark.parametrize(
    "bad_text, message",
    [
        ("7,3.5,0,9", "expected 3 fields"),  # ragged row
        ("7,3.5", "expected 3 fields"),  # short row
        ("7,3.5,1.5", "class labels must be finite whole numbers"),
        ("7,3.5,-1", "class ids must be non-negative"),
        ("7,3.5,", "the label is missing"),
        # a value not of its type
        ("seven,3.5,1", "column `a` must hold int64 values .*Received: `seven`"),
    ],
)
def test_bad_row_far_in_fails_at_split_time_with_file_and_line(tmp_path, fmt, bad_text,
                                                                 message):
    path = tmp_path / "data.csv"
    # Past the rows infer_csv_schema samples, so the split's own row checks find it.
    _long_csv(path, 12_000, bad_line=11_711, bad_text=bad_text)
    out = tmp_path / "out"
    with pytest.raises(ValueError, match=rf"^Invalid CSV row in {path}, line 11711: ({message})"):
        split_by_class(str(path), "label", out, format=fmt, batch_size=1024, verbose=False)
    # Nothing left behind that blocks a rerun or reads as a split.
    assert not out.exists() and sorted(os.listdir(tmp_path)) == ["data.csv"]
    with pytest.raises(ValueError, match="holds no split.json"):
        load_split(out)


def test_bad_options_and_sources(tmp_path):
    source = tmp_path / "data.csv"
    _write_insurance_like(source, rows=50)
    with pytest.raises(ValueError, match="Invalid `label`: column 'Missing' is not in"):
        split_by_class(str(source), "Missing", tmp_path / "o1", verbose=False)
    with pytest.raises(ValueError, match="Invalid `format`"):
        split_by_class(str(source), "Response", tmp_path / "o3", format="parquet")
    with pytest.raises(ValueError, match="Invalid `source`: the glob matches no file"):
        split_by_class(str(tmp_path / "nope*.csv"), "Response", tmp_path / "o4")
    with pytest.raises(FileNotFoundError, match="no such file"):
        split_by_class(str(tmp_path / "nope.csv"), "Response", tmp_path / "o4")
    with pytest.raises(TypeError, match="Invalid `label`"):
        split_by_class(str(source), None, tmp_path / "o5")
    with pytest.raises(TypeError, match="Invalid `source`"):
        split_by_class(42, "y", tmp_path / "o6")
    with pytest.raises(ValueError, match="Invalid `max_rows_per_shard`"):
        split_by_class(str(source), "Response", tmp_path / "o7", max_rows_per_shard=0)
    with pytest.raises(TypeError, match="Invalid `max_rows_per_shard`: expected a positive int"):
        split_by_class(str(source), "Response", tmp_path / "o7", max_rows_per_shard=1e6)
    with pytest.raises(ValueError, match="Invalid `compression`"):
        split_by_class(str(source), "Response", tmp_path / "o7", compression="ZLIB")
    with pytest.raises(TypeError, match="Invalid `output_dir`"):
        split_by_class(str(source), "Response", 3)
    with pytest.raises(TypeError, match="Invalid `overwrite`: expected True or False"):
        split_by_class(str(source), "Response", tmp_path / "o7", overwrite="yes")
    with pytest.raises(TypeError, match="Invalid `schema`"):
        split_by_class(str(source), "Response", tmp_path / "o7", schema={"a": 1})
    schema = tfbalance.infer_csv_schema(str(source), "Age")
    with pytest.raises(ValueError, match="the schema's label is 'Age'"):
        split_by_class(str(source), "Response", tmp_path / "o7", schema=schema)
    ds = tf.data.Dataset.from_tensor_slices(([1.0], [0]))
    with pytest.raises(ValueError, match="dataset sources are written as typed TFRecord"):
        split_by_class(ds, None, tmp_path / "o8", format="csv")
    with pytest.raises(ValueError, match="class ids must be non-negative"):
        split_by_class(tf.data.Dataset.from_tensor_slices(([1.0], [-1])), None, tmp_path / "o9",
                       verbose=False)
    assert not (tmp_path / "o9").exists() and not _no_staging_left(tmp_path)
    other = tmp_path / "other.csv"
    other.write_text("a,b\n1,0\n")
    with pytest.raises(ValueError, match="differs from the header"):
        split_by_class([str(source), str(other)], "Response", tmp_path / "o11")
    with pytest.raises(ValueError, match="holds no split.json"):
        load_split(tmp_path / "o1x")
    reserved = tmp_path / "reserved.csv"
    reserved.write_text("__label__,y\n1,0\n")
    with pytest.raises(ValueError, match=r"the column names \['__label__'\] are reserved"):
        split_by_class(str(reserved), "y", tmp_path / "o12")
    split_by_class(str(source), "Response", tmp_path / "o10", verbose=False)
    with pytest.raises(ValueError, match=r"Invalid `classes`: \[7\] are not in the split"):
        load_split(tmp_path / "o10").datasets(classes=[7])
    with pytest.raises(ValueError, match=r"`block_size`: expected a positive int\. Rec"):
        load_split(tmp_path / "o10").datasets(block_size=0)
    with pytest.raises(TypeError, match="Invalid `block_size`"):  # a wrong type (was ValueError)
        load_split(tmp_path / "o10").datasets(block_size=8.0)
    (tmp_path / "o10" / "split.json").write_text("{not json")
    with pytest.raises(ValueError, match="split.json is not a split manifest"):
        load_split(tmp_path / "o10")


def test_string_label_column_is_split_by_vocabulary(tmp_path):
    source = tmp_path / "data.csv"
    frame = _write_insurance_like(source, rows=300)
    result = split_by_class(str(source), "Gender", tmp_path / "out", verbose=False)
    assert result.schema.label_vocabulary == ("Female", "Male")
    assert result.counts.counts == {0: int((frame["Gender"] == "Female").sum()),
                                    1: int((frame["Gender"] == "Male").sum())}


# --------------------------------------------------------------------------- dataset sources


def test_dataset_source_roundtrip(tmp_path):
    rng = np.random.default_rng(0)
    n = 500
    features = {
        "x": rng.normal(size=(n, 3)).astype(np.float64),
        "k": rng.integers(0, 9, n).astype(np.int32),  # stored as int8
        "big": rng.integers(-2**40, 2**40, n),  # needs all 8 bytes
        "neg": rng.integers(-30_000, 30_000, n).astype(np.int64),  # stored as int16
        "u": rng.integers(0, 60_000, n).astype(np.uint16),
        "s": np.array([f"r{i}".encode() * (i % 4) for i in range(n)]),
        "m": np.array([[b"a", b"bc"]] * n),
        "b": rng.random(n) < 0.5,
        "f": rng.normal(size=n).astype(np.float32),
    }
    labels = rng.integers(0, 3, n)
    ds = tf.data.Dataset.from_tensor_slices((features, labels))
    for i, source in enumerate((ds, ds.batch(64))):
        out = tmp_path / f"out{i}"
        result = split_by_class(source, None, out, batch_size=97, max_rows_per_shard=60,
                                verbose=False)
        assert result.counts.counts == {c: int(np.sum(labels == c)) for c in range(3)}
        for block_size in (None, 50):
            streams = load_split(out).datasets(shuffle_files=False, block_size=block_size)
            for c in range(3):
                stream = streams[c] if block_size is None else streams[c].unbatch()
                got, y = next(iter(stream.batch(n)))
                mask = labels == c
                assert y.numpy().tolist() == [c] * int(mask.sum())
                for key, values in features.items():
                    assert got[key].dtype == tf.as_dtype(values.dtype)
                    np.testing.assert_array_equal(got[key].numpy(), values[mask])
    tensor_ds = tf.data.Dataset.from_tensor_slices((np.arange(6.0, dtype=np.float32), [0, 1] * 3))
    result = split_by_class(tensor_ds, None, tmp_path / "t", verbose=False)
    assert sorted(float(x) for x, _ in result.datasets()[1]) == [1.0, 3.0, 5.0]


def test_write_grouped_groups_by_any_key(tmp_path):
    # The writer behind split_by_class groups by whatever int key a batch yields (here a
    # holdout fold, not a class), with its own folder names.
    from tfbalance._splitting import _TypedBlocks, write_grouped

    values = np.arange(100, dtype=np.int64)
    batches = tf.data.Dataset.from_tensor_slices(
        {"v": values, "s": values.astype(str).astype(bytes), "__label__": values % 2}
    ).batch(16)
    shards = write_grouped(batches, lambda b: b["v"] % 3, str(tmp_path),
                           encoder=_TypedBlocks(""), max_rows_per_shard=10,
                           folder_name="fold_{}".format)
    assert sorted(shards) == [0, 1, 2] and sorted(os.listdir(tmp_path)) == [
        "fold_0", "fold_1", "fold_2"]
    from tfbalance._class_streams import _block_columns, _block_parser

    parse = _block_parser(_block_columns({"v": {"dtype": "int64", "shape": []},
                                          "s": {"dtype": "string", "shape": []},
                                          "__label__": {"dtype": "int64", "shape": []}}),
                          "csv", None)
    for fold, writer in shards.items():
        assert writer.rows == len(values[values % 3 == fold])
        assert len(writer.files) == -(-writer.rows // 10)
        got = tf.data.TFRecordDataset([str(tmp_path / f) for f in writer.files]).map(parse)
        got = [(x["v"].numpy(), x["s"].numpy(), y.numpy()) for x, y in got]
        v = np.concatenate([g[0] for g in got])
        np.testing.assert_array_equal(v, values[values % 3 == fold])  # order kept
        np.testing.assert_array_equal(np.concatenate([g[1] for g in got]),
                                      v.astype(str).astype(bytes))
        np.testing.assert_array_equal(np.concatenate([g[2] for g in got]), v % 2)


def test_release_0_1_split_still_loads(tmp_path):
    # 0.1.0 wrote CSV lines with inferred types in the manifest and no "version".
    (tmp_path / "class_0").mkdir()
    (tmp_path / "class_0" / "part-00000.csv").write_text("a,y\n1.5,0\n2.5,0\n")
    (tmp_path / "split.json").write_text(json.dumps({
        "source": "csv", "header": "a,y", "columns": ["a", "y"],
        "column_types": ["float32", "int64"], "label": "y", "label_index": 1,
        "field_delim": ",", "format": "csv", "compression": "", "counts": {"0": 2},
        "files": {"0": ["class_0/part-00000.csv"]},
    }))
    split = load_split(tmp_path)
    assert split.nbytes is None and split.schema is None
    assert [float(x["a"]) for x, _ in split.datasets()[0]] == [1.5, 2.5]
    assert [x["a"].numpy().tolist() for x, _ in split.datasets(block_size=5)[0]] == [[1.5, 2.5]]


# --------------------------------------------------------------------------- data safety


def _small_split_source(tmp_path):
    source = tmp_path / "data.csv"
    _write_insurance_like(source, rows=200)
    return str(source)


def test_user_files_survive_overwrite(tmp_path):
    source = _small_split_source(tmp_path)
    out = tmp_path / "out"
    first = split_by_class(source, "Response", out, verbose=False)
    (out / "class_names.txt").write_text("no\nyes\n")
    (out / "class_archive").mkdir()
    (out / "class_archive" / "old.csv").write_text("keep me")
    with pytest.raises(ValueError, match=r"did not write \(class_archive/, class_names.txt\)"):
        split_by_class(source, "Response", out, overwrite=True, verbose=False)
    assert (out / "class_names.txt").read_text() == "no\nyes\n"
    assert (out / "class_archive" / "old.csv").read_text() == "keep me"
    assert load_split(out).counts == first.counts  # the earlier split is untouched
    assert not _no_staging_left(tmp_path)


def test_overwrite_replaces_only_an_earlier_split(tmp_path):
    source = _small_split_source(tmp_path)
    out = tmp_path / "out"
    split_by_class(source, "Vehicle_Age", out, verbose=False)  # three classes
    with pytest.raises(ValueError, match="already holds a split; pass overwrite=True"):
        split_by_class(source, "Response", out, verbose=False)
    result = split_by_class(source, "Response", out, overwrite=True, format="csv",
                            verbose=False)
    assert sorted(os.listdir(out)) == ["class_0", "class_1", "split.json"]
    assert load_split(out).format == "csv" and load_split(out).counts == result.counts
    assert not _no_staging_left(tmp_path)
    # An existing empty folder is fine; a folder of someone else's files is refused.
    (tmp_path / "empty").mkdir()
    split_by_class(source, "Response", tmp_path / "empty", verbose=False)
    (tmp_path / "theirs").mkdir()
    (tmp_path / "theirs" / "notes.md").write_text("x")
    with pytest.raises(ValueError, match=r"did not write \(notes.md\)"):
        split_by_class(source, "Response", tmp_path / "theirs", overwrite=True, verbose=False)
    (tmp_path / "a_file").write_text("x")
    with pytest.raises(ValueError, match="it exists and is not a directory"):
        split_by_class(source, "Response", tmp_path / "a_file", verbose=False)
    assert (tmp_path / "theirs" / "notes.md").read_text() == "x"


def start_in_background(tmp_path_factory, launch):
    """The split killed mid-way (``tests/killed_run.py``), started at session start."""
    return start_killed_writer(
        tmp_path_factory, launch, "killed_split",
        'tfbalance.split_by_class(ds, None, sys.argv[1], batch_size=10, block_rows=5,'
        ' verbose=False)',
    )


def test_killed_split_leaves_a_folder_a_rerun_accepts(background):
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
    assert len(staging) == 1 and staging[0].startswith(".out.tfbalance-tmp-")
    with pytest.raises(ValueError, match="holds no split.json"):
        load_split(out)
    with pytest.raises(ValueError, match="temporary folder of an unfinished split"):
        load_split(tmp_path / staging[0])
    ds = tf.data.Dataset.from_tensor_slices((np.arange(4.0), [0, 1, 1, 1]))
    result = split_by_class(ds, None, out, verbose=False)
    assert result.counts.counts == {0: 1, 1: 3} and load_split(out).counts == result.counts
    assert not _no_staging_left(tmp_path)  # the killed run's folder was cleaned up


def test_cli_split_overwrite_keeps_user_files(tmp_path, capsys):
    source = _small_split_source(tmp_path)
    out = tmp_path / "out"
    assert cli_main(["split", source, "--label", "Response", "-o", str(out), "-q"]) == 0
    (out / "class_names.txt").write_text("keep")
    code = cli_main(["split", source, "--label", "Response", "-o", str(out), "--overwrite",
                     "-q"])
    assert code == 2
    assert "class_names.txt" in capsys.readouterr().err
    assert (out / "class_names.txt").read_text() == "keep"
    os.remove(out / "class_names.txt")
    assert cli_main(["split", source, "--label", "Response", "-o", str(out), "--overwrite",
                     "--format", "csv", "-q"]) == 0
    assert load_split(out).format == "csv"

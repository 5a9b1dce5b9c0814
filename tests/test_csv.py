import gzip

import numpy as np
import pandas as pd
import pytest

import tfbalance
from tfbalance import _csv
from tfbalance._csv import _count, _read
from tfbalance._tf import tf


def make_frame(n, seed=0, string_labels=False, classes=3):
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "id": np.arange(n),
        "city": rng.choice(["Lyon", "Oslo", "San Jose", "Zürich"], n),
        "age": rng.integers(18, 90, n),
        "premium": np.round(rng.gamma(3.0, 1000.0, n), 2),
        "label": rng.choice(classes, n, p=np.r_[0.7, np.full(classes - 1, 0.3 / (classes - 1))]),
    })
    if string_labels:
        frame["label"] = np.array(["cat", "dog", "eel", "fox"])[frame["label"]]
    return frame


def write(frame, path, **kwargs):
    frame.to_csv(path, index=False, **kwargs)
    return str(path)


def pandas_counts(paths, label="label"):
    return pd.concat([pd.read_csv(p)[label] for p in paths]).value_counts().to_dict()


def collect(ds):
    features, labels = [], []
    for x, y in ds:
        features.append({k: v.numpy() for k, v in x.items()})
        labels.append(y.numpy())
    merged = {k: np.concatenate([f[k] for f in features]) for k in features[0]}
    return merged, np.concatenate(labels)


@pytest.fixture
def small_blocks(monkeypatch):
    # Many blocks and chunks on small files exercise every boundary case.
    monkeypatch.setattr(_read, "_BLOCK_BYTES", 4096)


# ------------------------------------------------------------------ counting


@pytest.mark.parametrize("n", [1, 7, 5_000, 60_000])
def test_counts_match_pandas(tmp_path, n):
    path = write(make_frame(n, seed=n), tmp_path / "a.csv")
    dist = tfbalance.class_counts(path, "label", verbose=False)
    assert dist.counts == pandas_counts([path])
    assert dist.names is None


@pytest.mark.parametrize("scan", ["fast", "exact"])
def test_counts_small_chunks_gzip_glob_and_lists(tmp_path, monkeypatch, scan):
    if scan == "exact":
        monkeypatch.setattr(_count, "_count_chunk_fast", lambda *args: None)
    paths = [write(make_frame(3_000, seed=s), tmp_path / f"part-{s}.csv") for s in range(3)]
    expected = pandas_counts(paths)
    assert _csv.count_csv_classes(paths, "label", chunk_bytes=997).counts == expected
    assert tfbalance.class_counts(str(tmp_path / "part-*.csv"), "label").counts == expected
    gz = str(tmp_path / "part-0.csv.gz")
    with open(paths[0], "rb") as src, gzip.open(gz, "wb") as dst:
        dst.write(src.read())
    assert tfbalance.class_counts(gz, "label").counts == pandas_counts([paths[0]])
    assert tfbalance.class_counts([gz, paths[1]], "label", chunk_bytes=1500).counts == (
        pd.concat([pd.read_csv(paths[0]), pd.read_csv(paths[1])])["label"]
        .value_counts().to_dict()
    )


def test_counts_string_labels_quotes_crlf_and_delimiters(tmp_path):
    frame = make_frame(4_000, seed=3, string_labels=True, classes=4)
    frame["note"] = np.where(np.arange(4_000) % 7 == 0, 'says "hi", then\nleaves', "plain")
    quoted = write(frame, tmp_path / "q.csv")
    crlf = write(frame.drop(columns="note"), tmp_path / "crlf.csv", lineterminator="\r\n")
    tabbed = write(frame.drop(columns="note"), tmp_path / "t.tsv", sep="\t")
    expected = frame["label"].value_counts().to_dict()
    for path, options in [(quoted, {"chunk_bytes": 2_000}), (crlf, {}),
                          (tabbed, {"field_delim": "\t"})]:
        dist = tfbalance.class_counts(path, "label", **options)
        assert dist.names == ("cat", "dog", "eel", "fox")
        assert {dist.names[c]: n for c, n in dist.counts.items()} == expected
    vocab = ["fox", "eel", "dog", "cat"]
    dist = tfbalance.class_counts(crlf, "label", label_vocabulary=vocab)
    assert dist.names == tuple(vocab)
    assert dist.counts[0] == expected["fox"]


def test_counts_label_first_column_and_quoted_labels(tmp_path):
    path = tmp_path / "first.csv"
    path.write_text('y,x\n"1",a\n0,"b,c"\n1,d\n\n')
    assert tfbalance.class_counts(str(path), "y").counts == {0: 1, 1: 2}


@pytest.mark.parametrize("label", ["id", "city", "label"])
@pytest.mark.parametrize("scan", ["fast", "exact"])
def test_counts_any_column_long_labels_and_crlf(tmp_path, monkeypatch, label, scan):
    # First, middle and last columns take different fast paths; labels over 64 bytes
    # fall back to the positions of all delimiters.
    if scan == "exact":
        monkeypatch.setattr(_count, "_count_chunk_fast", lambda *args: None)
    frame = make_frame(3_000, seed=5)
    frame["city"] = frame["city"].str.replace(" ", "_") + np.where(
        np.arange(3_000) % 11 == 0, "x" * 80, "")
    frame["id"] %= 7
    frame = frame[["id", "city", "age", "label"]]
    expected = frame[label].astype(str).value_counts().to_dict()
    for name, options in [("lf.csv", {}), ("crlf.csv", {"lineterminator": "\r\n"})]:
        path = write(frame, tmp_path / name, **options)
        dist = _csv.count_csv_classes(path, label, chunk_bytes=5_000)
        got = {(dist.names[c] if dist.names else str(c)): n for c, n in dist.counts.items()}
        assert got == expected


def test_counts_row_errors_cannot_cancel_out(csv_text):
    # A short row and a long row keep the chunk's delimiter total right; with 300 columns
    # the per-line sums also wrap around 256. Both must still be caught.
    header = ",".join(f"c{i}" for i in range(299)) + ",y"
    row = ",".join("1" for _ in range(299)) + ",0"
    long = ",".join("1" for _ in range(299 + 256)) + ",0"
    short = "0"
    path = csv_text("\n".join([header, row, long, short, row]) + "\n", name="wide.csv")
    with pytest.raises(ValueError, match=r"wide\.csv, line 3: expected 300 fields, found 556"):
        tfbalance.class_counts(path, "y")
    path = csv_text("x,y\n1,0\n2\n3,4,1\n", name="cancel.csv")
    with pytest.raises(ValueError, match=r"cancel\.csv, line 3: expected 2 fields, found 1"):
        tfbalance.class_counts(path, "y")


def test_counts_progress_bar(tmp_path, capsys):
    path = write(make_frame(500), tmp_path / "a.csv")
    tfbalance.class_counts(path, "label", verbose=True)
    assert "byte" in capsys.readouterr().out


# ------------------------------------------------------------------ reading


def test_read_matches_pandas_row_for_row(tmp_path, small_blocks):
    frame = make_frame(2_345, seed=1, string_labels=True, classes=4)
    frame.loc[5, "city"] = "Saint-Denis, Réunion"  # a quoted delimiter
    path = write(frame, tmp_path / "a.csv")
    schema = tfbalance.infer_csv_schema(path, "label")
    assert schema.dtypes == {"id": "int64", "city": "string", "age": "int64",
                             "premium": "float32", "label": "string"}
    assert schema.label_vocabulary == ("cat", "dog", "eel", "fox")
    features, labels = collect(tfbalance.read_csv(path, schema=schema, batch_size=100))
    np.testing.assert_array_equal(features["id"], frame["id"])
    np.testing.assert_array_equal(features["age"], frame["age"])
    np.testing.assert_allclose(features["premium"], frame["premium"], rtol=1e-6)
    assert [c.decode() for c in features["city"]] == frame["city"].tolist()
    np.testing.assert_array_equal(labels, frame["label"].map(
        {name: i for i, name in enumerate(schema.label_vocabulary)}))
    assert features["id"].dtype == np.int64 and labels.dtype == np.int64


def test_read_batches_select_columns_and_user_vocabulary(tmp_path):
    frame = make_frame(50, seed=2, string_labels=True, classes=2)
    path = write(frame, tmp_path / "a.csv")
    ds = tfbalance.read_csv(path, "label", batch_size=16, select_columns=["age"],
                            label_vocabulary=["dog", "cat"], drop_remainder=True)
    batches = list(ds)
    assert len(batches) == 3
    assert set(batches[0][0]) == {"age"}
    labels = np.concatenate([y.numpy() for _, y in batches])
    np.testing.assert_array_equal(labels, (frame["label"][:48] == "cat").astype(int))


def test_read_crlf_gzip_blank_lines_and_no_final_newline(tmp_path, small_blocks):
    frame = make_frame(900, seed=4)
    crlf = write(frame, tmp_path / "crlf.csv", lineterminator="\r\n")
    gz = str(tmp_path / "b.csv.gz")
    with gzip.open(gz, "wt") as f:
        f.write(frame.to_csv(index=False))
    raw = tmp_path / "raw.csv"
    raw.write_text("a,label\n1,0\n\n2,1\n3,1")
    for path in (crlf, gz):
        features, labels = collect(tfbalance.read_csv(path, "label", batch_size=64))
        np.testing.assert_array_equal(labels, frame["label"])
        np.testing.assert_array_equal(features["id"], frame["id"])
    features, labels = collect(tfbalance.read_csv(str(raw), "label", batch_size=8))
    assert features["a"].tolist() == [1, 2, 3] and labels.tolist() == [0, 1, 1]


def test_read_multiple_files_in_sorted_order(tmp_path, small_blocks):
    frames = [make_frame(300, seed=s) for s in range(3)]
    for s, frame in enumerate(frames):
        write(frame, tmp_path / f"p{s}.csv")
    ds = tfbalance.read_csv(str(tmp_path / "p*.csv"), "label", batch_size=50,
                            num_parallel_reads=1)
    _, labels = collect(ds)
    np.testing.assert_array_equal(labels, pd.concat(frames)["label"])


def test_read_epochs_and_repeat(tmp_path):
    path = write(make_frame(40), tmp_path / "a.csv")
    _, labels = collect(tfbalance.read_csv(path, "label", batch_size=16, num_epochs=3))
    assert labels.size == 120
    ds = tfbalance.read_csv(path, "label", batch_size=16, num_epochs=None)
    assert sum(int(y.shape[0]) for _, y in ds.take(20)) == 320


def test_shuffle_is_seeded_and_reshuffles_each_epoch(tmp_path, small_blocks):
    path = write(make_frame(1_000, seed=5), tmp_path / "a.csv")

    def ids(seed, epochs=1):
        ds = tfbalance.read_csv(path, "label", batch_size=64, shuffle=True, seed=seed,
                                shuffle_buffer_size=500, num_epochs=epochs)
        return collect(ds)[0]["id"]

    first, again = ids(7), ids(7)
    np.testing.assert_array_equal(first, again)
    assert sorted(first.tolist()) == list(range(1_000))
    assert not np.array_equal(first, np.arange(1_000))
    assert not np.array_equal(first, ids(8))
    two = ids(7, epochs=2)
    assert not np.array_equal(two[:1_000], two[1_000:])


@pytest.mark.parametrize("files", [1, 4])
def test_shards_cover_every_row_once(tmp_path, small_blocks, files):
    for s in range(files):
        write(make_frame(700, seed=s).assign(id=np.arange(700) + 1_000 * s), tmp_path / f"{s}.csv")
    pattern = str(tmp_path / "*.csv")
    seen = []
    for index in range(3):
        features, _ = collect(tfbalance.read_csv(pattern, "label", batch_size=128,
                                                 num_shards=3, shard_index=index))
        assert features["id"].size > 0
        seen.append(features["id"])
    everything = np.concatenate(seen)
    assert sorted(everything.tolist()) == sorted(
        (np.arange(700)[None, :] + 1_000 * np.arange(files)[:, None]).ravel().tolist())


def test_input_context_shards_and_splits_the_global_batch(tmp_path):
    path = write(make_frame(100), tmp_path / "a.csv")
    context = tf.distribute.InputContext(
        num_input_pipelines=2, input_pipeline_id=1, num_replicas_in_sync=2)
    ds = tfbalance.read_csv(path, "label", batch_size=32, input_context=context)
    for _, y in ds:
        assert y.shape[0] <= 16


@pytest.mark.parametrize("resample", [False, True], ids=["plain", "resample"])
def test_iterator_checkpoint_restores_mid_epoch(tmp_path, small_blocks, resample):
    path = write(make_frame(600, seed=6), tmp_path / "a.csv")
    options = {}
    if resample:
        counts = tfbalance.class_counts(path, "label", verbose=False)
        options["resample"] = tfbalance.undersample(counts=counts, exact=True, seed=2)
    ds = tfbalance.read_csv(path, "label", batch_size=50, shuffle=True, seed=1, **options)
    iterator = iter(ds)
    next(iterator)
    checkpoint = tf.train.Checkpoint(iterator=iterator)
    saved = checkpoint.save(str(tmp_path / "ckpt"))
    expected = [x["id"].numpy() for x, _ in iterator]
    checkpoint.restore(saved)
    restored = [x["id"].numpy() for x, _ in iterator]
    np.testing.assert_array_equal(np.concatenate(expected), np.concatenate(restored))


def test_schema_round_trip_and_validation():
    schema = tfbalance.CsvSchema(column_names=["a", "b"], dtypes={"a": tf.float32, "b": int},
                                 label="b")
    assert schema.dtypes == {"a": "float32", "b": "int64"}
    assert tfbalance.CsvSchema.from_dict(schema.to_dict()) == schema
    with pytest.raises(ValueError, match=r"Invalid `label`.*'c'.*\['a', 'b'\]"):
        tfbalance.CsvSchema(column_names=["a", "b"], dtypes={"a": "int64", "b": "int64"},
                            label="c")
    with pytest.raises(ValueError, match="Invalid `dtypes`"):
        tfbalance.CsvSchema(column_names=["a", "b"], dtypes={"a": "int8", "b": "int64"},
                            label="b")
    with pytest.raises(ValueError, match="Invalid `label_vocabulary`"):
        tfbalance.CsvSchema(column_names=["a", "b"], dtypes={"a": "int64", "b": "string"},
                            label="b", label_vocabulary=["x", "x"])


# ------------------------------------------------------------------ errors


@pytest.fixture
def csv_text(tmp_path):
    def make(text, name="bad.csv"):
        path = tmp_path / name
        path.write_text(text)
        return str(path)

    return make


def both(path, match, error=ValueError, **kwargs):
    with pytest.raises(error, match=match):
        tfbalance.class_counts(path, "y", **kwargs)
    with pytest.raises(error, match=match):
        tfbalance.read_csv(path, "y")


def test_missing_file_and_empty_glob(tmp_path):
    both(str(tmp_path / "nope.csv"), "no such file", FileNotFoundError)
    both(str(tmp_path / "*.csv"), "glob matches no file")


def test_label_column_absent_lists_columns(csv_text):
    path = csv_text("a,b\n1,2\n")
    both(path, r"column 'y' is not in the CSV header; the columns are \['a', 'b'\]")
    with pytest.raises(ValueError, match=r"need the label column's name.*\['a', 'b'\]"):
        tfbalance.class_counts(path)


def test_empty_and_header_only_files(csv_text):
    both(csv_text(""), "the file is empty")
    both(csv_text("x,y\n"), "header row but no data rows")
    both(csv_text("x,y\n\n\n"), "header row but no data rows")


def test_malformed_row_names_file_and_line(csv_text):
    path = csv_text("x,y\n1,0\n2,1\n3,1,9\n4,0\n")
    with pytest.raises(ValueError, match=r"bad\.csv, line 4: expected 2 fields, found 3"):
        tfbalance.class_counts(path, "y")
    # Inside the sample used for schema inference: a fast error before any reading.
    with pytest.raises(ValueError, match=r"bad\.csv, line 4: expected 2 fields"):
        tfbalance.read_csv(path, "y")
    schema = tfbalance.CsvSchema(["x", "y"], {"x": "int64", "y": "int64"}, "y")
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"bad\.csv, line 4: expected 2"):
        list(tfbalance.read_csv(path, schema=schema, batch_size=2))
    short = csv_text("x,z,y\n1,2,0\n5,1\n", name="short.csv")
    with pytest.raises(ValueError, match=r"short\.csv, line 3: expected 3 fields, found 2"):
        tfbalance.class_counts(short, "y")


def test_malformed_row_found_in_later_chunks_and_files(tmp_path):
    good = write(make_frame(2_000), tmp_path / "a.csv")
    lines = open(good).read().splitlines()
    lines[1500] += ",extra"
    bad = tmp_path / "b.csv"
    bad.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=r"b\.csv, line 1501: expected 5 fields, found 6"):
        _csv.count_csv_classes([good, str(bad)], "label", chunk_bytes=4_000)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"b\.csv, line 1501"):
        list(tfbalance.read_csv([good, str(bad)], "label", batch_size=256))


@pytest.mark.parametrize(
    "value, message",
    [("", "label is missing"), ("nan", "NaN"), ("0.5", "finite whole numbers"),
     ("-1", "non-negative"), ("inf", "finite whole numbers"),
     ("Infinity", "finite whole numbers"), ("1e300", "at most MAX_CLASS_ID = 1048575"),
     (str(2**40), "at most MAX_CLASS_ID")],
)
def test_bad_labels(csv_text, value, message):
    rows = "".join(f"{i},{i % 2}\n" for i in range(30))
    path = csv_text(f"x,y\n{rows}99,{value}\n")
    with pytest.raises(ValueError, match=rf"line 32.*{message}"):
        tfbalance.class_counts(path, "y")
    # The sample used to infer the schema already holds the bad label.
    with pytest.raises(ValueError, match=rf"line 32.*{message}"):
        tfbalance.read_csv(path, "y")
    # Past the sample, the error comes while iterating, with file and line.
    schema = tfbalance.CsvSchema(["x", "y"], {"x": "int64", "y": "int64"}, "y")
    with pytest.raises(tf.errors.InvalidArgumentError, match=rf"line 32: .*{message}"):
        list(tfbalance.read_csv(path, schema=schema, batch_size=8))


def test_unknown_string_label(csv_text):
    path = csv_text("x,y\n1,cat\n2,dog\n3,eel\n")
    schema = tfbalance.CsvSchema(["x", "y"], {"x": "int64", "y": "string"}, "y",
                                 label_vocabulary=["cat", "dog"])
    with pytest.raises(tf.errors.InvalidArgumentError, match="line 4: the label is not in"):
        list(tfbalance.read_csv(path, schema=schema))
    with pytest.raises(ValueError, match=r"labels \['eel'\].*not in it"):
        tfbalance.class_counts(path, "y", label_vocabulary=["cat", "dog"])


def test_bad_options(csv_text):
    path = csv_text("x,y\n1,0\n")
    with pytest.raises(ValueError, match="Invalid `batch_size`"):
        tfbalance.read_csv(path, "y", batch_size=0)
    with pytest.raises(ValueError, match=r"Invalid `shard_index`: expected an int in \[0, 1\]"):
        tfbalance.read_csv(path, "y", num_shards=2, shard_index=2)
    # Wrong types are TypeErrors (they were ValueErrors).
    with pytest.raises(TypeError, match=r"Invalid `shard_index`: .*Received: shard_index=1.0"):
        tfbalance.read_csv(path, "y", num_shards=2, shard_index=1.0)
    with pytest.raises(TypeError, match=r"Invalid `sample_rows`: expected a positive int"):
        tfbalance.infer_csv_schema(path, "y", sample_rows="10")
    with pytest.raises(ValueError, match="num_shards and shard_index go together"):
        tfbalance.read_csv(path, "y", num_shards=2)
    with pytest.raises(ValueError, match="Invalid `select_columns`"):
        tfbalance.read_csv(path, "y", select_columns=["q"])
    with pytest.raises(ValueError, match="Invalid `compression_type`"):
        tfbalance.read_csv(path, "y", compression_type="BZ2")
    with pytest.raises(TypeError, match="Invalid options"):
        tfbalance.class_counts(path, "y", batch_size=3)
    with pytest.raises(TypeError, match="Invalid `source`"):
        tfbalance.read_csv(3, "y")


# ------------------------------------------------------------------ resampling while reading


def _rows_of(ds):
    parts = [(x["id"].numpy(), y.numpy()) + tuple(w.numpy() for w in rest)
             for x, y, *rest in ds]
    return [np.concatenate(column) for column in zip(*parts, strict=True)]


@pytest.fixture(scope="module")
def resample_source(tmp_path_factory):
    """The file every resampling case reads, its class counts, and pandas' frame by id."""
    path = write(make_frame(6_000, seed=4), tmp_path_factory.mktemp("resample") / "r.csv")
    counts = tfbalance.class_counts(path, "label", verbose=False)
    return path, counts, pd.read_csv(path).set_index("id")


@pytest.mark.parametrize(
    "make",
    [
        lambda counts: tfbalance.undersample(counts=counts, seed=3),
        lambda counts: tfbalance.undersample(counts=counts, exact=True, seed=3,
                                             sample_weight=True),
        lambda counts: tfbalance.undersample(seed=4),
        lambda counts: tfbalance.rejection_resample(initial_dist=counts, seed=5),
        lambda counts: tfbalance.rejection_resample(target_dist=[0.2, 0.3, 0.5], seed=6),
        lambda counts: tfbalance.oversample(counts=counts, seed=7),  # decoded, then resampled
    ],
    ids=["under", "under-exact-weights", "under-online", "rejection", "rejection-online",
         "over"],
)
def test_resample_while_reading_equals_apply(resample_source, small_blocks, make):
    path, counts, frame = resample_source
    for options in ({}, {"shuffle": True, "seed": 2}):
        applied = tfbalance.read_csv(path, "label", batch_size=500, **options).apply(
            make(counts)
        )
        fused = tfbalance.read_csv(path, "label", batch_size=500, resample=make(counts),
                                   **options)
        expected, got = _rows_of(applied), _rows_of(fused)
        assert len(got) == len(expected) and len(got[0]) > 0
        for a, b in zip(expected, got, strict=True):
            np.testing.assert_array_equal(a, b)
        # Undersampling keeps rows unique, and every row carries its own label.
        np.testing.assert_array_equal(frame.loc[got[0], "label"].to_numpy(), got[1])


def test_resample_while_reading_still_checks_every_row(csv_text):
    # Class 0 gets target 0, so all its rows are dropped before their features are decoded.
    drop_class_0 = tfbalance.rejection_resample(target_dist=[0.0, 1.0], initial_dist=[0.5, 0.5],
                                                seed=0)
    schema = tfbalance.CsvSchema(["x", "y"], {"x": "int64", "y": "int64"}, "y")
    rows = "".join(f"{i},{i % 2}\n" for i in range(20))

    def read(text, name):
        return list(tfbalance.read_csv(csv_text(text, name=name), schema=schema, batch_size=8,
                                       resample=drop_class_0))

    # Every row is checked in full (field count, label, every column's type), dropped or
    # not, so a file gets the same verdict with and without resampling.
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"line 22: expected 2 fields"):
        read(f"x,y\n{rows}99,0,7\n", "fields.csv")
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"line 22: .*NaN"):
        read(f"x,y\n{rows}99,nan\n", "label.csv")
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=r"feature\.csv, line 22: column `x` must hold int64.*`oops`"):
        read(f"x,y\n{rows}oops,0\n", "feature.csv")
    assert sum(int(tf.size(y)) for _, y in read(f"x,y\n{rows}", "good.csv")) == 10


def test_resample_must_be_a_function(csv_text):
    # Any `dataset -> dataset` function is accepted (tests/test_sampling_read.py).
    path = csv_text("x,y\n1,0\n2,1\n")
    with pytest.raises(TypeError, match="Invalid `resample`.*Received: resample=3"):
        tfbalance.read_csv(path, "y", resample=3)


# ------------------------------------------------------------------ one dialect everywhere


def _dialect_frame(n=600, seed=9):
    frame = make_frame(n, seed=seed)
    rng = np.random.default_rng(seed)
    frame["note"] = rng.choice(["plain", 'says "hi", then', "two\nlines", "three\r\nline\nbreaks",
                                "tab\there", "semi;colon"], n)
    return frame


def _write_case(frame, tmp_path, case):
    """(path, read options) of ``frame`` written in one dialect case."""
    path = tmp_path / f"{case}.csv"
    if case == "bom":
        path.write_bytes(b"\xef\xbb\xbf" + frame.to_csv(index=False).encode())
    elif case == "crlf":
        frame.to_csv(path, index=False, lineterminator="\r\n")
    elif case == "mixed-endings":  # LF, then CRLF from the middle on
        text = frame.drop(columns="note").to_csv(index=False)
        lines = text.splitlines()
        half = len(lines) // 2
        path.write_text("\n".join(lines[:half]) + "\n" + "\r\n".join(lines[half:]) + "\r\n",
                        newline="")
    elif case == "no-quotes":
        frame.drop(columns="note").to_csv(path, index=False)
    elif case == "gzip":
        path = tmp_path / "gzip.csv.gz"
        with gzip.open(path, "wb") as f:
            f.write(frame.to_csv(index=False, lineterminator="\r\n").encode())
    elif case == "tab":
        frame.to_csv(path, index=False, sep="\t")
        return str(path), {"field_delim": "\t"}
    elif case == "semicolon-gzip-auto":
        path = tmp_path / "semicolon"  # gzip without the suffix: found by its magic bytes
        with gzip.open(path, "wb") as f:
            f.write(frame.to_csv(index=False, sep=";").encode())
        return str(path), {"field_delim": ";", "compression_type": "auto"}
    else:  # "quoted": quoted delimiters, escaped quotes and quoted line breaks
        frame.to_csv(path, index=False)
    return str(path), {}


DIALECT_CASES = ["quoted", "bom", "crlf", "mixed-endings", "no-quotes", "gzip", "tab",
                 "semicolon-gzip-auto"]


@pytest.mark.parametrize("case", DIALECT_CASES)
def test_counter_reader_and_pandas_agree_on_every_dialect(tmp_path, small_blocks, case):
    frame = _dialect_frame()
    path, options = _write_case(frame, tmp_path, case)
    sep = options.get("field_delim", ",")
    compression = "gzip" if options.get("compression_type") == "auto" else "infer"
    expected = pd.read_csv(path, sep=sep, compression=compression, keep_default_na=False)
    assert list(expected.columns)[0] == "id"  # pandas drops the BOM too
    counts = expected["label"].value_counts().to_dict()
    assert tfbalance.class_counts(path, "label", **options).counts == counts
    assert _count.count_csv_classes(path, "label", chunk_bytes=700, **options).counts == counts
    features, labels = collect(tfbalance.read_csv(path, "label", batch_size=64, **options))
    assert pd.Series(labels).value_counts().to_dict() == counts
    np.testing.assert_array_equal(labels, expected["label"])
    np.testing.assert_array_equal(features["id"], expected["id"])
    np.testing.assert_array_equal(features["age"], expected["age"])
    if "note" in expected:
        assert [v.decode() for v in features["note"]] == expected["note"].tolist()


@pytest.mark.parametrize("case", ["quoted", "crlf", "gzip", "tab"])
def test_validated_lines_are_the_records_byte_for_byte(tmp_path, small_blocks, case):
    frame = _dialect_frame(400, seed=3)
    path, options = _write_case(frame, tmp_path, case)
    lines, schema = _csv.validated_lines(path, "label", batch_size=50, **options)
    batches = list(lines)
    assert {k: v.dtype for k, v in batches[0].items()} == {
        "line": tf.string, "label": tf.int64, "file": tf.int32, "line_number": tf.int64}
    records = np.concatenate([b["line"].numpy() for b in batches]).tolist()
    numbers = np.concatenate([b["line_number"].numpy() for b in batches])
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        raw = f.read()
    terminator = b"\r\n" if case in ("crlf", "gzip") else b"\n"
    header, body = raw.split(terminator, 1)
    assert terminator.join(records) + terminator == body
    # Physical line numbers: the header is line 1, a record spans its line breaks.
    np.testing.assert_array_equal(
        numbers, 2 + np.cumsum([0] + [r.count(b"\n") + 1 for r in records[:-1]]))
    labels = np.concatenate([b["label"].numpy() for b in batches])
    np.testing.assert_array_equal(labels, frame["label"])
    features, decoded = _csv.decode_lines(schema, ["note", "age"])(tf.constant(records))
    assert set(features) == {"note", "age"}
    np.testing.assert_array_equal(decoded, frame["label"])
    assert [v.decode() for v in features["note"].numpy()] == frame["note"].tolist()


def test_validated_lines_name_files_by_index_and_check_every_row(tmp_path):
    a = write(make_frame(30, seed=1), tmp_path / "a.csv")
    b = write(make_frame(20, seed=2), tmp_path / "b.csv")
    lines, _ = _csv.validated_lines([a, b], "label", batch_size=16)
    files = np.concatenate([x["file"].numpy() for x in lines])
    np.testing.assert_array_equal(files, [0] * 30 + [1] * 20)
    text = open(b).read().splitlines()
    text[15] += ",1"
    open(b, "w").write("\n".join(text) + "\n")
    schema = tfbalance.infer_csv_schema(a, "label")
    lines, _ = _csv.validated_lines([a, b], schema=schema)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"b\.csv, line 16: expected 5"):
        list(lines)
    with pytest.raises(TypeError, match="Invalid `schema`"):
        _csv.validated_lines(a, schema={"label": "label"})


# ------------------------------------------------------------------ every row error: file & line


@pytest.mark.parametrize(
    "row, message",
    [
        ("7,3.5,a,0,extra", r"line 41: expected 4 fields, found 5"),
        ("7,3.5,a", r"line 41: expected 4 fields, found 3"),
        ("seven,3.5,a,0", r"line 41: column `n` must hold int64 values.*Received: `seven`"),
        ("190000.5,3.5,a,0", r"line 41: column `n` must hold int64.*Received: `190000.5`"),
        # Out of int64's range: decode_csv alone would fail with a batch-relative record.
        ("9223372036854775808,3.5,a,0",
         r"line 41: column `n` must hold int64.*Received: `9223372036854775808`"),
        ('7,3.5,"a"b,0', r"line 41: column `s` must hold text.*Received: `.+a.+b`"),
        ("7,high,a,0", r"line 41: column `f` must hold float32 values.*Received: `high`"),
        ("7,0x10,a,0", r"line 41: column `f` must hold float32.*Received: `0x10`"),
        ("7,3.5,a,inf", r"line 41: column `y`: class labels must be finite whole numbers"),
        ("7,3.5,a,Infinity", r"line 41: column `y`: class labels must be finite whole"),
        ("7,3.5,a,NaN", r"line 41: the label is NaN"),
        ("7,3.5,a,", r"line 41: the label is missing"),
        ("7,3.5,a,2.5", r"line 41: class labels must be finite whole numbers.*2\.5"),
        ("7,3.5,a,-2", r"line 41: class ids must be non-negative"),
        (f"7,3.5,a,{2**40}", r"line 41: class ids must be at most MAX_CLASS_ID = 1048575"),
        ('7,3.5,"a,0', r"line 41: a quoted field is never closed"),
    ],
)
def test_row_errors_past_the_sample_name_file_and_line(csv_text, row, message):
    rows = "".join(f"{i},{i / 4},a,{i % 2}\n" for i in range(37))
    # A quoted line break before the bad row: line numbers are physical lines.
    path = csv_text(f'n,f,s,y\n{rows}1,2.5,"two\nlines",1\n{row}\n', name="late.csv")
    schema = tfbalance.CsvSchema(
        ["n", "f", "s", "y"], {"n": "int64", "f": "float32", "s": "string", "y": "int64"}, "y")
    with pytest.raises(tf.errors.InvalidArgumentError, match=rf"late\.csv, {message}"):
        list(tfbalance.read_csv(path, schema=schema, batch_size=8))
    with pytest.raises(tf.errors.InvalidArgumentError, match=rf"late\.csv, {message}"):
        list(_csv.validated_lines(path, schema=schema, batch_size=8)[0])


def test_int64_extremes_are_read(csv_text):
    lows, highs = ["-9223372036854775808", "-0009", "0"], ["9223372036854775807", "+12", "007"]
    rows = "".join(f"{a},{b},{i % 2}\n" for i, (a, b) in enumerate(zip(lows, highs, strict=True)))
    path = csv_text(f"a,b,y\n{rows}")
    schema = tfbalance.CsvSchema(["a", "b", "y"], {"a": "int64", "b": "int64", "y": "int64"}, "y")
    features, labels = collect(tfbalance.read_csv(path, schema=schema, batch_size=2))
    assert features["a"].tolist() == [int(v) for v in lows]
    assert features["b"].tolist() == [int(v) for v in highs]
    assert labels.tolist() == [0, 1, 0]


def test_counter_refuses_the_same_labels_with_file_and_line(csv_text):
    for value, message in [("inf", "finite whole numbers"), ("-inf", "finite whole"),
                           ("1e7", "at most MAX_CLASS_ID"), ("NaN", "NaN")]:
        path = csv_text(f"x,y\n1,0\n2,1\n3,{value}\n", name="c.csv")
        with pytest.raises(ValueError, match=rf"c\.csv, line 4: .*{message}"):
            tfbalance.class_counts(path, "y")


def test_max_class_id_is_one_constant():
    from tfbalance._validation import MAX_CLASS_ID

    assert MAX_CLASS_ID == 2**20 - 1


# ------------------------------------------------------------------ files we cannot read


def _gz(path, text):
    with gzip.open(path, "wb") as f:
        f.write(text.encode())
    return str(path)


def test_bad_gzip_files_are_named(tmp_path):
    text = "x,y\n" + "".join(f"{i},{i % 2}\n" for i in range(20_000))
    whole = open(_gz(tmp_path / "whole.csv.gz", text), "rb").read()
    truncated = tmp_path / "truncated.csv.gz"
    truncated.write_bytes(whole[: len(whole) // 2])
    corrupt = tmp_path / "corrupt.csv.gz"
    corrupt.write_bytes(whole[:40] + bytes(200) + whole[240:])
    fake = tmp_path / "fake.csv.gz"
    fake.write_text(text)
    for path, match in [(truncated, r"truncated\.csv\.gz.*truncated"),
                        (corrupt, r"corrupt\.csv\.gz.*corrupt"),
                        (fake, r"fake\.csv\.gz.*not a gzip file")]:
        with pytest.raises(ValueError, match=match):
            tfbalance.class_counts(str(path), "y")
        schema = tfbalance.CsvSchema(["x", "y"], {"x": "int64", "y": "int64"}, "y")
        with pytest.raises(ValueError, match=match):
            tfbalance.read_csv(str(path), schema=schema)
    # Read as plain text instead, the fake one is fine.
    assert tfbalance.class_counts(str(fake), "y", compression_type="auto").counts == {
        0: 10_000, 1: 10_000}


def test_binary_file_is_not_a_text_csv(tmp_path, capsys):
    path = str(tmp_path / "data.tfrecord")
    with tf.io.TFRecordWriter(path) as writer:
        for i in range(5):
            writer.write(tf.train.Example().SerializeToString() + bytes([0x8a, i]))
    for call in (lambda: tfbalance.class_counts(path, "y"),
                 lambda: tfbalance.read_csv(path, "y"),
                 lambda: tfbalance.infer_csv_schema(path, "y")):
        with pytest.raises(ValueError, match=r"data\.tfrecord.*is not a text CSV file"):
            call()
    from tfbalance._cli import main

    assert main(["inspect", path, "--label", "y", "-q"]) == 2
    assert "is not a text CSV file" in capsys.readouterr().err
    latin = tmp_path / "latin1.csv"
    latin.write_bytes("x,y\nJos\xe9,0\n".encode("latin-1"))
    with pytest.raises(ValueError, match=r"latin1\.csv.*not a text CSV file.*0xe9"):
        tfbalance.class_counts(str(latin), "y")


def test_header_rules(csv_text):
    dup = csv_text("x,x,y\n1,2,0\n", name="dup.csv")
    both(dup, r"dup\.csv', line 1: the header repeats the column names \['x'\]")
    bom = csv_text("\ufeffy,x\n1,a\n0,b\n", name="bom.csv")
    assert tfbalance.infer_csv_schema(bom, "y").column_names == ("y", "x")
    assert tfbalance.class_counts(bom, "y").counts == {0: 1, 1: 1}
    quoted = csv_text('"two\nlines",y\n1,0\n2,1\n', name="qh.csv")
    assert tfbalance.class_counts(quoted, "y").counts == {0: 1, 1: 1}
    _, labels = collect(tfbalance.read_csv(quoted, "y"))
    assert labels.tolist() == [0, 1]
    lines, _ = _csv.validated_lines(quoted, "y")
    assert next(iter(lines))["line_number"].numpy().tolist() == [3, 4]
    with pytest.raises(ValueError, match="Invalid `field_delim`"):
        tfbalance.class_counts(bom, "y", field_delim='"')


def test_an_unclosed_quote_does_not_pull_the_file_into_memory(csv_text, small_blocks,
                                                                 monkeypatch):
    monkeypatch.setattr(_read, "_MAX_RECORD_BYTES", 5_000)
    rows = "".join(f"{i},{i % 2}\n" for i in range(5_000))
    path = csv_text(f'x,y\n1,0\n"2,1\n{rows}', name="open.csv")
    schema = tfbalance.CsvSchema(["x", "y"], {"x": "int64", "y": "int64"}, "y")
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=r"open\.csv, line 3: the record is longer than 5,000 bytes"):
        list(tfbalance.read_csv(path, schema=schema))
    monkeypatch.setattr(_count, "MAX_RECORD_BYTES", 5_000)
    with pytest.raises(ValueError, match=r"open\.csv, line 3: the record is longer than 5,000"):
        _count.count_csv_classes(path, "y", chunk_bytes=1_000)


def test_counter_refuses_a_quote_open_at_the_end(csv_text):
    # Counting these rows as one quoted record would drop them without a word.
    path = csv_text('x,y\n1,0\n"2,1\n3,0\n', name="open.csv")
    with pytest.raises(ValueError, match=r"open\.csv, line 3: a quoted field is never closed"):
        tfbalance.class_counts(path, "y")

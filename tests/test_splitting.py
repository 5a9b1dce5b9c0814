import gzip
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from tfbalance import class_datasets, interleave_by_class, load_split, split_by_class


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


@pytest.mark.parametrize("fmt", ["csv", "tfrecord"])
def test_csv_split_writes_every_row_once(tmp_path, fmt):
    source = tmp_path / "data.csv"
    frame = _write_insurance_like(source)
    result = split_by_class(
        str(source), "Response", tmp_path / "out", format=fmt, max_rows_per_shard=700,
        batch_size=512, verbose=False,
    )
    expected = frame["Response"].value_counts().sort_index().to_dict()
    assert result.counts.counts == expected
    input_lines = _raw_lines(source)
    header, body = input_lines[0], input_lines[1:]
    written = []
    for class_id in result:
        files = result[class_id]
        assert len(files) == -(-expected[class_id] // 700)  # rotation by rows
        for path in files:
            if fmt == "csv":
                lines = _raw_lines(path)
                assert lines[0] == header
                rows = lines[1:]
            else:
                rows = [r.numpy() for r in tf.data.TFRecordDataset(path, compression_type="GZIP")]
            assert len(rows) <= 700
            for row in rows:
                assert int(row.rsplit(b",", 1)[1]) == class_id
            written.extend(rows)
    # Byte-identical lines, same multiset as the input.
    assert sorted(written) == sorted(body)
    # The pandas view agrees too.
    combined = pd.concat(
        [pd.read_csv(p) for c in result for p in result[c]] if fmt == "csv" else [frame]
    )
    pd.testing.assert_frame_equal(
        combined.sort_values("id").reset_index(drop=True), frame.reset_index(drop=True)
    )


def test_class_datasets_from_split_csv_parses_rows(tmp_path):
    source = tmp_path / "data.csv"
    frame = _write_insurance_like(source, rows=800)
    split_by_class(str(source), "Response", tmp_path / "out", verbose=False)
    streams = class_datasets(str(tmp_path / "out"), seed=0)
    assert streams.counts.counts == frame["Response"].value_counts().sort_index().to_dict()
    for class_id, ds in streams.items():
        features, labels = next(iter(ds.batch(10_000)))
        assert set(labels.numpy().tolist()) == {class_id}
        expected = frame[frame["Response"] == class_id].sort_values("id")
        order = np.argsort(features["id"].numpy())
        assert features["id"].numpy()[order].tolist() == expected["id"].tolist()
        np.testing.assert_allclose(
            features["Annual_Premium"].numpy()[order], expected["Annual_Premium"], rtol=1e-6
        )
        assert [g.decode() for g in features["Gender"].numpy()[order]] == expected[
            "Gender"
        ].tolist()
        assert "Response" not in features
    merged = interleave_by_class(streams, "balanced", seed=0, epoch_rows=400)
    labels = np.concatenate([y for _, y in merged.batch(100).as_numpy_iterator()])
    assert labels.size == 400 and set(labels.tolist()) == {0, 1}


def test_multiple_files_glob_and_gzip_input(tmp_path):
    a = _write_insurance_like(tmp_path / "a.csv", rows=300, seed=1)
    b = _write_insurance_like(tmp_path / "b.csv", rows=200, seed=2)
    with open(tmp_path / "b.csv", "rb") as src, gzip.open(tmp_path / "c.csv.gz", "wb") as dst:
        dst.write(src.read())
    result = split_by_class(
        [str(tmp_path / "*.csv"), str(tmp_path / "c.csv.gz")], "Response", tmp_path / "out",
        format="csv", verbose=False,
    )
    total = pd.concat([a, b, b])["Response"].value_counts().sort_index().to_dict()
    assert result.counts.counts == total


def test_dataset_source_roundtrip(tmp_path):
    rng = np.random.default_rng(0)
    n = 500
    features = {
        "x": rng.normal(size=(n, 3)).astype(np.float64),
        "k": rng.integers(0, 9, n).astype(np.int32),
        "s": np.array([f"r{i}".encode() for i in range(n)]),
        "f": rng.normal(size=n).astype(np.float32),
    }
    labels = rng.integers(0, 3, n)
    ds = tf.data.Dataset.from_tensor_slices((features, labels))
    for source in (ds, ds.batch(64)):
        result = split_by_class(source, None, tmp_path / "out", overwrite=True, verbose=False)
        assert result.counts.counts == {c: int(np.sum(labels == c)) for c in range(3)}
        streams = load_split(tmp_path / "out").datasets(shuffle_files=False)
        for c in range(3):
            got, y = next(iter(streams[c].batch(n)))
            mask = labels == c
            assert y.numpy().tolist() == [c] * int(mask.sum())
            np.testing.assert_array_equal(got["x"].numpy(), features["x"][mask])  # float64 exact
            assert got["x"].dtype == tf.float64 and got["k"].dtype == tf.int32
            np.testing.assert_array_equal(got["k"].numpy(), features["k"][mask])
            np.testing.assert_array_equal(got["s"].numpy(), features["s"][mask])
            np.testing.assert_array_equal(got["f"].numpy(), features["f"][mask])
    tensor_ds = tf.data.Dataset.from_tensor_slices((np.arange(6.0, dtype=np.float32), [0, 1] * 3))
    result = split_by_class(tensor_ds, None, tmp_path / "t", verbose=False)
    assert sorted(float(x) for x, _ in result.datasets()[1]) == [1.0, 3.0, 5.0]


def test_bad_input(tmp_path):
    source = tmp_path / "data.csv"
    _write_insurance_like(source, rows=50)
    with pytest.raises(ValueError, match="Invalid `label`: the CSV has no column 'Missing'"):
        split_by_class(str(source), "Missing", tmp_path / "o1", verbose=False)
    with pytest.raises(ValueError, match="must hold integer class ids"):
        split_by_class(str(source), "Gender", tmp_path / "o2", verbose=False)
    with pytest.raises(ValueError, match="Invalid `format`"):
        split_by_class(str(source), "Response", tmp_path / "o3", format="parquet")
    with pytest.raises(ValueError, match="no CSV file matches"):
        split_by_class(str(tmp_path / "nope*.csv"), "Response", tmp_path / "o4")
    with pytest.raises(TypeError, match="Invalid `label`"):
        split_by_class(str(source), None, tmp_path / "o5")
    with pytest.raises(TypeError, match="Invalid `source`"):
        split_by_class(42, "y", tmp_path / "o6")
    with pytest.raises(ValueError, match="Invalid `max_rows_per_shard`"):
        split_by_class(str(source), "Response", tmp_path / "o7", max_rows_per_shard=0)
    ds = tf.data.Dataset.from_tensor_slices(([1.0], [0]))
    with pytest.raises(ValueError, match="dataset sources are written as tf.train.Example"):
        split_by_class(ds, None, tmp_path / "o8", format="csv")
    with pytest.raises(ValueError, match="class ids must be non-negative"):
        split_by_class(tf.data.Dataset.from_tensor_slices(([1.0], [-1])), None, tmp_path / "o9",
                       verbose=False)
    split_by_class(str(source), "Response", tmp_path / "o10", verbose=False)
    with pytest.raises(ValueError, match="already holds a split"):
        split_by_class(str(source), "Response", tmp_path / "o10", verbose=False)
    other = tmp_path / "other.csv"
    other.write_text("a,b\n1,0\n")
    with pytest.raises(ValueError, match="different header"):
        split_by_class([str(source), str(other)], "Response", tmp_path / "o11")
    with pytest.raises(ValueError, match="holds no split.json"):
        load_split(tmp_path / "o1x")
    with pytest.raises(ValueError, match=r"Invalid `classes`: \[7\] are not in the split"):
        load_split(tmp_path / "o10").datasets(classes=[7])

"""One public vocabulary: ``source``, ``compression``, ``expected_steps(transform, ...)``.

The 0.1.0 spellings keep working until 0.3.0: each call below is checked to warn with a
``DeprecationWarning`` that names the new spelling and points at this file (the caller's
line), and to give what the new spelling gives. Oracles: pandas for CSV contents, the exact
transforms' declared cardinality for ``expected_steps``.
"""

from __future__ import annotations

import gzip
import json
import math
import warnings

import numpy as np
import pandas as pd
import pytest

import tfbalance
from tfbalance._cli import main
from tfbalance.datasets import make_insurance_csv

TEXT = "x,y\n" + "".join(f"{i},{int(i % 4 == 0)}\n" for i in range(40))
EXPECTED = pd.read_csv(__import__("io").StringIO(TEXT))["y"].value_counts().to_dict()


@pytest.fixture()
def files(tmp_path):
    plain = tmp_path / "plain.csv"
    plain.write_text(TEXT)
    zipped = tmp_path / "zipped.csv.gz"
    zipped.write_bytes(gzip.compress(TEXT.encode()))
    unnamed = tmp_path / "unnamed"  # gzip without the .gz name
    unnamed.write_bytes(gzip.compress(TEXT.encode()))
    return {"plain": str(plain), "zipped": str(zipped), "unnamed": str(unnamed)}


def _labels(ds):
    return sorted(int(v) for _, y in ds for v in y.numpy())


def _expected_labels():
    return sorted(pd.read_csv(__import__("io").StringIO(TEXT))["y"].tolist())


def _warns(new_spelling, call):
    """``call()`` under a DeprecationWarning that names ``new_spelling``, raised at this file."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = call()
    deprecations = [w for w in caught if issubclass(w.category, DeprecationWarning)]
    assert deprecations, f"no DeprecationWarning for {new_spelling}"
    assert any(new_spelling in str(w.message) and "0.3.0" in str(w.message)
               for w in deprecations), [str(w.message) for w in deprecations]
    assert {w.filename for w in deprecations} == {__file__}
    return result


def _silent(call):
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        return call()


# --------------------------------------------------------------------------- source=


def test_source_is_the_name_of_every_csv_input(files):
    assert _labels(_silent(lambda: tfbalance.read_csv(source=files["plain"], label="y"))) == (
        _expected_labels())
    schema = _silent(lambda: tfbalance.infer_csv_schema(source=files["plain"], label="y"))
    assert list(schema.column_names) == ["x", "y"]
    assert _silent(lambda: tfbalance.class_counts(files["plain"], "y")).counts == EXPECTED


def test_file_pattern_is_a_deprecated_alias_of_source(files):
    ds = _warns("`source`", lambda: tfbalance.read_csv(file_pattern=files["plain"], label="y"))
    assert _labels(ds) == _expected_labels()
    schema = _warns("`source`",
                    lambda: tfbalance.infer_csv_schema(file_pattern=files["plain"], label="y"))
    assert schema == tfbalance.infer_csv_schema(files["plain"], "y")


def test_source_and_file_pattern_together_are_refused(files):
    with pytest.raises(TypeError, match="pass `source` or its deprecated alias `file_pattern`"):
        tfbalance.read_csv(files["plain"], "y", file_pattern=files["plain"])
    with pytest.raises(TypeError, match="pass `source` or its deprecated alias `file_pattern`"):
        tfbalance.infer_csv_schema(source=files["plain"], label="y", file_pattern="x.csv")


def test_bad_source_errors_name_source(tmp_path):
    with pytest.raises(TypeError, match=r"Invalid `source`: .*Received: source=3"):
        tfbalance.read_csv(3, "y")
    with pytest.raises(ValueError, match=r"Invalid `source`: the glob matches no file"):
        tfbalance.class_counts(str(tmp_path / "*.csv"), "y")


# --------------------------------------------------------------------------- compression=


@pytest.mark.parametrize(
    "name, compression",
    [("plain", "auto"), ("zipped", "auto"), ("plain", None), ("zipped", "gzip"),
     ("unnamed", "gzip")],
)
def test_compression_values_read_every_file_the_same(files, name, compression):
    path = files[name]
    read = _silent(lambda: tfbalance.read_csv(path, "y", compression=compression))
    assert _labels(read) == _expected_labels()
    counted = _silent(lambda: tfbalance.class_counts(path, "y", compression=compression))
    assert counted.counts == EXPECTED
    schema = _silent(lambda: tfbalance.infer_csv_schema(path, "y", compression=compression))
    assert schema.dtypes == {"x": "int64", "y": "int64"}


def test_auto_goes_by_the_name(files):
    # 'auto' is the 0.1.0 default (compression_type=None): a gzip file needs a .gz name.
    with pytest.raises(ValueError, match=r"not a text CSV file.*compression='gzip'"):
        tfbalance.class_counts(files["unnamed"], "y")
    with pytest.raises(ValueError, match=r"not a gzip file.*compression=None"):
        tfbalance.class_counts(files["plain"], "y", compression="gzip")


@pytest.mark.parametrize(
    "old, new, name",
    [(None, "compression='auto'", "zipped"), ("GZIP", "compression='gzip'", "unnamed"),
     ("", "compression=None", "plain"), ("auto", "compression='gzip'", "unnamed"),
     ("auto", "compression=None", "plain")],
)
def test_compression_type_is_a_deprecated_alias(files, old, new, name):
    path = files[name]
    ds = _warns(new, lambda: tfbalance.read_csv(path, "y", compression_type=old))
    assert _labels(ds) == _expected_labels()
    counts = _warns(new, lambda: tfbalance.class_counts(path, "y", compression_type=old))
    assert counts.counts == EXPECTED
    schema = _warns(new, lambda: tfbalance.infer_csv_schema(path, "y", compression_type=old))
    assert schema.dtypes == {"x": "int64", "y": "int64"}


def test_compression_type_auto_keeps_its_0_1_meaning(tmp_path):
    # compression_type='auto' found gzip by the first bytes: a plain file named .gz reads.
    fake = tmp_path / "fake.csv.gz"
    fake.write_text(TEXT)
    assert _warns("compression=None", lambda: tfbalance.class_counts(
        str(fake), "y", compression_type="auto")).counts == EXPECTED


@pytest.mark.parametrize("old, new", [("GZIP", "'gzip'"), ("infer", "'auto'"), ("", "None")])
def test_old_compression_values_warn(files, old, new):
    ds = _warns(f"compression={new}", lambda: tfbalance.read_csv(
        files["zipped"] if old != "" else files["plain"], "y", compression=old))
    assert _labels(ds) == _expected_labels()


def test_compression_and_compression_type_together_are_refused(files):
    with pytest.raises(TypeError, match="pass `compression` or its deprecated alias"):
        tfbalance.read_csv(files["plain"], "y", compression=None, compression_type="")
    with pytest.raises(TypeError, match="pass `compression` or its deprecated alias"):
        tfbalance.class_counts(files["plain"], "y", compression=None, compression_type="")


@pytest.mark.parametrize(
    "call, exc, pattern",
    [
        (lambda p: tfbalance.read_csv(p, "y", compression="zip"), ValueError,
         r"Invalid `compression`: expected 'auto', 'gzip' or None\. Received: compression='zip'"),
        (lambda p: tfbalance.read_csv(p, "y", compression=1), TypeError,
         r"Invalid `compression`: expected 'auto', 'gzip' or None\. Received: compression=1"),
        (lambda p: tfbalance.class_counts(p, "y", compression="ZLIB"), ValueError,
         r"Invalid `compression`.*Received: compression='ZLIB'"),
        (lambda p: tfbalance.infer_csv_schema(p, "y", compression_type="gzip"), ValueError,
         r"Invalid `compression_type`: expected None, 'auto', '' or 'GZIP'.*"
         r"Received: compression_type='gzip'"),
        (lambda p: tfbalance.read_csv(p, "y", compression_type=0), ValueError,
         r"Invalid `compression_type`.*Received: compression_type=0"),
        (lambda p: tfbalance.stratified_split(p, "y", {"a": 0.5, "b": 0.5}, seed=0,
                                              compression="bz2"),
         ValueError, r"Invalid `compression`.*Received: compression='bz2'"),
    ],
)
def test_bad_compressions_are_refused(files, call, exc, pattern):
    with pytest.raises(exc, match=pattern):
        call(files["plain"])


def test_stratified_split_takes_compression(files):
    split = _silent(lambda: tfbalance.stratified_split(
        files["unnamed"], "y", {"a": 0.5, "b": 0.5}, seed=0, compression="gzip"))
    assert sorted(_labels(split["a"]) + _labels(split["b"])) == _expected_labels()
    old = _warns("compression='gzip'", lambda: tfbalance.stratified_split(
        files["unnamed"], "y", {"a": 0.5, "b": 0.5}, seed=0, compression_type="GZIP"))
    assert [_labels(old[s]) for s in "ab"] == [_labels(split[s]) for s in "ab"]


def test_writers_take_gzip_and_warn_on_GZIP(files, tmp_path):
    new = _silent(lambda: tfbalance.split_by_class(
        files["plain"], "y", tmp_path / "new", format="csv", compression="gzip", verbose=False))
    old = _warns("compression='gzip'", lambda: tfbalance.split_by_class(
        files["plain"], "y", tmp_path / "old", format="csv", compression="GZIP", verbose=False))
    for result in (new, old):
        assert all(p.endswith(".csv.gz") for c in result for p in result[c])
        frames = [pd.read_csv(p) for c in result for p in result[c]]
        assert pd.concat(frames)["y"].value_counts().to_dict() == EXPECTED
    holdout = _silent(lambda: tfbalance.write_stratified_split(
        files["plain"], "y", tmp_path / "holdout", seed=0, compression="gzip", verbose=False))
    assert all(p.endswith(".gz") for s in holdout for p in holdout[s])
    with pytest.raises(ValueError, match=r"Invalid `compression`.*Received: compression='zip'"):
        tfbalance.split_by_class(files["plain"], "y", tmp_path / "bad", compression="zip")


def test_make_insurance_csv_auto_and_old_infer(tmp_path):
    auto = _silent(lambda: make_insurance_csv(tmp_path / "a.csv.gz", 200, seed=1))
    infer = _warns("compression='auto'", lambda: make_insurance_csv(
        tmp_path / "b.csv.gz", 200, seed=1, compression="infer"))
    assert open(auto, "rb").read(2) == b"\x1f\x8b"
    assert gzip.open(auto).read() == gzip.open(infer).read()


def test_cli_compression_flag(files, tmp_path, capsys):
    assert main(["inspect", files["unnamed"], "--label", "y", "--compression", "gzip",
                 "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["counts"] == {str(c): n for c, n in EXPECTED.items()}
    assert main(["inspect", files["unnamed"], "--label", "y", "--quiet"]) == 2
    assert "It looks gzip-compressed: pass --compression 'gzip'" in capsys.readouterr().err
    out = str(tmp_path / "gen.csv")
    assert main(["generate", out, "--rows", "100", "--compression", "gzip"]) == 0
    assert open(out, "rb").read(2) == b"\x1f\x8b"
    assert main(["split", files["plain"], "--label", "y", "-o", str(tmp_path / "s"),
                 "--format", "csv", "--compression", "gzip", "--json"]) == 0
    shards = json.loads(capsys.readouterr().out.split("\n", 1)[1])["files"]
    assert all(p.endswith(".csv.gz") for ps in shards.values() for p in ps)


# --------------------------------------------------------------------------- expected_steps

COUNTS = [700, 300]


def _exact_rows(transform):
    x = np.arange(sum(COUNTS), dtype=np.float32)
    y = np.repeat(np.arange(len(COUNTS)), COUNTS)
    ds = tf_data().Dataset.from_tensor_slices((x, y)).apply(transform)
    return int(ds.cardinality())


def tf_data():
    import tensorflow as tf

    return tf.data


@pytest.mark.parametrize("factory", [tfbalance.undersample, tfbalance.oversample])
@pytest.mark.parametrize("strategy", ["auto", "all", 0.5, {0: 400, 1: 300}])
@pytest.mark.parametrize("drop_remainder", [False, True])
def test_expected_steps_of_exact_transforms_is_their_cardinality(factory, strategy,
                                                                 drop_remainder):
    if factory is tfbalance.oversample and isinstance(strategy, dict):
        strategy = {0: 700, 1: 500}
    transform = factory(counts=COUNTS, sampling_strategy=strategy, exact=True, seed=0)
    rows = _exact_rows(transform)
    steps = rows // 64 if drop_remainder else math.ceil(rows / 64)
    got = _silent(lambda: tfbalance.expected_steps(transform, batch_size=64,
                                                   drop_remainder=drop_remainder))
    assert got == steps
    # The same counts given again agree; the online transform needs them.
    assert tfbalance.expected_steps(transform, COUNTS, batch_size=64,
                                    drop_remainder=drop_remainder) == steps
    if not isinstance(strategy, dict):
        online = factory(sampling_strategy=strategy, seed=0)
        assert tfbalance.expected_steps(online, COUNTS, batch_size=64,
                                        drop_remainder=drop_remainder) == steps


def test_expected_steps_of_rejection_resample_is_the_expectation():
    # Acceptance a_c = (t_c / p_c) / max_k(t_k / p_k); expected rows sum_c n_c a_c.
    n = np.array(COUNTS, dtype=np.float64)
    target = np.array([0.6, 0.4])
    p = n / n.sum()
    ratio = target / p
    rows = round(float((n * ratio / ratio.max()).sum()))
    for transform in (tfbalance.rejection_resample(target_dist=[0.6, 0.4], seed=0),
                      tfbalance.rejection_resample(target_dist=[0.6, 0.4],
                                                   initial_dist=[0.7, 0.3], seed=0)):
        assert tfbalance.expected_steps(transform, COUNTS, batch_size=10) == math.ceil(rows / 10)
    held = tfbalance.rejection_resample(
        target_dist=[0.6, 0.4], initial_dist=tfbalance.ClassDistribution(COUNTS), seed=0)
    assert tfbalance.expected_steps(held, batch_size=10) == math.ceil(rows / 10)


def test_expected_steps_counts_rules():
    with pytest.raises(ValueError, match=r"Invalid `counts`: the transform holds no class counts"):
        tfbalance.expected_steps(tfbalance.undersample(seed=0), batch_size=8)
    with pytest.raises(ValueError, match=r"Invalid `counts`: the transform holds no class counts"):
        tfbalance.expected_steps(tfbalance.rejection_resample(initial_dist=[0.7, 0.3]),
                                 batch_size=8)
    with pytest.raises(ValueError, match=r"Invalid `counts`: they differ from the counts the "
                                         r"transform was made with \(\{0: 700, 1: 300\}\)"):
        tfbalance.expected_steps(tfbalance.undersample(counts=COUNTS), [700, 301], batch_size=8)
    with pytest.raises(ValueError, match=r"Invalid `counts`: class\(es\) \[2\] are not classes"):
        tfbalance.expected_steps(tfbalance.rejection_resample(initial_dist=[0.7, 0.3]),
                                 [700, 300, 5], batch_size=8)
    # A zero count of a class the data lacks is the same counts.
    assert tfbalance.expected_steps(tfbalance.undersample(counts={0: 700, 1: 300, 2: 0}),
                                    COUNTS, batch_size=8) == math.ceil(600 / 8)


@pytest.mark.parametrize(
    "call, exc, pattern",
    [
        (lambda: tfbalance.expected_steps(lambda ds: ds, COUNTS, batch_size=8), TypeError,
         r"Invalid `transform`: expected the transform of tfbalance.undersample"),
        (lambda: tfbalance.expected_steps(batch_size=8), TypeError,
         r"Invalid `transform`.*Received: transform=None"),
        (lambda: tfbalance.expected_steps(tfbalance.undersample(), COUNTS, batch_size=8,
                                          method="oversample"), TypeError,
         r"belong to the deprecated form.*Received: transform=Resampling\(OnlinePlan"),
        (lambda: tfbalance.expected_steps(tfbalance.undersample(), COUNTS, batch_size=0),
         ValueError, r"Invalid `batch_size`"),
        (lambda: tfbalance.expected_steps(tfbalance.undersample(), COUNTS, batch_size=8,
                                          drop_remainder=1), TypeError,
         r"Invalid `drop_remainder`"),
    ],
)
def test_expected_steps_bad_arguments(call, exc, pattern):
    with pytest.raises(exc, match=pattern):
        call()


@pytest.mark.parametrize(
    "old, new",
    [
        (dict(), tfbalance.undersample()),
        (dict(method="oversample"), tfbalance.oversample()),
        (dict(method="undersample", sampling_strategy=0.5),
         tfbalance.undersample(sampling_strategy=0.5)),
        (dict(method="rejection_resample", target_dist=[0.6, 0.4]),
         tfbalance.rejection_resample(target_dist=[0.6, 0.4])),
    ],
)
def test_old_expected_steps_form_warns_and_agrees(old, new):
    method = old.get("method", "undersample")
    got = _warns(f"expected_steps(tfbalance.{method}(",
                 lambda: tfbalance.expected_steps(COUNTS, batch_size=7, **old))
    assert got == tfbalance.expected_steps(new, COUNTS, batch_size=7)
    by_keyword = _warns("expected_steps(tfbalance.",
                        lambda: tfbalance.expected_steps(counts=COUNTS, batch_size=7, **old))
    assert by_keyword == got

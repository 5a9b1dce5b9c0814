"""Synthetic insurance cross-sell data: exact counts, schema, format, determinism, signal."""

from __future__ import annotations

import gzip
import hashlib
import re

import numpy as np
import pandas as pd
import pytest

from tests.stats import assert_proportion
from tfbalance.datasets import (
    INSURANCE_COLUMNS,
    _synthetic,
    insurance_positive_count,
    make_insurance_csv,
    make_insurance_dataframe,
)

KAGGLE_ROWS, KAGGLE_ZEROS, KAGGLE_ONES = 382_154, 319_553, 62_601


def _sha256(path) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


@pytest.fixture(scope="module")
def default_csv(tmp_path_factory):
    return make_insurance_csv(tmp_path_factory.mktemp("insurance") / "train.csv")


@pytest.fixture(scope="module")
def frame():
    # Large enough for proportions to be tight, small enough to stay fast.
    return make_insurance_dataframe(120_000, seed=3)


def test_default_size_has_the_kaggle_class_counts(default_csv):
    data = pd.read_csv(default_csv, usecols=["id", "Response"])
    assert len(data) == KAGGLE_ROWS
    assert data["Response"].value_counts().to_dict() == {0: KAGGLE_ZEROS, 1: KAGGLE_ONES}
    np.testing.assert_array_equal(data["id"].to_numpy(), np.arange(1, KAGGLE_ROWS + 1))


@pytest.mark.parametrize("n_rows", [1, 2, 7, 1_000, 65_535, 65_536, 65_537, 191_077])
def test_other_sizes_keep_the_kaggle_ratio_exactly(n_rows):
    # 191,077 rows is the one tie (31,300.5 positives): round() goes to even.
    frame = make_insurance_dataframe(n_rows, seed=n_rows)
    expected = round(n_rows * KAGGLE_ONES / KAGGLE_ROWS)
    assert insurance_positive_count(n_rows) == expected
    assert int(frame["Response"].sum()) == expected
    assert len(frame) == n_rows


@pytest.mark.parametrize("n_positive", [0, 1, 5_000, 70_000])
def test_n_positive_is_exact(n_positive):
    frame = make_insurance_dataframe(70_000, seed=1, n_positive=n_positive)
    assert int(frame["Response"].sum()) == n_positive


def test_schema_dtypes_and_ranges(frame):
    assert tuple(frame.columns) == INSURANCE_COLUMNS
    for name in ("id", "Age", "Driving_License", "Previously_Insured", "Vintage", "Response"):
        assert frame[name].dtype == np.int64, name
    for name in ("Region_Code", "Annual_Premium", "Policy_Sales_Channel"):
        assert frame[name].dtype == np.float64, name
        assert (frame[name] == np.round(frame[name])).all(), name
    assert set(frame["Gender"]) == {"Male", "Female"}
    assert set(frame["Vehicle_Age"]) == {"< 1 Year", "1-2 Year", "> 2 Years"}
    assert set(frame["Vehicle_Damage"]) == {"Yes", "No"}
    for name in ("Driving_License", "Previously_Insured", "Response"):
        assert set(frame[name]) == {0, 1}, name
    assert frame["Age"].between(20, 85).all() and frame["Age"].nunique() > 50
    assert frame["Region_Code"].between(0, 52).all() and frame["Region_Code"].nunique() == 53
    assert frame["Policy_Sales_Channel"].between(1, 163).all()
    assert frame["Policy_Sales_Channel"].nunique() > 100
    assert frame["Vintage"].between(10, 299).all() and frame["Vintage"].nunique() == 290
    assert frame["Annual_Premium"].min() == 2630.0
    assert frame["Annual_Premium"].max() <= 540_165.0
    # Heavy right tail: the top 0.1% of the non-floor premiums lies far above the median.
    premium = frame["Annual_Premium"][frame["Annual_Premium"] > 2630.0]
    assert premium.quantile(0.999) > 2.5 * premium.median()


def test_csv_matches_the_dataframe_and_pandas_text_format(tmp_path):
    # pandas' own writer is the oracle for the text format ("28.0", "40454.0", ...).
    n_rows = 70_000  # spans two generation blocks
    path = make_insurance_csv(tmp_path / "train.csv", n_rows, seed=5)
    frame = make_insurance_dataframe(n_rows, seed=5)
    with open(path, "rb") as f:
        written = f.read()
    assert written == frame.to_csv(index=False, lineterminator="\n").encode("ascii")
    pd.testing.assert_frame_equal(pd.read_csv(path), frame)
    first = written.split(b"\n")[1].decode()
    assert re.fullmatch(
        r"1,(Male|Female),\d+,[01],\d+\.0,[01],(< 1 Year|1-2 Year|> 2 Years),(Yes|No),"
        r"\d+\.0,\d+\.0,\d+,[01]",
        first,
    )


def test_same_seed_gives_identical_bytes_whatever_the_chunk_size(tmp_path):
    n_rows = 200_000
    paths = [
        make_insurance_csv(tmp_path / f"{i}.csv", n_rows, seed=7, chunk_size=chunk)
        for i, chunk in enumerate([1, 65_536, 100_000, 10**7])
    ]
    hashes = {_sha256(p) for p in paths}
    assert len(hashes) == 1
    other = make_insurance_csv(tmp_path / "other.csv", n_rows, seed=8)
    assert _sha256(other) not in hashes


def test_seed_none_draws_fresh_data():
    first = make_insurance_dataframe(1_000, seed=None)
    second = make_insurance_dataframe(1_000, seed=None)
    assert not first.equals(second)
    assert int(first["Response"].sum()) == int(second["Response"].sum()) == 164


def test_gzip_output_is_reproducible_and_decompresses_to_the_csv(tmp_path):
    plain = make_insurance_csv(tmp_path / "train.csv", 5_000, seed=2)
    zipped = make_insurance_csv(tmp_path / "train.csv.gz", 5_000, seed=2)
    again = make_insurance_csv(tmp_path / "again.csv.gz", 5_000, seed=2)
    forced = make_insurance_csv(tmp_path / "forced.csv", 5_000, seed=2, compression="gzip")
    raw = make_insurance_csv(tmp_path / "raw.csv.gz", 5_000, seed=2, compression=None)
    with open(zipped, "rb") as f:
        assert f.read(2) == b"\x1f\x8b"
    with open(plain, "rb") as f:
        plain_bytes = f.read()
    with gzip.open(zipped, "rb") as f:
        assert f.read() == plain_bytes
    assert _sha256(zipped) == _sha256(again) == _sha256(forced)
    assert _sha256(raw) == _sha256(plain)
    assert pd.read_csv(zipped)["Response"].sum() == insurance_positive_count(5_000)


def test_marginals_follow_the_generating_model(frame):
    n = len(frame)
    region_28 = float(np.diff(np.concatenate([[0.0], _synthetic._REGION_CDF]))[28])
    assert_proportion((frame["Region_Code"] == 28).mean(), region_28, n)
    # The premium floor: 6% of rows in region 28, 22% elsewhere.
    expected_floor = 0.06 * region_28 + 0.22 * (1 - region_28)
    assert_proportion((frame["Annual_Premium"] == 2630.0).mean(), expected_floor, n)
    # Vintage is uniform on 10..299: 145 of its 290 values are <= 154.
    assert_proportion((frame["Vintage"] <= 154).mean(), 0.5, n)
    # P(previously insured | vehicle age) and P(damage | previously insured).
    for vehicle_age, rate in [("< 1 Year", 0.66), ("1-2 Year", 0.33), ("> 2 Years", 0.008)]:
        group = frame[frame["Vehicle_Age"] == vehicle_age]
        assert_proportion(group["Previously_Insured"].mean(), rate, len(group))
    insured = frame[frame["Previously_Insured"] == 1]
    assert_proportion((insured["Vehicle_Damage"] == "Yes").mean(), 0.008, len(insured))


def test_features_are_related_like_the_real_data(frame):
    mean_age = frame.groupby("Vehicle_Age")["Age"].mean()
    assert mean_age["< 1 Year"] + 10 < mean_age["1-2 Year"]
    young = frame[frame["Age"] < 26]
    assert (young["Policy_Sales_Channel"] == 152).mean() > 0.5
    rate = frame.groupby("Previously_Insured")["Response"].mean()
    assert rate[1] < 0.01 < 0.2 < rate[0]
    rate = frame.groupby("Vehicle_Damage")["Response"].mean()
    assert rate["Yes"] > 20 * rate["No"]
    rate = frame.groupby("Vehicle_Age")["Response"].mean()
    assert rate["< 1 Year"] < rate["1-2 Year"] < rate["> 2 Years"]
    middle = frame[frame["Age"].between(35, 55)]["Response"].mean()
    assert middle > 2 * young["Response"].mean()


def test_a_simple_model_learns_the_response():
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import average_precision_score

    frame = make_insurance_dataframe(50_000, seed=11)
    features = pd.DataFrame(
        {
            "male": frame["Gender"] == "Male",
            "age": frame["Age"] / 10.0,
            "age_squared": (frame["Age"] / 10.0 - 4.0) ** 2,
            "licence": frame["Driving_License"],
            "region_28": frame["Region_Code"] == 28,
            "insured": frame["Previously_Insured"],
            "new_vehicle": frame["Vehicle_Age"] == "< 1 Year",
            "old_vehicle": frame["Vehicle_Age"] == "> 2 Years",
            "damage": frame["Vehicle_Damage"] == "Yes",
            "log_premium": np.log(frame["Annual_Premium"] / 30_000.0),
            "channel_152": frame["Policy_Sales_Channel"] == 152,
            "vintage": frame["Vintage"] / 100.0,
        }
    ).astype(np.float64)
    labels = frame["Response"].to_numpy()
    train, test = slice(0, 35_000), slice(35_000, None)
    model = LogisticRegression(max_iter=1000).fit(features[train], labels[train])
    scores = model.predict_proba(features[test])[:, 1]
    base_rate = labels[test].mean()
    # A ranking with no signal has an average precision equal to the base rate (~0.16);
    # the latent model gives about 3x that, so 2x leaves room and still proves the signal.
    assert average_precision_score(labels[test], scores) > 2.0 * base_rate


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"n_rows": 0}, ValueError, "Invalid `n_rows`"),
        ({"n_rows": -3}, ValueError, "Invalid `n_rows`"),
        ({"n_rows": 1.5}, TypeError, "Invalid `n_rows`"),
        ({"n_rows": True}, TypeError, "Invalid `n_rows`"),
        ({"n_rows": 10, "n_positive": 11}, ValueError,
         r"Invalid `n_positive`: expected an int in \[0, 10\]\. Received: n_positive=11"),
        ({"n_rows": 10, "n_positive": -1}, ValueError, "Invalid `n_positive`"),
        ({"n_rows": 10, "n_positive": "3"}, TypeError, "Invalid `n_positive`"),
        ({"n_rows": 10, "seed": -1}, ValueError, "Invalid `seed`"),
        ({"n_rows": 10, "seed": "a"}, TypeError, "Invalid `seed`"),
    ],
)
def test_invalid_arguments_raise(tmp_path, kwargs, error, match):
    with pytest.raises(error, match=match):
        make_insurance_dataframe(**kwargs)
    with pytest.raises(error, match=match):
        make_insurance_csv(tmp_path / "x.csv", **kwargs)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"chunk_size": 0}, ValueError, "Invalid `chunk_size`"),
        ({"chunk_size": 2.0}, TypeError, "Invalid `chunk_size`"),
        ({"compression": "zip"}, ValueError, "Invalid `compression`"),
    ],
)
def test_invalid_csv_options_raise(tmp_path, kwargs, error, match):
    with pytest.raises(error, match=match):
        make_insurance_csv(tmp_path / "x.csv", 10, **kwargs)


def test_invalid_path_raises():
    with pytest.raises(TypeError, match="Invalid `path`"):
        make_insurance_csv(3, 10)


def test_insurance_positive_count_validates():
    with pytest.raises(ValueError, match="Invalid `n_rows`"):
        insurance_positive_count(0)


def test_synthetic_data_needs_neither_tensorflow_nor_tfds(tmp_path):
    # `tfbalance generate` and the demo's data must work with the core install: the TFDS
    # builder (and only it) needs the tfds extra, and says so when it is missing.
    import os
    import subprocess
    import sys
    import textwrap

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    code = textwrap.dedent(f"""
        import sys
        sys.modules["tensorflow_datasets"] = None
        sys.argv[0] = "tfbalance"  # as the console script runs: the package stays lazy
        import tfbalance.datasets as datasets
        from tfbalance._cli import main
        assert main(["generate", {str(tmp_path / "d.csv")!r}, "--rows", "50"]) == 0
        assert not any(m.split(".")[0] in ("tensorflow", "keras") for m in sys.modules)
        try:
            datasets.InsuranceCrossSell
        except ImportError as exc:
            print("ImportError:", exc)
    """)
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTHONPATH": root}, cwd=root,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "Wrote 50 rows" in result.stdout
    assert ("ImportError: The insurance_cross_sell TFDS builder needs tensorflow-datasets"
            in result.stdout)
    assert 'pip install "tfbalance[tfds]"' in result.stdout


def test_insurance_test_rule_is_id_multiple_of_5_for_every_kind_of_ids():
    import tensorflow as tf

    from tfbalance.datasets import is_insurance_test_row

    frame = make_insurance_dataframe(2_000, seed=5)
    expected = (frame["id"] % 5 == 0).to_numpy()  # the documented rule, in pandas
    np.testing.assert_array_equal(is_insurance_test_row(frame["id"]).to_numpy(), expected)
    np.testing.assert_array_equal(is_insurance_test_row(frame["id"].to_numpy()), expected)
    for dtype in (tf.int32, tf.int64):
        ids = tf.constant(frame["id"].to_numpy(), dtype)
        np.testing.assert_array_equal(is_insurance_test_row(ids).numpy(), expected)
    assert [is_insurance_test_row(i) for i in (5, np.int64(5), 7, np.int32(7))] == [
        True, True, False, False]
    assert type(is_insurance_test_row(np.int64(5))) is bool
    assert expected.mean() == 0.2


@pytest.mark.parametrize("bad", [True, 1.0, "5", None, np.array([1.0, 5.0])])
def test_insurance_test_rule_rejects_non_integer_ids(bad):
    from tfbalance.datasets import is_insurance_test_row

    with pytest.raises(TypeError, match=r"Invalid `row_id`: expected (an )?integer"):
        is_insurance_test_row(bad)

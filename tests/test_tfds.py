"""The insurance_cross_sell TFDS builder, prepared from small generated files.

The oracle is pandas reading the same CSV file; the split rule is recomputed here from its
documented definition (ids that are multiples of 5 -> test, computed with pandas).
"""

import contextlib
import socket

import numpy as np
import pandas as pd
import pytest

# The tfds extra is optional: without it these tests skip (the test extra installs it).
tfds = pytest.importorskip("tensorflow_datasets")

import tfbalance  # noqa: E402
import tfbalance.datasets  # noqa: E402
from tests.stats import assert_proportion  # noqa: E402
from tfbalance.datasets import InsuranceCrossSell, insurance_split, make_insurance_csv  # noqa: E402
from tfbalance.datasets.insurance_cross_sell import FEATURE_COLUMNS  # noqa: E402

ROWS = 400
CATEGORY_COLUMNS = ("Gender", "Vehicle_Age", "Vehicle_Damage")
INT_COLUMNS = (
    "id",
    "Age",
    "Driving_License",
    "Region_Code",
    "Previously_Insured",
    "Policy_Sales_Channel",
    "Vintage",
)


@contextlib.contextmanager
def _offline():
    """Fail any attempt to open a network connection (TFDS must prepare offline)."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args!r}")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket.socket, "connect", refuse)
        patch.setattr(socket, "create_connection", refuse)
        yield


def _load(manual_dir, data_dir, **kwargs):
    config = tfds.download.DownloadConfig(manual_dir=str(manual_dir))
    with _offline():
        return tfds.load(
            "insurance_cross_sell",
            data_dir=str(data_dir),
            download_and_prepare_kwargs={"download_config": config},
            **kwargs,
        )


def _is_test(ids):
    return (pd.Series(ids) % 5 == 0).to_numpy()


def _to_frame(ds, info):
    """Decode a split back to the CSV's text values, sorted by id."""
    rows = list(tfds.as_numpy(ds))
    frame = pd.DataFrame({name: [row[name] for row in rows] for name in rows[0]})
    for name in CATEGORY_COLUMNS:
        frame[name] = [info.features[name].int2str(int(i)) for i in frame[name]]
    return frame.sort_values("id").reset_index(drop=True)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    manual_dir = tmp_path_factory.mktemp("manual")
    path = make_insurance_csv(manual_dir / "train.csv", ROWS, seed=3)
    frame = pd.read_csv(path)
    splits, info = _load(
        manual_dir, tmp_path_factory.mktemp("tfds"), split=["train", "test"], with_info=True
    )
    return frame, dict(zip(["train", "test"], splits, strict=True)), info


def test_builder_is_registered_by_importing_tfbalance_datasets():
    assert "insurance_cross_sell" in tfds.list_builders(with_community_datasets=False)
    assert tfds.builder_cls("insurance_cross_sell") is InsuranceCrossSell


def test_split_sizes_match_pandas(prepared):
    frame, splits, info = prepared
    test = _is_test(frame["id"])
    assert 0 < test.sum() < len(frame)
    assert info.splits["train"].num_examples == int((~test).sum())
    assert info.splits["test"].num_examples == int(test.sum())
    assert sum(1 for _ in splits["train"]) == int((~test).sum())
    assert sum(1 for _ in splits["test"]) == int(test.sum())


@pytest.mark.parametrize("split", ["train", "test"])
def test_values_equal_the_csv_row_for_row(prepared, split):
    frame, splits, info = prepared
    expected = frame[_is_test(frame["id"]) == (split == "test")].reset_index(drop=True)
    got = _to_frame(splits[split], info)
    assert list(got["id"]) == list(expected["id"])
    for name in INT_COLUMNS:
        assert got[name].dtype == np.int64, name
        np.testing.assert_array_equal(got[name], expected[name].astype(np.int64), err_msg=name)
    assert got["Annual_Premium"].dtype == np.float32
    np.testing.assert_array_equal(
        got["Annual_Premium"], expected["Annual_Premium"].astype(np.float32)
    )
    for name in CATEGORY_COLUMNS:
        assert list(got[name]) == list(expected[name]), name
    np.testing.assert_array_equal(got["Response"], expected["Response"])


def test_features_and_label_types(prepared):
    _, _, info = prepared
    assert info.features["Response"].names == ["no", "yes"]
    assert info.features["Gender"].names == ["Female", "Male"]
    assert info.features["Vehicle_Age"].names == ["< 1 Year", "1-2 Year", "> 2 Years"]
    assert info.features["Vehicle_Damage"].names == ["No", "Yes"]
    assert info.features["Annual_Premium"].dtype == np.float32
    assert info.features["Age"].dtype == np.int64


def test_as_supervised_gives_features_and_response(prepared, tmp_path):
    frame, _, _ = prepared
    manual_dir = tmp_path / "manual"
    manual_dir.mkdir()
    frame.to_csv(manual_dir / "train.csv", index=False)
    ds = _load(manual_dir, tmp_path / "tfds", split="train", as_supervised=True)
    features, label = ds.element_spec
    assert sorted(features) == sorted(FEATURE_COLUMNS)
    assert "id" not in features and "Response" not in features
    assert label.dtype.name == "int64" and label.shape.rank == 0
    # The class counts tfbalance streams out of the dataset are pandas' counts.
    train = frame[~_is_test(frame["id"])]
    expected = train["Response"].value_counts().sort_index()
    assert tfbalance.class_counts(ds).counts == {int(k): int(v) for k, v in expected.items()}


def test_aug_train_file_name_and_any_id_order(tmp_path):
    # The augmented Kaggle release: other file name, ids neither sorted nor consecutive.
    frame = tfbalance.datasets.make_insurance_dataframe(150, seed=5)
    frame["id"] = np.random.default_rng(0).choice(10**6, size=len(frame), replace=False)
    manual_dir = tmp_path / "manual"
    manual_dir.mkdir()
    frame.to_csv(manual_dir / "aug_train.csv", index=False)
    train, test = _load(manual_dir, tmp_path / "tfds", split=["train", "test"])
    got = sorted(int(row["id"]) for split in (train, test) for row in tfds.as_numpy(split))
    assert got == sorted(frame["id"])
    test_ids = sorted(int(row["id"]) for row in tfds.as_numpy(test))
    assert test_ids == sorted(frame["id"][_is_test(frame["id"])])


def test_file_in_dataset_subfolder_of_manual_dir(tmp_path):
    manual_dir = tmp_path / "manual"
    (manual_dir / "insurance_cross_sell").mkdir(parents=True)
    make_insurance_csv(manual_dir / "insurance_cross_sell" / "train.csv", 30, seed=1)
    train, test = _load(manual_dir, tmp_path / "tfds", split=["train", "test"])
    assert sum(1 for _ in train) + sum(1 for _ in test) == 30


@pytest.mark.parametrize("make_dir", [False, True])
def test_missing_file_error_repeats_the_instructions(tmp_path, make_dir):
    manual_dir = tmp_path / "manual"
    if make_dir:
        manual_dir.mkdir()
        (manual_dir / "test.csv").write_text("id\n1\n")
    with pytest.raises(FileNotFoundError, match=r"not in the manual directory .*manual") as info:
        _load(manual_dir, tmp_path / "tfds", split="train")
    message = str(info.value)
    assert "['train.csv', 'aug_train.csv']" in message
    assert InsuranceCrossSell.MANUAL_DOWNLOAD_INSTRUCTIONS in message
    assert "kaggle.com" in message
    assert not (tmp_path / "tfds" / "insurance_cross_sell" / "2.0.0").exists()


def test_default_manual_dir_is_under_data_dir(tmp_path):
    # Without manual_dir, the file is looked for in <data_dir>/downloads/manual.
    with pytest.raises(FileNotFoundError, match=r"downloads/manual"):
        with _offline():
            tfds.load("insurance_cross_sell", split="train", data_dir=str(tmp_path))
    folder = tmp_path / "downloads" / "manual" / "insurance_cross_sell"
    folder.mkdir(parents=True)
    make_insurance_csv(folder / "train.csv", 20, seed=2)
    with _offline():
        builder = tfds.builder("insurance_cross_sell", data_dir=str(tmp_path))
        builder.download_and_prepare()
    assert sum(s.num_examples for s in builder.info.splits.values()) == 20


def test_both_file_names_present_is_an_error(tmp_path):
    manual_dir = tmp_path / "manual"
    manual_dir.mkdir()
    make_insurance_csv(manual_dir / "train.csv", 10, seed=0)
    make_insurance_csv(manual_dir / "aug_train.csv", 10, seed=0)
    with pytest.raises(ValueError, match=r"several insurance_cross_sell data files"):
        _load(manual_dir, tmp_path / "tfds", split="train")


def test_missing_column_is_an_error(tmp_path):
    manual_dir = tmp_path / "manual"
    manual_dir.mkdir()
    frame = tfbalance.datasets.make_insurance_dataframe(10, seed=0)
    frame.drop(columns=["Vintage"]).to_csv(manual_dir / "train.csv", index=False)
    with pytest.raises(ValueError, match=r"columns \['Vintage'\] are missing"):
        _load(manual_dir, tmp_path / "tfds", split="train")


def test_large_ids_and_integers_written_as_floats_are_exact(tmp_path):
    manual_dir = tmp_path / "manual"
    manual_dir.mkdir()
    frame = tfbalance.datasets.make_insurance_dataframe(40, seed=0).astype({"id": object})
    big = [2**40 + 1 + i for i in range(len(frame))]  # not representable in float32
    frame["id"] = [str(i) if i % 2 else f"{i}.0" for i in big]
    frame.to_csv(manual_dir / "train.csv", index=False)
    train, test = _load(manual_dir, tmp_path / "tfds", split=["train", "test"])
    got = sorted(int(row["id"]) for split in (train, test) for row in tfds.as_numpy(split))
    assert got == big


@pytest.mark.parametrize(
    "column, value, expected",
    [
        ("Gender", "Other", r"line 3, column Gender: expected one of \['Female', 'Male'\]"),
        ("Age", "", r"line 3, column Age: could not convert"),
        ("Age", "40.5", r"line 3, column Age: expected an integer"),
        ("Annual_Premium", "nan", r"line 3, column Annual_Premium: expected a finite number"),
        ("Response", "2", r"line 3, column Response: expected one of \['0', '1'\]"),
    ],
)
def test_bad_value_names_line_and_column(tmp_path, column, value, expected):
    manual_dir = tmp_path / "manual"
    manual_dir.mkdir()
    frame = tfbalance.datasets.make_insurance_dataframe(10, seed=0).astype({column: object})
    frame.loc[1, column] = value
    frame.to_csv(manual_dir / "train.csv", index=False)
    with pytest.raises(ValueError, match=expected):
        _load(manual_dir, tmp_path / "tfds", split="train")


def test_insurance_split_rule_and_fraction():
    ids = np.arange(1, 20_001)
    got = np.array([insurance_split(i) == "test" for i in ids])
    np.testing.assert_array_equal(got, _is_test(ids))
    assert insurance_split(np.int64(5)) == insurance_split(5) == "test"
    assert tfbalance.datasets.is_insurance_test_row(ids).tolist() == _is_test(ids).tolist()
    assert_proportion(got.mean(), 0.2, len(ids))


@pytest.mark.parametrize("bad", [1.0, "3", True, None])
def test_insurance_split_rejects_non_integers(bad):
    with pytest.raises(TypeError, match=r"Invalid `row_id`: expected an int\. Received: row_id="):
        insurance_split(bad)


"""TensorFlow Datasets builder for the Kaggle "Health Insurance Cross Sell Prediction" data.

Importing this module registers the dataset under
the name ``"insurance_cross_sell"``, so that, once the Kaggle file is in the manual
directory::

    import tensorflow_datasets as tfds
    import tfbalance.datasets.insurance_cross_sell

    ds = tfds.load(
        "insurance_cross_sell",
        split="train",
        as_supervised=True,
        download_and_prepare_kwargs={
            "download_config": tfds.download.DownloadConfig(manual_dir="~/kaggle/insurance")
        },
    )

The data cannot be downloaded automatically (Kaggle needs a login), hence the manual
download; ``InsuranceCrossSell.MANUAL_DOWNLOAD_INSTRUCTIONS`` says where to get the file
and where to put it.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import tensorflow_datasets as tfds

from tfbalance._validation import check_int
from tfbalance.datasets._split import INSURANCE_TEST_MODULUS, is_insurance_test_row
from tfbalance.datasets._synthetic import INSURANCE_COLUMNS

__all__ = ["InsuranceCrossSell", "insurance_split"]

# File names of the two Kaggle releases of the data, in the order they are looked for.
DATA_FILE_NAMES = ("train.csv", "aug_train.csv")

# Percentage of ids assigned to the "test" split (see `insurance_split`).
TEST_PERCENT = 100 // INSURANCE_TEST_MODULUS

GENDER_NAMES = ("Female", "Male")
VEHICLE_AGE_NAMES = ("< 1 Year", "1-2 Year", "> 2 Years")
VEHICLE_DAMAGE_NAMES = ("No", "Yes")
RESPONSE_NAMES = ("no", "yes")

# How each column's text is read. Integers may be written "28.0" in the
# Kaggle files (Region_Code, Policy_Sales_Channel), so they are read through float.
_INT_COLUMNS = (
    "id",
    "Age",
    "Driving_License",
    "Region_Code",
    "Previously_Insured",
    "Policy_Sales_Channel",
    "Vintage",
)
_FLOAT_COLUMNS = ("Annual_Premium",)
_CATEGORY_COLUMNS = {
    "Gender": GENDER_NAMES,
    "Vehicle_Age": VEHICLE_AGE_NAMES,
    "Vehicle_Damage": VEHICLE_DAMAGE_NAMES,
}
_LABEL_COLUMN = "Response"
COLUMNS = INSURANCE_COLUMNS  # in file order
# What `as_supervised=True` puts in the features dict: every column but the row id
# (an arbitrary number a model must not learn from) and the label.
FEATURE_COLUMNS = tuple(c for c in COLUMNS if c not in ("id", _LABEL_COLUMN))

_HOMEPAGE = "https://www.kaggle.com/datasets/anmolkumar/health-insurance-cross-sell-prediction"

_DESCRIPTION = f"""\
Health Insurance Cross Sell Prediction (Kaggle): customers of a health insurer, and
whether they were interested in vehicle insurance too (`Response`, about 12-16% "yes"
depending on the release). A classic imbalanced binary classification data set.

The Kaggle release has labels for its `train.csv` only, so this builder splits that file
deterministically by row id: a row goes to `test` when its id is a multiple of
{INSURANCE_TEST_MODULUS} ({TEST_PERCENT}% of the rows), otherwise to `train`: the rule of
`tfbalance.datasets.is_insurance_test_row`, which `tfbalance demo` and the examples hold out
too. The same rule in pandas: `df.id % {INSURANCE_TEST_MODULUS} == 0`. (Version 1.0.0 used
`zlib.crc32(str(id)) % 100 < 20` instead.)

Categorical columns are `ClassLabel`s (Gender: {list(GENDER_NAMES)}; Vehicle_Age:
{list(VEHICLE_AGE_NAMES)}; Vehicle_Damage: {list(VEHICLE_DAMAGE_NAMES)}); Response is
`ClassLabel(names={list(RESPONSE_NAMES)})`. With `as_supervised=True` elements are
`(features, Response)` where `features` holds every column except `id` and `Response`.
"""

_MANUAL_DOWNLOAD_INSTRUCTIONS = f"""\
This data set must be downloaded by hand (Kaggle requires a login):

1. Download `train.csv` from {_HOMEPAGE}
   (the archive holds train.csv, test.csv and sample_submission.csv; only train.csv has
   labels). The "aug_train.csv" file of the augmented Kaggle release, with the same
   columns, is accepted too.
2. Put `train.csv` (or `aug_train.csv`), unzipped, in a folder and pass that folder as
   `manual_dir`:

       tfds.load("insurance_cross_sell", download_and_prepare_kwargs={{
           "download_config": tfds.download.DownloadConfig(manual_dir="/path/to/folder")}})

   or, without `manual_dir`, put it in `<data_dir>/downloads/manual/insurance_cross_sell/`
   (by default `~/tensorflow_datasets/downloads/manual/insurance_cross_sell/`).
"""


def insurance_split(row_id: int) -> str:
    """The split (``"train"`` or ``"test"``) of the row with id ``row_id``.

    A row goes to ``"test"`` when its id is a multiple of 5 (``is_insurance_test_row``, the
    rule ``tfbalance demo`` and the examples hold out too), so 20% of the rows, chosen by
    id alone: the same row lands in the same split whatever the file's order, size or
    release, and the rule is easy to reproduce outside TensorFlow (``df.id % 5 == 0``).

    Parameters
    ----------
    row_id : int
        The value of the ``id`` column.

    Returns
    -------
    str
        ``"train"`` or ``"test"``.

    Raises
    ------
    TypeError
        ``row_id`` is not an integer.

    Examples
    --------
    >>> [insurance_split(i) for i in range(1, 11)]
    ['train', 'train', 'train', 'train', 'test', 'train', 'train', 'train', 'train', 'test']
    """
    return _split_of(check_int(row_id, "row_id"))


def _split_of(row_id: int) -> str:
    return "test" if is_insurance_test_row(row_id) else "train"


class InsuranceCrossSell(tfds.core.GeneratorBasedBuilder):
    """TFDS builder for the Kaggle Health Insurance Cross Sell Prediction data.

    Registered as ``"insurance_cross_sell"``. The Kaggle ``train.csv`` (or
    ``aug_train.csv``) is read from the manual directory in one streaming pass per split
    (the ``csv`` module, one row at a time), so preparing it needs little memory
    whatever the file's size. Splits ``train`` and ``test`` (about 80/20) are chosen by
    row id, see ``insurance_split``.

    Features, one per column with the Kaggle names: ``id``, ``Age``,
    ``Driving_License``, ``Region_Code``, ``Previously_Insured``,
    ``Policy_Sales_Channel`` and ``Vintage`` are int64; ``Annual_Premium`` is float32;
    ``Gender``, ``Vehicle_Age`` and ``Vehicle_Damage`` are ``ClassLabel`` ids;
    ``Response`` is ``ClassLabel(names=["no", "yes"])``. ``as_supervised=True`` yields
    ``(features, Response)``, ``features`` being a dict of every column except ``id``
    and ``Response``.

    Raises
    ------
    FileNotFoundError
        While preparing: the manual directory holds no ``train.csv`` or
        ``aug_train.csv`` (the message repeats the download instructions).
    ValueError
        While preparing: both files are present, a column is missing, or a value cannot
        be read as its column's type.

    Examples
    --------
    >>> import tempfile, pandas as pd, tensorflow_datasets as tfds
    >>> folder = tempfile.mkdtemp()
    >>> pd.DataFrame({
    ...     "id": [1, 2, 3, 4, 5], "Gender": ["Male", "Female", "Male", "Male", "Female"],
    ...     "Age": [44, 76, 47, 21, 29], "Driving_License": [1, 1, 1, 1, 1],
    ...     "Region_Code": [28.0, 3.0, 28.0, 11.0, 41.0],
    ...     "Previously_Insured": [0, 0, 0, 1, 1],
    ...     "Vehicle_Age": ["> 2 Years", "1-2 Year", "> 2 Years", "< 1 Year", "< 1 Year"],
    ...     "Vehicle_Damage": ["Yes", "No", "Yes", "No", "No"],
    ...     "Annual_Premium": [40454.0, 33536.0, 38294.0, 28619.0, 27496.0],
    ...     "Policy_Sales_Channel": [26.0, 26.0, 26.0, 152.0, 152.0],
    ...     "Vintage": [217, 183, 27, 203, 39], "Response": [1, 0, 1, 0, 0],
    ... }).to_csv(f"{folder}/train.csv", index=False)
    >>> config = tfds.download.DownloadConfig(manual_dir=folder)
    >>> ds = tfds.load("insurance_cross_sell", split="test", data_dir=f"{folder}/tfds",
    ...                as_supervised=True,
    ...                download_and_prepare_kwargs={"download_config": config})
    ... # doctest: +ELLIPSIS
    Downloading and preparing dataset ...
    Dataset insurance_cross_sell downloaded and prepared to .../insurance_cross_sell/2.0.0. ...
    >>> sorted((int(x["Age"]), int(y)) for x, y in ds)  # id 5 falls in "test"
    [(29, 0)]
    """

    VERSION = tfds.core.Version("2.0.0")
    RELEASE_NOTES = {
        "1.0.0": "First release: train/test split by id, 80/20 (crc32(id) % 100 < 20).",
        "2.0.0": "The test split is id % 5 == 0 (tfbalance.datasets.is_insurance_test_row), "
        "the rows tfbalance demo and the examples hold out; still 80/20.",
    }
    MANUAL_DOWNLOAD_INSTRUCTIONS = _MANUAL_DOWNLOAD_INSTRUCTIONS
    # TFDS 4.9 derives `code_path` through `importlib_resources`, which it only declares as
    # a dependency for Python < 3.9 (tensorflow/datasets#11212); naming the file directly
    # lets the builder prepare without that package.
    code_path = tfds.core.Path(__file__)

    def _info(self) -> tfds.core.DatasetInfo:
        features: dict[str, Any] = {name: np.int64 for name in _INT_COLUMNS}
        features.update({name: np.float32 for name in _FLOAT_COLUMNS})
        features.update(
            {
                name: tfds.features.ClassLabel(names=list(names))
                for name, names in _CATEGORY_COLUMNS.items()
            }
        )
        features[_LABEL_COLUMN] = tfds.features.ClassLabel(names=list(RESPONSE_NAMES))
        return tfds.core.DatasetInfo(
            builder=self,
            description=_DESCRIPTION,
            features=tfds.features.FeaturesDict({name: features[name] for name in COLUMNS}),
            supervised_keys=({name: name for name in FEATURE_COLUMNS}, _LABEL_COLUMN),
            homepage=_HOMEPAGE,
        )

    def _split_generators(self, dl_manager: tfds.download.DownloadManager) -> dict[str, Any]:
        path = _find_data_file(dl_manager)
        return {
            "train": self._generate_examples(path=path, split="train"),
            "test": self._generate_examples(path=path, split="test"),
        }

    def _generate_examples(self, path: Any, split: str) -> Iterator[tuple[int, dict[str, Any]]]:
        # The csv module wants newline="" (quoted fields may hold newlines), which
        # TFDS paths' text mode does not take, hence the wrapper over the binary stream.
        with io.TextIOWrapper(path.open("rb"), encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(handle)
            parsers = _row_parsers(next(reader, None), path)
            id_parser = parsers[0]
            for line_number, row in enumerate(reader, start=2):
                if not row:
                    continue
                # Each split reads the whole file: read the id first and parse the rest
                # only for the rows of this split.
                row_id = _parse_value(row, id_parser, path, line_number)
                if _split_of(row_id) == split:
                    example = {
                        parser[0]: _parse_value(row, parser, path, line_number)
                        for parser in parsers
                    }
                    yield row_id, example

def _find_data_file(dl_manager: tfds.download.DownloadManager) -> Any:
    try:
        manual_dir = dl_manager.manual_dir
    except AssertionError:
        # TFDS raises AssertionError for a missing or empty manual directory.
        manual_dir = None
    folders = [] if manual_dir is None else [manual_dir / "insurance_cross_sell", manual_dir]
    found = [folder / name for folder in folders for name in DATA_FILE_NAMES]
    found = [path for path in found if path.is_file()]
    if not found:
        where = dl_manager._manual_dir  # the configured path, even when it does not exist
        raise FileNotFoundError(
            f"The insurance_cross_sell data is not in the manual directory {where}: "
            f"expected one of {list(DATA_FILE_NAMES)} there or in its "
            f"insurance_cross_sell/ subfolder.\n{_MANUAL_DOWNLOAD_INSTRUCTIONS}"
        )
    if len(found) > 1:
        raise ValueError(
            "The manual directory holds several insurance_cross_sell data files: "
            f"{[str(p) for p in found]}. Keep only one of them (train.csv or aug_train.csv)."
        )
    return found[0]


def _row_parsers(header: list[str] | None, path: Any) -> list[tuple[str, int, Any]]:
    """``(column, position in the row, text -> value)`` for each column, ``id`` first."""
    if header is None:
        raise ValueError(f"Invalid data file {path}: it is empty (expected a CSV header).")
    names = [name.strip() for name in header]
    missing = [name for name in COLUMNS if name not in names]
    if missing:
        raise ValueError(
            f"Invalid data file {path}: columns {missing} are missing. Expected the Kaggle "
            f"columns {list(COLUMNS)}. Received: header={header}"
        )
    parsers: dict[str, Any] = {name: _integer for name in _INT_COLUMNS}
    parsers.update({name: _real for name in _FLOAT_COLUMNS})
    for name, categories in _CATEGORY_COLUMNS.items():
        parsers[name] = _category_parser(categories)
    parsers[_LABEL_COLUMN] = _category_parser(("0", "1"), aliases={"0.0": 0, "1.0": 1})
    return [(name, names.index(name), parsers[name]) for name in COLUMNS]


def _parse_value(row: list[str], parser: tuple[str, int, Any], path: Any, line_number: int):
    name, position, parse = parser
    text = row[position].strip() if position < len(row) else ""
    try:
        return parse(text)
    except ValueError as exc:
        raise ValueError(
            f"Invalid data file {path}, line {line_number}, column {name}: {exc} "
            f"Received: {text!r}"
        ) from None


def _category_parser(names: tuple[str, ...], aliases: dict[str, int] | None = None):
    ids = {name: i for i, name in enumerate(names)}
    ids.update(aliases or {})

    def parse(text: str) -> int:
        try:
            return ids[text]
        except KeyError:
            raise ValueError(f"expected one of {list(names)}.") from None

    return parse


def _real(text: str) -> np.float32:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("expected a finite number.")
    return np.float32(value)


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        pass
    # Integer columns may be written as floats ("28.0"); parse in float64, not float32,
    # so large ids stay exact.
    value = float(text)
    if not value.is_integer():
        raise ValueError("expected an integer.")
    return int(value)

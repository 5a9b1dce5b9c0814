"""``CsvSchema`` (column names, types, defaults, label vocabulary) and the label rules.

A class label read from a file is a finite whole number in ``[0, MAX_CLASS_ID]`` (a
numeric label) or a non-missing string (mapped to a class id by the vocabulary). One
function states the rule for text (``check_label_text``: the counter and schema
inference); the graph reader applies the same rule to whole batches.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from tfbalance._csv._dialect import check_field_delim
from tfbalance._tf import tf
from tfbalance._validation import MAX_CLASS_ID

__all__ = ["CsvSchema", "MISSING", "check_label_text", "normalize_dtype"]

DTYPES = ("int64", "float32", "float64", "string")
DEFAULTS = {"int64": 0, "float32": math.nan, "float64": math.nan, "string": ""}
# What pandas reads as a missing value; a label spelled like this is a missing label.
MISSING = frozenset(
    ["", "NA", "N/A", "n/a", "NaN", "nan", "-NaN", "-nan", "NULL", "null", "None", "<NA>",
     "#N/A", "#NA", "1.#QNAN", "-1.#QNAN", "1.#IND", "-1.#IND"]
)
LABEL_RULE = "class labels must be finite whole numbers"


@dataclasses.dataclass(frozen=True)
class CsvSchema:
    """Column names, types, defaults and label vocabulary of a CSV data set.

    Build one with ``infer_csv_schema`` (or by hand), inspect or edit it, and pass it to
    ``read_csv(schema=...)`` so every reader (and every worker) decodes the same way and
    maps string labels to the same class ids.

    Parameters
    ----------
    column_names : sequence of str
        The header, in file order.
    dtypes : dict
        ``{column: dtype}`` with dtype one of ``"int64"``, ``"float32"``, ``"float64"``,
        ``"string"``; the label's entry is the type written in the file (labels are always
        read as int64 class ids).
    label : str
        The label column.
    label_vocabulary : sequence of str, optional
        For string labels: the label of class id ``i`` is ``label_vocabulary[i]``.
        ``None`` for numeric labels, which are the class ids themselves.
    defaults : dict, optional
        ``{column: value}`` used for empty fields; by default 0 for int64, NaN for floats
        and ``""`` for strings.
    field_delim : str
        The one-character field delimiter.

    Examples
    --------
    >>> schema = CsvSchema(
    ...     column_names=["age", "city", "bought"],
    ...     dtypes={"age": "int64", "city": "string", "bought": "string"},
    ...     label="bought",
    ...     label_vocabulary=["no", "yes"],
    ... )
    >>> schema.feature_names
    ('age', 'city')
    >>> schema.defaults
    {'age': 0, 'city': '', 'bought': ''}
    >>> CsvSchema.from_dict(schema.to_dict()) == schema
    True
    """

    column_names: tuple[str, ...]
    dtypes: Mapping[str, str]
    label: str
    label_vocabulary: tuple[str, ...] | None = None
    defaults: Mapping[str, Any] | None = None
    field_delim: str = ","

    def __post_init__(self) -> None:
        names = tuple(str(c) for c in self.column_names)
        if not names or len(set(names)) != len(names):
            raise ValueError(
                "Invalid `column_names`: expected unique column names. "
                f"Received: column_names={list(self.column_names)!r}"
            )
        object.__setattr__(self, "column_names", names)
        if self.label not in names:
            raise ValueError(
                f"Invalid `label`: column {self.label!r} is not in the CSV header; the "
                f"columns are {list(names)}. Received: label={self.label!r}"
            )
        dtypes = {c: normalize_dtype(self.dtypes.get(c), c) for c in names}
        extra = sorted(set(self.dtypes) - set(names))
        if extra:
            raise ValueError(
                f"Invalid `dtypes`: columns {extra} are not in the header {list(names)}. "
                f"Received: dtypes={dict(self.dtypes)!r}"
            )
        object.__setattr__(self, "dtypes", dtypes)
        defaults = {c: DEFAULTS[dtypes[c]] for c in names}
        for c, value in dict(self.defaults or {}).items():
            if c not in defaults:
                raise ValueError(
                    f"Invalid `defaults`: column {c!r} is not in the header {list(names)}. "
                    f"Received: defaults={dict(self.defaults or {})!r}"
                )
            defaults[c] = value
        object.__setattr__(self, "defaults", defaults)
        if self.label_vocabulary is not None:
            vocab = tuple(str(v) for v in self.label_vocabulary)
            if not vocab or len(set(vocab)) != len(vocab):
                raise ValueError(
                    "Invalid `label_vocabulary`: expected unique label strings. "
                    f"Received: label_vocabulary={list(self.label_vocabulary)!r}"
                )
            object.__setattr__(self, "label_vocabulary", vocab)
        check_field_delim(self.field_delim)

    @property
    def feature_names(self) -> tuple[str, ...]:
        """Every column except the label, in file order."""
        return tuple(c for c in self.column_names if c != self.label)

    @property
    def num_classes(self) -> int | None:
        """Size of ``label_vocabulary`` (``None`` for numeric labels)."""
        return None if self.label_vocabulary is None else len(self.label_vocabulary)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form (``CsvSchema.from_dict`` reverses it)."""
        return {
            "column_names": list(self.column_names),
            "dtypes": dict(self.dtypes),
            "label": self.label,
            "label_vocabulary": None if self.label_vocabulary is None else list(
                self.label_vocabulary
            ),
            "defaults": {c: (None if isinstance(v, float) and math.isnan(v) else v)
                         for c, v in (self.defaults or {}).items()},
            "field_delim": self.field_delim,
        }

    @classmethod
    def from_dict(cls, config: Mapping[str, Any]) -> CsvSchema:
        """Rebuild a schema from ``to_dict()`` output."""
        config = dict(config)
        dtypes = config.get("dtypes", {})
        defaults = {
            c: (DEFAULTS[dtypes[c]] if v is None else v)
            for c, v in dict(config.get("defaults") or {}).items()
        }
        config["defaults"] = defaults
        return cls(**config)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CsvSchema):
            return NotImplemented
        return _comparable(self) == _comparable(other)

    def __hash__(self) -> int:
        return hash(repr(_comparable(self)))


def _comparable(schema: CsvSchema) -> dict[str, Any]:
    return schema.to_dict()


def normalize_dtype(dtype: Any, column: str) -> str:
    if dtype is None:
        raise ValueError(f"Invalid `dtypes`: no dtype for column {column!r}.")
    if isinstance(dtype, tf.dtypes.DType):
        dtype = dtype.name
    elif isinstance(dtype, type) or isinstance(dtype, np.dtype):
        dtype = np.dtype(dtype).name
    name = {"str": "string", "object": "string", "int": "int64", "float": "float32",
            "int32": "int64"}.get(str(dtype), str(dtype))
    if name not in DTYPES:
        raise ValueError(
            f"Invalid `dtypes`: column {column!r} has dtype {dtype!r}; expected one of "
            f"{list(DTYPES)}. Received: dtype={dtype!r}"
        )
    return name


def check_label_text(text: str, where: str) -> None:
    """Raise ``ValueError`` (naming ``where``) unless ``text`` is a valid class label.

    A number must be a finite whole number in ``[0, MAX_CLASS_ID]``; any other text is a
    string label, except the spellings of a missing value.
    """
    if text.strip() in MISSING:
        detail = "NaN" if text.strip().lstrip("+-").lower() == "nan" else "missing"
        raise ValueError(
            f"Invalid label in {where}: the label is {detail}; {LABEL_RULE} or strings. "
            f"Received: {text!r}"
        )
    try:
        value = float(text)
    except ValueError:
        return  # a string label
    if not math.isfinite(value) or not value.is_integer():
        raise ValueError(f"Invalid label in {where}: {LABEL_RULE}. Received: {text!r}")
    if value < 0:
        raise ValueError(
            f"Invalid label in {where}: class ids must be non-negative. Received: {text!r}"
        )
    if value > MAX_CLASS_ID:
        raise ValueError(
            f"Invalid label in {where}: class ids must be at most MAX_CLASS_ID = "
            f"{MAX_CLASS_ID} (is the label column right?). Received: {text!r}"
        )

"""``infer_csv_schema``: column types from a sample, the label vocabulary from a count."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tfbalance._csv._count import count_csv_classes
from tfbalance._csv._dialect import check_label_column, inspect_files
from tfbalance._csv._files import FilePattern, open_file, resolve_files
from tfbalance._csv._schema import MISSING, CsvSchema, check_label_text, normalize_dtype
from tfbalance._deprecation import compression_type_of, renamed_keywords
from tfbalance._validation import check_positive_int

__all__ = ["infer_csv_schema"]


@renamed_keywords("file_pattern", "compression_type")
def infer_csv_schema(
    source: FilePattern,
    label: str | None,
    *,
    column_dtypes: Mapping[str, Any] | None = None,
    column_defaults: Mapping[str, Any] | None = None,
    label_vocabulary: Sequence[str] | None = None,
    sample_rows: int = 10_000,
    field_delim: str = ",",
    compression: str | None = "auto",
) -> CsvSchema:
    """Infer a ``CsvSchema`` from the header and the first rows of the first file.

    Column types come from a sample of ``sample_rows`` rows: integers become ``int64``,
    other numbers ``float32``, anything else ``string``. When the label column holds
    strings, its vocabulary comes from one pass over the label column of every file
    (``count_csv_classes``), sorted, so no label can be missed.

    Parameters
    ----------
    source : str, path or list of them
        CSV files or glob patterns (``.gz`` files are read as gzip). The deprecated
        keyword ``file_pattern=`` is accepted until 0.3.0.
    label : str
        The label column.
    column_dtypes : dict, optional
        ``{column: dtype}`` overriding the inferred types.
    column_defaults : dict, optional
        ``{column: value}`` for empty fields.
    label_vocabulary : sequence of str, optional
        Fixes the class id of each string label (skips the vocabulary pass).
    sample_rows : int
        Rows read to infer the column types.
    field_delim : str
        The field delimiter.
    compression : {'auto', 'gzip', None}
        As ``read_csv``: ``'auto'`` is gzip when the file name ends in ``.gz``. The
        deprecated keyword ``compression_type=`` is accepted until 0.3.0.

    Returns
    -------
    CsvSchema

    Raises
    ------
    FileNotFoundError, ValueError, TypeError
        As ``read_csv``.

    Examples
    --------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "tiny.csv")
    >>> with open(path, "w") as f:
    ...     _ = f.write("age,city,bought\\n31,Lyon,yes\\n45,Oslo,no\\n27,Lyon,no\\n")
    >>> schema = infer_csv_schema(path, "bought")
    >>> schema.dtypes
    {'age': 'int64', 'city': 'string', 'bought': 'string'}
    >>> schema.label_vocabulary
    ('no', 'yes')
    """
    import pandas as pd

    sample_rows = check_positive_int(sample_rows, "sample_rows")
    compression_type = compression_type_of(compression)
    files = resolve_files(source)
    infos = inspect_files(files, compression_type, field_delim)
    header = list(infos[0].header)
    label = check_label_column(header, label)
    try:
        with open_file(infos[0].path, infos[0].compression) as f:
            sample = pd.read_csv(
                f, nrows=sample_rows, sep=field_delim, dtype=str, keep_default_na=False,
                skip_blank_lines=True,
            )
    except pd.errors.ParserError as exc:
        # The byte scanner names the file and line of the malformed row.
        count_csv_classes(files[:1], label, verbose=False, field_delim=field_delim,
                          compression_type=compression_type)
        raise ValueError(f"Invalid CSV file {infos[0].path!r}: {exc}") from None
    dtypes = {c: _infer_dtype(sample[c]) for c in header}
    for c, value in dict(column_dtypes or {}).items():
        if c not in dtypes:
            raise ValueError(
                f"Invalid `column_dtypes`: column {c!r} is not in the header {header}. "
                f"Received: column_dtypes={dict(column_dtypes or {})!r}"
            )
        dtypes[c] = normalize_dtype(value, c)
    for row, text in enumerate(sample[label].tolist()):
        check_label_text(text, f"{infos[0].path}, line {row + 2}")
    if label_vocabulary is None and dtypes[label] == "string":
        label_vocabulary = count_csv_classes(
            files, label, verbose=False, field_delim=field_delim,
            compression_type=compression_type,
        ).names
    return CsvSchema(
        column_names=tuple(header),
        dtypes=dtypes,
        label=label,
        label_vocabulary=None if label_vocabulary is None else tuple(label_vocabulary),
        defaults=column_defaults,
        field_delim=field_delim,
    )


def _infer_dtype(values) -> str:
    import pandas as pd

    present = values[~values.str.strip().isin(MISSING)]
    if present.empty:
        return "string"
    numbers = pd.to_numeric(present, errors="coerce")
    if numbers.isna().any():
        return "string"
    if present.str.fullmatch(r"\s*[-+]?\d+\s*").all() and len(present) == len(values):
        return "int64"
    return "float32"

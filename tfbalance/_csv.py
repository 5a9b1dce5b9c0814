"""Streaming CSV input: ``read_csv`` (a ``tf.data`` pipeline) and one-pass class counts.

Reading splits files into large byte blocks (``FixedLengthRecordDataset``), cuts the
blocks into lines with one vectorised ``tf.strings.split`` per block and decodes whole
batches with ``tf.io.decode_csv`` in a parallel map, so no per-line ``tf.data`` element is
ever created on the plain-text path. Counting reads cache-sized chunks of bytes and counts
them on worker threads: in clean chunks (no quotes, every row the right length, checked
exactly with vectorised per-line delimiter counts) only the label field of each row is
located and compared, without tokenizing the other columns; any other chunk goes through
a NumPy scan that respects quotes and names the file and line of a bad row.
"""

from __future__ import annotations

import collections
import concurrent.futures
import csv
import dataclasses
import glob as _glob
import gzip
import math
import os
from typing import Any, Callable, Mapping, Sequence, Union

import numpy as np

from tfbalance._distribution import ClassDistribution
from tfbalance._progress import show_progress as _show_progress
from tfbalance._tf import tf
from tfbalance._validation import check_seed

__all__ = ["CsvSchema", "count_csv_classes", "infer_csv_schema", "read_csv"]

PathLike = Union[str, os.PathLike]
FilePattern = Union[PathLike, Sequence[PathLike]]

_DTYPES = ("int64", "float32", "float64", "string")
_DEFAULTS = {"int64": 0, "float32": math.nan, "float64": math.nan, "string": ""}
# What pandas reads as a missing value; a label spelled like this is a missing label.
_MISSING = frozenset(
    ["", "NA", "N/A", "n/a", "NaN", "nan", "-NaN", "-nan", "NULL", "null", "None", "<NA>",
     "#N/A", "#NA", "1.#QNAN", "-1.#QNAN", "1.#IND", "-1.#IND"]
)
_BLOCK_BYTES = 1 << 20  # bytes per FixedLengthRecordDataset block when reading
_CHUNK_BYTES = 1 << 20  # bytes per NumPy chunk when counting (cache-sized)


# --------------------------------------------------------------------------- schema


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
        dtypes = {c: _normalize_dtype(self.dtypes.get(c), c) for c in names}
        extra = sorted(set(self.dtypes) - set(names))
        if extra:
            raise ValueError(
                f"Invalid `dtypes`: columns {extra} are not in the header {list(names)}. "
                f"Received: dtypes={dict(self.dtypes)!r}"
            )
        object.__setattr__(self, "dtypes", dtypes)
        defaults = {c: _DEFAULTS[dtypes[c]] for c in names}
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
        if not isinstance(self.field_delim, str) or len(self.field_delim.encode()) != 1:
            raise ValueError(
                "Invalid `field_delim`: expected a one-byte string such as ',' or '\\t'. "
                f"Received: field_delim={self.field_delim!r}"
            )

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
                         for c, v in self.defaults.items()},
            "field_delim": self.field_delim,
        }

    @classmethod
    def from_dict(cls, config: Mapping[str, Any]) -> "CsvSchema":
        """Rebuild a schema from ``to_dict()`` output."""
        config = dict(config)
        dtypes = config.get("dtypes", {})
        defaults = {
            c: (_DEFAULTS[dtypes[c]] if v is None else v)
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


def _normalize_dtype(dtype: Any, column: str) -> str:
    if dtype is None:
        raise ValueError(f"Invalid `dtypes`: no dtype for column {column!r}.")
    if isinstance(dtype, tf.dtypes.DType):
        dtype = dtype.name
    elif isinstance(dtype, type) or isinstance(dtype, np.dtype):
        dtype = np.dtype(dtype).name
    name = {"str": "string", "object": "string", "int": "int64", "float": "float32",
            "int32": "int64"}.get(str(dtype), str(dtype))
    if name not in _DTYPES:
        raise ValueError(
            f"Invalid `dtypes`: column {column!r} has dtype {dtype!r}; expected one of "
            f"{list(_DTYPES)}. Received: dtype={dtype!r}"
        )
    return name


# --------------------------------------------------------------------------- files


def _resolve_files(file_pattern: Any) -> list[str]:
    if isinstance(file_pattern, (str, os.PathLike)):
        patterns = [file_pattern]
    elif isinstance(file_pattern, (list, tuple)) and file_pattern and all(
        isinstance(p, (str, os.PathLike)) for p in file_pattern
    ):
        patterns = list(file_pattern)
    else:
        raise TypeError(
            "Invalid `file_pattern`: expected a path, a glob pattern or a non-empty list of "
            f"them. Received: file_pattern={file_pattern!r}"
        )
    files: list[str] = []
    for pattern in patterns:
        pattern = os.fspath(pattern)
        if _glob.has_magic(pattern):
            matches = sorted(_glob.glob(pattern))
            if not matches:
                raise ValueError(
                    "Invalid `file_pattern`: the glob matches no file. "
                    f"Received: file_pattern={pattern!r}"
                )
            files.extend(matches)
        elif os.path.isfile(pattern):
            files.append(pattern)
        else:
            raise FileNotFoundError(
                f"Invalid `file_pattern`: no such file {pattern!r}. "
                f"Received: file_pattern={file_pattern!r}"
            )
    return files


def _compression(path: str, compression_type: str | None) -> str:
    if compression_type is None:
        return "GZIP" if path.endswith(".gz") else ""
    if compression_type not in ("", "GZIP", "ZLIB"):
        raise ValueError(
            "Invalid `compression_type`: expected None (detect from a '.gz' suffix), '' "
            f"or 'GZIP'. Received: compression_type={compression_type!r}"
        )
    if compression_type == "ZLIB":
        raise ValueError(
            "Invalid `compression_type`: ZLIB streams are not supported for CSV; use "
            f"'GZIP' or ''. Received: compression_type={compression_type!r}"
        )
    return compression_type


def _open(path: str, compression: str):
    return gzip.open(path, "rb") if compression == "GZIP" else open(path, "rb")


@dataclasses.dataclass
class _FileInfo:
    path: str
    compression: str
    header: list[str]
    header_bytes: int
    crlf: bool


def _inspect_file(path: str, compression: str, field_delim: str) -> _FileInfo:
    with _open(path, compression) as f:
        first = f.readline()
        if not first.strip():
            raise ValueError(f"Invalid CSV file {path!r}: the file is empty (no header row).")
        second = f.readline()
        while second and not second.strip():
            second = f.readline()
        if not second:
            raise ValueError(
                f"Invalid CSV file {path!r}: the file has a header row but no data rows."
            )
    text = first.decode("utf-8-sig")
    header = next(csv.reader([text.rstrip("\r\n")], delimiter=field_delim))
    return _FileInfo(path, compression, header, len(first), first.endswith(b"\r\n"))


def _inspect_files(
    files: list[str], compression_type: str | None, field_delim: str
) -> list[_FileInfo]:
    infos = [_inspect_file(p, _compression(p, compression_type), field_delim) for p in files]
    for info in infos[1:]:
        if info.header != infos[0].header:
            raise ValueError(
                f"Invalid CSV file {info.path!r}: its header {info.header} differs from the "
                f"header {infos[0].header} of {infos[0].path!r}."
            )
    return infos


def _check_label_column(header: Sequence[str], label: Any) -> None:
    if label is None:
        raise ValueError(
            "Invalid `label`: CSV sources need the label column's name. "
            f"The columns are {list(header)}. Received: label=None"
        )
    if not isinstance(label, str):
        raise TypeError(
            f"Invalid `label`: expected a column name (str). Received: label={label!r}"
        )
    if label not in header:
        raise ValueError(
            f"Invalid `label`: column {label!r} is not in the CSV header; the columns are "
            f"{list(header)}. Received: label={label!r}"
        )


# --------------------------------------------------------------------------- counting


class _RowError(Exception):
    """A bad row found in a chunk; ``offset`` counts lines from the chunk's first line."""

    def __init__(self, offset: int, message: str) -> None:
        super().__init__(message)
        self.offset = offset
        self.message = message

    def to_value_error(self, path: str, first_line: int) -> ValueError:
        where = f"{path}, line {first_line + self.offset}"
        return ValueError(self.message.replace("{where}", where))


class _LabelTally:
    """Counts of raw label strings, validated as they first appear."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def add(self, text: str, count: int, offset) -> None:
        if text not in self.counts:
            try:
                _check_label_text(text, "{where}")
            except ValueError as exc:
                raise _RowError(offset(), str(exc)) from None
            self.counts[text] = 0
        self.counts[text] += count


def _check_label_text(text: str, where: str) -> None:
    if text.strip().lstrip("+-").lower() == "nan":
        raise ValueError(f"Invalid label in {where}: the label is NaN (got {text!r}).")
    if text.strip() in _MISSING:
        raise ValueError(f"Invalid label in {where}: the label is missing (got {text!r}).")
    try:
        value = float(text)
    except ValueError:
        return  # a string label
    if math.isnan(value):
        raise ValueError(f"Invalid label in {where}: the label is NaN (got {text!r}).")
    if not value.is_integer():
        raise ValueError(
            f"Invalid label in {where}: class labels must be integers, got {text!r}."
        )
    if value < 0:
        raise ValueError(
            f"Invalid label in {where}: class ids must be non-negative, got {text!r}."
        )


def _unquote(raw: bytes) -> str:
    text = raw.decode("utf-8", errors="replace")
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        text = text[1:-1].replace('""', '"')
    return text


def _iter_chunks(path: str, compression: str, chunk_bytes: int, header_bytes: int):
    """Yield ``(chunk, progress_bytes)``: each chunk holds whole rows.

    Each chunk is the buffer it was read into (handed on without a copy); a row that
    straddles two reads moves to the front of the next buffer.
    """
    with open(path, "rb") as raw:
        stream = gzip.GzipFile(fileobj=raw) if compression == "GZIP" else raw
        stream.read(header_bytes)
        buffer = bytearray(chunk_bytes)
        view = memoryview(buffer)
        filled = 0
        while True:
            if filled == len(buffer):  # a row longer than the buffer: grow it
                view.release()
                buffer.extend(bytes(len(buffer)))
                view = memoryview(buffer)
            read = stream.readinto(view[filled:])
            if not read:
                break
            filled += read
            cut = _last_row_end(buffer, filled)
            if cut == 0:
                continue
            # The chunk keeps this buffer (no copy); the partial row moves to a new one.
            view.release()
            chunk, buffer = buffer, bytearray(len(buffer))
            buffer[: filled - cut] = chunk[cut:filled]
            view = memoryview(buffer)
            del chunk[cut:]
            filled -= cut
            yield chunk, raw.tell()
        view.release()
        if bytes(buffer[:filled]).strip():
            yield bytes(buffer[:filled]) + b"\n", raw.tell()


def _last_row_end(buffer: bytearray, size: int) -> int:
    """Index just past the last newline before ``size`` that is outside quotes (0 if none)."""
    end = buffer.rfind(b"\n", 0, size) + 1
    if end == 0 or buffer.find(b'"', 0, end) < 0:
        return end
    array = np.frombuffer(buffer, np.uint8, count=size)
    outside = _quote_parity(array) == 0
    newlines = np.flatnonzero((array == 10) & outside)
    return int(newlines[-1]) + 1 if newlines.size else 0


def _quote_parity(array: np.ndarray) -> np.ndarray:
    # uint8 cumsum wraps at 256, which keeps the parity; escaped quotes ("") toggle twice.
    return np.cumsum(array == 34, dtype=np.uint8) & 1


def _count_chunk(chunk: bytes, ncols: int, column: int, delim: int) -> tuple[dict[str, int], int]:
    """Label counts of the rows in ``chunk`` and its number of lines.

    Clean chunks take the vectorised fast path; anything unusual (quotes, blank lines, a
    row of the wrong length) goes through the exact NumPy scan, which also finds the line
    of any error.
    """
    fast = _count_chunk_fast(chunk, ncols, column, delim)
    return fast if fast is not None else _count_chunk_exact(chunk, ncols, column, delim)


def _count_chunk_fast(chunk: bytes, ncols: int, column: int, delim: int):
    """Counts of a clean chunk, or ``None`` when the chunk needs the exact scan.

    Clean means: no quotes and exactly ``ncols - 1`` delimiters on every line, which is
    checked exactly (see ``_delimiters_per_line_are``). Only the label field of each row
    is then located, without tokenizing the other columns: a first or last column by a
    short scan from the line's start or end, any other column from the positions of all
    delimiters. Bad labels raise ``_RowError`` with their line, as in the exact scan.
    """
    if chunk.find(b'"') >= 0:
        return None
    array = np.frombuffer(chunk, np.uint8)
    newlines = np.flatnonzero(array == 10)
    lines = int(newlines.size)
    if lines == 0:
        return None
    line_starts = np.empty_like(newlines)
    line_starts[0] = 0
    line_starts[1:] = newlines[:-1] + 1
    start = end = None
    if ncols == 1:
        if chunk.find(bytes([delim])) >= 0:
            return None
        start, end = line_starts, newlines
    elif column in (0, ncols - 1):
        if not _delimiters_per_line_are(array, line_starts, delim, ncols - 1):
            return None
        # Every line holds a delimiter, so each scan stops inside its own line.
        if column == 0:
            start, end = line_starts, _scan_to(array, delim, line_starts, 1)
        else:
            end, first = newlines, _scan_to(array, delim, newlines - 1, -1)
            start = None if first is None else first + 1
    if start is None or end is None:
        delims = np.flatnonzero(array == delim)
        if delims.size != lines * (ncols - 1):
            return None
        rows = delims.reshape(lines, ncols - 1)
        # With lines * (ncols - 1) delimiters in all, each line's share lying between
        # its own newlines means no line has more or fewer.
        if not (np.all(rows[:, -1] < newlines) and np.all(rows[:, 0] >= line_starts)):
            return None
        start = rows[:, column - 1] + 1 if column else line_starts
        end = rows[:, column] if column < ncols - 1 else newlines
    return _tally_fields(chunk, array, start, end, column == ncols - 1, False), lines


def _delimiters_per_line_are(array: np.ndarray, line_starts: np.ndarray, delim: int,
                             expected: int) -> bool:
    """Whether every line (starting at ``line_starts``; the chunk ends with a newline)
    holds exactly ``expected`` delimiters.

    Per-line sums are taken in uint8 (fast; they wrap at 256) when ``expected`` < 256;
    together with an exact total they are still exact: non-negative counts that all equal
    ``expected`` modulo 256 can only sum to ``lines * expected`` when each is ``expected``.
    """
    flags = (array == delim).view(np.uint8)
    if int(np.count_nonzero(flags)) != line_starts.size * expected:
        return False
    counts = np.add.reduceat(flags, line_starts, dtype=np.uint8 if expected < 256 else np.int64)
    return bool(np.all(counts == expected))


def _scan_to(array: np.ndarray, delim: int, origins: np.ndarray, step: int, limit: int = 64):
    """Position of the first delimiter at or after (``step=1``) / before (``-1``) each origin.

    Callers guarantee a delimiter on each origin's line in the scan direction, so the scan
    never leaves that line. ``None`` when some field is longer than ``limit`` bytes (the
    caller then uses the positions of all delimiters).
    """
    found = np.empty_like(origins)
    todo = np.arange(origins.size)
    at = origins
    for _ in range(limit):
        hit = array[at] == delim
        if hit.all():
            found[todo] = at
            return found
        found[todo[hit]] = at[hit]
        miss = ~hit
        todo, at = todo[miss], at[miss] + step
    return None


def _count_chunk_exact(
    chunk: bytes, ncols: int, column: int, delim: int
) -> tuple[dict[str, int], int]:
    """Label counts of the rows in ``chunk`` and its number of lines, by a NumPy scan.

    Raises ``_RowError`` for a malformed row or a bad label.
    """
    size = len(chunk)
    array = np.frombuffer(chunk, np.uint8)
    quoted = chunk.find(b'"') >= 0
    if delim <= 44:
        # One comparison finds every byte that may matter ('\n', '"', the delimiter and
        # a few rarer characters); the exact tests then run on that much smaller set.
        candidates = np.flatnonzero(array <= max(delim, 34))
        values = array[candidates]
    else:
        candidates = np.arange(size)
        values = array
    is_sep = (values == 10) | (values == delim)
    if quoted:
        is_sep &= _quote_parity(values) == 0
    seps = candidates[is_sep]
    is_newline = values[is_sep] == 10
    lines = int(np.count_nonzero(values == 10)) if quoted else int(is_newline.size // ncols)
    if seps.size % ncols or not np.array_equal(
        is_newline.reshape(-1, ncols), np.broadcast_to(np.arange(ncols) == ncols - 1,
                                                       (seps.size // ncols, ncols))
    ):
        lines = int(np.count_nonzero(values == 10))
        seps, is_newline = _drop_blank_lines(seps, is_newline)
        _check_field_counts(chunk, seps, is_newline, ncols)
    rows = seps.reshape(-1, ncols)
    end = rows[:, column]
    if column:
        start = rows[:, column - 1] + 1
    else:
        start = np.concatenate([[0], rows[:-1, -1] + 1])
    return _tally_fields(chunk, array, start, end, column == ncols - 1, quoted), lines


def _tally_fields(chunk, array, start, end, last_column: bool, quoted: bool) -> dict[str, int]:
    """Counts of the distinct fields ``chunk[start[i]:end[i]]``, each checked as a label."""
    tally = _LabelTally()
    if last_column:  # CRLF: the last field ends before '\r'
        end = end - ((end > start) & (array[np.maximum(end - 1, 0)] == 13))
    width = end - start
    if not width.size:  # a chunk of blank lines only
        return {}
    widest = int(width.max())

    def where(row: int) -> int:
        return chunk.count(b"\n", 0, int(start[row]))

    if widest == 0:
        tally.add("", int(width.size), lambda: where(0))
    elif widest == 1 and width.min() == 1:
        values = array[start]
        counts = np.bincount(values, minlength=256)
        for byte in np.flatnonzero(counts):
            tally.add(chr(byte), int(counts[byte]),
                      lambda b=byte: where(int(np.argmax(values == b))))
    else:
        if widest <= 8:
            keys = np.zeros(width.size, np.uint64)
            for j in range(widest):
                present = width > j
                byte = array[np.minimum(start + j, array.size - 1)].astype(np.uint64)
                keys |= np.where(present, byte, 0) << np.uint64(8 * j)
            uniques, first, counts = np.unique(keys, return_index=True, return_counts=True)
            raws = [int(k).to_bytes(8, "little").rstrip(b"\0") for k in uniques]
        else:
            offsets = start[:, None] + np.arange(widest)
            matrix = np.where(np.arange(widest) < width[:, None],
                              array[np.minimum(offsets, array.size - 1)], 0).astype(np.uint8)
            strings = matrix.view(f"S{widest}").reshape(-1)
            uniques, first, counts = np.unique(strings, return_index=True, return_counts=True)
            raws = [bytes(u) for u in uniques]
        for raw, row, n in zip(raws, first, counts):
            text = _unquote(raw) if quoted else raw.decode("utf-8", errors="replace")
            tally.add(text, int(n), lambda r=int(row): where(r))
    return tally.counts


def _drop_blank_lines(seps: np.ndarray, is_newline: np.ndarray):
    # A newline right after another newline (or at the chunk start) ends a blank line,
    # which pandas and read_csv skip.
    previous = np.concatenate([[-1], seps[:-1]])
    blank = is_newline & (seps == previous + 1) & np.concatenate([[True], is_newline[:-1]])
    if blank.any():
        return seps[~blank], is_newline[~blank]
    return seps, is_newline


def _check_field_counts(chunk, seps, is_newline, ncols) -> None:
    row_ends = np.flatnonzero(is_newline)
    fields = np.diff(np.concatenate([[-1], row_ends]))
    bad = np.flatnonzero(fields != ncols)
    if bad.size == 0 and seps.size == row_ends.size * ncols:
        return
    row = int(bad[0]) if bad.size else row_ends.size
    start = int(seps[row_ends[row - 1]]) + 1 if row else 0
    stop = chunk.find(b"\n", start)
    text = chunk[start:stop].decode("utf-8", errors="replace").rstrip("\r")
    found = int(fields[row]) if bad.size else 0
    raise _RowError(
        chunk.count(b"\n", 0, start),
        f"Invalid CSV row in {{where}}: expected {ncols} fields, found {found}: "
        f"{text[:200]!r}".replace("{{where}}", "{where}"),
    )


_COUNT_OPTIONS = frozenset(
    ["field_delim", "compression_type", "label_vocabulary", "schema", "chunk_bytes"]
)


def count_csv_classes(
    source: FilePattern,
    label: str | None,
    *,
    verbose: bool | None = None,
    **options: Any,
) -> ClassDistribution:
    """Count the rows of each class in CSV files, reading only the label column.

    Memory is bounded by a few chunks of bytes (1 MiB each by default), whatever the file
    size.
    Usually called through ``tfbalance.class_counts(path, label)``.

    Parameters
    ----------
    source : str, path or list of them
        A CSV file, a glob pattern, or a list of files/patterns. Files ending in ``.gz``
        are read as gzip.
    label : str
        The label column's name.
    verbose : bool, optional
        Show a progress bar; ``None`` shows one only on an interactive terminal.
    **options
        ``field_delim`` (default ``","``), ``compression_type`` (``None`` = detect from a
        ``.gz`` suffix, ``""``, ``"GZIP"``), ``label_vocabulary`` (fixes the class id of
        each string label), ``schema`` (a ``CsvSchema``; supplies the delimiter and
        vocabulary) and ``chunk_bytes``.

    Returns
    -------
    ClassDistribution
        Numeric labels are the class ids. String labels get ids in sorted order (or the
        order of ``label_vocabulary``) and ``names`` holds the strings.

    Raises
    ------
    FileNotFoundError
        A named file does not exist.
    ValueError
        A glob matches nothing; the label column is absent (the message lists the columns);
        a file is empty or has only a header; a row has the wrong number of fields; a
        label is empty, NaN, negative or not an integer (messages give file and line).

    Examples
    --------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "tiny.csv")
    >>> with open(path, "w") as f:
    ...     _ = f.write("x,y\\n1.5,0\\n2.5,1\\n0.5,0\\n")
    >>> count_csv_classes(path, "y").counts
    {0: 2, 1: 1}
    """
    unknown = sorted(set(options) - _COUNT_OPTIONS)
    if unknown:
        raise TypeError(
            f"Invalid options {unknown} for CSV class counts; expected some of "
            f"{sorted(_COUNT_OPTIONS)}. Received: {unknown}"
        )
    schema = options.get("schema")
    if schema is not None and not isinstance(schema, CsvSchema):
        raise TypeError(f"Invalid `schema`: expected a CsvSchema. Received: schema={schema!r}")
    field_delim = options.get("field_delim", schema.field_delim if schema else ",")
    vocabulary = options.get(
        "label_vocabulary", schema.label_vocabulary if schema is not None else None
    )
    if label is None and schema is not None:
        label = schema.label
    chunk_bytes = int(options.get("chunk_bytes", _CHUNK_BYTES))
    files = _resolve_files(source)
    infos = _inspect_files(files, options.get("compression_type"), field_delim)
    header = infos[0].header
    _check_label_column(header, label)
    column, ncols, delim = header.index(label), len(header), ord(field_delim)

    progbar = None
    if _show_progress(verbose):
        import keras

        progbar = keras.utils.Progbar(sum(os.path.getsize(p) for p in files), unit_name="byte")
    totals: dict[str, int] = {}
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    workers = max(1, min(4, cpus or 1))
    # Chunks are counted on worker threads (NumPy releases the GIL) and merged in file
    # order, so the first error reported is the earliest bad line; at most `workers + 1`
    # chunks are in memory at once.
    pending: collections.deque = collections.deque()
    state = {"path": None, "line": 2, "done": 0}

    def merge() -> None:
        path, future, position, base = pending.popleft()
        if path != state["path"]:
            state["path"], state["line"] = path, 2
        try:
            counts, lines = future.result()
        except _RowError as exc:
            raise exc.to_value_error(path, state["line"]) from None
        state["line"] += lines
        for text, n in counts.items():
            totals[text] = totals.get(text, 0) + n
        if progbar is not None:
            progbar.update(base + position)

    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        try:
            base = 0
            for info in infos:
                for chunk, position in _iter_chunks(info.path, info.compression, chunk_bytes,
                                                    info.header_bytes):
                    future = pool.submit(_count_chunk, chunk, ncols, column, delim)
                    pending.append((info.path, future, position, base))
                    if len(pending) > workers:
                        merge()
                base += os.path.getsize(info.path)
            while pending:
                merge()
        finally:
            for _, future, _, _ in pending:
                future.cancel()
    return _to_distribution(totals, vocabulary, label)


def _to_distribution(
    counts: Mapping[str, int], vocabulary: Sequence[str] | None, label: str
) -> ClassDistribution:
    numeric = vocabulary is None and all(_is_number(t) for t in counts)
    if numeric:
        merged: dict[int, int] = {}
        for text, n in counts.items():
            merged[int(float(text))] = merged.get(int(float(text)), 0) + n
        return ClassDistribution(merged)
    names = [str(v) for v in vocabulary] if vocabulary is not None else sorted(counts)
    index = {name: i for i, name in enumerate(names)}
    unknown = sorted(set(counts) - set(index))
    if unknown:
        raise ValueError(
            f"Invalid `label_vocabulary`: labels {unknown[:10]} of column {label!r} are not "
            f"in it. Received: label_vocabulary={names!r}"
        )
    return ClassDistribution([counts.get(name, 0) for name in names], names=names)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


# --------------------------------------------------------------------------- schema inference


def infer_csv_schema(
    file_pattern: FilePattern,
    label: str,
    *,
    column_dtypes: Mapping[str, Any] | None = None,
    column_defaults: Mapping[str, Any] | None = None,
    label_vocabulary: Sequence[str] | None = None,
    sample_rows: int = 10_000,
    field_delim: str = ",",
    compression_type: str | None = None,
) -> CsvSchema:
    """Infer a ``CsvSchema`` from the header and the first rows of the first file.

    Column types come from a sample of ``sample_rows`` rows: integers become ``int64``,
    other numbers ``float32``, anything else ``string``. When the label column holds
    strings, its vocabulary comes from one pass over the label column of every file
    (``count_csv_classes``), sorted, so no label can be missed.

    Parameters
    ----------
    file_pattern : str, path or list of them
        CSV files or glob patterns (``.gz`` files are read as gzip).
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
    compression_type : str, optional
        ``None`` (detect from a ``.gz`` suffix), ``""`` or ``"GZIP"``.

    Returns
    -------
    CsvSchema

    Raises
    ------
    FileNotFoundError, ValueError
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

    if isinstance(sample_rows, bool) or not isinstance(sample_rows, int) or sample_rows < 1:
        raise ValueError(
            f"Invalid `sample_rows`: expected a positive int. Received: sample_rows={sample_rows!r}"
        )
    files = _resolve_files(file_pattern)
    infos = _inspect_files(files, compression_type, field_delim)
    header = infos[0].header
    _check_label_column(header, label)
    try:
        with _open(infos[0].path, infos[0].compression) as f:
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
        dtypes[c] = _normalize_dtype(value, c)
    for row, text in enumerate(sample[label].tolist()):
        _check_label_text(text, f"{infos[0].path}, line {row + 2}")
    if label_vocabulary is None and dtypes[label] == "string":
        label_vocabulary = count_csv_classes(
            files, label, verbose=False, field_delim=field_delim,
            compression_type=compression_type,
        ).names
    return CsvSchema(
        column_names=header,
        dtypes=dtypes,
        label=label,
        label_vocabulary=label_vocabulary,
        defaults=column_defaults,
        field_delim=field_delim,
    )


def _infer_dtype(values) -> str:
    import pandas as pd

    present = values[~values.str.strip().isin(_MISSING)]
    if present.empty:
        return "string"
    numbers = pd.to_numeric(present, errors="coerce")
    if numbers.isna().any():
        return "string"
    if present.str.fullmatch(r"\s*[-+]?\d+\s*").all() and len(present) == len(values):
        return "int64"
    return "float32"


# --------------------------------------------------------------------------- reading


def read_csv(
    file_pattern: FilePattern,
    label: str | None = None,
    *,
    batch_size: int = 256,
    schema: CsvSchema | None = None,
    column_dtypes: Mapping[str, Any] | None = None,
    column_defaults: Mapping[str, Any] | None = None,
    label_vocabulary: Sequence[str] | None = None,
    select_columns: Sequence[str] | None = None,
    num_epochs: int | None = 1,
    shuffle: bool = False,
    shuffle_buffer_size: int = 10_000,
    seed: int | None = None,
    num_shards: int | None = None,
    shard_index: int | None = None,
    input_context: Any = None,
    num_parallel_reads: int | None = None,
    num_parallel_calls: int | None = None,
    deterministic: bool = True,
    drop_remainder: bool = False,
    field_delim: str = ",",
    compression_type: str | None = None,
    prefetch: bool = True,
    resample: Callable[[tf.data.Dataset], tf.data.Dataset] | None = None,
) -> tf.data.Dataset:
    """Stream CSV files as ``(features, label)`` batches for Keras.

    Each element is ``({column: tensor[batch]}, label[batch])`` with int64 class ids. The
    pipeline reads large byte blocks, splits them into lines in one vectorised op per block
    and decodes whole batches with ``tf.io.decode_csv`` in parallel; it is graph-only, so it
    works with ``tf.distribute``, tf.data service and iterator checkpoints.

    Parameters
    ----------
    file_pattern : str, path or list of them
        CSV files (with a header row) or glob patterns; matched files are read in sorted
        order. Files ending in ``.gz`` are read as gzip.
    label : str
        The label column (optional when ``schema`` is given).
    batch_size : int
        Rows per batch. With ``input_context`` this is the global batch size; each input
        pipeline gets ``input_context.get_per_replica_batch_size(batch_size)``.
    schema : CsvSchema, optional
        Column types, defaults and label vocabulary (see ``infer_csv_schema``). Inferred
        when omitted, from ``column_dtypes``, ``column_defaults`` and ``label_vocabulary``.
    column_dtypes, column_defaults, label_vocabulary
        Passed to ``infer_csv_schema`` when ``schema`` is omitted.
    select_columns : sequence of str, optional
        Feature columns to decode (others are skipped); default all but the label.
    num_epochs : int or None
        Passes over the data; ``None`` repeats forever.
    shuffle : bool
        Shuffle file order and rows (through a buffer of ``shuffle_buffer_size`` rows),
        differently on every epoch, reproducibly for a given ``seed``.
    shuffle_buffer_size : int
        Rows held by the shuffle buffer.
    seed : int, optional
        Seed for shuffling.
    num_shards, shard_index : int, optional
        Read only shard ``shard_index`` of ``num_shards``: whole files when there are at
        least ``num_shards`` files, else every ``num_shards``-th block of rows. Together
        the shards hold every row exactly once.
    input_context : tf.distribute.InputContext, optional
        Sets the shard from ``input_pipeline_id`` / ``num_input_pipelines`` (for
        ``strategy.distribute_datasets_from_function``).
    num_parallel_reads : int, optional
        Files read at once (default: up to 4, ``tf.data.AUTOTUNE`` parallelism).
    num_parallel_calls : int, optional
        Batches decoded at once (default ``tf.data.AUTOTUNE``).
    deterministic : bool
        Keep the order of rows fixed; ``False`` lets parallel reads and decodes reorder.
    drop_remainder : bool
        Drop the last, smaller batch.
    field_delim : str
        The field delimiter.
    compression_type : str, optional
        ``None`` (detect from a ``.gz`` suffix), ``""`` or ``"GZIP"``.
    prefetch : bool
        End the pipeline with ``prefetch(tf.data.AUTOTUNE)``.
    resample : transform, optional
        A ``tfbalance.undersample``, ``oversample`` or ``rejection_resample`` transform (with
        the default ``label=None``) applied to the batches as they are read. The output is
        the same as ``read_csv(...).apply(resample)``, but a transform that drops rows
        (undersampling, rejection resampling) runs before the full decode: only the labels
        of every batch are decoded first, and only the rows kept are decoded in full, which
        makes the resampled read faster than a plain read. Every row's field count and label
        are still checked; the feature values of dropped rows are not parsed.

    Returns
    -------
    tf.data.Dataset
        Batches of ``(features_dict, label)``.

    Raises
    ------
    FileNotFoundError
        A named file does not exist.
    ValueError
        A glob matches nothing; the label column is absent (the message lists the
        columns); a file is empty or has only a header; bad options.
    tf.errors.InvalidArgumentError
        While iterating: a row with the wrong number of fields, or an empty, NaN,
        negative, non-integer or unknown label. The message gives the file and line.

    Notes
    -----
    Quoted fields may contain the delimiter and escaped quotes, but not line breaks
    (``count_csv_classes`` accepts those too). Blank lines are skipped.

    Examples
    --------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "tiny.csv")
    >>> with open(path, "w") as f:
    ...     _ = f.write("age,city,bought\\n31,Lyon,yes\\n45,Oslo,no\\n27,Lyon,no\\n")
    >>> ds = read_csv(path, "bought", batch_size=2)
    >>> features, labels = next(iter(ds))
    >>> features["age"].numpy(), features["city"].numpy(), labels.numpy()
    (array([31, 45]), array([b'Lyon', b'Oslo'], dtype=object), array([1, 0]))
    >>> schema = infer_csv_schema(path, "bought")
    >>> schema.label_vocabulary  # class 0 is "no", class 1 is "yes"
    ('no', 'yes')
    >>> ds = read_csv(path, schema=schema, batch_size=4, select_columns=["age"])
    >>> [labels.numpy().tolist() for _, labels in ds]
    [[1, 0, 0]]
    >>> import tfbalance
    >>> balanced = read_csv(path, schema=schema, batch_size=4,
    ...                     resample=tfbalance.undersample(counts=[2, 1], exact=True, seed=0))
    >>> [sorted(labels.numpy().tolist()) for _, labels in balanced]  # one "no" row dropped
    [[0, 1]]
    """
    if schema is None:
        schema = infer_csv_schema(
            file_pattern, label, column_dtypes=column_dtypes, column_defaults=column_defaults,
            label_vocabulary=label_vocabulary, field_delim=field_delim,
            compression_type=compression_type,
        )
    elif not isinstance(schema, CsvSchema):
        raise TypeError(f"Invalid `schema`: expected a CsvSchema. Received: schema={schema!r}")
    elif label is not None and label != schema.label:
        raise ValueError(
            f"Invalid `label`: the schema's label is {schema.label!r}. Received: label={label!r}"
        )
    elif any(v is not None for v in (column_dtypes, column_defaults, label_vocabulary)):
        raise ValueError(
            "Invalid arguments: pass column_dtypes, column_defaults and label_vocabulary to "
            "infer_csv_schema, or a schema to read_csv, not both."
        )
    batch_size = _positive_int(batch_size, "batch_size")
    seed = check_seed(seed)
    if num_epochs is not None:
        num_epochs = _positive_int(num_epochs, "num_epochs")
    if shuffle:
        shuffle_buffer_size = _positive_int(shuffle_buffer_size, "shuffle_buffer_size")
    num_shards, shard_index, batch_size = _resolve_sharding(
        num_shards, shard_index, input_context, batch_size
    )
    features = _select(schema, select_columns)

    files = _resolve_files(file_pattern)
    infos = _inspect_files(files, compression_type, schema.field_delim)
    if infos[0].header != list(schema.column_names):
        raise ValueError(
            f"Invalid `schema`: its columns {list(schema.column_names)} differ from the "
            f"header {infos[0].header} of {infos[0].path!r}."
        )
    compressions = {info.compression for info in infos}
    if len(compressions) > 1:
        raise ValueError(
            "Invalid `file_pattern`: it mixes gzip and plain files; read them separately "
            "or pass compression_type. Received: "
            f"file_pattern={file_pattern!r}"
        )
    gzipped = compressions == {"GZIP"}
    reads = num_parallel_reads or min(4, len(files))
    calls = num_parallel_calls or tf.data.AUTOTUNE

    index = tf.data.Dataset.range(len(files))
    if num_shards > 1 and len(files) >= num_shards:
        index = index.shard(num_shards, shard_index)
    if shuffle:
        index = index.shuffle(len(files), seed=seed, reshuffle_each_iteration=True)

    paths = tf.constant([info.path for info in infos])
    if gzipped:
        def lines_of(i):
            return _gzip_lines(paths[i], i)
    else:
        header_bytes = tf.constant([info.header_bytes for info in infos], tf.int64)
        body_bytes = tf.constant(
            [os.path.getsize(info.path) - info.header_bytes for info in infos], tf.int64
        )
        separators = tf.constant(["\r\n" if info.crlf else "\n" for info in infos])

        def lines_of(i):
            return _block_lines(paths[i], header_bytes[i], body_bytes[i], separators[i], i)

    lines = index.interleave(
        lines_of,
        cycle_length=reads,
        block_length=1,
        **({"num_parallel_calls": reads, "deterministic": deterministic} if reads > 1 else {}),
    )
    if num_shards > 1 and len(files) < num_shards:
        lines = lines.shard(num_shards, shard_index)
    if num_epochs != 1:
        lines = lines.repeat(num_epochs)
    if shuffle:
        lines = lines.unbatch().shuffle(
            shuffle_buffer_size, seed=seed, reshuffle_each_iteration=True
        ).batch(batch_size, drop_remainder=drop_remainder)
    else:
        lines = lines.rebatch(batch_size, drop_remainder=drop_remainder)
    decode, decode_labels = _decoder(schema, features, paths)
    if resample is None:
        dataset = lines.map(decode, num_parallel_calls=calls, deterministic=deterministic)
    else:
        from tfbalance._sampling import resample_before_decoding

        dataset = resample_before_decoding(
            resample, lines, decode, decode_labels, num_parallel_calls=calls,
            deterministic=deterministic,
        )
    return dataset.prefetch(tf.data.AUTOTUNE) if prefetch else dataset


def _positive_int(value: Any, name: str) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"Invalid `{name}`: expected a positive int. Received: {name}={value!r}")
    if value < 1:
        raise ValueError(f"Invalid `{name}`: expected a positive int. Received: {name}={value!r}")
    return int(value)


def _resolve_sharding(num_shards, shard_index, input_context, batch_size):
    if input_context is not None:
        if num_shards is not None or shard_index is not None:
            raise ValueError(
                "Invalid arguments: pass either input_context or num_shards/shard_index. "
                f"Received: num_shards={num_shards}, shard_index={shard_index}"
            )
        if not isinstance(input_context, tf.distribute.InputContext):
            raise TypeError(
                "Invalid `input_context`: expected a tf.distribute.InputContext. "
                f"Received: input_context={input_context!r}"
            )
        return (
            input_context.num_input_pipelines,
            input_context.input_pipeline_id,
            input_context.get_per_replica_batch_size(batch_size),
        )
    if num_shards is None and shard_index is None:
        return 1, 0, batch_size
    if num_shards is None or shard_index is None:
        raise ValueError(
            "Invalid arguments: num_shards and shard_index go together. "
            f"Received: num_shards={num_shards}, shard_index={shard_index}"
        )
    num_shards = _positive_int(num_shards, "num_shards")
    if isinstance(shard_index, bool) or not isinstance(shard_index, (int, np.integer)) or not (
        0 <= shard_index < num_shards
    ):
        raise ValueError(
            f"Invalid `shard_index`: expected an int in [0, {num_shards}). "
            f"Received: shard_index={shard_index!r}"
        )
    return num_shards, int(shard_index), batch_size


def _select(schema: CsvSchema, select_columns: Sequence[str] | None) -> list[str]:
    if select_columns is None:
        return list(schema.feature_names)
    if isinstance(select_columns, str) or not all(isinstance(c, str) for c in select_columns):
        raise TypeError(
            "Invalid `select_columns`: expected a list of column names. "
            f"Received: select_columns={select_columns!r}"
        )
    unknown = [c for c in select_columns if c not in schema.column_names]
    if unknown:
        raise ValueError(
            f"Invalid `select_columns`: {unknown} are not in the header "
            f"{list(schema.column_names)}. Received: select_columns={list(select_columns)!r}"
        )
    return [c for c in schema.column_names if c in select_columns and c != schema.label]


def _block_lines(path, header_bytes, body_bytes, separator, file_index):
    """Lines of a plain file as ``(lines, line_numbers, file_index)`` vectors per block."""
    # FixedLengthRecordDataset needs whole records: the first, shorter block covers the
    # remainder so every later block is exactly _BLOCK_BYTES long.
    first = (body_bytes - 1) % _BLOCK_BYTES + 1
    head = tf.data.FixedLengthRecordDataset(
        path, first, header_bytes=header_bytes, footer_bytes=body_bytes - first
    )
    rest = tf.data.FixedLengthRecordDataset(path, _BLOCK_BYTES, header_bytes=header_bytes + first)
    blocks = head.concatenate(rest).concatenate(tf.data.Dataset.from_tensors(separator))

    def split(state, block):
        carry, line = state
        parts = tf.strings.split(tf.strings.join([carry, block]), separator)
        complete = parts[:-1]
        numbers = line + tf.range(tf.size(complete, out_type=tf.int64))
        keep = tf.strings.length(complete) > 0
        out = (tf.boolean_mask(complete, keep), tf.boolean_mask(numbers, keep))
        return (parts[-1], line + tf.size(complete, out_type=tf.int64)), out

    lines = blocks.scan((tf.constant(""), tf.constant(2, tf.int64)), split)
    return lines.map(lambda text, numbers: (text, numbers, tf.fill(tf.shape(numbers), file_index)))


def _gzip_lines(path, file_index):
    """Lines of a gzip file, in the same ``(lines, line_numbers, file_index)`` form."""
    batch = 16_384
    lines = tf.data.TextLineDataset(path, compression_type="GZIP").skip(1).batch(batch)

    def number(i, text):
        numbers = 2 + i * batch + tf.range(tf.size(text, out_type=tf.int64))
        keep = tf.strings.length(text) > 0
        numbers = tf.boolean_mask(numbers, keep)
        return tf.boolean_mask(text, keep), numbers, tf.fill(tf.shape(numbers), file_index)

    return lines.enumerate().map(number)


def _decoder(schema: CsvSchema, features: list[str], paths: tf.Tensor):
    names = list(schema.column_names)
    label_col = names.index(schema.label)
    wanted = sorted({names.index(c) for c in features} | {label_col})
    record_defaults = []
    for col in wanted:
        name = names[col]
        if col == label_col:
            # Numeric labels decode straight to float64 (an empty one becomes NaN and is
            # reported below); string labels stay text for the vocabulary lookup.
            numeric_label = schema.label_vocabulary is None
            record_defaults.append(
                tf.constant([math.nan], tf.float64) if numeric_label else tf.constant([""])
            )
        else:
            dtype = schema.dtypes[name]
            tf_dtype = tf.float32 if dtype == "float32" else tf.as_dtype(dtype)
            record_defaults.append(tf.constant([schema.defaults[name]], dtype=tf_dtype))
    ncols = len(names)
    delim = ord(schema.field_delim)
    vocabulary = schema.label_vocabulary
    table = None
    if vocabulary is not None:
        table = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(
                tf.constant(list(vocabulary)), tf.range(len(vocabulary), dtype=tf.int64)
            ),
            default_value=-1,
        )

    def fail_unless(ok, lines, numbers, files, what):
        # Report the first offending row with its file and line.
        row = tf.argmin(tf.cast(ok, tf.int32))
        message = tf.strings.join([
            "Invalid CSV row in ", tf.gather(paths, files[row]), ", line ",
            tf.strings.as_string(numbers[row]), ": ", what, ": ",
            tf.strings.substr(lines[row], 0, 200),
        ])
        return tf.debugging.Assert(tf.reduce_all(ok), [message], summarize=1)

    def field_counts(lines):
        raw = tf.io.decode_raw(lines, tf.uint8, fixed_length=tf.reduce_max(
            tf.concat([tf.strings.length(lines), [1]], 0)))
        quotes = tf.cast(tf.equal(raw, 34), tf.int32)
        outside = tf.equal(tf.math.floormod(tf.cumsum(quotes, axis=1), 2), 0)
        return 1 + tf.reduce_sum(tf.cast(tf.equal(raw, delim) & outside, tf.int32), axis=1)

    def check_fields(lines, numbers, files):
        # Counting delimiters per row costs as much as decoding, so it runs only when the
        # batch's total is off (or quotes may hide delimiters); decode_csv still rejects
        # the rare batch whose errors cancel out.
        flat = tf.io.decode_raw(tf.strings.reduce_join(lines), tf.uint8)
        delimiters = tf.math.count_nonzero(tf.equal(flat, delim), dtype=tf.int64)
        quoted = tf.reduce_any(tf.equal(flat, 34))
        expected = tf.size(lines, out_type=tf.int64) * (ncols - 1)

        def slow():
            ok = tf.equal(field_counts(lines), ncols)
            with tf.control_dependencies([fail_unless(ok, lines, numbers, files,
                                                      f"expected {ncols} fields")]):
                return tf.constant(True)

        return tf.cond(quoted | tf.not_equal(delimiters, expected), slow,
                       lambda: tf.constant(True))

    def label_ids(label, lines, numbers, files):
        if table is not None:
            text = tf.strings.strip(label)
            checks = [fail_unless(tf.strings.length(text) > 0, lines, numbers, files,
                                  "the label is missing")]
            with tf.control_dependencies(checks):
                ids = table.lookup(text)
            checks.append(fail_unless(ids >= 0, lines, numbers, files,
                                      "the label is not in label_vocabulary"))
        else:
            checks = [
                fail_unless(~tf.math.is_nan(label), lines, numbers, files,
                            "the label is missing or NaN"),
                fail_unless(tf.equal(label, tf.round(label)), lines, numbers, files,
                            "class labels must be integers"),
                fail_unless(label >= 0, lines, numbers, files, "class ids must be non-negative"),
            ]
            ids = tf.cast(label, tf.int64)
        with tf.control_dependencies(checks):
            return tf.identity(ids)

    def decode(lines, numbers, files, fields_checked=False):
        checks = [] if fields_checked else [check_fields(lines, numbers, files)]
        with tf.control_dependencies(checks):
            columns = tf.io.decode_csv(
                lines, record_defaults, field_delim=schema.field_delim, select_cols=wanted
            )
        by_name = dict(zip([names[c] for c in wanted], columns))
        ids = label_ids(by_name.pop(schema.label), lines, numbers, files)
        return {name: by_name[name] for name in features}, ids

    label_default = record_defaults[wanted.index(label_col)]

    def decode_labels(lines, numbers, files):
        # Every line's field count and label are checked here, so resampling before the full
        # decode loses no error (only the feature values of dropped rows go unparsed).
        with tf.control_dependencies([check_fields(lines, numbers, files)]):
            (label,) = tf.io.decode_csv(
                lines, [label_default], field_delim=schema.field_delim, select_cols=[label_col]
            )
        return label_ids(label, lines, numbers, files)

    return decode, decode_labels

"""One-pass class counts of CSV files, reading only the label column, in NumPy.

Counting reads cache-sized chunks of bytes and counts them on worker threads: in clean
chunks (no quotes, every row the right length, checked exactly with vectorised per-line
delimiter counts) only the label field of each row is located and compared, without
tokenizing the other columns; any other chunk goes through a NumPy scan that respects
quotes (quoted line breaks included) and names the file and line of a bad row. It beats
pandas and pyarrow at counting (``benchmarks/bench_count.py``) and agrees with
``read_csv`` row for row: same dialect, same label rule (``check_label_text``).
"""

from __future__ import annotations

import collections
import concurrent.futures
import gzip
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from tfbalance._csv._dialect import MAX_RECORD_BYTES, check_label_column, inspect_files
from tfbalance._csv._files import FilePattern, gzip_errors_named, open_file, resolve_files
from tfbalance._csv._schema import CsvSchema, check_label_text
from tfbalance._deprecation import compression_type_of
from tfbalance._distribution import ClassDistribution
from tfbalance._progress import show_progress as _show_progress

__all__ = ["count_csv_classes"]

_CHUNK_BYTES = 1 << 20  # bytes per NumPy chunk when counting (cache-sized)


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
                check_label_text(text, "{where}")
            except ValueError as exc:
                raise _RowError(offset(), str(exc)) from None
            self.counts[text] = 0
        self.counts[text] += count


def _unquote(raw: bytes) -> str:
    text = raw.decode("utf-8", errors="replace")
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        text = text[1:-1].replace('""', '"')
    return text


def _iter_chunks(path: str, compression: str, chunk_bytes: int, header_bytes: int,
                 first_line: int = 2):
    """Yield ``(chunk, progress_bytes)``: each chunk holds whole rows.

    Each chunk is the buffer it was read into (handed on without a copy); a row that
    straddles two reads moves to the front of the next buffer. A record longer than
    ``MAX_RECORD_BYTES`` or a quote still open at the end of the file raises
    ``ValueError`` with the line where the record starts (``first_line`` is the line of
    the first data row), so memory stays bounded and no row is dropped unseen.
    """
    done = 0  # bytes of the body yielded so far: on an error, where the record starts

    def line() -> int:
        # Only on the error path: counting line breaks as chunks go costs a pass.
        return first_line + _count_breaks(path, compression, header_bytes, done)

    with open(path, "rb") as raw:
        stream = gzip.GzipFile(fileobj=raw) if compression == "GZIP" else raw
        stream.read(header_bytes)
        buffer = bytearray(chunk_bytes)
        view = memoryview(buffer)
        filled = 0
        while True:
            if filled == len(buffer):  # a row longer than the buffer: grow it
                if filled >= MAX_RECORD_BYTES:
                    raise ValueError(
                        f"Invalid CSV row in {path}, line {line()}: the record is longer than "
                        f"{MAX_RECORD_BYTES:,} bytes (is a quote never closed?)."
                    )
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
            done += len(chunk)
            yield chunk, raw.tell()
        view.release()
        rest = bytes(buffer[:filled])
        if rest.count(b'"') % 2:
            raise ValueError(
                f"Invalid CSV row in {path}, line {line()}: a quoted field is never closed "
                "(the file ends inside quotes)."
            )
        if rest.strip():
            yield rest + b"\n", raw.tell()


def _count_breaks(path: str, compression: str, header_bytes: int, size: int) -> int:
    """Line breaks in the ``size`` bytes after the header."""
    breaks = 0
    with open_file(path, compression) as stream:
        stream.read(header_bytes)
        while size > 0:
            block = stream.read(min(size, 1 << 22))
            if not block:
                break
            breaks += block.count(b"\n")
            size -= len(block)
    return breaks


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
        for raw, row, n in zip(raws, first, counts, strict=True):
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


# "compression" is the public option (class_counts); "compression_type" the stack's own terms
# (_files.compression_of), which the other CSV modules pass.
_COUNT_OPTIONS = frozenset(
    ["field_delim", "compression", "compression_type", "label_vocabulary", "schema",
     "chunk_bytes"]
)


def count_csv_classes(
    source: FilePattern,
    label: str,
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
        ``field_delim`` (default ``","``), ``compression`` (``'auto'``, ``'gzip'`` or
        ``None``, as ``read_csv``; or ``compression_type`` in the stack's own terms: ``None``
        = detect from a ``.gz`` suffix, ``"auto"`` = from the first bytes, ``""``,
        ``"GZIP"``), ``label_vocabulary`` (fixes the class id of each string label),
        ``schema`` (a ``CsvSchema``; supplies the delimiter and vocabulary) and
        ``chunk_bytes``.

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
        a file is empty, has only a header, is not text, or is a truncated or corrupt
        gzip file; the header repeats a column name; a row has the wrong number of
        fields, a quote is never closed, or a label is missing, NaN, infinite, not whole,
        negative or above ``MAX_CLASS_ID`` (messages give the file, line and value).

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
    files = resolve_files(source)
    if "compression" in options:
        options["compression_type"] = compression_type_of(options.pop("compression"))
    infos = inspect_files(files, options.get("compression_type"), field_delim)
    header = infos[0].header
    check_label_column(header, label)
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
    first_lines = {info.path: info.header_lines + 1 for info in infos}
    state: dict[str, Any] = {"path": None, "line": 2, "done": 0}

    def merge() -> None:
        path, future, position, base = pending.popleft()
        if path != state["path"]:
            state["path"], state["line"] = path, first_lines[path]
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
                chunks = _iter_chunks(info.path, info.compression, chunk_bytes,
                                      info.header_bytes, info.header_lines + 1)
                for chunk, position in _gzip_errors_named(chunks, info.path):
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


def _gzip_errors_named(chunks, path: str):
    """``chunks``, with gzip errors reported as a ``ValueError`` that names the file."""
    with gzip_errors_named(path):
        yield from chunks


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

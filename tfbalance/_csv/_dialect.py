"""The one CSV dialect of tfbalance, and each file's header.

Every reader, counter and splitter reads the same format, the one pandas writes and
reads by default:

- UTF-8 text; a byte-order mark before the header is dropped. A file with NUL bytes or
  bytes that are not UTF-8 near its start is refused as "not a text CSV file".
- Lines end in ``\\n`` or ``\\r\\n`` (both may occur in one file); blank lines are skipped.
- Fields are separated by ``field_delim`` (one byte, ``","`` by default). A field may be
  quoted with ``"``; a quoted field may hold the delimiter, ``""`` for a quote, and line
  breaks (the record then spans several physical lines).
- The first record is the header; its column names must be unique, and every file of a
  source must have the same header.
- Line numbers in messages are physical lines of the file, 1-based, the header's first
  line being line 1; a record spanning several lines is named by its first line.
"""

from __future__ import annotations

import csv
import dataclasses
import io
from collections.abc import Sequence
from typing import Any

from tfbalance._csv._files import compression_of, gzip_errors_named, open_file

__all__ = [
    "FileInfo",
    "MAX_RECORD_BYTES",
    "check_field_delim",
    "check_label_column",
    "inspect_files",
    "read_header",
]

# Bytes of a file's start checked for being text, and the longest header read.
_PROBE_BYTES = 1 << 16
_MAX_HEADER_BYTES = 1 << 24
# The longest record (a quoted field may span lines) any reader or counter holds: an
# unclosed quote must fail, not pull the rest of a file into memory.
MAX_RECORD_BYTES = 1 << 26


@dataclasses.dataclass(frozen=True)
class FileInfo:
    """What the header of one file says.

    ``header_bytes`` counts the bytes before the first data row (byte-order mark and the
    header's line break included), ``header_lines`` the physical lines they span, and
    ``crlf`` whether the header ends in ``\\r\\n``.
    """

    path: str
    compression: str
    header: tuple[str, ...]
    header_bytes: int
    header_lines: int
    crlf: bool


def check_field_delim(field_delim: Any) -> str:
    """``field_delim`` if it is one byte other than a quote or a line break."""
    if (
        not isinstance(field_delim, str)
        or len(field_delim.encode()) != 1
        or field_delim in '"\r\n'
    ):
        raise ValueError(
            "Invalid `field_delim`: expected a one-byte string other than '\"', '\\r' and "
            f"'\\n', such as ',' or '\\t'. Received: field_delim={field_delim!r}"
        )
    return field_delim


def _not_text(path: str, detail: str) -> ValueError:
    hint = ""
    with open(path, "rb") as f:
        if f.read(2) == b"\x1f\x8b":
            hint = " It looks gzip-compressed: pass compression='gzip'."
    return ValueError(f"Invalid CSV file {path!r}: it is not a text CSV file ({detail}).{hint}")


def _check_text(path: str, probe: bytes) -> None:
    nul = probe.find(b"\0")
    if nul >= 0:
        raise _not_text(path, f"a NUL byte at offset {nul}")
    try:
        probe.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut by the end of the probe is fine.
        if not (len(probe) == _PROBE_BYTES and exc.start >= len(probe) - 3
                and exc.reason == "unexpected end of data"):
            raise _not_text(path, f"byte 0x{probe[exc.start]:02x} at offset {exc.start} "
                            "is not UTF-8") from None


def read_header(path: str, compression: str, field_delim: str = ",") -> FileInfo:
    """Read and check the header of one file (see the module docstring for the rules).

    Raises ``ValueError`` naming the file when it is not text, is empty, has only a
    header, has an unterminated quote in its header, or repeats a column name.
    """
    check_field_delim(field_delim)
    with gzip_errors_named(path), open_file(path, compression) as f:
        probe = f.read(_PROBE_BYTES)
        _check_text(path, probe)
        f.seek(0)
        raw, lines = b"", 0
        while True:  # a quoted column name may span lines
            line = f.readline(_MAX_HEADER_BYTES)
            if not line:
                break
            raw += line
            lines += 1
            if raw.count(b'"') % 2 == 0 or len(raw) >= _MAX_HEADER_BYTES:
                break
        if not raw.strip():
            raise ValueError(f"Invalid CSV file {path!r}: the file is empty (no header row).")
        if not raw.endswith(b"\n"):
            if raw.count(b'"') % 2:
                raise ValueError(
                    f"Invalid CSV file {path!r}, line 1: the header has an unterminated "
                    "quoted field."
                )
            if len(raw) >= _MAX_HEADER_BYTES:
                raise _not_text(path, f"no line break in its first {_MAX_HEADER_BYTES:,} bytes")
            raise ValueError(
                f"Invalid CSV file {path!r}: the file has a header row but no data rows."
            )
        second = f.readline()
        while second and not second.strip():
            second = f.readline(_MAX_HEADER_BYTES)
        if not second:
            raise ValueError(
                f"Invalid CSV file {path!r}: the file has a header row but no data rows."
            )
    text = raw.decode("utf-8-sig")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=field_delim, strict=True)
    try:
        header = tuple(next(reader))
    except csv.Error as exc:
        raise ValueError(f"Invalid CSV file {path!r}, line 1: bad header ({exc}).") from None
    duplicates = sorted({c for c in header if header.count(c) > 1})
    if duplicates:
        raise ValueError(
            f"Invalid CSV file {path!r}, line 1: the header repeats the column names "
            f"{duplicates}; every column needs its own name. Received: header={list(header)}"
        )
    return FileInfo(path, compression, header, len(raw), lines, raw.endswith(b"\r\n"))


def inspect_files(
    files: Sequence[str], compression_type: str | None, field_delim: str
) -> list[FileInfo]:
    """``read_header`` of each file; all headers must be equal."""
    infos = [read_header(p, compression_of(p, compression_type), field_delim) for p in files]
    for info in infos[1:]:
        if info.header != infos[0].header:
            raise ValueError(
                f"Invalid CSV file {info.path!r}: its header {list(info.header)} differs from "
                f"the header {list(infos[0].header)} of {infos[0].path!r}."
            )
    return infos


def check_label_column(header: Sequence[str], label: Any) -> str:
    """``label`` if it names a column of ``header``; raise otherwise."""
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
    return label

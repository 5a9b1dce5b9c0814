"""Which files a CSV source names, how each is compressed, and whether it can be read.

``resolve_files`` turns a path, glob or list of them into the sorted list of files every
CSV reader, counter and splitter uses (a file index anywhere in the stack is an index
into this list). ``compression_of`` decides plain or gzip per file, from a ``.gz``
suffix by default or from the file's first bytes with ``compression_type="auto"`` (the
stack's own terms; the public ``compression=`` values map onto them in ``_deprecation``).
``check_gzip`` decompresses a gzip file once and returns its exact uncompressed size:
TensorFlow's gzip readers return the data of a truncated file without an error, so the
check is what turns a cut-off download into an error instead of silently fewer rows
(and the exact size lets gzip files go through the same block reader as plain ones).
"""

from __future__ import annotations

import contextlib
import glob as _glob
import gzip
import os
import zlib
from collections.abc import Sequence
from typing import Any

__all__ = [
    "FilePattern",
    "PathLike",
    "check_gzip",
    "compression_of",
    "gzip_errors_named",
    "open_file",
    "resolve_files",
]

PathLike = str | os.PathLike
FilePattern = PathLike | Sequence[PathLike]

_GZIP_MAGIC = b"\x1f\x8b"
_COMPRESSIONS = (None, "", "GZIP", "auto")
# Memo of check_gzip results, keyed by what identifies one version of a file.
_GZIP_SIZES: dict[tuple[str, int, int], int] = {}


def resolve_files(file_pattern: Any) -> list[str]:
    """The files named by a path, a glob pattern or a list of them, globs sorted.

    Raises ``TypeError`` for anything else, ``ValueError`` for a glob that matches
    nothing and ``FileNotFoundError`` for a named file that does not exist.
    """
    if isinstance(file_pattern, (str, os.PathLike)):
        patterns = [file_pattern]
    elif isinstance(file_pattern, (list, tuple)) and file_pattern and all(
        isinstance(p, (str, os.PathLike)) for p in file_pattern
    ):
        patterns = list(file_pattern)
    else:
        raise TypeError(
            "Invalid `source`: expected a path, a glob pattern or a non-empty list of "
            f"them. Received: source={file_pattern!r}"
        )
    files: list[str] = []
    for pattern in patterns:
        pattern = os.fspath(pattern)
        if _glob.has_magic(pattern):
            matches = sorted(p for p in _glob.glob(pattern) if os.path.isfile(p))
            if not matches:
                raise ValueError(
                    "Invalid `source`: the glob matches no file. "
                    f"Received: source={pattern!r}"
                )
            files.extend(matches)
        elif os.path.isfile(pattern):
            files.append(pattern)
        else:
            raise FileNotFoundError(
                f"Invalid `source`: no such file {pattern!r}. "
                f"Received: source={file_pattern!r}"
            )
    return files


def compression_of(path: str, compression_type: str | None) -> str:
    """``"GZIP"`` or ``""`` for ``path``.

    ``None`` decides by a ``.gz`` suffix, ``"auto"`` by the gzip magic bytes at the start
    of the file; ``""`` and ``"GZIP"`` are taken as given.
    """
    if compression_type not in _COMPRESSIONS:
        if compression_type == "ZLIB":
            raise ValueError(
                "Invalid `compression_type`: ZLIB streams are not supported for CSV; use "
                f"'GZIP', 'auto' or ''. Received: compression_type={compression_type!r}"
            )
        raise ValueError(
            "Invalid `compression_type`: expected None (detect from a '.gz' suffix), "
            f"'auto' (detect from the file's first bytes), '' or 'GZIP'. "
            f"Received: compression_type={compression_type!r}"
        )
    if compression_type is None:
        return "GZIP" if path.endswith(".gz") else ""
    if compression_type == "auto":
        with open(path, "rb") as f:
            return "GZIP" if f.read(2) == _GZIP_MAGIC else ""
    return compression_type


def open_file(path: str, compression: str):
    """A binary stream of the file's (decompressed) bytes."""
    if compression == "GZIP":
        with open(path, "rb") as f:
            magic = f.read(2)
        if magic != _GZIP_MAGIC:
            hint = "" if magic else " (the file is empty)"
            raise ValueError(
                f"Invalid CSV file {path!r}: it is read as gzip (a '.gz' name or "
                f"compression='gzip') but is not a gzip file{hint}; pass "
                "compression=None to read it as plain text."
            )
        return gzip.open(path, "rb")
    return open(path, "rb")


@contextlib.contextmanager
def gzip_errors_named(path: str):
    """Turn a truncated or corrupt gzip stream met inside the block into a ``ValueError``
    that names the file."""
    try:
        yield
    except EOFError:
        raise ValueError(
            f"Invalid CSV file {path!r}: the gzip stream is truncated (it ends before its "
            "end-of-stream marker); the file is incomplete."
        ) from None
    except (gzip.BadGzipFile, zlib.error) as exc:
        raise ValueError(f"Invalid CSV file {path!r}: the gzip data is corrupt ({exc}).") from None


def check_gzip(path: str) -> int:
    """The exact uncompressed size of a gzip file, after reading all of it once.

    Raises ``ValueError`` naming the file when it is not gzip, corrupt or truncated.
    The result is remembered for the file's current size and modification time.
    """
    stat = os.stat(path)
    key = (os.path.abspath(path), stat.st_size, stat.st_mtime_ns)
    if key in _GZIP_SIZES:
        return _GZIP_SIZES[key]
    size = 0
    with gzip_errors_named(path), open_file(path, "GZIP") as stream:
        while True:
            block = stream.read(1 << 22)
            if not block:
                break
            size += len(block)
    _GZIP_SIZES[key] = size
    return size

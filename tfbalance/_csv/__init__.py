"""The one CSV stack: files, dialect and header, schema, the fast counter, the reader.

Modules, each importing only those listed before it:

- ``_files``: which files a source names, gzip or plain, gzip integrity (``resolve_files``).
- ``_dialect``: the CSV dialect and each file's header (``read_header``, ``inspect_files``).
- ``_schema``: ``CsvSchema`` and the class-label rule.
- ``_count``: the NumPy class counter (``count_csv_classes``).
- ``_infer``: ``infer_csv_schema``.
- ``_read``: ``read_csv`` and the interfaces other modules build on: validated records
  (``validated_lines``, ``decode_lines``) and the reader's own two stages, records of
  files and their batch decoder (``records_of_files``, ``batch_decoder``).
"""

from tfbalance._csv._count import count_csv_classes
from tfbalance._csv._dialect import FileInfo, check_label_column, inspect_files, read_header
from tfbalance._csv._files import (
    FilePattern,
    PathLike,
    check_gzip,
    compression_of,
    open_file,
    resolve_files,
)
from tfbalance._csv._infer import infer_csv_schema
from tfbalance._csv._read import (
    batch_decoder,
    decode_lines,
    read_csv,
    records_of_files,
    validated_lines,
)
from tfbalance._csv._schema import CsvSchema, check_label_text

__all__ = [
    "CsvSchema",
    "FileInfo",
    "FilePattern",
    "PathLike",
    "batch_decoder",
    "check_gzip",
    "check_label_column",
    "check_label_text",
    "compression_of",
    "count_csv_classes",
    "decode_lines",
    "infer_csv_schema",
    "inspect_files",
    "open_file",
    "read_csv",
    "read_header",
    "records_of_files",
    "resolve_files",
    "validated_lines",
]

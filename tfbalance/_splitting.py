"""One streaming pass that writes each class's rows to its own shard files.

Layout written under ``output_dir``::

    split.json                         manifest: format, schema, counts, files (written last)
    class_0/part-00000.tfrecord        (or part-00000.csv)
    class_0/part-00001.tfrecord
    class_1/part-00000.tfrecord

How it works
------------
CSV sources are read and validated by the CSV stack (``tfbalance._csv``), the same code as
``read_csv``: header and dialect (BOM, CRLF, quotes), the schema (``infer_csv_schema``),
every row's field count, label and typed values. A bad row stops the split with its file and
1-based line; nothing is written to ``output_dir``.

Rows are grouped by an integer key per batch in the graph (``write_grouped``): one stable
sort by key, a gather per column, and one ``unsorted_segment_join`` per string column, so
Python only cuts each group's contiguous bytes into files; no Python object is built per row.

Shard formats:

* ``format="tfrecord"`` (default): *typed blocks*. Each record holds a block of rows of one
  class as the raw little-endian bytes of each column (strings as their joined bytes plus
  a length per value; integers in the narrowest of int8/int16/int32 that holds the block's
  values) in a ``tf.train.Example``. Reading parses one record per block
  with ``decode_raw`` / ``substr``: no text parsing, no per-row proto. The schema lives in
  ``split.json``. Uncompressed by default: typed numbers are about as small as their text,
  and GZIP costs more CPU than the read it saves on a local disk.
* ``format="csv"``: the input lines, byte for byte, under the input's header in every shard.

``tf.data.Dataset`` sources of ``(features, label)`` elements are written as typed blocks too
(any fixed row shape and dtype, float64 kept exactly).

Why not ``tf.data.Dataset.save``: it writes one snapshot directory per call whose shards are
chosen by ``shard_func`` but read back together, so one class cannot be opened alone without
relying on its private file layout, and it cannot rotate files by rows, name them, report a
bad row with its line, or write inside our staged temporary folder and manifest.
``benchmarks/bench_split.py`` measures its read speed against the typed blocks.

Data safety
-----------
Everything is written into a temporary folder beside ``output_dir`` (same parent, named
``.{name}.tfbalance-tmp-<random>``, holding a marker file with the writer's host and pid);
the manifest is written last, then the folder is renamed into place. ``overwrite=True``
replaces a folder only if every file in it is one an earlier split's manifest lists; files
tfbalance did not write are never deleted (the split is refused and the message names them).
A failed split removes its temporary folder; a killed one leaves only a hidden temporary
folder, which the next split to that ``output_dir`` removes and which ``load_split``
refuses (no manifest until the end, and refused by name).
"""

from __future__ import annotations

import gzip
import json
import os
import re
import secrets
import socket
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from tfbalance._class_streams import (
    _FEATURES_KEY,
    _LABEL_KEY,
    _MARKER,
    _STAGING_TAGS,
    MANIFEST,
    NARROW_INTS,
    SplitResult,
    _block_columns,
)
from tfbalance._csv import (
    CsvSchema,
    infer_csv_schema,
    inspect_files,
    resolve_files,
    validated_lines,
)
from tfbalance._deprecation import check_compression
from tfbalance._labels import Label, batched_label_rank
from tfbalance._progress import show_progress as _show_progress
from tfbalance._tf import tf
from tfbalance._validation import check_bool, check_positive_int, is_integer

__all__ = ["split_by_class", "write_grouped"]

_FORMATS = ("tfrecord", "csv")
_FORMAT_VERSION = 2
_LINE_KEY = "__line__"  # the CSV format's one column: the raw line plus its "\n"
_RESERVED = frozenset([_LINE_KEY, _LABEL_KEY, "__extras__", "__rows__"])
# The functions handed to tf.data hold no Python control flow on tensors; AutoGraph's
# conversion of them was a good part of a split's fixed cost.
_plain = tf.autograph.experimental.do_not_convert


# --------------------------------------------------------------------------------------
# Grouping and writing (reusable: any int key computed per batch, e.g. a holdout index)
# --------------------------------------------------------------------------------------


def _group_batch(columns: Mapping[str, tf.Tensor], keys: tf.Tensor):
    """Sort a batch's rows by key; string columns become one joined blob per key."""
    keys = tf.reshape(tf.cast(keys, tf.int64), [-1])
    order = tf.argsort(keys, stable=True)
    sorted_keys = tf.gather(keys, order)
    num_keys = tf.reduce_max(tf.concat([keys + 1, [0]], 0))
    counts = tf.math.bincount(keys, minlength=num_keys, maxlength=num_keys, dtype=tf.int64)
    out = {}
    for name, column in columns.items():
        column = tf.gather(column, order)
        if column.dtype == tf.string:
            per_row = tf.reduce_prod(tf.shape(column)[1:])
            flat = tf.reshape(column, [-1])
            segments = tf.repeat(sorted_keys, per_row)
            blobs = tf.strings.unsorted_segment_join(flat, segments, num_keys)
            out[name] = (blobs, tf.reshape(tf.strings.length(flat), tf.shape(column)))
        else:
            out[name] = column
    return out, counts


class _Shards:
    """One group's part files, rotated every ``max_rows`` rows, in blocks of ``block_rows``.

    Rows are buffered until a whole block is there (memory: one block per group), so every
    record but the last of each file holds exactly ``block_rows`` rows and a reader asking
    for blocks of that size takes the records as they are, with no re-batching.
    """

    def __init__(self, root: str, folder: str, encoder: _Encoder, max_rows: int,
                 block_rows: int) -> None:
        self.folder = folder
        self.root = root
        os.makedirs(os.path.join(root, folder), exist_ok=True)
        self.encoder = encoder
        self.max_rows = max_rows
        self.block_rows = block_rows
        self.files: list[str] = []  # relative to root
        self.rows = 0
        self.bytes = 0
        self._handle: Any = None
        self._in_file = 0
        self._pending: list[tuple[dict[str, Any], int]] = []
        self._pending_rows = 0

    def write(self, block: dict[str, Any], n: int) -> None:
        self._pending.append((block, n))
        self._pending_rows += n
        self._drain(final=False)

    def _drain(self, final: bool) -> None:
        while self._pending_rows >= self.block_rows or (final and self._pending_rows):
            if self._handle is None or self._in_file >= self.max_rows:
                self._close_file()
                name = f"part-{len(self.files):05d}{self.encoder.extension}"
                self.files.append(f"{self.folder}/{name}")
                self._handle = self.encoder.open(os.path.join(self.root, self.folder, name))
                self._in_file = 0
            take = min(self.block_rows, self.max_rows - self._in_file, self._pending_rows)
            self.encoder.write(self._handle, self._take(take), take)
            self._in_file += take
            self.rows += take

    def _take(self, take: int) -> dict[str, Any]:
        parts, need = [], take
        while need:
            block, n = self._pending[0]
            if n <= need:
                parts.append(block)
                self._pending.pop(0)
                need -= n
            else:
                parts.append(_slice_block(block, 0, need))
                self._pending[0] = (_slice_block(block, need, n - need), n - need)
                need = 0
        self._pending_rows -= take
        return parts[0] if len(parts) == 1 else _concat_blocks(parts)

    def _close_file(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None
            self.bytes = sum(os.path.getsize(os.path.join(self.root, f)) for f in self.files)

    def close(self, *, flush: bool = True) -> None:
        """Write the buffered rows (``flush``) and close the current file."""
        try:
            if flush:
                self._drain(final=True)
        finally:
            self._close_file()


def _concat_blocks(parts: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in parts[0].items():
        if isinstance(value, tuple):
            out[name] = (b"".join(p[name][0] for p in parts),
                         np.concatenate([p[name][1] for p in parts]))
        else:
            out[name] = np.concatenate([p[name] for p in parts])
    return out


def _slice_block(block: dict[str, Any], start: int, take: int) -> dict[str, Any]:
    if start == 0 and all(_rows(v) == take for v in block.values()):
        return block
    out = {}
    for name, value in block.items():
        if isinstance(value, tuple):  # (joined bytes, lengths): cut at the row boundaries
            blob, lengths = value
            per_row = lengths.reshape(len(lengths), -1).sum(axis=1)
            begin = int(per_row[:start].sum())
            end = begin + int(per_row[start:start + take].sum())
            out[name] = (blob[begin:end], lengths[start:start + take])
        else:
            out[name] = value[start:start + take]
    return out


def _rows(value: Any) -> int:
    return len(value[1]) if isinstance(value, tuple) else len(value)


class _Encoder:
    extension = ""

    def open(self, path: str) -> Any:
        raise NotImplementedError

    def write(self, handle: Any, block: dict[str, Any], n: int) -> None:
        raise NotImplementedError


class _TypedBlocks(_Encoder):
    """One ``tf.train.Example`` per block: each column's raw bytes (see the module notes)."""

    def __init__(self, compression: str) -> None:
        self.compression = compression
        self.extension = ".tfrecord" + (".gz" if compression == "GZIP" else "")

    def open(self, path: str) -> Any:
        return tf.io.TFRecordWriter(path, options=self.compression or None)

    def write(self, handle: Any, block: dict[str, Any], n: int) -> None:
        feature = {}
        for name, value in block.items():
            if isinstance(value, tuple):
                blob, value = value
                feature[name] = _bytes_feature(blob)
                name += "/lengths"
                value = value.astype(np.int32)
            # The key names the stored dtype (see _class_streams._block_parser).
            value = _little_endian(_narrowest(value))
            feature[f"{name}/{value.dtype.name}"] = _bytes_feature(value.tobytes())
        handle.write(tf.train.Example(features=tf.train.Features(feature=feature))
                     .SerializeToString())


def _narrowest(values: np.ndarray) -> np.ndarray:
    """An integer block in the narrowest of NARROW_INTS that holds its values.

    Typical integer columns (ages, flags, codes, ids, class ids, string lengths) fit in one
    to four bytes: storing each block as narrow as its values allow halves the typed
    shards, and the reader widens them back to the column's dtype.
    """
    if values.dtype.kind not in "iu" or values.size == 0:
        return values
    low, high = int(values.min()), int(values.max())
    for dtype in NARROW_INTS:
        if dtype.itemsize >= values.dtype.itemsize:
            break
        info = np.iinfo(dtype)
        if info.min <= low and high <= info.max:
            return values.astype(dtype)
    return values


def _little_endian(value: np.ndarray) -> np.ndarray:
    # decode_raw reads little-endian; a copy only where the array is not already so.
    return value if value.dtype.byteorder == "<" or (
        value.dtype.byteorder in "=|" and sys.byteorder == "little"
    ) else value.astype(value.dtype.newbyteorder("<"))


def _bytes_feature(value: bytes) -> tf.train.Feature:
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))


class _CsvText(_Encoder):
    """The input lines, unchanged, under the header (the ``__line__`` column)."""

    def __init__(self, header: bytes, compression: str) -> None:
        self.header = header
        self.compression = compression
        self.extension = ".csv" + (".gz" if compression == "GZIP" else "")

    def open(self, path: str) -> Any:
        handle = gzip.open(path, "wb", compresslevel=6) if self.compression else open(path, "wb")
        handle.write(self.header)
        return handle

    def write(self, handle: Any, block: dict[str, Any], n: int) -> None:
        handle.write(block[_LINE_KEY][0])


def write_grouped(
    batches: tf.data.Dataset,
    key_fn: Callable[[Any], tf.Tensor],
    output_dir: str,
    *,
    encoder: _Encoder,
    max_rows_per_shard: int,
    block_rows: int = 8192,
    folder_name: Callable[[int], str] = "class_{}".format,
    progress: Any = None,
) -> dict[int, _Shards]:
    """Write the rows of ``batches`` into one shard set per integer key.

    ``batches`` yields dicts of column tensors (first axis: rows); ``key_fn(batch)`` returns
    each row's non-negative int key, computed in the graph; grouping happens in the graph
    too (``_group_batch``). Records hold ``block_rows`` rows (see ``_Shards``).
    ``progress`` (a ``keras.utils.Progbar`` or None) is advanced by each batch's
    ``"__extras__"``/``"size"`` (bytes or rows read), the part of a batch ``key_fn`` does not
    consume. Returns ``{key: _Shards}``; the
    caller closes nothing (every file is closed on return or on error).
    """

    @_plain
    def group(batch):
        extras = batch.pop("__extras__", {})
        grouped, counts = _group_batch(batch, key_fn(batch))
        return grouped, counts, extras

    shards: dict[int, _Shards] = {}
    done = 0
    try:
        # Grouping runs in parallel with the decode and the Python writes (order kept).
        grouped_batches = batches.map(group, num_parallel_calls=tf.data.AUTOTUNE,
                                      deterministic=True).prefetch(2)
        for grouped, counts, extras in grouped_batches.as_numpy_iterator():
            start = 0
            for key, n in enumerate(counts.tolist()):
                if n == 0:
                    continue
                block = {}
                for name, value in grouped.items():
                    if isinstance(value, tuple):
                        lengths = value[1][start:start + n]
                        block[name] = (value[0][key], lengths)
                    else:
                        block[name] = value[start:start + n]
                writer = shards.get(key)
                if writer is None:
                    writer = shards[key] = _Shards(
                        output_dir, folder_name(key), encoder, max_rows_per_shard, block_rows
                    )
                writer.write(block, n)
                start += n
            if progress is not None:
                done += int(extras.get("size", 0))
                progress.update(done)
    except BaseException:
        for writer in shards.values():
            writer.close(flush=False)
        raise
    for writer in shards.values():
        writer.close()
    return shards


# --------------------------------------------------------------------------------------
# The output folder: staged beside it, renamed into place, foreign files never removed
# --------------------------------------------------------------------------------------


class _StagedOutput:
    """A temporary folder beside ``output_dir`` that becomes it on ``commit``."""

    def __init__(self, output_dir: str, overwrite: bool) -> None:
        self.final = os.path.abspath(output_dir)
        self.parent, self.name = os.path.split(self.final)
        self.overwrite = overwrite
        self._check_final()
        os.makedirs(self.parent, exist_ok=True)
        _remove_stale_staging(self.parent, self.name)
        self.path = os.path.join(
            self.parent, f".{self.name}{_STAGING_TAGS[0]}{secrets.token_hex(4)}"
        )
        os.mkdir(self.path)
        _write_marker(self.path)

    def _check_final(self) -> bool:
        """Whether ``final`` holds an earlier split (raise if it must not be replaced)."""
        if not os.path.lexists(self.final):
            return False
        if not os.path.isdir(self.final) or os.path.islink(self.final):
            raise ValueError(
                "Invalid `output_dir`: it exists and is not a directory. "
                f"Received: output_dir={self.final!r}"
            )
        ours = _files_of_split(self.final)
        foreign = _foreign_entries(self.final, ours or set())
        if foreign:
            shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more"
                                                if len(foreign) > 5 else "")
            raise ValueError(
                "Invalid `output_dir`: it holds files split_by_class did not write "
                f"({shown}); they are never deleted. Move them or choose another folder. "
                f"Received: output_dir={self.final!r}"
            )
        if ours is not None and not self.overwrite:
            raise ValueError(
                "Invalid `output_dir`: it already holds a split; pass overwrite=True to "
                f"replace it. Received: output_dir={self.final!r}"
            )
        return ours is not None

    def commit(self, manifest: dict[str, Any]) -> None:
        path = os.path.join(self.path, MANIFEST)
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(manifest, handle, indent=1)
            handle.flush()
            os.fsync(handle.fileno())
        # Checked again: the folder may have changed while the split ran.
        had_split = self._check_final()
        if had_split:
            # Renamed aside (marked as ours) so the path always holds a whole split.
            old = os.path.join(
                self.parent, f".{self.name}{_STAGING_TAGS[1]}{secrets.token_hex(4)}"
            )
            _write_marker(self.final)
            os.rename(self.final, old)
            try:
                os.rename(self.path, self.final)
            except BaseException:
                os.rename(old, self.final)  # put the earlier split back
                os.remove(os.path.join(self.final, _MARKER))
                raise
            _remove_split(old)
        else:
            if os.path.isdir(self.final):
                os.rmdir(self.final)  # empty (checked): rename needs the name free
            os.rename(self.path, self.final)
        os.remove(os.path.join(self.final, _MARKER))

    def abort(self) -> None:
        _remove_staging(self.path)


def _write_marker(folder: str) -> None:
    with open(os.path.join(folder, _MARKER), "w", encoding="utf-8") as handle:
        json.dump({"host": socket.gethostname(), "pid": os.getpid()}, handle)


def _files_of_split(folder: str) -> set[str] | None:
    """Relative paths a split's manifest lists (with itself), or None without a manifest."""
    path = os.path.join(folder, MANIFEST)
    if not os.path.isfile(path):
        return None
    try:
        with open(path, encoding="utf-8") as handle:
            files = json.load(handle)["files"]
        listed = {os.path.normpath(p) for paths in files.values() for p in paths}
    except (ValueError, KeyError, TypeError, AttributeError):
        return {MANIFEST}  # unreadable: nothing in the folder counts as ours but itself
    return listed | {MANIFEST}


def _foreign_entries(folder: str, ours: set[str]) -> list[str]:
    """Entries under ``folder`` that are neither listed in ``ours`` nor their folders."""
    ours = set(ours) | {_MARKER}
    dirs = {os.path.dirname(p) for p in ours} - {""}
    foreign = []
    for root, subdirs, files in os.walk(folder):
        rel_root = os.path.relpath(root, folder)
        for name in sorted(subdirs):
            rel = os.path.normpath(os.path.join(rel_root, name))
            if rel not in dirs or os.path.islink(os.path.join(root, name)):
                foreign.append(rel + "/")
        subdirs[:] = [d for d in sorted(subdirs)
                      if os.path.normpath(os.path.join(rel_root, d)) in dirs]
        for name in sorted(files):
            rel = os.path.normpath(os.path.join(rel_root, name))
            if rel not in ours:
                foreign.append(rel)
    return foreign


def _remove_split(folder: str) -> None:
    """Delete exactly what the manifest lists, then the folders it emptied."""
    ours = _files_of_split(folder) or set()
    for rel in sorted(ours - {MANIFEST}) + [MANIFEST, _MARKER]:
        try:
            os.remove(os.path.join(folder, rel))
        except FileNotFoundError:
            pass
    for rel in sorted({os.path.dirname(p) for p in ours} - {""}, reverse=True):
        try:
            os.rmdir(os.path.join(folder, rel))
        except OSError:
            pass  # not empty: something we did not write stays
    try:
        os.rmdir(folder)
    except OSError:
        pass


def _remove_staging(folder: str) -> None:
    """Delete a temporary folder of ours: its part files, manifest and marker only."""
    for root, _, files in os.walk(folder, topdown=False):
        for name in files:
            if name in (MANIFEST, _MARKER) or name.startswith("part-"):
                os.remove(os.path.join(root, name))
        try:
            os.rmdir(root)
        except OSError:
            pass


def _remove_stale_staging(parent: str, name: str) -> None:
    """Remove temporary folders that killed splits to ``name`` left (ours by name + marker)."""
    pattern = re.compile(re.escape(f".{name}") + "(" + "|".join(
        re.escape(t) for t in _STAGING_TAGS) + r")[0-9a-f]+$")
    for entry in os.listdir(parent):
        match = pattern.match(entry)
        path = os.path.join(parent, entry)
        if not match or not os.path.isdir(path) or os.path.islink(path):
            continue
        try:
            with open(os.path.join(path, _MARKER), encoding="utf-8") as handle:
                owner = json.load(handle)
        except (OSError, ValueError):
            continue  # no marker of ours: not ours to delete
        if _alive(owner):
            continue  # a split still running (another process) owns it
        if match.group(1) == _STAGING_TAGS[1]:
            _remove_split(path)
        else:
            _remove_staging(path)


def _alive(owner: Any) -> bool:
    if not isinstance(owner, dict) or owner.get("host") != socket.gethostname():
        # Another machine's split (shared disk) may still run: leave it, unless it is ours.
        return isinstance(owner, dict) and owner.get("host") is not None
    pid = owner.get("pid")
    if not isinstance(pid, int) or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# --------------------------------------------------------------------------------------
# split_by_class
# --------------------------------------------------------------------------------------



def check_writer_options(
    source: Any,
    *,
    format: str,
    compression: str | None,
    output_dir: Any,
    overwrite: Any,
    schema: Any,
    formats: Sequence[str] = _FORMATS,
    **positive_ints: Any,
) -> str:
    """The checks every shard writer shares; returns the output compression ('' or 'GZIP').

    ``formats`` lists the accepted formats, the writer's default first (as its message says);
    ``positive_ints`` are the writer's size options by name.
    """
    if format not in formats:
        raise ValueError(
            f"Invalid `format`: expected {' or '.join(repr(f) for f in formats)}. "
            f"Received: format={format!r}"
        )
    compression = "GZIP" if check_compression(compression) == "gzip" else ""
    for name, value in positive_ints.items():
        check_positive_int(value, name)
    if not isinstance(output_dir, (str, os.PathLike)):
        raise TypeError(
            f"Invalid `output_dir`: expected a directory path. Received: output_dir={output_dir!r}"
        )
    check_bool(overwrite, "overwrite")
    if isinstance(source, tf.data.Dataset):
        if format != "tfrecord":
            raise ValueError(
                "Invalid `format`: dataset sources are written as typed TFRecord blocks; pass "
                "format='tfrecord' (CSV shards need a CSV source). "
                f"Received: format={format!r}"
            )
        if schema is not None:
            raise ValueError(
                "Invalid `schema`: a CsvSchema applies to CSV sources only. "
                f"Received: schema={schema!r}"
            )
    return compression


def split_by_class(
    source: Any,
    label: Label,
    output_dir: str | os.PathLike,
    *,
    format: str = "tfrecord",
    compression: str | None = "auto",
    max_rows_per_shard: int = 1_000_000,
    batch_size: int = 65_536,
    block_rows: int = 8192,
    field_delim: str = ",",
    schema: CsvSchema | None = None,
    overwrite: bool = False,
    verbose: bool | None = None,
) -> SplitResult:
    """Write each class's rows to its own shard files, in one streaming pass.

    Parameters
    ----------
    source : str, path, list of paths, or tf.data.Dataset
        CSV file(s) or glob(s) with a header line (same header in every file; plain or
        ``.gz``), or a dataset of ``(features, label)`` elements, batched or not
        (``features`` a tensor or a dict of tensors).
    label : str, None or int
        For CSV: the label column's name (integer class ids, or strings mapped to ids by
        the schema's ``label_vocabulary``). For a dataset: ``None`` (the second tuple
        item) or its tuple position.
    output_dir : str or path
        Where shards and ``split.json`` go. It must not exist, be empty, or (with
        ``overwrite=True``) hold only an earlier split.
    format : {'tfrecord', 'csv'}
        'tfrecord': typed blocks of rows that read back without parsing text. 'csv': the
        input lines unchanged under the input header (CSV sources only).
    compression : {'auto', 'gzip', None}
        Output compression: ``'gzip'`` writes gzip shards (``.gz``); ``'auto'`` and
        ``None`` write plain ones. The 0.1.0 spelling ``'GZIP'`` is accepted until 0.3.0.
    max_rows_per_shard : int
        A new part file starts after this many rows of a class.
    batch_size : int
        Rows read, validated and grouped per step (memory is bounded by a few batches).
    block_rows : int
        Rows per stored block of the typed format: every record but the last of a file
        holds this many, so ``datasets(block_size=block_rows)`` reads them as they are.
    field_delim : str
        CSV delimiter.
    schema : CsvSchema, optional
        Column types and label vocabulary of a CSV source (default ``infer_csv_schema``).
    overwrite : bool
        Replace an earlier split in ``output_dir``; otherwise finding one is an error.
    verbose : bool, optional
        Progress bar (``keras.utils.Progbar``); ``None`` shows it only on a terminal.

    Returns
    -------
    SplitResult
        ``{class_id: [shard paths]}`` with ``counts`` (a ``ClassDistribution``).

    Raises
    ------
    ValueError
        A bad row (wrong field count, missing, negative or unknown label, a value not of
        its column's type: the message names the file and 1-based line), missing files,
        unknown label column, duplicate column names, headers that differ between files,
        an existing split without ``overwrite``, an ``output_dir`` holding files
        ``split_by_class`` did not write, bad options.
    TypeError
        ``source``, ``label`` or an option of the wrong kind.

    Notes
    -----
    The split is staged in a temporary folder beside ``output_dir`` and renamed into
    place when complete, so ``output_dir`` holds either the earlier state or the whole new
    split. Line endings of CSV shards are ``\\n``; blank lines are skipped.

    Examples
    --------
    >>> import os, tempfile
    >>> folder = tempfile.mkdtemp()
    >>> path = os.path.join(folder, "data.csv")
    >>> with open(path, "w") as f:
    ...     _ = f.write("x,y\\n1.5,0\\n2.5,1\\n3.5,0\\n")
    >>> result = split_by_class(path, "y", os.path.join(folder, "split"), format="csv",
    ...                         verbose=False)
    >>> result.counts.counts
    {0: 2, 1: 1}
    >>> print(open(result[0][0]).read(), end="")
    x,y
    1.5,0
    3.5,0
    >>> typed = split_by_class(path, "y", os.path.join(folder, "typed"), verbose=False)
    >>> features, labels = next(iter(typed.datasets(block_size=8)[0]))
    >>> features["x"].numpy().tolist(), labels.numpy().tolist()
    ([1.5, 3.5], [0, 0])
    """
    compression = check_writer_options(
        source, format=format, compression=compression, output_dir=output_dir,
        overwrite=overwrite, schema=schema, max_rows_per_shard=max_rows_per_shard,
        batch_size=batch_size, block_rows=block_rows,
    )
    if isinstance(source, tf.data.Dataset):
        plan = _dataset_plan(source, label, batch_size)
    elif isinstance(source, (str, os.PathLike, list, tuple)):
        plan = _csv_plan(source, label, format, batch_size, field_delim, schema)
    else:
        raise TypeError(
            "Invalid `source`: expected a CSV path, glob or list of paths, or a "
            f"tf.data.Dataset. Received: source={source!r}"
        )
    batches, key_fn, encoder_of, manifest, progress_total, diagnose = plan
    encoder = encoder_of(format, compression)

    staged = _StagedOutput(os.fspath(output_dir), overwrite)
    try:
        try:
            shards = write_grouped(
                batches, key_fn, staged.path, encoder=encoder,
                max_rows_per_shard=int(max_rows_per_shard), block_rows=int(block_rows),
                progress=_progress(verbose, progress_total),
            )
        except tf.errors.OpError as exc:
            raise diagnose(exc) from None
        if not shards:
            raise ValueError(f"Invalid `source`: it holds no rows. Received: source={source!r}")
        manifest.update(
            version=_FORMAT_VERSION,
            block_rows=int(block_rows),
            format=format,
            compression=compression,
            counts={str(c): s.rows for c, s in sorted(shards.items())},
            files={str(c): s.files for c, s in sorted(shards.items())},
            bytes={str(c): s.bytes for c, s in sorted(shards.items())},
        )
        staged.commit(manifest)
    except BaseException:
        staged.abort()
        raise
    return SplitResult(staged.final, manifest)


def _progress(verbose: bool | None, target: int | None):
    if not _show_progress(verbose):
        return None
    import keras

    return keras.utils.Progbar(target, unit_name="byte" if target else "row")


# --------------------------------------------------------------------------------------
# CSV sources, on the CSV stack
# --------------------------------------------------------------------------------------


def _csv_plan(source, label, fmt, batch_size, delim, schema):
    if not isinstance(label, str):
        raise TypeError(
            "Invalid `label`: for CSV sources, the label column's name. "
            f"Received: label={label!r}"
        )
    if schema is not None and not isinstance(schema, CsvSchema):
        raise TypeError(f"Invalid `schema`: expected a CsvSchema. Received: schema={schema!r}")
    if schema is None:
        schema = infer_csv_schema(source, label, field_delim=delim)
    reserved = sorted(_RESERVED & set(schema.column_names))
    if reserved:
        raise ValueError(
            f"Invalid `source`: the column names {reserved} are reserved for the shards' own "
            f"columns. Received: columns={list(schema.column_names)}"
        )
    # Every record checked in full (field count, each column's type, the label rule), its
    # errors naming file, line and value; the text kept byte for byte.
    # Typed shards take the columns from the same decode_csv pass that reads the labels.
    features = list(schema.feature_names)
    lines, schema = validated_lines(source, label, schema=schema, batch_size=batch_size,
                                    features=None if fmt == "csv" else features)
    infos = inspect_files(resolve_files(source), None, schema.field_delim)

    @_plain
    def prepare(batch):
        text = batch["line"]
        size = tf.reduce_sum(tf.strings.length(text)) + tf.size(text)
        extras = {"size": tf.cast(size, tf.int64)}
        if fmt == "csv":
            return {_LINE_KEY: text + "\n", _LABEL_KEY: batch["label"], "__extras__": extras}
        return {**batch["features"], _LABEL_KEY: batch["label"], "__extras__": extras}

    batches = lines.map(prepare, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)

    def key_fn(batch):
        return batch[_LABEL_KEY]

    def encoder_of(fmt, compression):
        if fmt == "csv":
            return _CsvText(_header_bytes(infos[0]), compression)
        return _TypedBlocks(compression)

    manifest = {
        "source": "csv",
        "schema": schema.to_dict(),
        "header": schema.field_delim.join(schema.column_names),
        "columns": _block_columns_of(
            {**{f: (schema.dtypes[f], []) for f in features}, _LABEL_KEY: ("int64", [])}
        ) if fmt == "tfrecord" else None,
    }
    total = None if any(info.compression for info in infos) else sum(
        os.path.getsize(info.path) - info.header_bytes for info in infos
    )
    return batches, key_fn, encoder_of, manifest, total, _csv_error


def _header_bytes(info) -> bytes:
    """The input header as written, with ``\n`` endings (a BOM starts a file, not a shard)."""
    with (gzip.open(info.path, "rb") if info.compression else open(info.path, "rb")) as handle:
        first = handle.read(info.header_bytes)
    if first.startswith(b"\xef\xbb\xbf"):
        first = first[3:]
    return first.rstrip(b"\r\n").replace(b"\r\n", b"\n") + b"\n"


def _csv_error(exc: tf.errors.OpError) -> Exception:
    """The CSV stack's row error (file, line, value) as the ValueError split time raises."""
    # Assert prints its message inside brackets; the stack's messages start like this.
    found = re.search(r"\[(Invalid CSV .*)\]", exc.message) or re.search(
        r"Invalid CSV .*", exc.message)
    if found:
        return ValueError(found.group(found.lastindex or 0))
    lines = [line.strip() for line in exc.message.splitlines() if line.strip()]
    text = re.sub(r"\{\{[^}]*\}\}\s*", "", lines[0] if lines else "")
    return ValueError(f"Invalid `source`: reading it failed: {text}")


# --------------------------------------------------------------------------------------
# tf.data.Dataset sources
# --------------------------------------------------------------------------------------


def _block_columns_of(spec: Mapping[str, tuple[str, list[int]]]) -> dict[str, Any]:
    return {name: {"dtype": dtype, "shape": list(shape)} for name, (dtype, shape) in spec.items()}


def _dataset_plan(source, label, batch_size):
    if label is not None and not is_integer(label):
        raise TypeError(
            "Invalid `label`: dataset sources are split from (features, label) elements; "
            f"pass None or the label's tuple position. Received: label={label!r}"
        )
    spec = source.element_spec
    if not isinstance(spec, tuple) or len(spec) < 2:
        raise TypeError(
            "Invalid `source`: expected (features, label) elements. "
            f"Received: element_spec={spec!r}"
        )
    rank = batched_label_rank(source, label)
    label_pos = 1 if label is None else label
    feature_pos = 0 if label_pos != 0 else 1
    features_spec = spec[feature_pos]
    features_kind = "dict" if isinstance(features_spec, dict) else "tensor"
    if features_kind == "tensor":
        features_spec = {_FEATURES_KEY: features_spec}
    if not all(isinstance(s, tf.TensorSpec) for s in features_spec.values()):
        raise TypeError(
            "Invalid `source`: features must be a tensor or a dict of dense tensors. "
            f"Received: element_spec={spec!r}"
        )
    row_shapes = {k: s.shape[1:] if rank == 1 else s.shape for k, s in features_spec.items()}
    for key, shape in row_shapes.items():
        if not shape.is_fully_defined():
            raise ValueError(
                f"Invalid `source`: feature {key!r} has rows of unknown shape {shape}; "
                "only fixed-shape features can be written."
            )
        if key in _RESERVED:
            raise ValueError(
                f"Invalid `source`: the feature name {key!r} is reserved for the shards' own "
                f"columns. Received: element_spec={spec!r}"
            )
    columns = {k: (s.dtype.name, row_shapes[k].as_list()) for k, s in features_spec.items()}
    columns[_LABEL_KEY] = ("int64", [])
    _block_columns(_block_columns_of(columns))  # refuses dtypes the reader cannot decode

    @_plain
    def rows_of(*element):
        features = element[feature_pos]
        if features_kind == "tensor":
            features = {_FEATURES_KEY: features}
        labels = tf.reshape(tf.cast(element[label_pos], tf.int64), [-1])
        check = tf.debugging.assert_non_negative(
            labels, message="Invalid `label`: class ids must be non-negative"
        )
        with tf.control_dependencies([check]):
            labels = tf.identity(labels)
        return {**features, _LABEL_KEY: labels,
                "__extras__": {"size": tf.size(labels, out_type=tf.int64)}}

    batches = source if rank == 1 else source.batch(batch_size)
    batches = batches.map(rows_of)

    def key_fn(batch):
        return batch[_LABEL_KEY]

    def encoder_of(fmt, compression):
        return _TypedBlocks(compression)

    def diagnose(exc):
        return ValueError(exc.message.splitlines()[0]) if isinstance(
            exc, tf.errors.InvalidArgumentError) else exc

    manifest = {
        "source": "dataset",
        "features_kind": features_kind,
        "columns": _block_columns_of(columns),
    }
    return batches, key_fn, encoder_of, manifest, None, diagnose


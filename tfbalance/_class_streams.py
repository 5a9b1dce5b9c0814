"""Per-class streams: ``ClassDatasets``, ``class_datasets``, and reading a split.

The reading side of the per-class path. ``split_by_class`` (``_splitting``) writes a split;
this module opens it (``load_split`` / ``SplitResult``) or, as a fallback, filters an
ordinary dataset once per class. ``interleave_by_class`` and ``balanced_batches``
(``_interleave``) merge the streams.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from tfbalance._counting import class_counts
from tfbalance._csv import CsvSchema, batch_decoder, inspect_files, records_of_files
from tfbalance._distribution import ClassDistribution, CountsLike, as_class_distribution
from tfbalance._labels import Label, batched_label_rank, get_label, map_elements
from tfbalance._tf import named, tf
from tfbalance._validation import check_int, check_positive_int, check_seed

__all__ = ["ClassDatasets", "SplitResult", "class_datasets", "load_split"]

MANIFEST = "split.json"


class ClassDatasets(dict):
    """``{class_id: tf.data.Dataset}`` with the class counts when they are known.

    ``interleave_by_class`` and ``balanced_batches`` read ``counts`` from it, so
    ``weights="natural"`` and the default epoch length need no extra argument.

    Examples
    --------
    >>> import tensorflow as tf
    >>> streams = ClassDatasets(
    ...     {0: tf.data.Dataset.range(3), 1: tf.data.Dataset.range(1)}, counts=[3, 1])
    >>> sorted(streams), streams.counts.counts
    ([0, 1], {0: 3, 1: 1})
    """

    def __init__(
        self,
        datasets: Mapping[int, tf.data.Dataset],
        counts: CountsLike | None = None,
        *,
        block_size: int | None = None,
    ) -> None:
        super().__init__(sorted(datasets.items()))
        self.counts: ClassDistribution | None = (
            None if counts is None else as_class_distribution(counts)
        )
        # Set when every stream yields blocks (batches of up to ``block_size`` rows) instead
        # of single rows, so a batched merge can gather from them without unbatching.
        self.block_size = block_size

    def __repr__(self) -> str:
        return f"ClassDatasets(classes={list(self)}, counts={self.counts and self.counts.counts})"


def class_datasets(
    source: Any,
    label: Label = None,
    *,
    classes: Sequence[int] | None = None,
    counts: CountsLike | None = None,
    shuffle_files: bool = True,
    seed: int | None = None,
    block_size: int | str | None = "auto",
    name: str | None = None,
) -> ClassDatasets:
    """One ``tf.data.Dataset`` per class: of blocks of rows from a split, else of rows.

    From split shards (the result of ``split_by_class`` or its ``output_dir``) each class
    reads only its own files: the cheap layout. Its streams yield blocks of rows (as
    ``SplitResult.datasets(block_size=...)``; ``ClassDatasets.block_size`` says so), which
    ``interleave_by_class`` and ``balanced_batches`` slice into batches without
    unbatching: the fast path. From an ordinary dataset each class stream is a filter over
    the whole source, and yields rows.

    Parameters
    ----------
    source : SplitResult, str, path, or tf.data.Dataset
        A ``split_by_class`` result, the directory it wrote, or a dataset (batched or not).
    label : None, str, int or callable
        How a dataset source's elements hold their class ids (as in ``class_counts``).
        Ignored for split shards.
    classes : sequence of int, optional
        The classes to open. Default: every class of the split, or, for a dataset source,
        those of ``counts``.
    counts : ClassDistribution, dict or list, optional
        The dataset source's class counts. When neither ``classes`` nor ``counts`` is given
        for a dataset source, one counting pass (``class_counts``) finds them.
    shuffle_files : bool
        Read a class's shard files in a new seeded order every epoch (split shards only).
        Shuffle rows inside the streams yourself (``ds.shuffle(buffer)``) when a shard's
        order matters.
    seed : int, optional
        Seed of the shard order.
    block_size : 'auto', int or None
        Split sources only. 'auto' (default): blocks as the split stores them (its
        ``block_rows``, 8192 by default, for typed shards; 1024 rows for CSV shards). An
        int: blocks of that many rows (the last of each shard file may be shorter). None:
        single rows. A dataset source always gives rows ('auto' or None).
    name : str, optional
        Names the op that delivers each stream ``f"{name}_{class_id}"`` (for profiles and
        debugging), as tf.data's own ``name=`` arguments.

    Returns
    -------
    ClassDatasets
        ``{class_id: dataset}`` with ``counts`` and ``block_size`` attributes. Streams from
        a split yield ``(features, label)`` blocks, each tensor with a leading row axis
        (or single rows with ``block_size=None``): numbers parsed, the label column removed
        from the features. Streams from a dataset source yield that source's elements,
        unbatched.

    Raises
    ------
    ValueError
        The directory holds no split, a requested class is unknown, a bad ``block_size``.
    TypeError
        ``source`` is none of the accepted kinds.

    Notes
    -----
    The filtering fallback costs I/O: each class stream reads the *whole* source, so K
    class streams read it K times per epoch (and a rare class's stream still parses every
    majority row). Split once with ``split_by_class`` when the data are large.

    Examples
    --------
    >>> import tensorflow as tf
    >>> ds = tf.data.Dataset.from_tensor_slices(([1.0, 2.0, 3.0, 4.0], [0, 1, 0, 0]))
    >>> streams = class_datasets(ds, counts=[3, 1])
    >>> [float(x) for x, y in streams[0]], [float(x) for x, y in streams[1]]
    ([1.0, 3.0, 4.0], [2.0])

    From a split, blocks (here of up to 8 rows):

    >>> import tempfile
    >>> from tfbalance import split_by_class
    >>> split = split_by_class(ds, None, tempfile.mkdtemp() + "/out", verbose=False)
    >>> blocks = class_datasets(split, block_size=8)
    >>> blocks.block_size, [x.numpy().tolist() for x, y in blocks[0]]
    (8, [[1.0, 3.0, 4.0]])
    """
    seed = check_seed(seed)
    if block_size != "auto":
        _check_block_size(block_size)
    if isinstance(source, (str, os.PathLike)):
        source = load_split(source)
    if isinstance(source, SplitResult):
        if block_size == "auto":
            block_size = source._block_rows()
        return source.datasets(
            classes=classes, shuffle_files=shuffle_files, seed=seed,
            block_size=None if block_size is None else int(block_size), name=name,
        )
    if not isinstance(source, tf.data.Dataset):
        raise TypeError(
            "Invalid `source`: expected a split_by_class result, its output directory or a "
            f"tf.data.Dataset. Received: source={source!r}"
        )
    if block_size not in ("auto", None):
        raise ValueError(
            "Invalid `block_size`: blocks come from a split's shards; a dataset source "
            f"gives rows ('auto' or None). Received: block_size={block_size!r}"
        )
    if counts is not None:
        counts = as_class_distribution(counts)
    if classes is None:
        if counts is None:
            counts = class_counts(source, label)
        classes = counts.classes
    classes = _check_classes(classes)
    rank = batched_label_rank(source, label)
    streams = {}
    for class_id in classes:
        streams[class_id] = _named_stream(_filter_class(source, label, rank, class_id),
                                          name, class_id)
    return ClassDatasets(streams, counts=counts)


def _check_block_size(block_size: Any) -> None:
    if block_size is not None and (
        isinstance(block_size, (bool, np.bool_))
        or not isinstance(block_size, (int, np.integer)) or block_size < 1
    ):
        raise ValueError(
            "Invalid `block_size`: expected 'auto', None or a positive int. "
            f"Received: block_size={block_size!r}"
        )


def _named_stream(ds: tf.data.Dataset, name: str | None, class_id: int) -> tf.data.Dataset:
    """``ds`` with its last op named ``f"{name}_{class_id}"`` (unchanged for no name)."""
    if name is not None and (not isinstance(name, str) or not name):
        raise TypeError(
            f"Invalid `name`: expected a non-empty str or None. Received: name={name!r}"
        )
    return named(ds, None if name is None else f"{name}_{class_id}")


def _check_classes(classes: Any) -> list[int]:
    if not isinstance(classes, (Sequence, np.ndarray)) or isinstance(classes, (str, bytes)):
        raise TypeError(
            f"Invalid `classes`: expected a list of class ids. Received: classes={classes!r}"
        )
    result = []
    for index, c in enumerate(classes):
        result.append(check_int(c, f"classes[{index}]", minimum=0))
    if not result:
        raise ValueError(f"Invalid `classes`: no classes. Received: classes={list(classes)!r}")
    return sorted(set(result))


def _filter_class(source: tf.data.Dataset, label: Label, rank: int, class_id: int):
    if rank == 0:
        return source.filter(
            lambda *args: tf.equal(
                tf.cast(get_label(args if len(args) > 1 else args[0], label), tf.int64),
                class_id,
            )
        )

    # Batched source: mask whole batches with vector ops, then unbatch the kept rows.
    def keep(element):
        labels = tf.reshape(tf.cast(get_label(element, label), tf.int64), [-1])
        mask = tf.equal(labels, class_id)
        return tf.nest.map_structure(lambda t: tf.boolean_mask(t, mask), element)

    return map_elements(source, keep).unbatch()


class SplitResult(Mapping):
    """What ``split_by_class`` wrote: ``{class_id: [shard paths]}`` plus the class counts.

    Attributes
    ----------
    counts : ClassDistribution
        Rows written per class.
    output_dir : str
        The directory holding the shards and ``split.json``.
    format : str
        ``'tfrecord'`` (typed blocks) or ``'csv'``.

    Examples
    --------
    >>> import tempfile, tensorflow as tf
    >>> from tfbalance import split_by_class
    >>> ds = tf.data.Dataset.from_tensor_slices(([1.0, 2.0, 3.0], [0, 1, 0]))
    >>> result = split_by_class(ds, None, tempfile.mkdtemp() + "/out", verbose=False)
    >>> result.counts.counts, [len(result[c]) for c in result]
    ({0: 2, 1: 1}, [1, 1])
    """

    def __init__(self, output_dir: str, manifest: dict[str, Any]) -> None:
        self.output_dir = str(output_dir)
        self._manifest = manifest
        self.format: str = manifest["format"]
        self.compression: str = manifest["compression"]
        self.counts = ClassDistribution({int(c): n for c, n in manifest["counts"].items()})
        self._files = {
            int(c): [os.path.join(self.output_dir, p) for p in paths]
            for c, paths in manifest["files"].items()
        }
        # 0.1.0 splits (no "version") hold CSV lines or per-row Examples; still readable.
        self._version = int(manifest.get("version", 1))

    def __getitem__(self, class_id: int) -> list[str]:
        return list(self._files[class_id])

    def __iter__(self) -> Iterator[int]:
        return iter(sorted(self._files))

    def __len__(self) -> int:
        return len(self._files)

    def __repr__(self) -> str:
        shards = {c: len(f) for c, f in sorted(self._files.items())}
        return (
            f"SplitResult(output_dir={self.output_dir!r}, format={self.format!r}, "
            f"counts={self.counts.counts}, shards={shards})"
        )

    @property
    def header(self) -> str | None:
        """The CSV header (CSV sources)."""
        return self._manifest.get("header")

    @property
    def schema(self) -> CsvSchema | None:
        """The ``CsvSchema`` the rows were validated with (CSV sources)."""
        config = self._manifest.get("schema")
        return None if config is None else CsvSchema.from_dict(config)

    @property
    def nbytes(self) -> int | None:
        """Bytes of shard files written (``None`` for 0.1.0 splits)."""
        sizes = self._manifest.get("bytes")
        return None if sizes is None else int(sum(sizes.values()))

    def datasets(
        self,
        *,
        classes: Sequence[int] | None = None,
        shuffle_files: bool = True,
        seed: int | None = None,
        block_size: int | None = None,
        name: str | None = None,
    ) -> ClassDatasets:
        """Per-class streams of parsed rows, or of blocks of rows (see ``class_datasets``).

        Parameters
        ----------
        classes : sequence of int, optional
            The classes to open (default: all).
        shuffle_files : bool
            Read each class's part files in a new seeded order every epoch.
        seed : int, optional
            Seed of the file order.
        block_size : int, optional
            ``None``: every stream yields rows ``(features, label)``. An int: every stream
            yields blocks (``features`` and ``label`` with a leading axis) of up to
            ``block_size`` rows, read without unbatching; ``ClassDatasets.block_size`` says
            so to ``interleave_by_class`` and ``balanced_batches``. The split's
            ``block_rows`` (default 8192) is the fastest: its records are those blocks
            (only the last of each part file is shorter); other sizes are re-batched.
        name : str, optional
            Names the op that delivers each stream ``f"{name}_{class_id}"``.

        Returns
        -------
        ClassDatasets

        Raises
        ------
        ValueError
            An unknown class; a ``block_size`` below 1.
        TypeError
            A class id or ``block_size`` that is not an int.

        Examples
        --------
        >>> import tempfile, tensorflow as tf
        >>> from tfbalance import split_by_class
        >>> ds = tf.data.Dataset.from_tensor_slices(([1.0, 2.0, 3.0], [0, 1, 0]))
        >>> split = split_by_class(ds, None, tempfile.mkdtemp() + "/out", verbose=False)
        >>> [float(x) for x, y in split.datasets()[1]]
        [2.0]
        >>> [x.numpy().tolist() for x, y in split.datasets(block_size=8)[0]]
        [[1.0, 3.0]]
        """
        seed = check_seed(seed)
        block_size = check_positive_int(block_size, "block_size", allow_none=True)
        _named_stream(tf.data.Dataset.range(0), name, 0)  # a bad name fails before any read
        wanted = self.counts.classes if classes is None else _check_classes(classes)
        unknown = sorted(set(wanted) - set(self._files))
        if unknown:
            raise ValueError(
                f"Invalid `classes`: {unknown} are not in the split (classes "
                f"{sorted(self._files)}). Received: classes={list(wanted)!r}"
            )
        streams = {}
        for class_id in wanted:
            files = self._files[class_id]
            order = tf.data.Dataset.range(len(files))
            if shuffle_files and len(files) > 1:
                order = order.shuffle(len(files), seed=seed, reshuffle_each_iteration=True)
            blocks = self._read_blocks(files, order)
            if block_size is None:
                streams[class_id] = blocks.unbatch()
            elif self._stored_block_rows() == block_size:
                streams[class_id] = blocks  # stored as blocks of this size: no re-batching
            else:
                streams[class_id] = blocks.rebatch(int(block_size))
            streams[class_id] = _named_stream(streams[class_id], name, class_id)
        return ClassDatasets(
            streams, counts=self.counts, block_size=None if block_size is None else int(block_size)
        )

    def _block_rows(self) -> int:
        """Rows per block that the shards give without re-batching."""
        return self._stored_block_rows() or _READ_BATCH

    def _stored_block_rows(self) -> int | None:
        """Rows per record of typed blocks (all but the last of each file), else None."""
        if self._version >= 2 and self.format == "tfrecord":
            return self._manifest.get("block_rows")
        return None

    def _read_blocks(self, files: list[str], order: tf.data.Dataset) -> tf.data.Dataset:
        """Batches of ``(features, label)`` of one class, files in ``order``."""
        compression = "GZIP" if self.compression == "GZIP" else ""
        paths = tf.constant(files)
        if self._version >= 2 and self.format == "tfrecord":
            parse = _block_parser(
                _block_columns(self._manifest["columns"]), self._manifest["source"],
                self._manifest.get("features_kind"),
            )
            records = tf.data.TFRecordDataset(order.map(lambda i: paths[i]),
                                              compression_type=compression)
            return records.map(parse, num_parallel_calls=tf.data.AUTOTUNE).prefetch(1)
        if self._version >= 2:  # CSV shards: the CSV stack's reader checks and decodes them
            schema = self.schema
            if schema is None:
                raise ValueError(
                    f"Invalid split in {self.output_dir}: its manifest holds CSV shards but "
                    "no schema; write the split again"
                )
            infos = inspect_files(files, compression or "", schema.field_delim)
            decode, _ = batch_decoder(schema, list(schema.feature_names), paths)
            lines = order.flat_map(records_of_files(infos)).rebatch(_READ_BATCH)
            return lines.map(decode, num_parallel_calls=tf.data.AUTOTUNE).prefetch(1)
        names = order.map(lambda i: paths[i])
        if self.format == "csv":
            lines = names.flat_map(
                lambda f: tf.data.TextLineDataset(f, compression_type=compression).skip(1)
            )
        else:
            lines = names.flat_map(
                lambda f: tf.data.TFRecordDataset(f, compression_type=compression)
            )
        if self._manifest["source"] == "csv":
            parse = self._csv_parser()
        else:
            parse = self._example_parser()
        # Parse in batches (vectorised, in parallel, order kept).
        parsed = lines.batch(_READ_BATCH).map(parse, num_parallel_calls=tf.data.AUTOTUNE)
        return parsed.prefetch(1)

    def _csv_parser(self):
        # 0.1.0 layout: CSV lines with their header and inferred types in the manifest.
        columns = self._manifest["columns"]
        types = self._manifest["column_types"]
        label_index = self._manifest["label_index"]
        delim = self._manifest["field_delim"]
        defaults = [
            tf.constant([], tf.int64) if i == label_index else _CSV_DEFAULTS[t]()
            for i, t in enumerate(types)
        ]

        def parse(lines):
            values = tf.io.decode_csv(lines, defaults, field_delim=delim)
            features = {
                name: value for i, (name, value) in enumerate(zip(columns, values, strict=True))
                if i != label_index
            }
            return features, values[label_index]

        return parse

    def _example_parser(self):
        # 0.1.0 layout: one tf.train.Example per row.
        specs = self._manifest["features"]
        spec_map = {}
        for name, spec in specs.items():
            kind = spec["kind"]
            if kind == "raw":
                spec_map[name] = tf.io.FixedLenFeature([], tf.string)
            else:
                spec_map[name] = tf.io.FixedLenFeature(
                    [int(np.prod(spec["shape"], dtype=np.int64))], _KIND_DTYPES[kind]
                )

        def parse(records):
            parsed = tf.io.parse_example(records, spec_map)
            out = {}
            for name, spec in specs.items():
                value = parsed[name]
                dtype = tf.as_dtype(spec["dtype"])
                if spec["kind"] == "raw":
                    value = tf.io.decode_raw(value, dtype)
                elif value.dtype != dtype:
                    value = tf.cast(value, dtype)
                out[name] = tf.reshape(value, [-1] + list(spec["shape"]))
            label = out.pop(_LABEL_KEY)
            if self._manifest["features_kind"] == "tensor":
                return out[_FEATURES_KEY], label
            return out, label

        return parse


_READ_BATCH = 1024
_CSV_DEFAULTS = {
    "int64": lambda: tf.constant([0], tf.int64),
    "float32": lambda: tf.constant([0.0], tf.float32),
    "string": lambda: tf.constant([""], tf.string),
}
_KIND_DTYPES = {"int64": tf.int64, "float": tf.float32, "bytes": tf.string}
_LABEL_KEY = "__label__"
_FEATURES_KEY = "__features__"
# Typed blocks store each column's raw bytes; these are the dtypes decode_raw reads back.
_BLOCK_DTYPES = frozenset(
    ["bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "float16", "bfloat16",
     "float32", "float64", "complex64", "complex128", "string"]
)
# A split is staged in ".{name}.tfbalance-tmp-<hex>" (and an overwritten one set aside in
# ".{name}.tfbalance-old-<hex>"), each holding _MARKER until it is in place.
# Integer blocks are stored in the narrowest of these that holds their values.
NARROW_INTS = (np.dtype("int8"), np.dtype("int16"), np.dtype("int32"))
_STAGING_TAGS = (".tfbalance-tmp-", ".tfbalance-old-")
_MARKER = ".tfbalance-writing"
_STAGING_NAME = re.compile(r"^\..*\.tfbalance-(tmp|old)-[0-9a-f]+$")


def _block_columns(columns: Mapping[str, Any]) -> dict[str, tuple[tf.DType, list[int]]]:
    """``{name: (dtype, row shape)}`` of a typed-block manifest, checked."""
    out = {}
    for name, spec in columns.items():
        dtype = spec["dtype"]
        if dtype not in _BLOCK_DTYPES:
            raise TypeError(
                f"Invalid `source`: feature {name!r} has dtype {dtype}, which typed shards "
                f"cannot store; expected one of {sorted(_BLOCK_DTYPES)}."
            )
        out[name] = (tf.as_dtype(dtype), [int(d) for d in spec["shape"]])
    return out


def _block_parser(columns, source_kind: str, features_kind: str | None):
    """Record -> ``(features, label)`` of one block: ``decode_raw`` per column, no text.

    An integer block is stored under ``<name>/<stored dtype>`` (the narrowest of
    NARROW_INTS that holds its values, or its own dtype): every candidate key is parsed
    with an empty default and the decoded candidates are concatenated, so the one present
    is read with a single ``decode_raw`` and no branch.
    """
    spec = {}
    candidates = {}
    for name, (dtype, _) in columns.items():
        if dtype == tf.string:
            spec[name] = tf.io.FixedLenFeature([], tf.string)
            key, stored = name + "/lengths", tf.int32
        else:
            key, stored = name, dtype
        options = [stored]
        if stored.is_integer:
            options = [tf.as_dtype(d) for d in NARROW_INTS if d.itemsize < stored.size]
            options.append(stored)
        candidates[key] = options
        for option in options:
            spec[f"{key}/{option.name}"] = tf.io.FixedLenFeature([], tf.string, default_value="")

    def values(parsed, key, dtype):
        parts = [tf.io.decode_raw(parsed[f"{key}/{option.name}"], option)
                 for option in candidates[key]]
        if len(parts) == 1:
            return parts[0]
        return tf.concat([tf.cast(part, dtype) for part in parts], axis=0)

    def parse(record):
        parsed = tf.io.parse_single_example(record, spec)
        out = {}
        for name, (dtype, shape) in columns.items():
            if dtype == tf.string:
                lengths = values(parsed, name + "/lengths", tf.int32)
                offsets = tf.cumsum(lengths, exclusive=True)
                value = tf.strings.substr(parsed[name], offsets, lengths)
            else:
                value = values(parsed, name, dtype)
            out[name] = tf.reshape(value, [-1] + shape)
        label = out.pop(_LABEL_KEY)
        if source_kind == "dataset" and features_kind == "tensor":
            return out[_FEATURES_KEY], label
        return out, label

    return parse


def split_folder(output_dir: Any) -> str:
    """``output_dir`` as a path string, refused when it is not a path or is the temporary
    folder of an unfinished split (shared by ``load_split`` and ``load_stratified_split``)."""
    if not isinstance(output_dir, (str, os.PathLike)):
        raise TypeError(
            f"Invalid `output_dir`: expected a directory path. Received: output_dir={output_dir!r}"
        )
    folder = os.fspath(output_dir)
    if _STAGING_NAME.match(os.path.basename(os.path.abspath(folder))):
        raise ValueError(
            "Invalid `output_dir`: it is the temporary folder of an unfinished split, not a "
            f"split. Received: output_dir={folder!r}"
        )
    return folder


def load_split(output_dir: str | os.PathLike) -> SplitResult:
    """Open a directory written by ``split_by_class``.

    Parameters
    ----------
    output_dir : str or path
        The ``output_dir`` of ``split_by_class``.

    Returns
    -------
    SplitResult

    Raises
    ------
    ValueError
        The directory holds no complete split (no ``split.json``, an unreadable one, or a
        temporary folder that an unfinished split left).

    Examples
    --------
    >>> import tempfile, tensorflow as tf
    >>> from tfbalance import split_by_class
    >>> out = tempfile.mkdtemp() + "/out"
    >>> _ = split_by_class(tf.data.Dataset.from_tensor_slices(([0.5], [2])), None, out,
    ...                    verbose=False)
    >>> load_split(out).counts.counts
    {2: 1}
    """
    folder = split_folder(output_dir)
    path = os.path.join(folder, MANIFEST)
    if not os.path.isfile(path):
        raise ValueError(
            f"Invalid `output_dir`: it holds no {MANIFEST}; write it with split_by_class "
            f"first. Received: output_dir={folder!r}"
        )
    try:
        with open(path, encoding="utf-8") as handle:
            return SplitResult(folder, json.load(handle))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ValueError(
            f"Invalid `output_dir`: its {MANIFEST} is not a split manifest ({exc!r}). "
            f"Received: output_dir={folder!r}"
        ) from None

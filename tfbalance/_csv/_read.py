"""``read_csv`` and ``validated_lines``: CSV files as graph-only ``tf.data`` pipelines.

Reading splits files, plain or gzip, into large byte blocks (``FixedLengthRecordDataset``)
and cuts each block into records by byte positions: a line break ends a record when an
even number of quotes precedes it, so quoted fields may hold line breaks (the counter's
rule). Every record keeps the 1-based physical line where it starts. Each batch's
records are then checked by one RE2 match per record (field count, every column's type;
the first failing record alone is looked at field by field to name file, line, column
and value) and decoded with ``tf.io.decode_csv`` in a parallel map, which therefore never
fails with a batch-relative "record N". No per-line ``tf.data`` element is ever created.

``records_of_files`` (the records of each file) and ``batch_decoder`` (their check and
decode) are the two stages other modules may build on, besides ``validated_lines`` and
``decode_lines``. Per-batch functions are kept to few ops: each op is paid when the
function is traced, when every iterator instantiates it, and on every batch.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from tfbalance._csv._dialect import MAX_RECORD_BYTES, FileInfo, inspect_files
from tfbalance._csv._files import FilePattern, check_gzip, resolve_files
from tfbalance._csv._infer import infer_csv_schema
from tfbalance._csv._schema import LABEL_RULE, MISSING, CsvSchema
from tfbalance._deprecation import check_compression, compression_type_of, renamed_keywords
from tfbalance._tf import named, tf
from tfbalance._validation import MAX_CLASS_ID, check_int, check_positive_int, check_seed

__all__ = ["batch_decoder", "decode_lines", "read_csv", "records_of_files", "validated_lines"]

_BLOCK_BYTES = 1 << 20  # bytes per FixedLengthRecordDataset block when reading
# The functions handed to tf.data hold no Python control flow on tensors; AutoGraph's
# conversion of them took most of the second or more that building a reader cost.
_plain = tf.autograph.experimental.do_not_convert
_MAX_RECORD_BYTES = MAX_RECORD_BYTES  # module-level so a test can lower it


@renamed_keywords("file_pattern", "compression_type")
def read_csv(
    source: FilePattern,
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
    compression: str | None = "auto",
    prefetch: bool = True,
    resample: Callable[[tf.data.Dataset], tf.data.Dataset] | None = None,
    name: str | None = None,
) -> tf.data.Dataset:
    """Stream CSV files as ``(features, label)`` batches for Keras.

    Each element is ``({column: tensor[batch]}, label[batch])`` with int64 class ids. The
    pipeline reads large byte blocks, splits them into lines in one vectorised op per block
    and decodes whole batches with ``tf.io.decode_csv`` in parallel; it is graph-only, so it
    works with ``tf.distribute``, tf.data service and iterator checkpoints.

    Parameters
    ----------
    source : str, path or list of them
        CSV files (with a header row) or glob patterns; matched files are read in sorted
        order. Files ending in ``.gz`` are read as gzip (see ``compression``). The
        deprecated keyword ``file_pattern=`` is accepted until 0.3.0.
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
    compression : {'auto', 'gzip', None}
        ``'auto'``: gzip when the file name ends in ``.gz``; ``'gzip'``: every file is
        gzip; ``None``: no file is. Gzip files are decompressed once when the pipeline is
        built, to refuse a truncated or corrupt file before any row is read. The
        deprecated keyword ``compression_type=`` (``None``, ``'auto'``, ``''``, ``'GZIP'``)
        is accepted until 0.3.0.
    prefetch : bool
        End the pipeline with ``prefetch(tf.data.AUTOTUNE)``.
    resample : callable, optional
        A ``dataset -> dataset`` transform applied to the batches as they are read; the
        output is the same as ``read_csv(...).apply(resample)``. A transform with an
        ``apply_to_lines`` method (``tfbalance.undersample``, ``oversample`` and
        ``rejection_resample``; the protocol is documented there) is handed the batches of
        raw lines instead: one that drops rows (undersampling, rejection resampling, with
        the default ``label=None``) runs before the full decode, so only the labels of
        every batch are decoded first and only the rows kept in full, which makes the
        resampled read faster than a plain read. Every row is still checked in full (field
        count, label, each column's type), dropped or not.
    name : str, optional
        Name of the tf.data op that delivers the output (for profiles and debugging), as
        tf.data's own ``name=`` arguments.

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
        columns); a file is empty, has only a header, is not text, or is a truncated or
        corrupt gzip file; the header repeats a column name; bad options.
    TypeError
        Options of the wrong type (``batch_size=2.0``, ``shard_index="1"``).
    tf.errors.InvalidArgumentError
        While iterating: a row with the wrong number of fields, a field that does not
        fit its column's type (``"abc"`` or ``190000.5`` in an int64 column), or a label
        that is missing, NaN, infinite, not whole, negative, above ``MAX_CLASS_ID``
        (2**20 - 1) or not in the vocabulary; a quoted field never closed. The message
        gives the file, its 1-based line (the header is line 1) and the value.

    Notes
    -----
    The dialect is pandas': quoted fields may hold the delimiter, ``""`` for a quote and
    line breaks; lines may end in ``\n`` or ``\r\n``; a UTF-8 byte-order mark is dropped;
    blank lines are skipped. A file with no quote character pays nothing for quoting.

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
    compression = check_compression(compression)
    if schema is None:
        schema = infer_csv_schema(
            source, label, column_dtypes=column_dtypes, column_defaults=column_defaults,
            label_vocabulary=label_vocabulary, field_delim=field_delim,
            compression=compression,
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
    batch_size = check_positive_int(batch_size, "batch_size")
    seed = check_seed(seed)
    if resample is not None and not callable(resample):
        raise TypeError(
            "Invalid `resample`: expected a `dataset -> dataset` function (e.g. "
            f"tfbalance.undersample(...)) or None. Received: resample={resample!r}"
        )
    if num_epochs is not None:
        num_epochs = check_positive_int(num_epochs, "num_epochs")
    if shuffle:
        shuffle_buffer_size = check_positive_int(shuffle_buffer_size, "shuffle_buffer_size")
    num_shards, shard_index, batch_size = _resolve_sharding(
        num_shards, shard_index, input_context, batch_size
    )
    features = _select(schema, select_columns)

    files = resolve_files(source)
    infos = inspect_files(files, compression_type_of(compression), schema.field_delim)
    if infos[0].header != schema.column_names:
        raise ValueError(
            f"Invalid `schema`: its columns {list(schema.column_names)} differ from the "
            f"header {list(infos[0].header)} of {infos[0].path!r}."
        )
    reads = num_parallel_reads or min(4, len(files))
    calls = num_parallel_calls or tf.data.AUTOTUNE

    index = tf.data.Dataset.range(len(files))
    if num_shards > 1 and len(files) >= num_shards:
        index = index.shard(num_shards, shard_index)
    if shuffle:
        index = index.shuffle(len(files), seed=seed, reshuffle_each_iteration=True)
    paths = tf.constant([info.path for info in infos])
    lines_of = records_of_files(infos)
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
    decode, decode_labels = batch_decoder(schema, features, paths)
    map_options = {"num_parallel_calls": calls, "deterministic": deterministic}
    if resample is None:
        dataset = lines.map(decode, **map_options)
    elif hasattr(resample, "apply_to_lines"):  # the protocol: tfbalance._sampling.Resampling
        dataset = resample.apply_to_lines(lines, decode_labels, decode, **map_options)
    else:
        dataset = lines.map(decode, **map_options).apply(resample)
    return named(dataset.prefetch(tf.data.AUTOTUNE) if prefetch else dataset, name)


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
    num_shards = check_positive_int(num_shards, "num_shards")
    shard_index = check_int(shard_index, "shard_index", minimum=0, maximum=num_shards - 1)
    return num_shards, shard_index, batch_size


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


def records_of_files(infos: Sequence[FileInfo]) -> Callable[[tf.Tensor], tf.data.Dataset]:
    """``lines_of(i)``: the records of file ``i`` of ``infos`` (from ``inspect_files``).

    The CSV stack's record reader: a function for ``Dataset.flat_map`` or ``interleave``
    over file indices, giving datasets of ``(lines, line_numbers, file_index)`` vectors,
    one element per byte block (see ``_block_lines``); ``batch_decoder`` checks and
    decodes them. Gzip files are checked whole first (``check_gzip``).
    """
    paths = tf.constant([info.path for info in infos])
    compressions = tf.constant([info.compression for info in infos])
    header_bytes = tf.constant([info.header_bytes for info in infos], tf.int64)
    body_bytes = tf.constant([
        (check_gzip(info.path) if info.compression == "GZIP" else os.path.getsize(info.path))
        - info.header_bytes
        for info in infos
    ], tf.int64)
    first_lines = tf.constant([info.header_lines + 1 for info in infos], tf.int64)

    @_plain
    def lines_of(i):
        return _block_lines(paths[i], header_bytes[i], body_bytes[i], compressions[i],
                            first_lines[i], i)

    return lines_of


def _block_lines(path, header_bytes, body_bytes, compression, first_line, file_index):
    """Records of one file as ``(lines, line_numbers, file_index)`` vectors, one per block.

    ``body_bytes`` is the exact (decompressed) size after the header, so every block but
    the first is exactly ``_BLOCK_BYTES`` long, plain or gzip (``FixedLengthRecordDataset``
    needs whole records).
    """
    first = (body_bytes - 1) % _BLOCK_BYTES + 1
    # A plain file's size must be header + records + footer; a gzip stream is read in
    # order, so there ``take(1)`` stops after the first record.
    footer = tf.where(tf.equal(compression, ""), body_bytes - first, tf.constant(0, tf.int64))
    head = tf.data.FixedLengthRecordDataset(
        path, first, header_bytes=header_bytes, footer_bytes=footer,
        compression_type=compression,
    ).take(1)
    rest = tf.data.FixedLengthRecordDataset(
        path, _BLOCK_BYTES, header_bytes=header_bytes + first, compression_type=compression
    )
    # A final line break ends a last line without one; the flag marks the end of the file.
    blocks = head.concatenate(rest).map(_plain(lambda b: (b, False))).concatenate(
        tf.data.Dataset.from_tensors((tf.constant("\n"), True))
    )
    return blocks.scan(
        (tf.constant(""), tf.cast(first_line, tf.int64)),
        _plain(lambda state, element: _split_records(state, element, path, file_index)),
    )


def _split_records(state, element, path, file_index):
    """One scan step: the complete records of ``carry + block``, and the new carry.

    A record ends at a line break with an even number of quotes before it (the counter's
    parity rule), so a quoted field may hold line breaks. Records are cut from the text
    by byte positions (``tf.strings.substr``) with no branch: a ``tf.cond`` in this nested
    dataset function costs more per block than the quote bookkeeping, which is nearly
    free when the text holds no quote. A trailing ``\r`` is cut per record, so ``\n``
    and ``\r\n`` endings may mix; blank lines are dropped as positions, before any record
    string is made (masking the strings afterwards would copy every one of them again).
    """
    carry, line = state
    block, last = element
    text = tf.strings.join([carry, block])
    raw = tf.io.decode_raw(text, tf.uint8)
    breaks = tf.where(tf.equal(raw, 10))[:, 0]
    quotes = tf.where(tf.equal(raw, 34))[:, 0]
    # Quotes before each line break; the break ends a record when that count is even.
    before = tf.searchsorted(quotes, breaks, side="left", out_type=tf.int64)
    ends_at = tf.where(tf.equal(tf.math.floormod(before, 2), 0))[:, 0]  # index in breaks
    ends = tf.gather(breaks, ends_at)
    starts = tf.concat([tf.zeros([1], tf.int64), ends[:-1] + 1], 0)[: tf.size(ends)]
    first_break = tf.concat([tf.zeros([1], tf.int64), ends_at[:-1] + 1], 0)[: tf.size(ends)]
    # A '\r' before the break is the line terminator's.
    length = ends - starts
    length -= tf.cast(tf.equal(tf.gather(raw, tf.maximum(ends - 1, 0)), 13) & (length > 0),
                      tf.int64)
    kept = tf.where(length > 0)[:, 0]
    consumed = tf.reduce_max(tf.concat([ends_at + 1, tf.zeros([1], tf.int64)], 0))
    tail = tf.reduce_max(tf.concat([ends + 1, tf.zeros([1], tf.int64)], 0))
    carry = tf.strings.substr(text, tf.cast(tail, tf.int32),
                              tf.cast(tf.size(raw, out_type=tf.int64) - tail, tf.int32))
    where = ["Invalid CSV row in ", path, ", line ", tf.strings.as_string(line + consumed)]
    checks = [
        tf.debugging.Assert(
            tf.logical_not(last) | tf.equal(tf.strings.length(carry), 0),
            [tf.strings.join(where + [
                ": a quoted field is never closed (the file ends inside quotes)"])],
        ),
        # Memory stays bounded: an unclosed quote must not pull the rest of the file in.
        tf.debugging.Assert(
            tf.strings.length(carry) <= _MAX_RECORD_BYTES,
            [tf.strings.join(where + [
                f": the record is longer than {_MAX_RECORD_BYTES:,} bytes (is a quote "
                "never closed?)"])],
        ),
    ]
    with tf.control_dependencies(checks):
        numbers = line + tf.gather(first_break, kept)
    # substr broadcasts the one text over the vectors of positions and lengths.
    records = tf.strings.substr(text, tf.cast(tf.gather(starts, kept), tf.int32),
                                tf.cast(tf.gather(length, kept), tf.int32))
    out = (records, numbers, tf.fill(tf.shape(numbers), tf.cast(file_index, tf.int64)))
    return (carry, line + consumed), out


# --------------------------------------------------------------------------- row validation

# RE2 patterns of one field of each type, as pandas and decode_csv read them: optional
# blanks around the value, optionally quoted, empty meaning the column default.
_NUMBER = r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
_FLOAT = rf"[ \t]*(?:{_NUMBER}|[+-]?(?i:inf|infinity|nan))[ \t]*"
_LABEL = rf"[ \t]*{_NUMBER}[ \t]*"
_EXPECTED = {
    "int64": "int64 values (whole numbers)",
    "float32": "float32 values",
    "float64": "float64 values",
    "string": "text",
}


def _digits_at_most(limit: str) -> str:
    """RE2 for decimal numbers of at most ``limit`` (no sign), leading zeros allowed.

    decode_csv refuses an int64 out of range with a batch-relative "record N", so the
    row check must refuse it first: a number with fewer digits than the limit is in
    range, one with as many is in range when it is not above the limit digit by digit.
    """
    n = len(limit)
    same_length = [limit]
    for i, digit in enumerate(limit):
        if digit != "0":
            rest = f"[0-9]{{{n - i - 1}}}" if n - i - 1 else ""
            same_length.append(f"{limit[:i]}[0-{int(digit) - 1}]{rest}")
    return f"0*(?:[0-9]{{1,{n - 1}}}|{'|'.join(same_length)})"


_INT = (rf"[ \t]*(?:\+?{_digits_at_most(str(2**63 - 1))}|-{_digits_at_most(str(2**63))})"
        r"[ \t]*")


def _field_patterns(schema: CsvSchema) -> list[str]:
    d = f"\\x{{{ord(schema.field_delim):02x}}}"
    text = f'(?:"(?:[^"]|"")*"|[^"\\n{d}]*)'
    patterns = []
    for name in schema.column_names:
        dtype = schema.dtypes[name]
        if name == schema.label:
            core = _LABEL if schema.label_vocabulary is None else None
            patterns.append(text if core is None else f'(?:{core}|"{core}")')
        elif dtype == "string":
            patterns.append(text)
        else:
            core = _INT if dtype == "int64" else _FLOAT
            patterns.append(f'(?:{core}|"{core}"|)')
    return patterns


def _first_failure(ok: tf.Tensor) -> tf.Tensor:
    """The index of the first ``False`` in ``ok`` as a vector of 0 or 1 elements.

    Error reports are computed on the rows this selects: on the usual path, where every
    row is valid, each op of the report runs on an empty vector and costs next to
    nothing, which is cheaper than a ``tf.cond`` around the report (a ``tf.cond`` here
    costs about as much per batch as the row check itself).
    """
    return tf.where(tf.logical_not(ok))[:1, 0]


def _row_report(paths: tf.Tensor, lines, numbers, files, what) -> tf.Tensor:
    """``"Invalid CSV row in <file>, line <n>: <what>. Received: `<line>`"`` per row."""
    return tf.strings.join([
        "Invalid CSV row in ", tf.gather(paths, files), ", line ",
        tf.strings.as_string(numbers), ": ", what, ". Received: `",
        tf.strings.substr(lines, 0, 200), "`",
    ])


def _fail_with(ok: tf.Tensor, report: tf.Tensor) -> tf.Tensor:
    """An op that fails with the first (only) message of ``report`` unless all ``ok``."""
    return tf.debugging.Assert(tf.reduce_all(ok), [tf.strings.reduce_join(report)],
                               summarize=1)


def _row_checker(schema: CsvSchema, paths: tf.Tensor):
    """``check(lines, numbers, files)``: an op that fails unless every line is a valid row.

    One RE2 match per line checks the field count and every field's type at once (a
    number where the schema says int64, in range; a numeric label), which is what keeps
    decode_csv from ever failing with a batch-relative "record N". Only the first line
    that fails is looked at field by field, to name the file, the line, the column and
    the value (see ``_first_failure``): it is cut into fields at the delimiters outside
    quotes, and each field is matched against its column's pattern. That report is a few
    dozen small ops: every op of a per-batch function costs when the function is traced,
    when each iterator instantiates it and on every batch. (Graph messages quote names
    and values with backticks: ``tf.debugging.Assert`` prints its message C-escaped,
    which would turn every ``'`` into ``\\'``.)
    """
    fields = _field_patterns(schema)
    d = f"\\x{{{ord(schema.field_delim):02x}}}"
    row = d.join(fields)
    names = list(schema.column_names)
    ncols = len(names)
    label_col = names.index(schema.label)
    delim = ord(schema.field_delim)
    missing = tf.constant(sorted(MISSING))
    kinds = sorted(set(fields))
    # (pattern, column) pairs: row k of ``matches`` below is pattern kinds[k].
    pairs = tf.constant([[kinds.index(pattern), k] for k, pattern in enumerate(fields)])
    messages = tf.constant([
        "" if name == schema.label else
        f"column `{name}` must hold {_EXPECTED[schema.dtypes[name]]}" for name in names
    ])

    def report(lines, numbers, files):
        # ``lines``: the failing line, or none; ``text`` is it or "".
        text = tf.strings.reduce_join(lines)
        raw = tf.io.decode_raw(text, tf.uint8)
        outside = tf.equal(tf.math.floormod(tf.cumsum(tf.cast(tf.equal(raw, 34), tf.int32)),
                                            2), 0)
        cuts = tf.where(tf.equal(raw, delim) & outside)[:, 0]
        found = tf.size(cuts) + 1
        starts = tf.concat([[0], cuts + 1], 0)
        ends = tf.concat([cuts, [tf.size(raw, out_type=tf.int64)]], 0)
        values = tf.concat([tf.strings.substr(text, starts, ends - starts),
                            tf.fill([ncols], "")], 0)[:ncols]
        matches = tf.stack([tf.strings.regex_full_match(values, p) for p in kinds])
        column = tf.argmin(tf.cast(tf.gather_nd(matches, pairs), tf.int32),
                           output_type=tf.int32)
        value = values[column]
        stripped = tf.strings.strip(tf.strings.regex_replace(value, '"', ""))
        label_message = tf.where(
            tf.equal(tf.strings.lower(stripped), "nan"), "the label is NaN; " + LABEL_RULE,
            tf.where(tf.reduce_any(tf.equal(stripped, missing)), "the label is missing",
                     f"column `{schema.label}`: {LABEL_RULE}"),
        )
        fits = tf.equal(found, ncols)
        what = tf.where(
            fits, tf.where(tf.equal(column, label_col), label_message, messages[column]),
            tf.strings.join([f"expected {ncols} fields, found ", tf.strings.as_string(found)]),
        )
        return _row_report(paths, tf.where(fits, value, text), numbers, files, what)

    def check(lines, numbers, files):
        ok = tf.strings.regex_full_match(lines, row)
        bad = _first_failure(ok)
        return _fail_with(ok, report(tf.gather(lines, bad), tf.gather(numbers, bad),
                                     tf.gather(files, bad)))

    return check


def batch_decoder(schema: CsvSchema, features: Sequence[str], paths: tf.Tensor):
    """``decode(lines, numbers, files)`` -> ``(features, ids)``, and ``decode_labels``.

    The CSV stack's batch decoder, for code that reads records from ``records_of_files``
    (``read_csv``, ``validated_lines``, per-class CSV shards): ``lines`` are records,
    ``numbers`` their 1-based lines and ``files`` indices into ``paths``, all vectors of
    one length. Both functions check every row in full first (``_row_checker``: field
    count, every column's type, the label rule) and fail with the file and line of the
    first bad row; ``decode(..., fields_checked=True)`` skips the row check for lines
    already checked by ``decode_labels``. ``decode_labels`` decodes only the label.
    """
    names = list(schema.column_names)
    label_col = names.index(schema.label)
    wanted = sorted({names.index(c) for c in features} | {label_col})
    record_defaults = []
    for col in wanted:
        name = names[col]
        if col == label_col:
            # Numeric labels decode to float64 (so 1.0 and 1e3 are the classes 1 and 1000);
            # string labels stay text for the vocabulary lookup.
            numeric_label = schema.label_vocabulary is None
            record_defaults.append(
                tf.constant([math.nan], tf.float64) if numeric_label else tf.constant([""])
            )
        else:
            dtype = schema.dtypes[name]
            tf_dtype = tf.float32 if dtype == "float32" else tf.as_dtype(dtype)
            defaults = schema.defaults or {}  # a CsvSchema fills in every column's default
            record_defaults.append(tf.constant([defaults[name]], dtype=tf_dtype))
    vocabulary = schema.label_vocabulary
    table = None
    if vocabulary is not None:
        table = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(
                tf.constant(list(vocabulary)), tf.range(len(vocabulary), dtype=tf.int64)
            ),
            default_value=-1,
        )
    check_rows = _row_checker(schema, paths)

    def label_ids(label, lines, numbers, files):
        # One test per row for every label rule, one reduction per batch; the reason is
        # worked out for the first failing row only.
        if table is not None:
            text = tf.strings.strip(label)
            ids = table.lookup(text)
            present = tf.strings.length(text) > 0
            ok = present & (ids >= 0)
            bad = _first_failure(ok)
            what = tf.where(tf.gather(present, bad), "the label is not in label_vocabulary",
                            "the label is missing")
        else:
            # The row check admits only numbers here; what is left is the value rule.
            whole = tf.equal(label, tf.round(label)) & tf.math.is_finite(label)
            ok = whole & (label >= 0) & (label <= MAX_CLASS_ID)
            bad = _first_failure(ok)
            what = tf.where(
                tf.gather(whole, bad),
                tf.where(tf.gather(label, bad) < 0, "class ids must be non-negative",
                         f"class ids must be at most MAX_CLASS_ID = {MAX_CLASS_ID}"),
                LABEL_RULE,
            )
            ids = tf.cast(label, tf.int64)
        report = _row_report(paths, tf.gather(lines, bad), tf.gather(numbers, bad),
                             tf.gather(files, bad), what)
        with tf.control_dependencies([_fail_with(ok, report)]):
            return tf.identity(ids)

    @_plain
    def decode(lines, numbers, files, fields_checked=False):
        checks = [] if fields_checked else [check_rows(lines, numbers, files)]
        with tf.control_dependencies(checks):
            columns = tf.io.decode_csv(
                lines, record_defaults, field_delim=schema.field_delim, select_cols=wanted
            )
        by_name = dict(zip([names[c] for c in wanted], columns, strict=True))
        ids = label_ids(by_name.pop(schema.label), lines, numbers, files)
        return {name: by_name[name] for name in features}, ids

    label_default = record_defaults[wanted.index(label_col)]

    @_plain
    def decode_labels(lines, numbers, files):
        # Every row is checked in full here, so resampling before the full decode loses no
        # error: a row is valid or refused whether or not it is dropped.
        with tf.control_dependencies([check_rows(lines, numbers, files)]):
            (label,) = tf.io.decode_csv(
                lines, [label_default], field_delim=schema.field_delim, select_cols=[label_col]
            )
        return label_ids(label, lines, numbers, files)

    return decode, decode_labels


# --------------------------------------------------------------------------- validated lines


def validated_lines(
    source: FilePattern,
    label: str | None = None,
    *,
    schema: CsvSchema | None = None,
    field_delim: str = ",",
    compression: str | None = "auto",
    batch_size: int = 8192,
    features: Sequence[str] | None = None,
) -> tuple[tf.data.Dataset, CsvSchema]:
    """Every record of CSV files, checked in full, as batches of raw lines.

    The stable internal interface for code that must see each record's exact text (the
    per-class split writes lines byte for byte, or decodes them with ``decode_lines``).
    Files are read one after another in ``resolve_files(source)`` order, rows in file
    order. Each element is a dict of vectors of one length (the last batch may be
    shorter):

    - ``"line"`` (tf.string): the record's text, byte-identical to the file, without its
      line terminator (a record with quoted line breaks keeps them);
    - ``"label"`` (tf.int64): the class id (through the schema's vocabulary for string
      labels);
    - ``"file"`` (tf.int32): the index of the file in ``resolve_files(source)``;
    - ``"line_number"`` (tf.int64): the 1-based physical line where the record starts
      (the header is line 1);
    - ``"features"`` (only when ``features`` is given): ``{column: typed vector}``, as
      ``decode_lines(schema, features)`` would give, from the same ``decode_csv`` pass
      that reads the labels.

    Every row is validated as ``read_csv`` validates it (field count, every column's
    type, the label rule); iteration fails with ``tf.errors.InvalidArgumentError`` naming
    the file, the line and the value at the first bad row.

    Parameters
    ----------
    source : str, path or list of them
        CSV files or glob patterns.
    label : str, optional
        The label column (optional when ``schema`` is given).
    schema : CsvSchema, optional
        Inferred with ``infer_csv_schema`` when omitted.
    field_delim, compression
        As ``read_csv`` (``field_delim`` is ignored when ``schema`` is given).
    batch_size : int
        Records per element.
    features : sequence of str, optional
        Feature columns to decode too (``[]``: none; ``None``: no ``"features"`` entry).

    Returns
    -------
    (tf.data.Dataset, CsvSchema)

    Examples
    --------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "tiny.csv")
    >>> with open(path, "w") as f:
    ...     _ = f.write('x,note,y\\n1,"two\\nlines",0\\n2,plain,1\\n')
    >>> lines, schema = validated_lines(path, "y")
    >>> batch = next(iter(lines))
    >>> batch["line"].numpy().tolist(), batch["line_number"].numpy().tolist()
    ([b'1,"two\\nlines",0', b'2,plain,1'], [2, 4])
    >>> batch["label"].numpy().tolist(), batch["file"].numpy().tolist()
    ([0, 1], [0, 0])
    >>> features, labels = decode_lines(schema)(batch["line"])
    >>> features["note"].numpy().tolist()
    [b'two\\nlines', b'plain']
    """
    if schema is None:
        schema = infer_csv_schema(source, label, field_delim=field_delim,
                                  compression=compression)
    elif not isinstance(schema, CsvSchema):
        raise TypeError(f"Invalid `schema`: expected a CsvSchema. Received: schema={schema!r}")
    elif label is not None and label != schema.label:
        raise ValueError(
            f"Invalid `label`: the schema's label is {schema.label!r}. Received: label={label!r}"
        )
    batch_size = check_positive_int(batch_size, "batch_size")
    files = resolve_files(source)
    infos = inspect_files(files, compression_type_of(compression), schema.field_delim)
    if infos[0].header != schema.column_names:
        raise ValueError(
            f"Invalid `schema`: its columns {list(schema.column_names)} differ from the "
            f"header {list(infos[0].header)} of {infos[0].path!r}."
        )
    paths = tf.constant([info.path for info in infos])
    lines = tf.data.Dataset.range(len(files)).flat_map(records_of_files(infos))
    selected = None if features is None else _select(schema, features)
    decode, decode_labels = batch_decoder(schema, selected or [], paths)

    @_plain
    def label_batch(text, numbers, file_index):
        batch = {"line": text, "file": tf.cast(file_index, tf.int32), "line_number": numbers}
        if selected is None:
            return {**batch, "label": decode_labels(text, numbers, file_index)}
        columns, ids = decode(text, numbers, file_index)
        return {**batch, "label": ids, "features": columns}

    dataset = lines.rebatch(batch_size).map(
        label_batch, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True
    )
    return dataset, schema


def decode_lines(
    schema: CsvSchema, features: Sequence[str] | None = None
) -> Callable[[tf.Tensor], tuple[dict[str, tf.Tensor], tf.Tensor]]:
    """A graph function: validated lines (a string vector) -> ``(features, labels)``.

    The lines must come from ``validated_lines`` (or be otherwise known valid): they are
    decoded with the schema's types and defaults, with no row check. ``features``
    selects feature columns (default: all but the label), as ``read_csv``'s
    ``select_columns``. Labels are int64 class ids. See ``validated_lines`` for an example.
    """
    if not isinstance(schema, CsvSchema):
        raise TypeError(f"Invalid `schema`: expected a CsvSchema. Received: schema={schema!r}")
    selected = _select(schema, features)
    decode, _ = batch_decoder(schema, selected, tf.constant([""]))

    @_plain
    def decode_batch(lines: tf.Tensor) -> tuple[dict[str, tf.Tensor], tf.Tensor]:
        lines = tf.convert_to_tensor(lines, tf.string)
        zeros = tf.zeros(tf.shape(lines), tf.int64)
        return decode(lines, zeros, zeros, fields_checked=True)

    return decode_batch

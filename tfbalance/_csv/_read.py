"""``read_csv``: CSV files as a graph-only ``tf.data`` pipeline of typed batches.

Reading splits files into large byte blocks (``FixedLengthRecordDataset``), cuts the
blocks into lines with one vectorised ``tf.strings.split`` per block and decodes whole
batches with ``tf.io.decode_csv`` in a parallel map, so no per-line ``tf.data`` element is
ever created on the plain-text path.
"""

from __future__ import annotations

import math
import os
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from tfbalance._csv._dialect import inspect_files
from tfbalance._csv._files import FilePattern, resolve_files
from tfbalance._csv._infer import infer_csv_schema
from tfbalance._csv._schema import LABEL_RULE, CsvSchema
from tfbalance._tf import tf
from tfbalance._validation import MAX_CLASS_ID, check_seed

__all__ = ["read_csv"]

_BLOCK_BYTES = 1 << 20  # bytes per FixedLengthRecordDataset block when reading


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

    files = resolve_files(file_pattern)
    infos = inspect_files(files, compression_type, schema.field_delim)
    if infos[0].header != schema.column_names:
        raise ValueError(
            f"Invalid `schema`: its columns {list(schema.column_names)} differ from the "
            f"header {list(infos[0].header)} of {infos[0].path!r}."
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
                fail_unless(tf.equal(label, tf.round(label)) & tf.math.is_finite(label), lines,
                            numbers, files, LABEL_RULE),
                fail_unless(label >= 0, lines, numbers, files, "class ids must be non-negative"),
                fail_unless(label <= MAX_CLASS_ID, lines, numbers, files,
                            f"class ids must be at most MAX_CLASS_ID = {MAX_CLASS_ID}"),
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

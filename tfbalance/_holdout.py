"""Stratified holdouts written to files: one shard set per split, in one pass of the source.

Layout written under ``output_dir``::

    split.json                  manifest: split names, fractions, seed, counts, files (last)
    train/part-00000.csv        (or part-00000.tfrecord: the typed blocks of split_by_class)
    val/part-00000.csv
    test/part-00000.csv

How it works
------------
Each row's split is decided in the graph by the kernel of ``stratified_split``
(``_stratified._Assigner``): the row's rank within its class, through the class's seeded
permutation, into the class's largest-remainder split ranges. So the same ``seed`` and the
same class counts put every row in the split ``stratified_split`` puts it in. The rows are
then grouped by split id and written by ``_splitting.write_grouped``, the writer of
``split_by_class`` (CSV lines byte for byte under the header, or typed blocks), into the
same staged output folder (``_splitting._StagedOutput``) with the same data-safety rules:
written beside ``output_dir`` and renamed into place with the manifest last; overwriting
removes only files an earlier manifest lists; foreign files are refused, never deleted; a
killed run leaves only a hidden temporary folder that the next run removes.

The class counts come from one counting pass (``class_counts``) when not given; the write
is a second pass. Counts that disagree with the source fail the write (nothing is left).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from tfbalance._class_streams import _LABEL_KEY, MANIFEST, SplitResult, split_folder
from tfbalance._counting import _is_file_source, class_counts
from tfbalance._csv import CsvSchema
from tfbalance._distribution import ClassDistribution, CountsLike, as_class_distribution
from tfbalance._splitting import (
    _FORMAT_VERSION,
    _csv_plan,
    _dataset_plan,
    _progress,
    _StagedOutput,
    check_writer_options,
    write_grouped,
)
from tfbalance._stratified import (
    _Assigner,
    _check_fractions,
    _check_source,
    _plain,
    _split_table,
)
from tfbalance._tf import tf
from tfbalance._validation import check_int

__all__ = ["StratifiedSplitFiles", "load_stratified_split", "write_stratified_split"]

_KIND = "stratified_split"
_INDEX_KEY = "__index__"  # each row's rank within its class, from the scan
# Split names become folder names: no separators, no hidden or special names.
_SPLIT_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


class StratifiedSplitFiles(Mapping):
    """What ``write_stratified_split`` wrote: ``{split name: [shard paths]}``.

    Attributes
    ----------
    counts : dict of str to ClassDistribution
        Rows of each class in each split.
    source_counts : ClassDistribution
        Rows of each class in the source.
    fractions : dict of str to float
        The requested share of every class, per split.
    seed : int
        The seed that assigned the rows.
    output_dir : str
        The folder holding the splits and ``split.json``.
    format : str
        ``'csv'`` (the input lines) or ``'tfrecord'`` (typed blocks).

    Examples
    --------
    >>> import os, tempfile
    >>> import tfbalance
    >>> folder = tempfile.mkdtemp()
    >>> path = os.path.join(folder, "data.csv")
    >>> with open(path, "w") as f:
    ...     _ = f.write("x,y\\n" + "".join(f"{i},{int(i % 4 == 0)}\\n" for i in range(20)))
    >>> out = tfbalance.write_stratified_split(
    ...     path, "y", os.path.join(folder, "holdout"),
    ...     fractions={"train": 0.6, "test": 0.4}, seed=0, verbose=False)
    >>> {name: dist.counts for name, dist in out.counts.items()}
    {'train': {0: 9, 1: 3}, 'test': {0: 6, 1: 2}}
    >>> sorted(int(y) for _, y in out.dataset("test"))
    [0, 0, 0, 0, 0, 0, 1, 1]
    """

    def __init__(self, output_dir: str, manifest: dict[str, Any]) -> None:
        self.output_dir = str(output_dir)
        self._manifest = manifest
        self.format: str = manifest["format"]
        self.seed: int = int(manifest["seed"])
        self.fractions: dict[str, float] = dict(manifest["fractions"])
        names = manifest.get("class_names")
        self.source_counts = ClassDistribution(
            {int(c): n for c, n in manifest["source_counts"].items()}, names=names)
        self.counts = {
            split: ClassDistribution({int(c): n for c, n in per_class.items()}, names=names)
            for split, per_class in manifest["counts"].items()
        }
        self._files = {
            split: [os.path.join(self.output_dir, p) for p in manifest["files"][split]]
            for split in manifest["splits"]
        }

    def __getitem__(self, name: str) -> list[str]:
        return list(self._files[name])

    def __iter__(self) -> Iterator[str]:
        return iter(self._files)

    def __len__(self) -> int:
        return len(self._files)

    def __repr__(self) -> str:
        sizes = ", ".join(f"{name!r}: {dist.total} rows" for name, dist in self.counts.items())
        return (f"StratifiedSplitFiles(output_dir={self.output_dir!r}, format={self.format!r}, "
                f"{{{sizes}}}, seed={self.seed})")

    @property
    def schema(self) -> CsvSchema | None:
        """The ``CsvSchema`` the rows were validated with (CSV sources)."""
        config = self._manifest.get("schema")
        return None if config is None else CsvSchema.from_dict(config)

    def dataset(self, name: str, *, shuffle_files: bool = False,
                seed: int | None = None) -> tf.data.Dataset:
        """The rows of one split as ``(features, label)`` elements, in the order written.

        Parameters
        ----------
        name : str
            A split name.
        shuffle_files : bool
            Read the split's part files in a new seeded order every epoch.
        seed : int, optional
            Seed of the file order.

        Returns
        -------
        tf.data.Dataset

        Raises
        ------
        ValueError
            An unknown split name.
        """
        if not isinstance(name, str) or name not in self._files:
            raise ValueError(
                f"Invalid `name`: expected one of the splits {list(self._files)}. "
                f"Received: name={name!r}"
            )
        # The shards are split_by_class's, so its reader decodes them: one "class" per split.
        files = self._manifest["files"]
        chosen = name if files[name] else next((s for s in files if files[s]), None)
        if chosen is None:
            raise ValueError(f"Invalid `name`: every split is empty. Received: name={name!r}")
        reader = SplitResult(self.output_dir, {
            **self._manifest, "counts": {"0": 1}, "files": {"0": files[chosen]}})
        rows = reader.datasets(shuffle_files=shuffle_files, seed=seed)[0]
        return rows if chosen == name else rows.take(0)


def _check_names(shares: Mapping[str, Any]) -> None:
    for name in shares:
        if not _SPLIT_NAME.match(name) or name == MANIFEST:
            raise ValueError(
                "Invalid `fractions`: split names become folder names, so they must be made "
                "of letters, digits, '_', '.' or '-' and not start with '.' or '-'. "
                f"Received: fractions={dict(shares)!r} (name {name!r})"
            )


def write_stratified_split(
    source: str | os.PathLike | Sequence[str | os.PathLike] | tf.data.Dataset,
    label: str | int | None,
    output_dir: str | os.PathLike,
    *,
    fractions: Mapping[str, float] | None = None,
    seed: int,
    counts: CountsLike | None = None,
    format: str = "csv",
    compression: str | None = "auto",
    max_rows_per_shard: int = 1_000_000,
    batch_size: int = 65_536,
    block_rows: int = 8192,
    field_delim: str = ",",
    schema: CsvSchema | None = None,
    overwrite: bool = False,
    verbose: bool | None = None,
) -> StratifiedSplitFiles:
    """Write a stratified holdout of CSV files (or a dataset) as one shard set per split.

    Every class is divided in the requested proportions exactly (largest-remainder
    rounding per class, as in ``stratified_split``), every row is written to exactly one
    split, and the same ``seed`` puts every row in the split ``stratified_split(source,
    label, fractions, seed=seed)`` puts it in. One streaming pass writes all the splits
    (plus one counting pass when ``counts`` is not given); memory is bounded by a few
    batches, whatever the file size.

    Parameters
    ----------
    source : str, path, list of paths, or tf.data.Dataset
        CSV file(s) or glob(s) with a header line, or a finite dataset of
        ``(features, label)`` elements in a deterministic order (``format='tfrecord'``).
    label : str, None or int
        For CSV: the label column's name. For a dataset: ``None`` (the second tuple item)
        or its tuple position.
    output_dir : str or path
        Where the split folders (one per split name) and ``split.json`` go. It must not
        exist, be empty, or (with ``overwrite=True``) hold only an earlier split.
    fractions : dict of str to float, default {'train': 0.8, 'val': 0.1, 'test': 0.1}
        Split name (a folder name) -> share of every class, each >= 0, summing to 1.
    seed : int
        Decides which rows go where.
    counts : ClassDistribution, dict or list of int, optional
        Rows per class of the source; counted in one extra pass when omitted. Counts that
        disagree with the source raise ``ValueError`` and write nothing.
    format : {'csv', 'tfrecord'}
        'csv': the input lines, byte for byte, under the input header. 'tfrecord': the
        typed blocks of ``split_by_class``.
    compression : {'auto', 'gzip', None}
        Output compression, as in ``split_by_class``.
    max_rows_per_shard : int
        A new part file starts after this many rows of a split.
    batch_size : int
        Rows read, validated and grouped per step.
    block_rows : int
        Rows per stored block of the typed format.
    field_delim : str
        CSV delimiter.
    schema : CsvSchema, optional
        Column types and label vocabulary of a CSV source (default ``infer_csv_schema``).
    overwrite : bool
        Replace an earlier split in ``output_dir``.
    verbose : bool, optional
        Progress bars (``None``: only on a terminal).

    Returns
    -------
    StratifiedSplitFiles
        ``{split name: [shard paths]}`` with ``.counts`` per split and ``.dataset(name)``
        to read a split back (CSV splits also read with ``tfbalance.read_csv``). A split
        that receives no rows has no folder and no files.

    Raises
    ------
    ValueError
        Bad ``fractions`` (also names that are not folder names), a bad row (file and
        1-based line), ``counts`` that disagree with the source, a dataset whose order may
        change between passes, an ``output_dir`` holding files tfbalance did not write or
        an earlier split without ``overwrite``, bad options.
    TypeError
        Arguments of the wrong type.

    Examples
    --------
    >>> import os, tempfile
    >>> import tfbalance
    >>> folder = tempfile.mkdtemp()
    >>> path = os.path.join(folder, "data.csv")
    >>> with open(path, "w") as f:
    ...     _ = f.write("x,y\\n" + "".join(f"{i},{int(i < 10)}\\n" for i in range(100)))
    >>> out = tfbalance.write_stratified_split(path, "y", os.path.join(folder, "holdout"),
    ...                                        seed=0, verbose=False)
    >>> {name: dist.counts for name, dist in out.counts.items()}
    {'train': {0: 72, 1: 8}, 'val': {0: 9, 1: 1}, 'test': {0: 9, 1: 1}}
    >>> print(open(out["val"][0]).readline(), end="")
    x,y
    """
    if fractions is None:
        fractions = {"train": 0.8, "val": 0.1, "test": 0.1}
    shares = _check_fractions(fractions)
    _check_names(shares)
    seed = check_int(seed, "seed")
    compression = check_writer_options(
        source, format=format, formats=("csv", "tfrecord"), compression=compression,
        output_dir=output_dir, overwrite=overwrite, schema=schema,
        max_rows_per_shard=max_rows_per_shard, batch_size=batch_size, block_rows=block_rows,
    )

    if isinstance(source, tf.data.Dataset):
        _check_source(source)
        plan = _dataset_plan(source, label, batch_size)
    elif _is_file_source(source):
        plan = _csv_plan(source, label, format, batch_size, field_delim, schema)
    else:
        raise TypeError(
            "Invalid `source`: expected a CSV path, glob or list of paths, or a "
            f"tf.data.Dataset. Received: source={source!r}"
        )
    batches, _, encoder_of, manifest, progress_total, diagnose = plan

    # Staged first: an output_dir that would be refused is refused before any pass.
    staged = _StagedOutput(os.fspath(output_dir), overwrite)
    try:
        if counts is not None:
            source_counts = as_class_distribution(counts, "counts")
        elif isinstance(source, tf.data.Dataset):
            source_counts = class_counts(source, label, verbose=verbose)
        else:
            vocabulary = CsvSchema.from_dict(manifest["schema"]).label_vocabulary
            options = {} if vocabulary is None else {"label_vocabulary": list(vocabulary)}
            source_counts = class_counts(source, label, verbose=verbose,
                                         field_delim=field_delim, **options)
        sizes, table = _split_table(source_counts, shares, seed)
        assigner = _Assigner(table, label)
        names = list(shares)

        @_plain
        def step(seen, batch):
            now, index = assigner.index(seen, batch[_LABEL_KEY])
            return now, {**batch, _INDEX_KEY: index}

        @_plain
        def key_fn(batch):
            # Popped so the rank is not written as a column; the placement runs in parallel.
            return assigner.place(batch[_LABEL_KEY], batch.pop(_INDEX_KEY))

        indexed = batches.scan(tf.zeros([assigner.num_classes], tf.int64), step)
        encoder = encoder_of(format, compression)
        try:
            shards = write_grouped(
                indexed, key_fn, staged.path, encoder=encoder,
                max_rows_per_shard=int(max_rows_per_shard), block_rows=int(block_rows),
                folder_name=names.__getitem__, progress=_progress(verbose, progress_total),
            )
        except tf.errors.OpError as exc:
            found = re.search(r"Invalid `counts`[^\n]*", exc.message)
            if found:
                # Assert prints its message parts in brackets, with quotes escaped.
                text = re.sub(r"\]\s*\[", " ", found.group(0)).rstrip("]")
                text = text.replace("\\'", "'")
                raise ValueError(
                    f"{text}. Received: counts={source_counts.counts}") from None
            raise diagnose(exc) from None
        written = sum(s.rows for s in shards.values())
        if written != int(table["n"].sum()):
            raise ValueError(
                "Invalid `counts`: the source ended with fewer rows than `counts` says "
                f"({written:,} rows, counts sum to {int(table['n'].sum()):,}). "
                f"Received: counts={source_counts.counts}"
            )
        if not written:
            raise ValueError(f"Invalid `source`: it holds no rows. Received: source={source!r}")
        manifest.update(
            kind=_KIND,
            version=_FORMAT_VERSION,
            block_rows=int(block_rows),
            format=format,
            compression=compression,
            splits=names,
            fractions={name: float(share) for name, share in shares.items()},
            seed=seed,
            label=label if isinstance(label, (str, int)) else None,
            class_names=getattr(source_counts, "names", None),
            source_counts={str(c): int(n) for c, n in source_counts.counts.items()},
            # Every class id, zeros included: the same counts as stratified_split's.
            counts={name: {str(c): int(n) for c, n in enumerate(sizes[:, j])}
                    for j, name in enumerate(names)},
            files={name: shards[j].files if j in shards else []
                   for j, name in enumerate(names)},
            bytes={name: shards[j].bytes if j in shards else 0
                   for j, name in enumerate(names)},
        )
        staged.commit(manifest)
    except BaseException:
        staged.abort()
        raise
    return StratifiedSplitFiles(staged.final, manifest)


def load_stratified_split(output_dir: str | os.PathLike) -> StratifiedSplitFiles:
    """Open a folder written by ``write_stratified_split``.

    Parameters
    ----------
    output_dir : str or path
        The ``output_dir`` of ``write_stratified_split``.

    Returns
    -------
    StratifiedSplitFiles

    Raises
    ------
    ValueError
        The folder holds no complete stratified split (no ``split.json``, one of another
        kind, or the temporary folder of an unfinished run).

    Examples
    --------
    >>> import os, tempfile
    >>> import tfbalance
    >>> folder = tempfile.mkdtemp()
    >>> path = os.path.join(folder, "data.csv")
    >>> with open(path, "w") as f:
    ...     _ = f.write("x,y\\n1,0\\n2,1\\n3,0\\n4,1\\n")
    >>> _ = tfbalance.write_stratified_split(
    ...     path, "y", os.path.join(folder, "out"), fractions={"a": 0.5, "b": 0.5}, seed=3,
    ...     verbose=False)
    >>> split = tfbalance.load_stratified_split(os.path.join(folder, "out"))
    >>> list(split), split.counts["a"].counts
    (['a', 'b'], {0: 1, 1: 1})
    """
    folder = split_folder(output_dir)
    path = os.path.join(folder, MANIFEST)
    try:
        with open(path, encoding="utf-8") as handle:
            manifest = json.load(handle)
    except (OSError, ValueError):
        manifest = None
    if not isinstance(manifest, dict) or manifest.get("kind") != _KIND:
        raise ValueError(
            f"Invalid `output_dir`: it holds no stratified split ({MANIFEST} of "
            f"write_stratified_split). Received: output_dir={folder!r}"
        )
    return StratifiedSplitFiles(folder, manifest)

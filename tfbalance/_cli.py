"""The ``tfbalance`` command line: ``tfbalance <command> ...`` or ``python -m tfbalance``.

Each subcommand is one ``_add_<name>_parser(subparsers)`` function decorated with
``@_subcommand``: it adds its parser and sets ``run`` to a function ``run(args) -> int``.
User errors (missing files, bad columns, bad values) are printed as one line on stderr with
exit code 2, never as a traceback.
"""

from __future__ import annotations

import argparse
import glob
import json
import math
import os
import sys
import time
from typing import Any, Callable, Sequence

from tfbalance._version import __version__

__all__ = ["main"]

_SUBCOMMANDS: list[Callable[[Any], None]] = []
# Beyond this many classes the text report is cut short (the JSON report never is).
_MAX_CLASS_ROWS = 30


class CommandError(Exception):
    """A user error: reported as ``tfbalance <command>: error: <message>``, exit code 2."""


def _subcommand(add_parser: Callable[[Any], None]) -> Callable[[Any], None]:
    """Register a function that adds one subcommand's parser."""
    _SUBCOMMANDS.append(add_parser)
    return add_parser


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every registered subcommand."""
    parser = argparse.ArgumentParser(
        prog="tfbalance",
        description="Class-imbalance tools for streaming TensorFlow input pipelines.",
    )
    parser.add_argument("--version", action="version", version=f"tfbalance {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add_parser in _SUBCOMMANDS:
        add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``tfbalance`` command line and return its exit code.

    Parameters
    ----------
    argv : list of str, optional
        Arguments after the program name; default ``sys.argv[1:]``.

    Returns
    -------
    int
        0 on success, 2 on a usage or input error (message on stderr), 130 on Ctrl-C.

    Examples
    --------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "train.csv")
    >>> main(["generate", path, "--rows", "1000", "--seed", "0"])  # doctest: +ELLIPSIS
    Wrote 1,000 rows (164 with Response=1, 16.40%) to ...train.csv in ... s
    0
    """
    parser = build_parser()
    try:
        args = parser.parse_args(None if argv is None else list(argv))
    except SystemExit as exc:
        # --help/--version exit 0, usage errors 2; main() returns instead of exiting.
        return exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 2
    try:
        return args.run(args)
    except KeyboardInterrupt:
        print(f"tfbalance {args.command}: interrupted", file=sys.stderr)
        return 130
    except (CommandError, OSError, ValueError, TypeError, ImportError) as exc:
        print(f"tfbalance {args.command}: error: {_message(exc)}", file=sys.stderr)
        return 2


def _message(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror and exc.filename:
        return f"{exc.strerror}: {exc.filename}"
    return str(exc) or type(exc).__name__


def _existing_files(patterns: Sequence[str]) -> list[str]:
    """Check every FILE argument names a file (or a glob that matches some)."""
    for pattern in patterns:
        if glob.has_magic(pattern):
            if not glob.glob(pattern):
                raise CommandError(f"no files match {pattern!r}")
        elif not os.path.isfile(pattern):
            what = "is a directory" if os.path.isdir(pattern) else "no such file"
            raise CommandError(f"{what}: {pattern}")
    return list(patterns)


# --- inspect ----------------------------------------------------------------------------------


@_subcommand
def _add_inspect_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "inspect",
        help="count the rows of each class in CSV files",
        description=(
            "Count the rows of each class in one streaming pass and print the counts, "
            "proportions, imbalance ratio and 'balanced' class weights."
        ),
    )
    parser.add_argument("files", nargs="+", metavar="FILE", help="CSV file(s) or glob pattern(s)")
    parser.add_argument("--label", required=True, metavar="COL", help="label column name")
    parser.add_argument("--plot", metavar="PNG", help="write a class histogram image")
    parser.add_argument("--json", action="store_true", help="print a JSON report instead")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(run=_run_inspect)


def _run_inspect(args: argparse.Namespace) -> int:
    from tfbalance._counting import class_counts
    from tfbalance._weights import class_weights

    files = _existing_files(args.files)
    source: Any = files[0] if len(files) == 1 else files
    # The progress bar is written to stdout: show it only when stdout is a terminal, so
    # redirected reports (and --json) stay clean.
    progress = not (args.quiet or args.json) and sys.stdout.isatty()
    dist = class_counts(source, args.label, verbose=progress)
    # A class with count 0 gets no weight: no row carries it.
    weights = {c: (w if dist.counts[c] else None) for c, w in class_weights(dist).items()}
    if args.plot:
        from tfbalance._plotting import plot_class_distribution

        shown = files[0] if len(files) == 1 else f"{len(files)} files"
        plot_class_distribution(dist, args.plot, title=f"{args.label} in {shown}")
    if args.json:
        report = {"files": files, "label": args.label, **dist.to_dict()}
        if math.isinf(report["imbalance_ratio"]):
            report["imbalance_ratio"] = None  # JSON has no infinity
        report["class_weights"] = {str(c): w for c, w in weights.items()}
        if args.plot:
            report["plot"] = args.plot
        print(json.dumps(report, indent=2, allow_nan=False))
        return 0
    print(_inspect_text(files, args.label, dist, weights))
    if args.plot:
        print(f"Wrote class histogram to {args.plot}")
    return 0


def _inspect_text(files: list[str], label: str, dist: Any, weights: dict) -> str:
    total = dist.total
    # With string labels, show the class id Keras' class_weight needs next to the name.
    names = {c: str(c) if dist.names is None else f"{c} ({dist.name(c)})" for c in dist.classes}
    width = max([len("class")] + [len(n) for n in names.values()])
    lines = [
        f"File:    {files[0] if len(files) == 1 else ', '.join(files)}",
        f"Label:   {label}",
        f"Rows:    {total:,}",
        f"Classes: {dist.num_classes}",
        "",
        f"  {'class':<{width}}  {'count':>12}  {'share':>8}  {'weight':>8}",
    ]
    for c in dist.classes[:_MAX_CLASS_ROWS]:
        n = dist.counts[c]
        weight = "-" if weights[c] is None else f"{weights[c]:.4f}"
        lines.append(f"  {names[c]:<{width}}  {n:>12,}  {n / total:>8.2%}  {weight:>8}")
    hidden = dist.num_classes - _MAX_CLASS_ROWS
    if hidden > 0:
        lines.append(f"  ... {hidden:,} more classes (--json lists them all)")
    ratio = dist.imbalance_ratio
    ratio_text = "inf" if math.isinf(ratio) else f"{ratio:.3f}"
    lines += [
        "",
        f"Imbalance ratio: {ratio_text} (majority {names[dist.majority]} / "
        f"minority {names[dist.minority]})",
    ]
    if hidden <= 0:
        lines += [
            "Balanced class weights, n_samples / (n_classes * count), for Keras fit():",
            "  class_weight = {"
            + ", ".join(f"{c}: {w:.4f}" for c, w in weights.items() if w is not None)
            + "}",
        ]
    return "\n".join(lines)


# --- generate ---------------------------------------------------------------------------------


@_subcommand
def _add_generate_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "generate",
        help="write the synthetic insurance cross-sell CSV",
        description=(
            "Write a synthetic stand-in for the Kaggle 'Health Insurance Cross Sell "
            "Prediction' training file (label column: Response). A .gz name is gzipped."
        ),
    )
    parser.add_argument("output", metavar="OUT", help="output CSV path (.csv or .csv.gz)")
    parser.add_argument("--rows", type=int, default=382_154, help="data rows (default 382154)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument(
        "--positives", type=int, default=None, metavar="K",
        help="exact number of Response=1 rows (default: the Kaggle ratio, 16.38%%)",
    )  # fmt: skip
    parser.set_defaults(run=_run_generate)


def _run_generate(args: argparse.Namespace) -> int:
    from tfbalance.datasets import insurance_positive_count, make_insurance_csv

    start = time.perf_counter()
    path = make_insurance_csv(args.output, args.rows, args.seed, n_positive=args.positives)
    seconds = time.perf_counter() - start
    positives = insurance_positive_count(args.rows) if args.positives is None else args.positives
    print(
        f"Wrote {args.rows:,} rows ({positives:,} with Response=1, "
        f"{positives / args.rows:.2%}) to {path} in {seconds:.1f} s"
    )
    return 0


# --- split ------------------------------------------------------------------------------------


@_subcommand
def _add_split_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "split",
        help="write each class's rows of CSV files to their own shard files",
        description=(
            "One streaming pass over CSV files that writes every class's rows to "
            "OUT_DIR/class_<id>/part-NNNNN.* and a split.json manifest, for per-class "
            "streams (tfbalance.class_datasets, tfbalance.interleave_by_class)."
        ),
    )
    parser.add_argument("files", nargs="+", metavar="FILE", help="CSV file(s) or glob pattern(s)")
    parser.add_argument("--label", required=True, metavar="COL", help="label column name")
    parser.add_argument("--output-dir", "-o", required=True, metavar="OUT_DIR")
    parser.add_argument(
        "--format", choices=["tfrecord", "csv"], default="tfrecord",
        help="shard format (default tfrecord: typed blocks of rows; csv: the input lines)",
    )  # fmt: skip
    parser.add_argument(
        "--max-rows-per-shard", type=int, default=1_000_000, metavar="N",
        help="start a new shard file after N rows of a class (default 1000000)",
    )  # fmt: skip
    parser.add_argument("--overwrite", action="store_true", help="replace an existing split")
    parser.add_argument("--json", action="store_true", help="print a JSON report instead")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(run=_run_split)


def _run_split(args: argparse.Namespace) -> int:
    from tfbalance._splitting import split_by_class

    files = _existing_files(args.files)
    start = time.perf_counter()
    result = split_by_class(
        files[0] if len(files) == 1 else files,
        args.label,
        args.output_dir,
        format=args.format,
        max_rows_per_shard=args.max_rows_per_shard,
        overwrite=args.overwrite,
        verbose=not (args.quiet or args.json) and sys.stdout.isatty(),
    )
    seconds = time.perf_counter() - start
    if args.json:
        report = {
            "output_dir": result.output_dir,
            "format": result.format,
            "counts": {str(c): n for c, n in result.counts.counts.items()},
            "files": {str(c): result[c] for c in result},
        }
        print(json.dumps(report, indent=2))
        return 0
    print(
        f"Wrote {result.counts.total:,} rows of {result.counts.num_classes} classes to "
        f"{result.output_dir} ({result.format}) in {seconds:.1f} s"
    )
    for c, n in result.counts.counts.items():
        print(f"  class {c}: {n:,} rows in {len(result[c])} file(s)")
    return 0


# --- demo -------------------------------------------------------------------------------------


@_subcommand
def _add_demo_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="the insurance cross-sell study: every balancing technique, compared",
        description=(
            "Generate (or read) the insurance cross-sell CSV, inspect its class balance, train "
            "the same small Keras model with no balancing, undersampling, oversampling, class "
            "weights and a natural-to-balanced interleave schedule, all streaming from the "
            "file, and compare them on a held-out split with the natural class distribution."
        ),
    )
    parser.add_argument(
        "--data", metavar="FILE.csv",
        help="your copy of the Kaggle train.csv / aug_train.csv (default: synthetic data)",
    )  # fmt: skip
    parser.add_argument(
        "--rows", type=int, default=382_154,
        help="rows of synthetic data to generate (default 382154, the Kaggle size)",
    )  # fmt: skip
    parser.add_argument("--epochs", type=int, default=3, help="training epochs (default 3)")
    parser.add_argument(
        "--out", default="tfbalance-demo", metavar="DIR",
        help="folder for the data, plots and results (default ./tfbalance-demo)",
    )  # fmt: skip
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--quiet", action="store_true", help="no per-epoch progress output")
    parser.set_defaults(run=_run_demo)


def _run_demo(args: argparse.Namespace) -> int:
    from tfbalance._demo import run_demo

    if args.data is not None:
        _existing_files([args.data])
    if args.rows <= 0 or args.epochs <= 0:
        raise CommandError(
            f"--rows and --epochs must be positive. Received: --rows {args.rows} "
            f"--epochs {args.epochs}"
        )
    run_demo(
        data=args.data,
        rows=args.rows,
        epochs=args.epochs,
        out=args.out,
        seed=args.seed,
        verbose=not args.quiet,
    )
    return 0

"""The ``tfbalance`` command line: ``tfbalance <command> ...`` or ``python -m tfbalance``.

Each subcommand is one ``_add_<name>_parser(subparsers)`` function decorated with
``@_subcommand``: it adds its parser and sets ``run`` to a function ``run(args) -> int``.
User errors (missing files, bad columns, bad values) are printed as one line on stderr with
exit code 2, never as a traceback; a missing dependency (TensorFlow) is one line with exit
code 1.

Start-up: this module imports nothing heavy, and ``import tfbalance`` loads its names
lazily, so ``--help``, ``--version`` and argument errors never import TensorFlow. A
subcommand imports TensorFlow when it runs (``_import_tensorflow``), with TensorFlow's C++
start-up log lines silenced unless the user set ``TF_CPP_MIN_LOG_LEVEL``.

Errors name the command line's flags, not the Python arguments behind them: a library
error such as "Invalid `n_rows` ... Received: n_rows=0" reaches the user as
"Invalid `--rows` ... Received: --rows 0" (``_FlagNames``).
"""

from __future__ import annotations

import argparse
import glob
import json
import math
import os
import re
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from typing import Any

from tfbalance._version import __version__

__all__ = ["main"]

_SUBCOMMANDS: list[Callable[[Any], None]] = []
# Beyond this many classes the text report is cut short (the JSON report never is).
_MAX_CLASS_ROWS = 30


class CommandError(Exception):
    """A user error: reported as ``tfbalance <command>: error: <message>``, exit code 2."""


# Library argument names that a flag of another name sets (the rest share the flag's dest).
_FLAG_ALIASES = {
    "n_rows": "--rows",
    "n_positive": "--positives",
    "field_delim": "--delimiter",
    "source": "FILE",
    "data": "--data",
}


class _FlagNames:
    """Rewrites a library error's argument names into the flags of one subcommand."""

    def __init__(self, parser: argparse.ArgumentParser) -> None:
        flags = {
            action.dest: max(action.option_strings, key=len)
            for action in parser._actions  # argparse has no public list of a parser's flags
            if action.option_strings and action.dest != "help"
        }
        self.flags = {**flags, **{k: v for k, v in _FLAG_ALIASES.items()}}

    def __call__(self, message: str) -> str:
        for name, flag in self.flags.items():
            message = message.replace(f"`{name}`", f"`{flag}`")
            # "pass overwrite=True" -> "pass --overwrite"; "n_rows=0" -> "--rows 0".
            message = re.sub(rf"(?<![\w.\[]){name}=True\b", flag, message)
            message = re.sub(rf"(?<![\w.\[]){name}=", f"{flag} ", message)
        return message


def _positive_int(text: str) -> int:
    value = _int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer. Received: {text}")
    return value


def _non_negative_int(text: str) -> int:
    value = _int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0. Received: {text}")
    return value


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer. Received: {text}") from None


def _delimiter(text: str) -> str:
    # A shell passes `--delimiter '\t'` as backslash-t; accept it and the word "tab".
    value = {"\\t": "\t", "tab": "\t"}.get(text, text)
    if len(value.encode()) != 1:
        raise argparse.ArgumentTypeError(
            f"expected one single-byte character such as ',' ';' or '\\t'. Received: {text!r}"
        )
    return value


def _add_delimiter_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--delimiter", type=_delimiter, default=",", metavar="CHAR",
        help="field delimiter of the CSV files, one character (default ','; '\\t' or tab "
        "for tab-separated files)",
    )  # fmt: skip


def _add_compression_argument(parser: argparse.ArgumentParser, *, what: str,
                              choices: Sequence[str] = ("auto", "gzip", "none"),
                              default: str = "auto") -> None:
    """``--compression``: the library's ``compression=`` values, ``none`` for None."""
    auto = "gzip when the name ends in .gz, " if "auto" in choices else ""
    parser.add_argument(
        "--compression", choices=list(choices), default=default,
        help=f"compression of {what} ({auto}default {default})",
    )  # fmt: skip


def _compression(args: argparse.Namespace) -> str | None:
    return None if args.compression == "none" else args.compression


# TensorFlow's C++ start-up lines (oneDNN, CPU features) are printed while its shared
# libraries load, some before TF_CPP_MIN_LOG_LEVEL is read; these are dropped on success.
_STARTUP_LOG = re.compile(
    r"^(I\d{4} |WARNING: All log messages before absl::InitializeLog\(\)|"
    r"To enable the following instructions:)"
)


def _import_tensorflow() -> None:
    """Import TensorFlow (through tfbalance._tf, for its install advice), quietly.

    Unless the user set ``TF_CPP_MIN_LOG_LEVEL`` (then nothing is hidden), it is set to 2
    (warnings and errors only) and the informational lines TensorFlow's libraries print to
    file descriptor 2 while loading are dropped; anything else printed there is kept.
    """
    if "tensorflow" in sys.modules or "TF_CPP_MIN_LOG_LEVEL" in os.environ:
        import tfbalance._tf  # noqa: F401
        return
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import tfbalance._tf  # noqa: F401
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            lines = captured.read().decode(errors="replace").splitlines(keepends=True)
            kept = [line for line in lines if not _STARTUP_LOG.match(line)]
            sys.stderr.write("".join(kept))


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
    for subparser in subparsers.choices.values():
        subparser.set_defaults(flag_names=_FlagNames(subparser))
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
        0 on success, 2 on a usage or input error (one line on stderr), 1 when a
        dependency (TensorFlow) is missing, 130 on Ctrl-C.

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
    except ImportError as exc:
        print(f"tfbalance {args.command}: error: {_message(exc)}", file=sys.stderr)
        return 1
    except (CommandError, OSError, ValueError, TypeError) as exc:
        message = args.flag_names(_message(exc))
        print(f"tfbalance {args.command}: error: {message}", file=sys.stderr)
        return 2


def _message(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror and exc.filename:
        return f"{exc.strerror}: {exc.filename}"
    # One line: a multi-line library message is joined, never cut.
    return " ".join((str(exc) or type(exc).__name__).split("\n"))


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
    _add_delimiter_argument(parser)
    _add_compression_argument(parser, what="the CSV files")
    parser.add_argument("--json", action="store_true", help="print a JSON report instead")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(run=_run_inspect)


def _run_inspect(args: argparse.Namespace) -> int:
    files = _existing_files(args.files)
    _import_tensorflow()
    # Loaded after parsing: these modules import TensorFlow (seconds), --help must not wait.
    from tfbalance._counting import class_counts
    from tfbalance._weights import class_weights

    source: Any = files[0] if len(files) == 1 else files
    # The progress bar is written to stdout: show it only when stdout is a terminal, so
    # redirected reports (and --json) stay clean.
    progress = not (args.quiet or args.json) and sys.stdout.isatty()
    dist = class_counts(source, args.label, verbose=progress, field_delim=args.delimiter,
                        compression=_compression(args))
    # A class with count 0 gets no weight: no row carries it.
    weights = {c: (w if dist.counts.get(c) else None) for c, w in class_weights(dist).items()}
    if args.plot:
        # Loaded only when a plot is asked for: it imports matplotlib.
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
    parser.add_argument(
        "--rows", type=_positive_int, default=382_154, help="data rows (default 382154)"
    )
    parser.add_argument(
        "--seed", type=_non_negative_int, default=0, help="random seed (default 0)"
    )
    parser.add_argument(
        "--positives", type=_non_negative_int, default=None, metavar="K",
        help="exact number of Response=1 rows (default: the Kaggle ratio, 16.38%%)",
    )  # fmt: skip
    _add_compression_argument(parser, what="the file written")
    parser.set_defaults(run=_run_generate)


def _run_generate(args: argparse.Namespace) -> int:
    # Numpy only: generating the data never imports TensorFlow.
    from tfbalance.datasets._synthetic import insurance_positive_count, make_insurance_csv

    if args.positives is not None and args.positives > args.rows:
        raise CommandError(
            f"Invalid `--positives`: expected at most --rows ({args.rows:,}) rows. "
            f"Received: --positives {args.positives}"
        )

    start = time.perf_counter()
    path = make_insurance_csv(args.output, args.rows, args.seed, n_positive=args.positives,
                              compression=_compression(args))
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
        "--max-rows-per-shard", type=_positive_int, default=1_000_000, metavar="N",
        help="start a new shard file after N rows of a class (default 1000000)",
    )  # fmt: skip
    parser.add_argument("--overwrite", action="store_true", help="replace an existing split")
    _add_delimiter_argument(parser)
    _add_compression_argument(parser, what="the shards written", choices=("none", "gzip"),
                              default="none")
    parser.add_argument("--json", action="store_true", help="print a JSON report instead")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(run=_run_split)


def _run_split(args: argparse.Namespace) -> int:
    files = _existing_files(args.files)
    _import_tensorflow()
    # Loaded after parsing: these modules import TensorFlow (seconds), --help must not wait.
    from tfbalance._splitting import split_by_class

    start = time.perf_counter()
    result = split_by_class(
        files[0] if len(files) == 1 else files,
        args.label,
        args.output_dir,
        format=args.format,
        max_rows_per_shard=args.max_rows_per_shard,
        overwrite=args.overwrite,
        field_delim=args.delimiter,
        compression=_compression(args),
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


# --- holdout ----------------------------------------------------------------------------------


def _fractions(text: str) -> list[float]:
    try:
        values = [float(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated numbers such as 0.8,0.1,0.1. Received: {text}"
        ) from None
    return values


def _names(text: str) -> list[str]:
    return [part.strip() for part in text.split(",")]


@_subcommand
def _add_holdout_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "holdout",
        help="write a stratified train/validation/test split of CSV files",
        description=(
            "One streaming pass over CSV files that writes every split's rows to "
            "OUT_DIR/<split>/part-NNNNN.* and a split.json manifest; every class is divided "
            "in exactly the requested fractions (largest-remainder rounding per class), the "
            "same rows as tfbalance.stratified_split with the same seed."
        ),
    )
    parser.add_argument("files", nargs="+", metavar="FILE", help="CSV file(s) or glob pattern(s)")
    parser.add_argument("--label", required=True, metavar="COL", help="label column name")
    parser.add_argument(
        "--fractions", type=_fractions, default=[0.8, 0.1, 0.1], metavar="F,F,...",
        help="share of every class per split, summing to 1 (default 0.8,0.1,0.1)",
    )  # fmt: skip
    parser.add_argument(
        "--names", type=_names, default=None, metavar="NAME,...",
        help="split names, one per fraction (default train,val,test for three fractions, "
        "else split_0,split_1,...)",
    )  # fmt: skip
    parser.add_argument("--output-dir", "-o", required=True, metavar="OUT_DIR")
    parser.add_argument(
        "--seed", type=_non_negative_int, default=0, help="random seed (default 0)"
    )
    parser.add_argument(
        "--format", choices=["csv", "tfrecord"], default="csv",
        help="shard format (default csv: the input lines; tfrecord: typed blocks of rows)",
    )  # fmt: skip
    parser.add_argument("--overwrite", action="store_true", help="replace an existing split")
    _add_delimiter_argument(parser)
    _add_compression_argument(parser, what="the shards written", choices=("none", "gzip"),
                              default="none")
    parser.add_argument("--json", action="store_true", help="print a JSON report instead")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(run=_run_holdout)


def _run_holdout(args: argparse.Namespace) -> int:
    shares = args.fractions
    if args.names is None:
        names = ["train", "val", "test"] if len(shares) == 3 else [
            f"split_{j}" for j in range(len(shares))]
    else:
        names = args.names
    if len(names) != len(shares) or len(set(names)) != len(names):
        raise CommandError(
            "Invalid `--names`: expected one distinct name per fraction "
            f"({len(shares)}). Received: --names {','.join(names)}"
        )
    files = _existing_files(args.files)
    _import_tensorflow()
    # Loaded after parsing: these modules import TensorFlow (seconds), --help must not wait.
    from tfbalance._holdout import write_stratified_split

    start = time.perf_counter()
    try:
        result = write_stratified_split(
            files[0] if len(files) == 1 else files,
            args.label,
            args.output_dir,
            fractions=dict(zip(names, shares, strict=True)),
            seed=args.seed,
            format=args.format,
            overwrite=args.overwrite,
            field_delim=args.delimiter,
            compression=_compression(args),
            verbose=not (args.quiet or args.json) and sys.stdout.isatty(),
        )
    except ValueError as exc:
        # The library names the split dict; the user typed two flags.
        message = str(exc)
        if "`fractions`" in message:
            flag = "`--names`" if "split names" in message else "`--fractions`"
            message = re.sub(r"Received: fractions=.*", "", message).replace(
                "`fractions`", flag)
            raise CommandError(
                f"{message}Received: --fractions {','.join(map(str, shares))}"
                f" --names {','.join(names)}"
            ) from None
        raise
    seconds = time.perf_counter() - start
    if args.json:
        report = {
            "output_dir": result.output_dir,
            "format": result.format,
            "seed": result.seed,
            "fractions": result.fractions,
            "counts": {s: {str(c): n for c, n in d.counts.items()}
                       for s, d in result.counts.items()},
            "files": {s: result[s] for s in result},
        }
        print(json.dumps(report, indent=2))
        return 0
    total = result.source_counts
    print(
        f"Wrote {total.total:,} rows of {total.num_classes} classes to {result.output_dir} "
        f"({result.format}, seed {result.seed}) in {seconds:.1f} s"
    )
    classes = total.classes
    shown = classes[:_MAX_CLASS_ROWS]
    for split, dist in result.counts.items():
        per_class = ", ".join(f"class {c}: {dist.counts.get(c, 0):,}" for c in shown)
        more = f", ... ({len(classes) - len(shown)} more classes)" if len(classes) > len(
            shown) else ""
        print(f"  {split} ({result.fractions[split]:g}): {dist.total:,} rows "
              f"({per_class}{more}) in {len(result[split])} file(s)")
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
        "--rows", type=_positive_int, default=382_154,
        help="rows of synthetic data to generate (default 382154, the Kaggle size)",
    )  # fmt: skip
    parser.add_argument(
        "--epochs", type=_positive_int, default=3, help="training epochs (default 3)"
    )
    parser.add_argument(
        "--out", default="tfbalance-demo", metavar="DIR",
        help="folder for the data, plots and results (default ./tfbalance-demo)",
    )  # fmt: skip
    parser.add_argument(
        "--seed", type=_non_negative_int, default=0, help="random seed (default 0)"
    )
    _add_delimiter_argument(parser)
    parser.add_argument("--quiet", action="store_true", help="no per-epoch progress output")
    parser.set_defaults(run=_run_demo)


def _run_demo(args: argparse.Namespace) -> int:
    if args.data is not None:
        _existing_files([args.data])
    _import_tensorflow()
    # Loaded after parsing: these modules import TensorFlow (seconds), --help must not wait.
    from tfbalance._demo import run_demo

    run_demo(
        data=args.data,
        rows=args.rows,
        epochs=args.epochs,
        out=args.out,
        seed=args.seed,
        field_delim=args.delimiter,
        verbose=not args.quiet,
    )
    return 0

"""tfbalance: class-imbalance tools for streaming TensorFlow input pipelines.

Resampling transforms for ``dataset.apply``, class weights, per-sample weighting and
streaming F1 metrics that stay exact, bounded in memory and graph-only.

``import tfbalance`` loads every public name, as a library import should: TensorFlow
problems surface there, and the Keras objects are registered for ``keras.models.load_model``.
The ``tfbalance`` command line alone loads names on first use (PEP 562), so ``--help`` and
``--version`` answer without importing TensorFlow.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import TYPE_CHECKING, Any

from tfbalance._version import __version__

if TYPE_CHECKING:  # the same names, eagerly, for type checkers and IDEs
    from tfbalance import datasets as datasets  # submodules, not in __all__
    from tfbalance import metrics as metrics
    from tfbalance._class_streams import (
        ClassDatasets,
        SplitResult,
        class_datasets,
        load_split,
    )
    from tfbalance._counting import class_counts
    from tfbalance._csv import CsvSchema, infer_csv_schema, read_csv
    from tfbalance._distribution import ClassDistribution
    from tfbalance._holdout import (
        StratifiedSplitFiles,
        load_stratified_split,
        write_stratified_split,
    )
    from tfbalance._interleave import (
        ExponentialSchedule,
        InterleaveScheduleCallback,
        LinearSchedule,
        WeightSchedule,
        balanced_batches,
        interleave_by_class,
    )
    from tfbalance._plotting import plot_class_distribution, plot_metric_comparison
    from tfbalance._sampling import (
        expected_steps,
        oversample,
        rebatch,
        rejection_resample,
        undersample,
    )
    from tfbalance._service import check_data_service_compatible
    from tfbalance._splitting import split_by_class
    from tfbalance._stratified import StratifiedSplit, stratified_split
    from tfbalance._thresholds import (
        DecisionThreshold,
        ThresholdTuningCallback,
        TunedThreshold,
        tune_threshold,
    )
    from tfbalance._weights import (
        ClassWeightCallback,
        PriorCorrection,
        adjust_logits,
        class_weights,
        correct_probabilities,
        initial_bias,
        with_sample_weights,
    )
    from tfbalance.metrics import BestF1, F1Score, FBetaScore, Precision, Recall

# Where each public name lives; tests/test_init.py checks this table against the imports
# above, so the two cannot drift.
_EXPORTS: dict[str, str] = {
    "BestF1": "tfbalance.metrics",
    "ClassDatasets": "tfbalance._class_streams",
    "ClassDistribution": "tfbalance._distribution",
    "ClassWeightCallback": "tfbalance._weights",
    "CsvSchema": "tfbalance._csv",
    "DecisionThreshold": "tfbalance._thresholds",
    "ExponentialSchedule": "tfbalance._interleave",
    "F1Score": "tfbalance.metrics",
    "FBetaScore": "tfbalance.metrics",
    "InterleaveScheduleCallback": "tfbalance._interleave",
    "LinearSchedule": "tfbalance._interleave",
    "Precision": "tfbalance.metrics",
    "PriorCorrection": "tfbalance._weights",
    "Recall": "tfbalance.metrics",
    "SplitResult": "tfbalance._class_streams",
    "StratifiedSplit": "tfbalance._stratified",
    "StratifiedSplitFiles": "tfbalance._holdout",
    "ThresholdTuningCallback": "tfbalance._thresholds",
    "TunedThreshold": "tfbalance._thresholds",
    "WeightSchedule": "tfbalance._interleave",
    "adjust_logits": "tfbalance._weights",
    "balanced_batches": "tfbalance._interleave",
    "check_data_service_compatible": "tfbalance._service",
    "class_counts": "tfbalance._counting",
    "class_datasets": "tfbalance._class_streams",
    "class_weights": "tfbalance._weights",
    "correct_probabilities": "tfbalance._weights",
    "datasets": "tfbalance.datasets",
    "expected_steps": "tfbalance._sampling",
    "infer_csv_schema": "tfbalance._csv",
    "initial_bias": "tfbalance._weights",
    "interleave_by_class": "tfbalance._interleave",
    "load_split": "tfbalance._class_streams",
    "load_stratified_split": "tfbalance._holdout",
    "metrics": "tfbalance.metrics",
    "oversample": "tfbalance._sampling",
    "plot_class_distribution": "tfbalance._plotting",
    "plot_metric_comparison": "tfbalance._plotting",
    "read_csv": "tfbalance._csv",
    "rebatch": "tfbalance._sampling",
    "rejection_resample": "tfbalance._sampling",
    "split_by_class": "tfbalance._splitting",
    "stratified_split": "tfbalance._stratified",
    "tune_threshold": "tfbalance._thresholds",
    "undersample": "tfbalance._sampling",
    "with_sample_weights": "tfbalance._weights",
    "write_stratified_split": "tfbalance._holdout",
}


def __getattr__(name: str) -> Any:
    module_name = _EXPORTS.get(name)
    if module_name is None:
        raise AttributeError(f"module 'tfbalance' has no attribute {name!r}")
    # TensorFlow first, so that a missing or too old TensorFlow fails with the install
    # advice of tfbalance._tf, not with whatever error Keras gives without it.
    importlib.import_module("tfbalance._tf")
    module = importlib.import_module(module_name)
    value = module if module_name == f"tfbalance.{name}" else getattr(module, name)
    globals()[name] = value  # later look-ups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


def _imported_for_the_command_line() -> bool:
    """Whether this import only leads to ``tfbalance._cli`` (the console script, ``-m``).

    ``python -m tfbalance`` imports the package while ``sys.argv[0]`` is still ``'-m'``; the
    ``tfbalance`` console script runs with its own name as ``sys.argv[0]``.
    """
    program = os.path.basename(sys.argv[0]) if sys.argv else ""
    return program in ("-m", "tfbalance", "tfbalance.exe")


if not _imported_for_the_command_line():
    # A library import loads everything at once, as before: TensorFlow problems surface at
    # `import tfbalance`, and the Keras objects (metrics, layers, callbacks) are registered,
    # so `keras.models.load_model` finds them after a bare `import tfbalance`. Only the
    # command line stays lazy, so that --help and --version answer without TensorFlow.
    for _name in _EXPORTS:
        __getattr__(_name)
    del _name


__all__ = [
    "BestF1",
    "ClassDatasets",
    "ClassDistribution",
    "ClassWeightCallback",
    "CsvSchema",
    "DecisionThreshold",
    "ExponentialSchedule",
    "F1Score",
    "FBetaScore",
    "InterleaveScheduleCallback",
    "LinearSchedule",
    "Precision",
    "PriorCorrection",
    "Recall",
    "SplitResult",
    "StratifiedSplit",
    "StratifiedSplitFiles",
    "ThresholdTuningCallback",
    "TunedThreshold",
    "WeightSchedule",
    "__version__",
    "adjust_logits",
    "balanced_batches",
    "check_data_service_compatible",
    "class_counts",
    "class_datasets",
    "class_weights",
    "correct_probabilities",
    "expected_steps",
    "infer_csv_schema",
    "initial_bias",
    "interleave_by_class",
    "load_split",
    "load_stratified_split",
    "oversample",
    "plot_class_distribution",
    "plot_metric_comparison",
    "read_csv",
    "rebatch",
    "rejection_resample",
    "split_by_class",
    "stratified_split",
    "tune_threshold",
    "undersample",
    "with_sample_weights",
    "write_stratified_split",
]

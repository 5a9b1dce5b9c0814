"""tfbalance: class-imbalance tools for streaming TensorFlow input pipelines.

Resampling transforms for ``dataset.apply``, class weights, per-sample weighting and
streaming F1 metrics that stay exact, bounded in memory and graph-only.
"""

# First, so that a missing TensorFlow fails with install advice before anything else.
from tfbalance._tf import tf as _tf  # noqa: F401

# isort: split

from tfbalance import metrics
from tfbalance._class_streams import (
    ClassDatasets,
    SplitResult,
    class_datasets,
    load_split,
)
from tfbalance._counting import class_counts
from tfbalance._csv import CsvSchema, infer_csv_schema, read_csv
from tfbalance._distribution import ClassDistribution
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
from tfbalance._version import __version__
from tfbalance._weights import (
    ClassWeightCallback,
    PriorCorrection,
    adjust_logits,
    class_weights,
    correct_probabilities,
    initial_bias,
    with_sample_weights,
)
from tfbalance.metrics import BestF1, F1Score, FBetaScore

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
    "PriorCorrection",
    "SplitResult",
    "StratifiedSplit",
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
]

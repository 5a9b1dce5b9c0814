"""tfbalance: class-imbalance tools for streaming TensorFlow input pipelines.

Resampling transforms for ``dataset.apply``, class weights, per-sample weighting and
streaming F1 metrics that stay exact, bounded in memory and graph-only.
"""

from tfbalance._tf import tf as _tf  # noqa: F401  (fails early with install advice)

from tfbalance import metrics
from tfbalance._counting import ClassDistribution, class_counts
from tfbalance._csv import CsvSchema, infer_csv_schema, read_csv
from tfbalance._interleave import (
    ClassDatasets,
    ExponentialSchedule,
    InterleaveScheduleCallback,
    LinearSchedule,
    WeightSchedule,
    balanced_batches,
    class_datasets,
    interleave_by_class,
)
from tfbalance._plotting import plot_class_distribution, plot_metric_comparison
from tfbalance._splitting import SplitResult, load_split, split_by_class
from tfbalance._version import __version__
from tfbalance.metrics import BestF1, F1Score, FBetaScore

__all__ = [
    "BestF1",
    "ClassDatasets",
    "ClassDistribution",
    "CsvSchema",
    "ExponentialSchedule",
    "F1Score",
    "FBetaScore",
    "InterleaveScheduleCallback",
    "LinearSchedule",
    "SplitResult",
    "WeightSchedule",
    "__version__",
    "balanced_batches",
    "class_counts",
    "class_datasets",
    "infer_csv_schema",
    "interleave_by_class",
    "load_split",
    "plot_class_distribution",
    "plot_metric_comparison",
    "read_csv",
    "split_by_class",
]

"""tfbalance: class-imbalance tools for streaming TensorFlow input pipelines.

Resampling transforms for ``dataset.apply``, class weights, per-sample weighting and
streaming F1 metrics that stay exact, bounded in memory and graph-only.
"""

from tfbalance._tf import tf as _tf  # noqa: F401  (fails early with install advice)

from tfbalance import metrics
from tfbalance._counting import ClassDistribution, class_counts
from tfbalance._service import check_data_service_compatible
from tfbalance._sampling import (
    expected_steps,
    oversample,
    rebatch,
    rejection_resample,
    undersample,
)
from tfbalance._csv import CsvSchema, infer_csv_schema, read_csv
from tfbalance._plotting import plot_class_distribution, plot_metric_comparison
from tfbalance.metrics import BestF1, F1Score, FBetaScore
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

__all__ = [
    "BestF1",
    "ClassDistribution",
    "ClassWeightCallback",
    "CsvSchema",
    "F1Score",
    "FBetaScore",
    "PriorCorrection",
    "__version__",
    "adjust_logits",
    "check_data_service_compatible",
    "class_counts",
    "class_weights",
    "correct_probabilities",
    "expected_steps",
    "infer_csv_schema",
    "initial_bias",
    "oversample",
    "plot_class_distribution",
    "plot_metric_comparison",
    "read_csv",
    "rebatch",
    "rejection_resample",
    "undersample",
    "with_sample_weights",
]

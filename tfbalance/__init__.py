"""tfbalance: class-imbalance tools for streaming TensorFlow input pipelines.

Resampling transforms for ``dataset.apply``, class weights, per-sample weighting and
streaming F1 metrics that stay exact, bounded in memory and graph-only.
"""

from tfbalance._tf import tf as _tf  # noqa: F401  (fails early with install advice)

from tfbalance import metrics
from tfbalance._counting import ClassDistribution, class_counts
from tfbalance.metrics import BestF1, F1Score, FBetaScore
from tfbalance._version import __version__

__all__ = [
    "BestF1",
    "ClassDistribution",
    "F1Score",
    "FBetaScore",
    "__version__",
    "class_counts",
]

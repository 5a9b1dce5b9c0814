"""tfbalance: class-imbalance tools for streaming TensorFlow input pipelines.

Resampling transforms for ``dataset.apply``, class weights, per-sample weighting and
streaming F1 metrics that stay exact, bounded in memory and graph-only.
"""

from tfbalance._tf import tf as _tf  # noqa: F401  (fails early with install advice)

from tfbalance._counting import ClassDistribution, class_counts
from tfbalance._sampling import (
    expected_steps,
    oversample,
    rebatch,
    rejection_resample,
    undersample,
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

__all__ = [
    "ClassDistribution",
    "ClassWeightCallback",
    "PriorCorrection",
    "__version__",
    "adjust_logits",
    "class_counts",
    "class_weights",
    "correct_probabilities",
    "expected_steps",
    "initial_bias",
    "oversample",
    "rebatch",
    "rejection_resample",
    "undersample",
    "with_sample_weights",
]

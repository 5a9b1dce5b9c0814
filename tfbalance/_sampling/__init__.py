"""Streaming resampling transforms: ``undersample``, ``oversample``, ``rejection_resample``.

Modules, in import order: ``_rules`` (imbalanced-learn's strategy rules and the online rules,
graph ops on class counts), ``_plans`` (one frozen plan per mode), ``_kernels`` (the per-batch
graph ops and run-time checks), ``_pipeline`` (the transform, ``Resampling``), ``_factories``
(the public functions).

How they work
-------------
Each transform returns a ``dataset -> dataset`` function for ``dataset.apply``. Internally it
always works on *batches of rows*:

* a batched input (a vector of class ids per element, as ``read_csv`` yields) is resampled
  batch by batch: this is the fast path;
* an unbatched input (a scalar class id per element) is batched internally
  (``UNBATCHED_CHUNK`` rows), resampled the same way and unbatched again, so the element
  structure and spec that go in come out.

Every random draw is a vectorised, stateless op keyed by a per-batch seed from
``tf.data.Dataset.random(seed, rerandomize_each_iteration=True)``; a batch's class ids become
the indices of the rows to emit (a dropped row is absent, a duplicated one repeated), and one
``tf.gather`` per component builds the output batch.

* With fixed rates (Bernoulli mode with known counts, ``rejection_resample`` with
  ``initial_dist``) batches are independent, so each is resampled inside one parallel
  ``map``; the only sequential step after it ORs a vector of the classes each batch held.
* Online and exact modes carry state from batch to batch. One ``Dataset.scan`` step per batch
  updates it (running class counts; rows and picks still to go) and yields per-class numbers
  only; the per-row work runs in the parallel ``map`` after it, so the sequential part stays
  a few vector ops per batch.

The scan state and the seed stream are part of the iterator, so it is checkpointable and
needs no Python state; one iterator reads each input row once per epoch.

``read_csv(..., resample=transform)`` calls the transform's ``apply_to_lines``: one that only
drops rows runs on the batches of raw lines, with the class ids decoded first, so only the
rows kept are decoded in full. The output is the same as applying the transform to the
decoded batches.

An empty end-of-epoch batch is appended to the input, tagged by a seed without
``SEED_TAG``, so the last scan step can check what only the end of an epoch can tell: in
exact mode, that the data held as many rows of each class as ``counts`` said; with fixed
rates, that every class the known distribution gives rows appeared; online, that every
required class appeared.

Modes
-----
* Bernoulli with known ``counts``: class ``c`` has rate ``r_c = target_c / count_c``; each row
  is emitted ``floor(r_c)`` times plus once more with probability ``r_c - floor(r_c)``, so the
  expected output count of every class is its target.
* Online (``counts=None``): the same, with the counts replaced by the running counts of the
  rows read so far *including the current batch*. See ``undersample`` for the warm-up bias.
* Exact (``exact=True``): sequential selection sampling at the batch level. With ``R_c`` rows of
  class ``c`` still to come, ``K_c`` of which must still be picked, the number of picks among
  the ``m_c`` rows of class ``c`` in this batch is hypergeometric(``R_c``, ``K_c``, ``m_c``);
  it is drawn from its log-pmf (``stateless_categorical`` over the feasible values near the
  mean), and that many rows are chosen uniformly inside the batch (the first rows of the class
  in a stateless shuffle; with many classes, the smallest stateless uniform keys).
  The picks form a uniformly random ``K_c``-subset of the class, and their number is exact.
"""

from tfbalance._sampling._factories import (
    expected_steps,
    oversample,
    rebatch,
    rejection_resample,
    undersample,
)
from tfbalance._sampling._pipeline import Resampling

__all__ = [
    "Resampling",
    "expected_steps",
    "oversample",
    "rebatch",
    "rejection_resample",
    "undersample",
]

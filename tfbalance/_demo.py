"""`tfbalance demo`: the insurance cross-sell study, end to end and streaming.

Generates (or takes) the insurance CSV, inspects its class balance, trains one small Keras
model per balancing technique from the streaming CSV, and compares them on the same held-out
split with its natural class distribution. Nothing is rebalanced in memory: every step reads
the file through ``tfbalance.read_csv`` in batches, except the interleave technique, which
splits the training rows once by class (``split_by_class``, typed shards in
``OUT/train_split``) and merges the class streams (``interleave_by_class``), the per-class
path recommended for large data.

How the comparison is kept honest:

- Three splits by id (``_split_role``): test (``id % 5 == 0``, the insurance data's one test
  rule, ``tfbalance.datasets.is_insurance_test_row``, also used by the examples and the TFDS
  builder), validation (``id % 5 == 1``, carved from the training rows) and train (the
  rest). Each model's decision threshold is tuned with ``BestF1`` on validation and only
  then applied to test.
- Every test score has a 95% confidence interval from a Poisson bootstrap streamed over the
  test batches (``_BootstrapScores``): each row gets a seeded Poisson(1) weight per
  replicate, so memory is bounded by the replicate count, not the file. The weights depend
  only on the seed and the row order, so every technique is scored on the same replicates
  and differences between techniques get paired intervals; the verdict calls a difference
  noise when its interval contains 0.
- Per-epoch scores printed during training are measured on the (resampled) training stream.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO

import numpy as np

# The demo drives the public API as a user's script would.
import tfbalance
from tfbalance._labels import batched_label_rank
from tfbalance._tf import tf
from tfbalance.datasets import (
    INSURANCE_TEST_MODULUS,
    is_insurance_test_row,
    make_insurance_csv,
)

__all__ = ["DemoResult", "run_demo", "DEFAULT_ROWS", "TECHNIQUES", "METRICS"]

DEFAULT_ROWS = 382_154
LABEL = "Response"
NUMERIC_COLUMNS = ("Age", "Annual_Premium", "Vintage")
CATEGORICAL_COLUMNS = (
    "Gender",
    "Vehicle_Age",
    "Vehicle_Damage",
    "Driving_License",
    "Previously_Insured",
    "Region_Code",
    "Policy_Sales_Channel",
)
# Rows are assigned by id residue: the split is the same for every technique and every run,
# and needs no pass of its own (_split_role). Test is the data set's own rule
# (is_insurance_test_row: residue 0); validation takes another residue of the same modulus,
# so it never overlaps test.
SPLIT_MODULUS = INSURANCE_TEST_MODULUS
TEST_RESIDUE, VALIDATION_RESIDUE = 0, 1
# Bootstrap replicates for the confidence intervals, and score bins for PR-AUC.
BOOTSTRAP_REPLICATES = 200
PR_BINS = 1000
CONFIDENCE = 0.95
# PR-AUC differences below this are called the same ranking, even when the paired bootstrap
# finds them (on 76k test rows it resolves differences of about 0.002).
PRACTICAL_PR_AUC_GAP = 0.01

TECHNIQUES = ("baseline", "undersample", "oversample", "class_weights", "interleave_schedule")
TECHNIQUE_TITLES = {
    "baseline": "No balancing",
    "undersample": "Random undersampling",
    "oversample": "Random oversampling",
    "class_weights": "Class weights (callback)",
    "interleave_schedule": "Interleave, natural -> balanced",
}
METRICS = ("accuracy", "precision", "recall", "f1", "pr_auc", "tuned_f1")
METRIC_TITLES = {
    "accuracy": "Accuracy",
    "precision": "Precision",
    "recall": "Recall",
    "f1": "F1",
    "pr_auc": "PR-AUC",
    "tuned_f1": "F1, tuned threshold",
}
# Metrics whose 95% interval the table shows (results.json has every metric's).
TABLE_INTERVALS = ("f1", "pr_auc", "tuned_f1")


@dataclass
class DemoResult:
    """What a demo run measured: counts, per-technique metrics and the files it wrote."""

    data_path: str
    full_counts: dict[int, int]
    train_counts: dict[int, int]
    resampled_counts: dict[str, dict[int, int]]
    metrics: dict[str, dict[str, float]]
    best_thresholds: dict[str, float]
    intervals: dict[str, dict[str, tuple[float, float]]] = field(default_factory=dict)
    differences: dict[str, dict[str, dict[str, tuple[float, float, float]]]] = field(
        default_factory=dict
    )
    config: dict[str, Any] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
    wall_seconds: float = 0.0

    def table_markdown(self) -> str:
        """The comparison table as GitHub markdown (what the README shows).

        Test-split scores; F1, PR-AUC and the tuned-threshold F1 with their 95% bootstrap
        interval, and the threshold each model got from the validation split.
        """
        titles = [
            METRIC_TITLES[m] + (" [95% CI]" if m in TABLE_INTERVALS else "") for m in METRICS
        ]
        header = "| Technique | " + " | ".join(titles) + " | Tuned threshold |"
        rule = "|---|" + "---:|" * (len(METRICS) + 1)
        rows = []
        for t, values in self.metrics.items():
            cells = []
            for m in METRICS:
                cell = _number(values[m])
                if m in TABLE_INTERVALS and m in self.intervals.get(t, {}):
                    low, high = self.intervals[t][m]
                    cell += f" [{_number(low)}, {_number(high)}]"
                cells.append(cell)
            cells.append(_number(self.best_thresholds[t], ".2f"))
            rows.append(f"| {TECHNIQUE_TITLES[t]} | " + " | ".join(cells) + " |")
        return "\n".join([header, rule, *rows])

    def winner(self, metric: str = "f1") -> str:
        return max(self.metrics, key=lambda t: _nan_low(self.metrics[t][metric]))

    def to_json(self) -> dict[str, Any]:
        """What results.json holds (and README's table is rendered from)."""
        return {
            "config": self.config,
            "data": self.data_path,
            "full_counts": self.full_counts,
            "train_counts": self.train_counts,
            "resampled_counts": self.resampled_counts,
            "metrics": self.metrics,
            "intervals": self.intervals,
            "differences": self.differences,
            "best_thresholds": self.best_thresholds,
            "wall_seconds": self.wall_seconds,
        }

    @classmethod
    def from_json(cls, results: dict[str, Any]) -> DemoResult:
        """The inverse of ``to_json`` (JSON's string keys become class ids again)."""

        def ids(counts: dict[str, int]) -> dict[int, int]:
            return {int(c): n for c, n in counts.items()}

        def nan(value: Any) -> Any:  # results.json writes NaN as null
            if isinstance(value, dict):
                return {k: nan(v) for k, v in value.items()}
            if isinstance(value, list):
                return tuple(nan(v) for v in value)
            return math.nan if value is None else value

        return cls(
            data_path=results["data"],
            full_counts=ids(results["full_counts"]),
            train_counts=ids(results["train_counts"]),
            resampled_counts={t: ids(c) for t, c in results["resampled_counts"].items()},
            metrics=nan(results["metrics"]),
            best_thresholds=nan(results["best_thresholds"]),
            intervals=nan(results["intervals"]),
            differences=nan(results.get("differences", {})),
            config=results.get("config", {}),
            wall_seconds=results.get("wall_seconds", 0.0),
        )

    def summary_line(self) -> str:
        """The line under the README table: data size, run settings and wall time."""
        counts = self.full_counts
        split = ", ".join(f"{counts[c]:,}" for c in sorted(counts))
        settings = ", ".join(f"{k} {v}" for k, v in self.config.items() if k != "data")
        return (
            f"{sum(counts.values()):,} rows ({split}); {settings}; "
            f"demo wall time {self.wall_seconds:.0f} s."
        )


def _number(value: float, spec: str = ".3f") -> str:
    return "n/a" if value is None or math.isnan(value) else format(value, spec)


def _nan_low(value: float) -> float:
    return -math.inf if math.isnan(value) else value


class _Reporter:
    def __init__(self, stream: TextIO, verbose: bool) -> None:
        self.stream = stream
        self.verbose = verbose
        self.start = time.perf_counter()

    def step(self, text: str) -> None:
        elapsed = time.perf_counter() - self.start
        print(f"[{elapsed:6.1f}s] {text}", file=self.stream, flush=True)

    def line(self, text: str = "") -> None:
        print(text, file=self.stream, flush=True)


SPLITS = ("train", "validation", "test")


def _split_role(ids: tf.Tensor) -> tf.Tensor:
    """0 (train), 1 (validation) or 2 (test) for each row id: the demo's split rule."""
    ids = tf.cast(ids, tf.int64)
    residue = tf.math.floormod(ids, SPLIT_MODULUS)
    is_validation = tf.cast(tf.equal(residue, VALIDATION_RESIDUE), tf.int64)
    return tf.where(is_insurance_test_row(ids), tf.constant(2, tf.int64), is_validation)


def _split(dataset: tf.data.Dataset, part: str) -> tf.data.Dataset:
    """Keep the rows of one split (``"train"``, ``"validation"``, ``"test"``) of each batch."""
    role = SPLITS.index(part)

    def keep(features: dict[str, tf.Tensor], labels: tf.Tensor):
        mask = tf.equal(_split_role(features["id"]), role)
        return (
            {k: tf.boolean_mask(v, mask) for k, v in features.items()},
            tf.boolean_mask(labels, mask),
        )

    return dataset.map(keep, num_parallel_calls=tf.data.AUTOTUNE)


def _read(path: str, batch_size: int, part: str, field_delim: str = ",") -> tf.data.Dataset:

    columns = ["id", *NUMERIC_COLUMNS, *CATEGORICAL_COLUMNS, LABEL]
    dataset = tfbalance.read_csv(
        path, LABEL, batch_size=batch_size, select_columns=columns, field_delim=field_delim
    )
    return _split(dataset, part)


def build_encoder(train: tf.data.Dataset) -> Callable[[dict[str, tf.Tensor]], tf.Tensor]:
    """Keras preprocessing layers fitted from two streaming passes over ``train``.

    Numeric columns are standardised (the premium on a log scale, for its heavy tail) by a
    ``Normalization`` layer; every categorical column becomes ``"column=value"`` tokens that
    one ``StringLookup`` one-hot encodes, so the vocabulary of all of them is learned in a
    single pass. Returns a function mapping a batch of raw features to a float matrix.
    """
    import keras

    features_only = train.map(lambda f, y: f)
    normalizer = keras.layers.Normalization()
    normalizer.adapt(features_only.map(_numeric))
    lookup = keras.layers.StringLookup(output_mode="multi_hot")
    lookup.adapt(features_only.map(_category_tokens))

    def encode(features: dict[str, tf.Tensor]) -> tf.Tensor:
        return tf.concat(
            [
                normalizer(_numeric(features)),
                tf.cast(lookup(_category_tokens(features)), tf.float32),
            ],
            axis=-1,
        )

    return encode


def _numeric(features: dict[str, tf.Tensor]) -> tf.Tensor:
    columns = [tf.cast(features[c], tf.float32) for c in NUMERIC_COLUMNS]
    premium = NUMERIC_COLUMNS.index("Annual_Premium")
    columns[premium] = tf.math.log1p(tf.maximum(columns[premium], 0.0))
    return tf.stack(columns, axis=-1)


def _category_tokens(features: dict[str, tf.Tensor]) -> tf.Tensor:
    tokens = []
    for column in CATEGORICAL_COLUMNS:
        value = features[column]
        if value.dtype != tf.string:
            value = tf.strings.as_string(tf.cast(value, tf.int64))
        tokens.append(column + "=" + value)
    return tf.stack(tokens, axis=-1)


def build_model(num_features: int, seed: int):
    """The same small network for every technique: two hidden layers and a sigmoid."""
    import keras


    keras.utils.set_random_seed(seed)
    inputs = keras.Input(shape=(num_features,), name="features")
    hidden = keras.layers.Dense(32, activation="relu")(inputs)
    hidden = keras.layers.Dense(16, activation="relu")(hidden)
    outputs = keras.layers.Dense(1, activation="sigmoid")(hidden)
    model = keras.Model(inputs, outputs)
    # Training-time scores are of the stream fit() reads, resampled or not: named so.
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=3e-3),
        loss="binary_crossentropy",
        metrics=[
            keras.metrics.BinaryAccuracy(name="stream_accuracy"),
            tfbalance.F1Score(name="stream_f1"),
        ],
    )
    return model


def _encode(dataset: tf.data.Dataset, encode: Callable, batch_size: int) -> tf.data.Dataset:

    if batched_label_rank(dataset, None) == 0:
        dataset = dataset.batch(batch_size)
    else:
        dataset = dataset.apply(tfbalance.rebatch(batch_size))
    return dataset.map(
        lambda *element: (encode(element[0]), *element[1:]),
        num_parallel_calls=tf.data.AUTOTUNE,
    ).prefetch(tf.data.AUTOTUNE)


def _label_counts(dataset: tf.data.Dataset) -> dict[int, int]:

    return tfbalance.class_counts(dataset, verbose=False).counts


def _predictions(model: Any, dataset: tf.data.Dataset):
    """``(labels, probabilities)`` numpy batches of a model over an encoded split."""
    for features, labels in dataset:
        labels = labels.numpy().reshape(-1)
        if labels.size:
            yield labels, np.asarray(model.predict_on_batch(features)).reshape(-1)


def _tune_threshold(model: Any, validation: tf.data.Dataset, num_thresholds: int = 101) -> float:
    """The decision threshold with the best F1 on the validation split (``BestF1``).

    NaN when the validation split holds no positive row: no threshold can be chosen then.
    """

    best = tfbalance.BestF1(num_thresholds=num_thresholds)
    positives = 0
    for labels, probabilities in _predictions(model, validation):
        best.update_state(labels, probabilities)
        positives += int(np.sum(labels == 1))
    return float(best.best_threshold()) if positives else math.nan


class _BootstrapScores:
    """Test-split scores and their Poisson-bootstrap replicates, streamed batch by batch.

    Replicate 0 is the sample itself (every weight 1); replicates 1..B weight each row by a
    Poisson(1) draw, the streaming form of resampling rows with replacement. Memory is
    ``O(B * PR_BINS)`` whatever the split's size. PR-AUC is average precision (as
    ``sklearn.metrics.average_precision_score``) over ``PR_BINS`` equal score bins.
    """

    def __init__(self, thresholds: dict[str, float], seed: int,
                 replicates: int = BOOTSTRAP_REPLICATES, bins: int = PR_BINS) -> None:
        # Same seed and row order -> same weights: every technique gets the same replicates.
        self._rng = np.random.default_rng([seed, 0x5EED])
        self._rows = replicates + 1
        self._bins = bins
        self._thresholds = thresholds
        self._confusion = {m: np.zeros((4, self._rows)) for m in thresholds}  # tp fp fn tn
        self._histograms = np.zeros((2, self._rows, bins))  # negatives, positives
        self.rows = 0

    def update(self, labels: np.ndarray, probabilities: np.ndarray) -> None:
        n = labels.size
        weights = np.ones((self._rows, n))
        weights[1:] = self._rng.poisson(1.0, size=(self._rows - 1, n))
        positive = labels == 1
        for metric, threshold in self._thresholds.items():
            if math.isnan(threshold):
                continue
            predicted = probabilities > threshold
            cells = np.stack([predicted & positive, predicted & ~positive,
                              ~predicted & positive, ~predicted & ~positive]).astype(float)
            self._confusion[metric] += cells @ weights.T
        bins = np.clip((probabilities * self._bins).astype(np.int64), 0, self._bins - 1)
        index = (np.arange(self._rows)[:, None] * self._bins + bins[None, :]).ravel()
        for cls, mask in ((0, ~positive), (1, positive)):
            self._histograms[cls] += np.bincount(
                index, weights=(weights * mask[None, :]).ravel(), minlength=self._rows * self._bins
            ).reshape(self._rows, self._bins)
        self.rows += n

    def replicates(self) -> dict[str, np.ndarray]:
        """Every metric's value on the sample (index 0) and on each replicate."""
        out: dict[str, np.ndarray] = {}
        for metric, (tp, fp, fn, tn) in self._confusion.items():
            if math.isnan(self._thresholds[metric]):
                out[metric] = np.full(self._rows, math.nan)
                continue
            # zero_division=0, as scikit-learn's default.
            f1 = _ratio(2 * tp, 2 * tp + fp + fn)
            if metric == "f1":
                out["accuracy"] = _ratio(tp + tn, tp + fp + fn + tn)
                out["precision"] = _ratio(tp, tp + fp)
                out["recall"] = _ratio(tp, tp + fn)
            out[metric] = f1
        negatives, positives = self._histograms
        # Thresholds at the bin edges, highest first: cumulative counts of rows above each.
        tp = np.cumsum(positives[:, ::-1], axis=1)
        fp = np.cumsum(negatives[:, ::-1], axis=1)
        precision = _ratio(tp, tp + fp)
        recall = _ratio(tp, tp[:, -1:])
        steps = np.diff(np.concatenate([np.zeros((self._rows, 1)), recall], axis=1), axis=1)
        out["pr_auc"] = np.sum(steps * precision, axis=1)
        return out


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denominator > 0, numerator / np.where(denominator > 0, denominator, 1), 0.0)


def _interval(replicates: np.ndarray) -> tuple[float, float]:
    """The percentile bootstrap interval of replicates 1..B (index 0 is the estimate)."""
    tail = 100 * (1 - CONFIDENCE) / 2
    if np.isnan(replicates).any():
        return (math.nan, math.nan)
    low, high = np.percentile(replicates[1:], [tail, 100 - tail])
    return (float(low), float(high))


def _score_test(model: Any, test: tf.data.Dataset, threshold: float, seed: int):
    """Point scores, 95% intervals and bootstrap replicates of one model on the test split."""
    scorer = _BootstrapScores({"f1": 0.5, "tuned_f1": threshold}, seed)
    for labels, probabilities in _predictions(model, test):
        scorer.update(labels, probabilities)
    replicates = scorer.replicates()
    point = {m: float(replicates[m][0]) for m in METRICS}
    return point, {m: _interval(replicates[m]) for m in METRICS}, replicates, scorer.rows


def run_demo(
    *,
    data: str | None = None,
    rows: int = DEFAULT_ROWS,
    epochs: int = 3,
    out: str = "tfbalance-demo",
    seed: int = 0,
    field_delim: str = ",",
    batch_size: int = 1024,
    read_batch_size: int = 16_384,
    techniques: tuple[str, ...] = TECHNIQUES,
    stream: TextIO | None = None,
    verbose: bool = True,
) -> DemoResult:
    """Run the insurance cross-sell study; see ``tfbalance demo --help``."""
    stream = stream or sys.stdout
    report = _Reporter(stream, verbose)
    logger = tf.get_logger()
    log_level = logger.level
    # Five fresh models retrace Keras' train step; TF's retracing advice is noise here.
    logger.setLevel("ERROR")
    try:
        with warnings.catch_warnings():
            # A stream of unknown length ends each epoch by running out; that is expected.
            warnings.filterwarnings("ignore", message="Your input ran out of data")
            return _run(
                data, rows, epochs, out, seed, field_delim, batch_size, read_batch_size,
                techniques, stream, verbose, report,
            )
    finally:
        logger.setLevel(log_level)


def _run(data, rows, epochs, out, seed, field_delim, batch_size, read_batch_size, techniques,
         stream, verbose, report) -> DemoResult:

    unknown = sorted(set(techniques) - set(TECHNIQUES))
    if unknown:
        raise ValueError(
            f"Invalid `techniques`: unknown {unknown}; choose from {list(TECHNIQUES)}. "
            f"Received: techniques={list(techniques)}"
        )
    os.makedirs(out, exist_ok=True)
    files: dict[str, str] = {}

    if data is None:
        data = os.path.join(out, f"insurance_{rows}_seed{seed}.csv")
        if os.path.exists(data):
            report.step(f"Using the synthetic insurance data already at {data}")
        else:
            report.step(f"Generating {rows:,} synthetic insurance rows into {data}")
            make_insurance_csv(data, n_rows=rows, seed=seed)
    elif not os.path.exists(data):
        raise FileNotFoundError(f"Invalid `data`: no such file. Received: data={data!r}")

    # Step 1: inspect.
    report.line()
    report.line("Step 1 - inspect the class balance (one streaming pass)")
    full = tfbalance.class_counts(data, LABEL, verbose=False, field_delim=field_delim)
    report.line(repr(full))
    files["class_histogram"] = os.path.join(out, "class_histogram.png")
    tfbalance.plot_class_distribution(full, path=files["class_histogram"], title="Response")
    report.step(f"Histogram written to {files['class_histogram']}")

    # Step 2: train one model per technique.
    report.line()
    report.line("Step 2 - train the same model with each technique")
    train = _read(data, read_batch_size, "train", field_delim)
    validation = _read(data, read_batch_size, "validation", field_delim)
    test = _read(data, read_batch_size, "test", field_delim)
    train_counts = tfbalance.class_counts(train, verbose=False)
    report.step(
        f"Train split: Class 0 = {train_counts.counts.get(0, 0):,}, "
        f"Class 1 = {train_counts.counts.get(1, 0):,}; validation split (decision "
        f"thresholds): id % {SPLIT_MODULUS} == {VALIDATION_RESIDUE}; held-out test split: "
        f"id % {SPLIT_MODULUS} == {TEST_RESIDUE}"
    )
    report.step("Fitting preprocessing layers from the stream")
    encode = build_encoder(train)
    num_features = int(encode(next(iter(train.take(1)))[0]).shape[-1])

    resampled_counts: dict[str, dict[int, int]] = {}
    metrics: dict[str, dict[str, float]] = {}
    intervals: dict[str, dict[str, tuple[float, float]]] = {}
    replicates: dict[str, dict[str, np.ndarray]] = {}
    best_thresholds: dict[str, float] = {}
    fit_verbose = (1 if stream.isatty() else 2) if verbose else 0
    test_ds = _encode(test, encode, batch_size=8192)
    validation_ds = _encode(validation, encode, batch_size=8192)
    if verbose:
        report.line(
            "Per-epoch scores printed while training (stream_accuracy, stream_f1) are "
            "measured on the stream each model trains on - resampled or reweighted, not the "
            "natural distribution - so they do not compare techniques; Step 3 does."
        )

    for index, technique in enumerate(techniques):
        report.line()
        report.step(f"[{index + 1}/{len(techniques)}] {TECHNIQUE_TITLES[technique]}")
        model = build_model(num_features, seed)
        callbacks: list[Any] = []
        if technique == "baseline":
            source = train
        elif technique == "undersample":
            source = train.apply(
                tfbalance.undersample(counts=train_counts, exact=True, seed=seed)
            )
        elif technique == "oversample":
            source = train.apply(
                tfbalance.oversample(counts=train_counts, exact=True, seed=seed)
            )
        elif technique == "class_weights":
            callback = tfbalance.ClassWeightCallback(2, update=10)
            source = train.apply(callback.transform)
            callbacks.append(callback)
        else:
            files["train_split"] = os.path.join(out, "train_split")
            source, schedule_callback = _interleave_schedule(
                train, train_counts, epochs, batch_size, seed, files["train_split"]
            )
            callbacks.append(schedule_callback)
            report.step(
                f"Training rows split by class into {files['train_split']} (typed shards, "
                "read back without parsing)"
            )
        if technique in ("undersample", "oversample"):
            after = _label_counts(source)
            resampled_counts[technique] = after
            report.line(_before_after(train_counts.counts, after, technique))
        model.fit(
            _encode(source, encode, batch_size),
            epochs=epochs,
            verbose=fit_verbose,
            callbacks=callbacks,
            shuffle=False,
        )
        if technique == "class_weights":
            weights = ", ".join(f"{c}: {w:.3f}" for c, w in callback.class_weights.items())
            report.step(f"Class weights learned from the stream: {{{weights}}}")
        threshold = _tune_threshold(model, validation_ds)
        best_thresholds[technique] = threshold
        point, ci, replicates[technique], test_rows = _score_test(model, test_ds, threshold, seed)
        metrics[technique], intervals[technique] = point, ci
        report.step(
            f"  test split: F1 {_number(point['f1'])} [{_number(ci['f1'][0])}, "
            f"{_number(ci['f1'][1])}], PR-AUC {_number(point['pr_auc'])}; threshold "
            f"{_number(threshold, '.2f')} from validation: F1 {_number(point['tuned_f1'])}"
        )

    # Step 3: compare.
    best = max(metrics, key=lambda t: _nan_low(metrics[t]["f1"]))
    result = DemoResult(
        data_path=data,
        full_counts=full.counts,
        train_counts=train_counts.counts,
        resampled_counts=resampled_counts,
        metrics=metrics,
        best_thresholds=best_thresholds,
        intervals=intervals,
        differences=_differences(replicates, best),
        config={"seed": seed, "rows": full.total, "epochs": epochs},
        files=files,
    )
    report.line()
    report.line(
        f"Step 3 - compare on the held-out test split ({test_rows:,} rows, natural class "
        f"distribution; 95% intervals from {BOOTSTRAP_REPLICATES} bootstrap replicates)"
    )
    report.line(result.table_markdown())
    files["metrics_chart"] = os.path.join(out, "metrics.png")
    tfbalance.plot_metric_comparison(
        {
            TECHNIQUE_TITLES[t]: {METRIC_TITLES[m]: value for m, value in v.items()}
            for t, v in metrics.items()
        },
        path=files["metrics_chart"],
        title=f"Held-out test split ({test_rows:,} rows, natural class distribution)",
    )
    report.line()
    report.line(_verdict(result, full, replicates, test_rows))
    result.wall_seconds = time.perf_counter() - report.start
    files["results_json"] = os.path.join(out, "results.json")
    files["results_markdown"] = os.path.join(out, "results.md")
    with open(files["results_json"], "w") as handle:
        # NaN (no threshold could be tuned) is written as null: results.json stays JSON.
        json.dump(_json_safe(result.to_json()), handle, indent=2, allow_nan=False)
    with open(files["results_markdown"], "w") as handle:
        handle.write(readme_block(result))
    report.step(f"Chart written to {files['metrics_chart']}; results in {files['results_json']}")
    report.line(f"Total wall time: {result.wall_seconds:.1f} s")
    return result


def _interleave_schedule(train, train_counts, epochs, batch_size, seed, split_dir):

    # The per-class path for large data: split the training rows once into typed per-class
    # shards (an earlier run's split there is replaced, nothing else), then merge the class
    # streams batch by batch; no epoch parses the CSV again.
    split = tfbalance.split_by_class(train, None, split_dir, overwrite=True, verbose=False)
    # Natural -> balanced over the first two thirds of training, step by step, so even a
    # one-epoch run sees the whole move; the last third trains on balanced input. Each
    # epoch is planned at its start, so every batch follows the weights of its own step.
    total_steps = epochs * math.ceil(train_counts.total / batch_size)
    schedule = tfbalance.LinearSchedule(
        "natural", "balanced", duration=max(2 * total_steps // 3, 1), unit="step"
    )
    callback = tfbalance.InterleaveScheduleCallback(schedule)
    dataset = tfbalance.interleave_by_class(
        tfbalance.class_datasets(split, seed=seed), schedule, seed=seed, batch_size=batch_size
    )
    return dataset, callback


def _before_after(before: dict[int, int], after: dict[int, int], technique: str) -> str:
    lines = [f"  {'':<8}{'before':>12}{'after ' + technique:>24}"]
    for c in sorted(set(before) | set(after)):
        lines.append(f"  Class {c:<2}{before.get(c, 0):>12,}{after.get(c, 0):>24,}")
    return "\n".join(lines)


def readme_block(result: DemoResult) -> str:
    """What README.md shows between its demo-results markers: the table and its summary."""
    return f"{result.table_markdown()}\n\n{result.summary_line()}\n"


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def _differences(replicates: dict[str, dict[str, np.ndarray]], reference: str):
    """Paired differences to ``reference``: {technique: {metric: (estimate, low, high)}}."""
    out: dict[str, dict[str, tuple[float, float, float]]] = {}
    for technique, values in replicates.items():
        if technique == reference:
            continue
        out[technique] = {}
        for metric in METRICS:
            delta = values[metric] - replicates[reference][metric]
            out[technique][metric] = (float(delta[0]), *_interval(delta))
    return out


def _within_noise(delta: np.ndarray) -> bool:
    low, high = _interval(delta)
    return low <= 0.0 <= high


def _verdict(result: DemoResult, full: Any, replicates: dict[str, dict[str, np.ndarray]],
             test_rows: int) -> str:
    metrics, titles = result.metrics, TECHNIQUE_TITLES
    winner = result.winner("f1")
    score = metrics[winner]["f1"]
    ci = result.intervals[winner]["f1"]
    lines = [
        f"Verdict (test split, {test_rows:,} rows; a difference is noise when its paired "
        f"95% bootstrap interval contains 0):"
    ]
    others = [t for t in metrics if t != winner]
    tied = [t for t in others if _within_noise(replicates[t]["f1"] - replicates[winner]["f1"])]
    head = (
        f"- F1 at the default 0.5 threshold: {titles[winner]} scores highest, "
        f"{_number(score)} [{_number(ci[0])}, {_number(ci[1])}]"
    )
    if tied:
        names = ", ".join(titles[t] for t in tied)
        lines.append(
            f"{head}, but {names} {'is' if len(tied) == 1 else 'are'} within noise of it: "
            f"these data do not pick a winner among them."
        )
    else:
        lines.append(f"{head}, ahead of every other technique beyond noise.")
    aucs = [metrics[t]["pr_auc"] for t in metrics]
    if "baseline" in metrics and len(metrics) > 1:
        differs = [
            t for t in others + [winner]
            if t != "baseline"
            and not _within_noise(replicates[t]["pr_auc"] - replicates["baseline"]["pr_auc"])
        ]
        gap = max(abs(metrics[t]["pr_auc"] - metrics["baseline"]["pr_auc"]) for t in metrics)
        names = ", ".join(titles[t] for t in differs)
        if differs and gap >= PRACTICAL_PR_AUC_GAP:
            lines.append(
                f"- PR-AUC, which ignores the threshold, ranges {min(aucs):.3f}-{max(aucs):.3f}; "
                f"{names} differ from no balancing beyond noise (by up to {gap:.3f})."
            )
        else:
            noise = (
                f"{names} differ from no balancing beyond noise, but by at most {gap:.3f}"
                if differs else "all within noise of no balancing"
            )
            lines.append(
                f"- PR-AUC, which ignores the threshold, is {min(aucs):.3f}-{max(aucs):.3f} for "
                f"every technique ({noise}; gaps under {PRACTICAL_PR_AUC_GAP} count as none): "
                "balancing did not make the model rank customers any better, it moved where "
                "the 0.5 cut falls."
            )
        baseline = metrics["baseline"]
        threshold = result.best_thresholds["baseline"]
        if math.isnan(threshold):
            lines.append(
                "- No decision threshold could be tuned for the unbalanced model: the "
                "validation split has no positive row."
            )
        else:
            delta = replicates["baseline"]["tuned_f1"] - replicates[winner]["f1"]
            low, high = _interval(delta)
            compare = (
                "within noise of" if low <= 0 <= high else "above" if low > 0 else "below"
            )
            lines.append(
                f"- The unbalanced model with its threshold tuned on the validation split "
                f"({threshold:.2f}, BestF1) reaches F1 {_number(baseline['tuned_f1'])} on test, "
                f"{compare} {titles[winner]} at 0.5 (difference {delta[0]:+.3f} "
                f"[{low:+.3f}, {high:+.3f}])"
                + (
                    ": on F1, choosing the threshold does what rebalancing does."
                    if compare != "below" else "."
                )
            )
        majority_share = max(full.proportions.values())
        lines.append(
            f"- Accuracy misleads: always answering 'no' already scores {majority_share:.1%}; "
            f"the unbalanced model reaches {baseline['accuracy']:.1%} accuracy but recalls "
            f"only {baseline['recall']:.1%} of the customers who would buy (at 0.5)."
        )
    return "\n".join(lines)

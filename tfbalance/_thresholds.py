"""Decision thresholds: tuned on validation data in one pass, shipped inside the model.

``tune_threshold`` streams a validation set through the model into ``BestF1``'s per-threshold
histogram (bounded memory: one row of counts per grid point and label) and reads the F-beta
of every grid threshold off it, so the result equals an exhaustive search with
``sklearn.metrics.fbeta_score`` over the same grid. ``DecisionThreshold`` turns scores into
0/1 decisions with the same ``p > t`` rule, so the tuned threshold means the same thing at
serving time; ``ThresholdTuningCallback`` re-tunes at the end of every epoch.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import keras
import numpy as np

from tfbalance._tf import tf
from tfbalance._validation import check_bool, check_int, check_positive_int, check_real
from tfbalance.metrics import BestF1, FBetaScore

__all__ = ["DecisionThreshold", "ThresholdTuningCallback", "TunedThreshold", "tune_threshold"]

_METRIC_NAMES = ("f1", "fbeta")
_DEFAULT_NUM_THRESHOLDS = 201


# eq=False: the fields hold arrays, whose == is elementwise.
@dataclasses.dataclass(frozen=True, eq=False)
class TunedThreshold:
    """What :func:`tune_threshold` found.

    Attributes
    ----------
    threshold : float or numpy.ndarray
        The smallest grid threshold reaching the best score (one per label for
        multi-label outputs). Predict positive when ``probability > threshold``.
    score : float or numpy.ndarray
        The best score (per label for multi-label outputs).
    thresholds : numpy.ndarray
        The grid, ``linspace(0, 1, num_thresholds)``.
    scores : numpy.ndarray
        The score at every grid threshold: ``(num_thresholds,)``, or
        ``(num_labels, num_thresholds)`` for multi-label outputs.
    metric : str
        ``'f1'`` or ``'fbeta'``.
    beta : float
        The F-beta ``beta`` (1 for F1).

    Examples
    --------
    >>> from tfbalance import TunedThreshold
    >>> import numpy as np
    >>> t = TunedThreshold(0.5, 0.8, np.linspace(0, 1, 3), np.array([0.6, 0.8, 0.0]), "f1", 1.0)
    >>> t.threshold, t.score
    (0.5, 0.8)
    """

    threshold: float | np.ndarray
    score: float | np.ndarray
    thresholds: np.ndarray
    scores: np.ndarray
    metric: str
    beta: float


# --------------------------------------------------------------------------- validation


def _check_beta(beta: Any) -> float:
    return check_real(beta, "beta", minimum=0, min_open=True)


def _resolve_metric(
    metric: Any, beta: Any, num_thresholds: Any, from_logits: Any
) -> tuple[str, float, int, bool]:
    """``(name, beta, num_thresholds, from_logits)`` from the metric word or instance."""
    if isinstance(metric, BestF1):
        if beta is not None and _check_beta(beta) != 1.0:
            raise ValueError(
                f"Invalid `beta`: a BestF1 metric scores F1 (beta=1). Received: beta={beta!r}"
            )
        if num_thresholds is not None and num_thresholds != metric.num_thresholds:
            raise ValueError(
                "Invalid `num_thresholds`: the BestF1 metric given fixes the grid at "
                f"{metric.num_thresholds}. Received: num_thresholds={num_thresholds!r}"
            )
        return "f1", 1.0, metric.num_thresholds, metric.from_logits or bool(from_logits)
    if isinstance(metric, FBetaScore):
        if beta is not None and _check_beta(beta) != metric.beta:
            raise ValueError(
                f"Invalid `beta`: the metric given has beta={metric.beta}. Received: beta={beta!r}"
            )
        name = "f1" if metric.beta == 1.0 else "fbeta"
        from_logits = metric.from_logits or bool(from_logits)
        metric_beta = metric.beta
    elif isinstance(metric, str) and metric in _METRIC_NAMES:
        name = metric
        if metric == "f1":
            if beta is not None and _check_beta(beta) != 1.0:
                raise ValueError(
                    "Invalid `beta`: metric='f1' is beta=1; use metric='fbeta' for another "
                    f"beta. Received: beta={beta!r}"
                )
            metric_beta = 1.0
        else:
            if beta is None:
                raise ValueError(
                    "Invalid `beta`: metric='fbeta' needs a beta > 0. Received: beta=None"
                )
            metric_beta = _check_beta(beta)
    else:
        raise ValueError(
            "Invalid `metric`: expected 'f1', 'fbeta', a tfbalance.BestF1 or a "
            f"tfbalance.FBetaScore / F1Score. Received: metric={metric!r}"
        )
    if num_thresholds is None:
        num_thresholds = _DEFAULT_NUM_THRESHOLDS
    num_thresholds = check_int(num_thresholds, "num_thresholds", minimum=2)
    return name, metric_beta, num_thresholds, check_bool(from_logits, "from_logits")


def _as_batches(validation_data: Any, batch_size: int) -> tf.data.Dataset:
    if isinstance(validation_data, tf.data.Dataset):
        return validation_data
    if isinstance(validation_data, tuple) and len(validation_data) in (2, 3):
        return tf.data.Dataset.from_tensor_slices(validation_data).batch(batch_size)
    raise TypeError(
        "Invalid `validation_data`: expected a tf.data.Dataset of (x, y) or (x, y, "
        "sample_weight) batches, or a tuple (x, y) / (x, y, sample_weight) of arrays. "
        f"Received: validation_data={validation_data!r}"
    )


def _fbeta_curves(histograms: np.ndarray, beta: float) -> np.ndarray:
    """F-beta per label and grid threshold from BestF1's ``(2, L, T + 1)`` histograms.

    Bucket ``k`` holds the samples predicted positive at thresholds ``0..k-1``, so the
    positives at threshold ``i`` are the buckets above ``i``.
    """
    pos, neg = histograms.astype(np.float64)
    tp = np.cumsum(pos[:, ::-1], axis=1)[:, ::-1][:, 1:]
    fp = np.cumsum(neg[:, ::-1], axis=1)[:, ::-1][:, 1:]
    total = pos.sum(axis=1, keepdims=True)
    b2 = beta * beta
    denominator = (1 + b2) * tp + b2 * (total - tp) + fp
    # No true and no predicted positives: 0, as sklearn's default zero_division.
    safe = np.where(denominator > 0, denominator, 1.0)
    return np.where(denominator > 0, (1 + b2) * tp / safe, 0.0)


# --------------------------------------------------------------------------- tuning


def tune_threshold(
    model: Any,
    validation_data: Any,
    *,
    metric: str | BestF1 | FBetaScore = "f1",
    beta: float | None = None,
    num_thresholds: int | None = None,
    from_logits: bool = False,
    steps: int | None = None,
    batch_size: int = 256,
) -> TunedThreshold:
    """Pick the decision threshold that maximises F1 (or F-beta) on validation data.

    One streaming pass: each batch's predictions go into ``BestF1``'s histogram over the
    grid ``linspace(0, 1, num_thresholds)``, so memory is bounded whatever the size of the
    validation set, and the score at every grid threshold ``t`` is exactly
    ``sklearn.metrics.fbeta_score(y, p > t, beta=beta)`` (sample weights included).

    Parameters
    ----------
    model : keras.Model or callable
        Maps a batch of ``x`` to probabilities (or logits with ``from_logits=True``) of
        shape ``(n,)`` or ``(n, 1)`` for a binary problem, ``(n, C)`` for ``C`` independent
        (multi-label, sigmoid) labels. For a two-class softmax, pass a callable returning
        the positive class's column, e.g. ``lambda x: model(x)[:, 1]``.
    validation_data : tf.data.Dataset or tuple
        Batches of ``(x, y)`` or ``(x, y, sample_weight)`` with 0/1 (multi-hot) ``y``, or
        such a tuple of arrays (batched by ``batch_size``).
    metric : {'f1', 'fbeta'}, BestF1 or FBetaScore, default 'f1'
        What to maximise. A ``BestF1`` supplies the grid and ``from_logits``; an
        ``FBetaScore`` / ``F1Score`` its ``beta`` and ``from_logits``.
    beta : float, optional
        F-beta's ``beta`` (required with ``'fbeta'``).
    num_thresholds : int, default 201
        Size of the grid (steps of 0.005 by default).
    from_logits : bool, default False
        Whether the model outputs logits; the grid applies to ``sigmoid(logits)``.
    steps : int, optional
        Batches to read; required when ``validation_data`` is infinite.
    batch_size : int, default 256
        Batch size for array inputs.

    Returns
    -------
    TunedThreshold
        ``threshold`` and ``score`` (arrays with one entry per label for ``(n, C)``
        outputs, ``C > 1``), the grid and the score at every grid point. Ties go to the
        smallest threshold.

    Raises
    ------
    ValueError
        For an unknown ``metric``, conflicting options, an infinite ``validation_data``
        without ``steps``, unbatched or empty validation data.
    TypeError
        For arguments of the wrong type.
    tf.errors.InvalidArgumentError
        For labels other than 0/1 (checked on every batch).

    Examples
    --------
    >>> import numpy as np
    >>> import tfbalance
    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(0, 2, 1000)
    >>> x = (0.35 * y + 0.65 * rng.random(1000)).astype("float32")
    >>> tuned = tfbalance.tune_threshold(lambda batch: batch, (x, y), num_thresholds=21)
    >>> round(float(tuned.threshold), 2), round(float(tuned.score), 3)
    (0.35, 0.825)
    """
    name, beta, num_thresholds, from_logits = _resolve_metric(
        metric, beta, num_thresholds, from_logits
    )
    if not callable(model):
        raise TypeError(
            f"Invalid `model`: expected a keras.Model or a callable. Received: model={model!r}"
        )
    batch_size = check_positive_int(batch_size, "batch_size")
    dataset = _as_batches(validation_data, batch_size)
    if steps is not None:
        steps = check_positive_int(steps, "steps")
        dataset = dataset.take(steps)
    elif int(dataset.cardinality()) == int(tf.data.INFINITE_CARDINALITY):
        raise ValueError(
            "Invalid `validation_data`: the dataset is infinite; pass `steps`. "
            "Received: steps=None"
        )
    spec = dataset.element_spec
    if not isinstance(spec, tuple) or len(spec) not in (2, 3):
        raise ValueError(
            "Invalid `validation_data`: expected elements (x, y) or (x, y, sample_weight). "
            f"Received: element_spec={spec!r}"
        )
    y_spec = spec[1]
    if not isinstance(y_spec, tf.TensorSpec) or y_spec.shape.rank in (None, 0):
        raise ValueError(
            "Invalid `validation_data`: expected batches (y of shape (n,), (n, 1) or (n, C)); "
            f"batch the dataset first. Received: y spec={y_spec!r}"
        )
    predict = getattr(model, "predict_on_batch", model)
    accumulator: BestF1 | None = None
    for element in dataset.as_numpy_iterator():
        x, y = element[0], element[1]
        weight = element[2] if len(element) == 3 else None
        scores = keras.ops.convert_to_numpy(predict(x))
        if accumulator is None:
            multi = scores.ndim == 2 and scores.shape[-1] > 1
            accumulator = BestF1(
                num_thresholds=num_thresholds, from_logits=from_logits, multi_label=multi,
                average=None if multi else "auto",
            )
        if accumulator.multi_label:
            y = np.reshape(y, scores.shape)
        accumulator.update_state(y, scores, weight)
    if accumulator is None:
        raise ValueError(
            "Invalid `validation_data`: it has no batches. "
            f"Received: validation_data={validation_data!r}"
        )
    histograms = keras.ops.convert_to_numpy(accumulator.histograms)
    curves = _fbeta_curves(histograms, beta)
    best = np.argmax(curves, axis=1)
    grid = np.asarray(accumulator.thresholds, dtype=np.float32)
    chosen = grid[best].astype(np.float64)
    best_scores = curves[np.arange(curves.shape[0]), best]
    if not accumulator.multi_label:
        return TunedThreshold(float(chosen[0]), float(best_scores[0]), grid, curves[0], name,
                              beta)
    return TunedThreshold(chosen, best_scores, grid, curves, name, beta)


# --------------------------------------------------------------------------- layer


def _check_threshold(threshold: Any) -> float | list[float]:
    values = threshold
    if isinstance(threshold, np.ndarray):
        values = threshold.tolist()
    items = values if isinstance(values, (list, tuple)) else [values]
    if isinstance(values, (list, tuple)) and not values:
        raise ValueError(
            "Invalid `threshold`: expected a number in [0, 1] or a non-empty list of them. "
            f"Received: threshold={threshold!r}"
        )
    for value in items:
        try:
            check_real(value, "threshold", minimum=0, maximum=1)
        except (TypeError, ValueError) as exc:  # the check picks the class, this the words
            raise type(exc)(
                "Invalid `threshold`: expected a number in [0, 1] or a list of them "
                f"(probabilities, also with from_logits=True). Received: threshold={threshold!r}"
            ) from None
    if isinstance(values, (list, tuple)):
        return [float(v) for v in values]
    return float(values)


@keras.saving.register_keras_serializable(package="tfbalance")
class DecisionThreshold(keras.layers.Layer):
    """Turn probabilities (or logits) into 0/1 decisions at a tuned threshold.

    Outputs ``1`` where ``probability > threshold`` (the rule ``tune_threshold`` and
    ``BestF1`` score), else ``0``, as int32, elementwise; a list of thresholds applies one
    per label along the last axis. The threshold is a non-trainable weight, so it is saved
    with the model (``.keras``, SavedModel export) and can be changed after building
    through :attr:`threshold`. Works on every Keras 3 backend.

    Parameters
    ----------
    threshold : float or list of float, default 0.5
        Probability threshold(s) in ``[0, 1]``.
    from_logits : bool, default False
        Whether the inputs are logits; they are compared as ``sigmoid(logits)``, exactly
        as during tuning.
    **kwargs
        Passed to ``keras.layers.Layer`` (e.g. ``name``).

    Raises
    ------
    ValueError
        A threshold outside ``[0, 1]``, or per-label thresholds that do not match the
        inputs' last axis.
    TypeError
        Arguments of the wrong type.

    Examples
    --------
    >>> import numpy as np
    >>> from tfbalance import DecisionThreshold
    >>> layer = DecisionThreshold(0.3)
    >>> np.asarray(layer(np.array([[0.2], [0.3], [0.9]], dtype="float32"))).ravel().tolist()
    [0, 0, 1]
    >>> DecisionThreshold([0.2, 0.7])(np.array([[0.5, 0.5]], dtype="float32")).numpy().tolist()
    [[1, 0]]
    """

    def __init__(
        self, threshold: float | Sequence[float] = 0.5, *, from_logits: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._initial = _check_threshold(threshold)
        self.from_logits = check_bool(from_logits, "from_logits")
        shape = (len(self._initial),) if isinstance(self._initial, list) else ()
        self._threshold = self.add_weight(
            shape=shape, initializer=keras.initializers.Constant(self._initial),
            trainable=False, dtype="float32", name="threshold",
        )

    @property
    def threshold(self) -> float | list[float]:
        """The current threshold(s); assign a number or list of the same length to change."""
        value = keras.ops.convert_to_numpy(self._threshold.value)
        return value.tolist() if value.ndim else float(value)

    @threshold.setter
    def threshold(self, value: float | Sequence[float]) -> None:
        value = _check_threshold(value)
        size = len(value) if isinstance(value, list) else None
        current = tuple(self._threshold.shape)
        if (size is None and current) or (size is not None and current != (size,)):
            raise ValueError(
                f"Invalid `threshold`: the layer holds {'one' if not current else current[0]} "
                f"threshold(s). Received: threshold={value!r}"
            )
        self._threshold.assign(np.asarray(value, dtype="float32"))

    def build(self, input_shape: Any) -> None:
        size = tuple(self._threshold.shape)
        if size and input_shape[-1] is not None and input_shape[-1] != size[0]:
            raise ValueError(
                f"Invalid `threshold`: {size[0]} per-label thresholds for inputs with "
                f"{input_shape[-1]} labels. Received: input_shape={tuple(input_shape)}"
            )

    def call(self, inputs: Any) -> Any:
        scores = keras.ops.sigmoid(inputs) if self.from_logits else inputs
        threshold = keras.ops.cast(self._threshold, scores.dtype)
        return keras.ops.cast(keras.ops.greater(scores, threshold), "int32")

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape

    def compute_output_spec(self, inputs: Any) -> Any:
        return keras.KerasTensor(inputs.shape, dtype="int32")

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "threshold": self.threshold,
                "from_logits": self.from_logits}


# --------------------------------------------------------------------------- callback


class ThresholdTuningCallback(keras.callbacks.Callback):
    """Tune the decision threshold on validation data at the end of every epoch.

    Calls :func:`tune_threshold` on ``self.model`` and adds ``val_best_threshold`` and
    the best score (``val_best_f1`` or ``val_best_fbeta``) to the epoch's logs, so they
    show in the progress bar and ``History`` and can drive ``EarlyStopping`` or
    ``ModelCheckpoint``. For multi-label outputs one entry per label is logged
    (``val_best_threshold_0``, ...). With ``layer``, the layer's threshold is set to each
    new value, so an inference model holding it always ships the latest one.

    Parameters
    ----------
    validation_data : tf.data.Dataset or tuple
        As for :func:`tune_threshold` (finite, or pass ``steps``).
    layer : DecisionThreshold, optional
        Updated with every tuned threshold.
    **tune_options
        ``metric``, ``beta``, ``num_thresholds``, ``from_logits``, ``steps``, ``batch_size``
        for :func:`tune_threshold`.

    Attributes
    ----------
    history : list of TunedThreshold
        One per epoch of the latest ``fit`` (reset when training begins).

    Examples
    --------
    >>> import numpy as np
    >>> import keras
    >>> import tfbalance
    >>> rng = np.random.default_rng(0)
    >>> x = rng.random((256, 1)).astype("float32")
    >>> y = (x[:, 0] + 0.3 * rng.random(256) > 0.8).astype("float32")
    >>> keras.utils.set_random_seed(0)
    >>> model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1, activation="sigmoid")])
    >>> model.compile("adam", "binary_crossentropy")
    >>> tuning = tfbalance.ThresholdTuningCallback((x, y), num_thresholds=51)
    >>> history = model.fit(x, y, epochs=2, verbose=0, callbacks=[tuning])
    >>> len(history.history["val_best_threshold"]), len(tuning.history)
    (2, 2)
    """

    def __init__(
        self, validation_data: Any, *, layer: DecisionThreshold | None = None,
        **tune_options: Any,
    ) -> None:
        super().__init__()
        allowed = {"metric", "beta", "num_thresholds", "from_logits", "steps", "batch_size"}
        unknown = sorted(set(tune_options) - allowed)
        if unknown:
            raise TypeError(
                f"Invalid options {unknown}: expected some of {sorted(allowed)}. "
                f"Received: {tune_options!r}"
            )
        if layer is not None and not isinstance(layer, DecisionThreshold):
            raise TypeError(
                "Invalid `layer`: expected a tfbalance.DecisionThreshold. "
                f"Received: layer={layer!r}"
            )
        # Resolve now, so bad options fail at construction rather than after an epoch.
        _resolve_metric(tune_options.get("metric", "f1"), tune_options.get("beta"),
                        tune_options.get("num_thresholds"), tune_options.get("from_logits", False))
        self.validation_data = validation_data
        self.layer = layer
        self.tune_options = dict(tune_options)
        self.history: list[TunedThreshold] = []

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.history = []

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        tuned = tune_threshold(self.model, self.validation_data, **self.tune_options)
        self.history.append(tuned)
        if self.layer is not None:
            self.layer.threshold = (
                tuned.threshold.tolist() if isinstance(tuned.threshold, np.ndarray)
                else tuned.threshold
            )
        if logs is None:
            return
        score_key = f"val_best_{tuned.metric}"
        if isinstance(tuned.threshold, np.ndarray):
            scores = np.atleast_1d(tuned.score)
            for i, (t, s) in enumerate(zip(tuned.threshold, scores, strict=True)):
                logs[f"val_best_threshold_{i}"] = float(t)
                logs[f"{score_key}_{i}"] = float(s)
        else:
            logs["val_best_threshold"] = tuned.threshold
            logs[score_key] = tuned.score

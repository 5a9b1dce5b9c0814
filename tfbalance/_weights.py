"""Class weights, per-sample weighting in the input pipeline, prior correction and the
callback that computes class weights from the training stream itself.

Weights are looked up with ``tf.gather`` on a weight vector (a constant, or a
``tf.Variable`` when they change during training), so the per-batch path is graph ops only.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeAlias

import keras
import numpy as np

from tfbalance._distribution import ClassDistribution, CountsLike, as_class_distribution
from tfbalance._labels import (
    Label,
    check_dataset,
    check_label_argument,
    get_label,
    label_spec,
    map_elements,
)
from tfbalance._tf import named, tf
from tfbalance._validation import (
    check_choice,
    check_int,
    check_num_classes,
    check_real,
    resolve_class_vector,
)

__all__ = [
    "ClassWeightCallback",
    "PriorCorrection",
    "adjust_logits",
    "class_weights",
    "correct_probabilities",
    "initial_bias",
    "with_sample_weights",
]

METHODS = ("balanced", "balanced_sqrt", "effective_number")

WeightsLike: TypeAlias = Mapping[int, float] | Sequence[float] | np.ndarray | tf.Variable
PriorLike = ClassDistribution | Mapping[int, float] | Sequence[float] | np.ndarray


# --------------------------------------------------------------------------- class weights


def _check_beta(beta: Any) -> float:
    return check_real(beta, "beta", minimum=0, maximum=1, min_open=True, max_open=True)


def _check_update(update: Any) -> str | int:
    # 'epoch' or a number of batches: the message names both forms, whatever was wrong.
    if isinstance(update, str):
        if update == "epoch":
            return update
        error: type[Exception] = ValueError
    else:
        try:
            return check_int(update, "update", minimum=1)
        except (TypeError, ValueError) as exc:
            error = type(exc)
    raise error(
        "Invalid `update`: expected 'epoch' or a positive int (a number of batches). "
        f"Received: update={update!r}"
    )


def _weight_vector(counts: np.ndarray, method: str, beta: float) -> np.ndarray:
    """Weights for a dense count vector; classes with count 0 get weight 0 (see docs)."""
    counts = np.asarray(counts, dtype=np.int64)
    present = counts > 0
    if not present.any():
        raise ValueError(
            "Invalid `counts`: every class has count 0, so there is nothing to weight. "
            f"Received: counts={counts.tolist()}"
        )
    k = int(present.sum())
    seen = counts[present]
    weights = np.zeros(counts.shape, dtype=np.float64)
    if method in ("balanced", "balanced_sqrt"):
        # The same expression as sklearn.utils.class_weight.compute_class_weight, so the
        # float64 results match it bit for bit.
        recip = seen.sum() / (k * seen.astype(np.float64))
        weights[present] = np.sqrt(recip) if method == "balanced_sqrt" else recip
    else:
        # (1 - beta) / (1 - beta**n); expm1 keeps 1 - beta**n accurate for beta near 1.
        raw = (1.0 - beta) / -np.expm1(seen.astype(np.float64) * math.log(beta))
        weights[present] = raw * (k / raw.sum())
    return weights


def class_weights(
    counts: CountsLike, method: str = "balanced", *, beta: float = 0.999
) -> dict[int, float]:
    """Per-class loss weights from class counts.

    Parameters
    ----------
    counts : ClassDistribution, dict or list of int
        Class counts, e.g. from ``tfbalance.class_counts`` (one streaming pass).
    method : {"balanced", "balanced_sqrt", "effective_number"}
        ``"balanced"``: ``n_samples / (n_classes * n_c)``, identical to scikit-learn's
        ``compute_class_weight("balanced", ...)``. ``"balanced_sqrt"``: the square root of
        the balanced weights (a milder correction). ``"effective_number"`` (Cui et al.,
        CVPR 2019): ``(1 - beta) / (1 - beta**n_c)``, normalised so the weights sum to the
        number of classes.
    beta : float
        In (0, 1); used by ``"effective_number"`` (0.9, 0.99, 0.999 and 0.9999 are usual).

    Returns
    -------
    dict
        ``{class_id: weight}`` for every id from 0 to the largest in ``counts`` (ids
        without rows get 0), ready for ``model.fit(class_weight=...)`` or
        ``tfbalance.with_sample_weights`` (which needs every id up to the largest).

    Raises
    ------
    ValueError
        Unknown ``method``, ``beta`` outside (0, 1), negative counts, or every count 0.
    TypeError
        ``counts`` or ``beta`` of the wrong type.

    Notes
    -----
    A class whose count is 0 gets weight 0 and is left out of the class total
    ``n_classes``: no sample carries it, so its weight never reaches a loss, and the other
    weights equal scikit-learn's on the labels that were actually seen. Nothing becomes
    ``inf`` or ``NaN``.

    Examples
    --------
    >>> class_weights([900, 100])
    {0: 0.5555555555555556, 1: 5.0}
    >>> {c: round(w, 4) for c, w in class_weights([900, 100], "balanced_sqrt").items()}
    {0: 0.7454, 1: 2.2361}
    >>> {c: round(w, 4) for c, w in class_weights([900, 100], "effective_number",
    ...                                            beta=0.99).items()}
    {0: 0.776, 1: 1.224}
    >>> class_weights({0: 30, 1: 0, 2: 10})
    {0: 0.6666666666666666, 1: 0.0, 2: 2.0}
    >>> class_weights({1: 30, 2: 10})  # e.g. class_counts of labels 1 and 2
    {0: 0.0, 1: 0.6666666666666666, 2: 2.0}
    """
    check_choice(method, "method", METHODS)
    beta = _check_beta(beta)
    dist = as_class_distribution(counts, "counts")
    weights = _weight_vector(dist.to_array(), method, beta)
    return {c: float(w) for c, w in enumerate(weights)}


# ----------------------------------------------------------------- per-sample weights


def _weight_table(weights: Any) -> tf.Tensor | tf.Variable:
    """A float32 weight vector (constant) or the user's rank-1 ``tf.Variable``."""
    if isinstance(weights, tf.Variable):
        if not weights.dtype.is_floating:
            raise TypeError(
                "Invalid `weights`: a tf.Variable of weights must have a float dtype. "
                f"Received: weights with dtype {weights.dtype.name}"
            )
        if weights.shape.rank != 1 or not weights.shape[0]:
            raise ValueError(
                "Invalid `weights`: a tf.Variable of weights must be a non-empty vector, one "
                f"weight per class. Received: weights with shape {weights.shape}"
            )
        resolve_class_vector(weights.numpy(), int(weights.shape[0]), "weights")
        return weights
    if isinstance(weights, ClassDistribution):
        raise TypeError(
            "Invalid `weights`: expected per-class weights, not counts; turn counts into "
            "weights with tfbalance.class_weights(counts). Received: weights=" + repr(weights)
        )
    if isinstance(weights, tf.Tensor):
        weights = weights.numpy()
    if isinstance(weights, Mapping):
        if not weights:
            raise ValueError(f"Invalid `weights`: no classes. Received: weights={weights!r}")
        keys = [k for k in weights if isinstance(k, (int, np.integer))]
        num_classes = max(keys) + 1 if keys else 1
        vector = resolve_class_vector(weights, num_classes, "weights", allow_missing=False)
    elif isinstance(weights, (Sequence, np.ndarray)) and not isinstance(weights, (str, bytes)):
        size = int(np.asarray(weights, dtype=object).size)
        if size == 0:
            raise ValueError(f"Invalid `weights`: no classes. Received: weights={weights!r}")
        vector = resolve_class_vector(weights, size, "weights")
    else:
        raise TypeError(
            "Invalid `weights`: expected a dict {class_id: weight}, a list of weights or a "
            f"rank-1 tf.Variable. Received: weights={weights!r}"
        )
    return tf.constant(vector, dtype=tf.float32)


def _check_label_spec(spec: tf.TensorSpec, label: Label) -> None:
    if spec.dtype.is_integer or spec.dtype.is_floating:
        return
    raise TypeError(
        "Invalid `label`: class ids must be integers (or one-hot / whole-number floats), "
        f"but the selected labels have dtype {spec.dtype.name}. Received: label={label!r}"
    )


def _check_weight_layout(element_spec: Any) -> None:
    if isinstance(element_spec, tuple) and len(element_spec) in (2, 3):
        return
    if isinstance(element_spec, dict):
        what = f"dicts with keys {sorted(element_spec)}"
    elif isinstance(element_spec, tuple):
        what = f"tuples of {len(element_spec)} items"
    else:
        what = "single tensors"
    raise ValueError(
        "Invalid dataset: per-sample weights go in the third item of (x, y, w) elements, as "
        "Keras reads them, so the elements must be (x, y) or (x, y, w) tuples; map dict "
        f"elements to (features, label) first. Received: elements that are {what}"
    )


def _class_ids(y: tf.Tensor, num_classes: tf.Tensor) -> tf.Tensor:
    """int32 class ids of ``y`` with a trailing size-1 axis dropped, checked in the graph.

    Integer labels are ids; float labels with a last axis longer than 1 are one-hot (or
    probabilities: argmax, as Keras does for ``class_weight``); other float labels must hold
    whole numbers (e.g. 0.0/1.0 binary targets).
    """
    y = tf.convert_to_tensor(y)
    rank = y.shape.rank
    if rank is None:
        raise ValueError(
            "Invalid labels: their rank must be known to attach weights. Received: labels "
            f"with shape {y.shape}"
        )
    checks = []
    if y.dtype.is_floating and rank >= 1 and (y.shape[-1] or 0) > 1:
        ids = tf.argmax(y, axis=-1, output_type=tf.int32)
    else:
        if rank >= 1 and y.shape[-1] == 1:
            y = tf.squeeze(y, axis=-1)
        if y.dtype.is_floating:
            whole = tf.reduce_all(tf.math.is_finite(y) & tf.equal(y, tf.round(y)))
            checks.append(
                tf.debugging.Assert(
                    whole,
                    ["Invalid labels: float class ids must be finite whole numbers; received",
                     tf.reshape(y, [-1])[:5]],
                )
            )
            # Rounded in float64 and clipped into int64's range: a huge or infinite float
            # then stays huge (and fails the range check below) instead of wrapping.
            y = tf.clip_by_value(tf.round(tf.cast(y, tf.float64)), -(2.0**62), 2.0**62)
        ids = tf.cast(y, tf.int64)
    # One reduction checks both ends of the range: as uint64 a negative id is larger than
    # any valid one, and the largest unsigned value, read back as int64, is an offending id
    # for the message. It runs on the ids before the int32 cast, so 2**40 cannot wrap to a
    # valid id. The check runs on every batch, so it is kept to a few cheap ops.
    largest = tf.reduce_max(tf.cast(ids, tf.uint64))
    checks.append(
        tf.debugging.Assert(
            largest < tf.cast(num_classes, tf.uint64),
            ["Invalid labels: class id", tf.bitcast(largest, tf.int64),
             "is outside the known classes 0 ..", num_classes - 1],
        )
    )
    ids = tf.cast(ids, tf.int32)
    with tf.control_dependencies(checks):
        return tf.identity(ids)


def _combine(existing: tf.Tensor, weights: tf.Tensor) -> tf.Tensor:
    """``existing * weights`` with the lower-rank one padded by trailing size-1 axes."""
    existing = tf.convert_to_tensor(existing)
    if not existing.dtype.is_floating:
        existing = tf.cast(existing, weights.dtype)
    weights = tf.cast(weights, existing.dtype)
    if existing.shape.rank is None:
        raise ValueError(
            "Invalid dataset: the existing sample weights must have a known rank. "
            f"Received: sample weights with shape {existing.shape}"
        )
    while existing.shape.rank < weights.shape.rank:
        existing = existing[..., tf.newaxis]
    while weights.shape.rank < existing.shape.rank:
        weights = weights[..., tf.newaxis]
    return existing * weights


def _attach(element: tuple, weights: tf.Tensor) -> tuple:
    if len(element) == 2:
        return (element[0], element[1], weights)
    return (element[0], element[1], _combine(element[2], weights))


def _refuse_serialization(dataset: tf.data.Dataset) -> tf.data.Dataset:
    # A dataset that reads or updates a variable of this process must not be serialized
    # (tf.data service, multi-worker auto-sharding): TF would otherwise replace the
    # variable with a frozen copy of its current value, silently. FAIL makes that an error.
    options = tf.data.Options()
    options.experimental_external_state_policy = tf.data.experimental.ExternalStatePolicy.FAIL
    return dataset.with_options(options)


def with_sample_weights(
    weights: WeightsLike, *, label: Label = None, name: str | None = None
) -> Callable[[tf.data.Dataset], tf.data.Dataset]:
    """A ``dataset -> dataset`` transform that attaches per-sample class weights.

    ``(x, y)`` elements become ``(x, y, w)`` with ``w = weights[y]``; an existing ``w`` in
    ``(x, y, w)`` is multiplied by it. Works on batched and unbatched data, and on sequence
    labels: for class ids of shape ``(batch, T)`` the weights have shape ``(batch, T)``,
    one per time step, which Keras' ``class_weight=`` does not support.

    Parameters
    ----------
    weights : dict, list or tf.Variable
        ``{class_id: weight}`` (e.g. from ``tfbalance.class_weights``; every id from 0 to
        the largest must be present), a list indexed by class id, or a rank-1 float
        ``tf.Variable`` to change the weights during training (``variable.assign(...)``).
        Weights must be finite and non-negative.
    label : None, str, int or callable
        Where the class ids are read: ``None`` the second tuple item, a ``str`` a key of the
        features dict in ``(features, y)``, an ``int`` a tuple position, a callable
        ``element -> ids``. Integer ids of any shape; float labels are read as one-hot
        (argmax) when their last axis is longer than 1, otherwise they must hold whole
        numbers (0.0/1.0 binary targets). A trailing axis of size 1 is dropped, so labels
        of shape ``(batch, 1)`` give weights of shape ``(batch,)``, as in Keras.
    name : str, optional
        Name of the tf.data op that delivers the output (for profiles and debugging), as
        tf.data's own ``name=`` arguments.

    Returns
    -------
    callable
        ``dataset -> dataset`` for ``dataset.apply``. Elements must be ``(x, y)`` or
        ``(x, y, w)`` tuples: Keras reads sample weights from the third item.

    Raises
    ------
    ValueError
        Weights empty, negative, non-finite, a dict with gaps; elements that are not
        ``(x, y)`` / ``(x, y, w)`` tuples or hold no label where ``label`` points; and, while
        iterating, ``tf.errors.InvalidArgumentError`` naming a class id outside
        ``0 .. len(weights) - 1``.
    TypeError
        Weights of the wrong type, or labels that are not numbers.

    Notes
    -----
    Constant weights are embedded in the dataset graph, so the transform also runs on
    tf.data service workers and its iterators checkpoint normally. A ``tf.Variable`` lives
    in this process and cannot travel with the dataset graph: with variable weights,
    registering the dataset with tf.data service (or any other serialization of it) and
    saving its iterator in a ``tf.train.Checkpoint`` raise ``FailedPreconditionError``
    instead of silently freezing the weights (the dataset's external-state policy is set
    to ``FAIL``). Use constant weights there.

    Examples
    --------
    >>> import tensorflow as tf
    >>> ds = tf.data.Dataset.from_tensor_slices(([[1.0], [2.0], [3.0]], [0, 1, 0]))
    >>> weighted = ds.apply(with_sample_weights({0: 0.75, 1: 1.5}))
    >>> [float(w) for _, _, w in weighted]
    [0.75, 1.5, 0.75]
    >>> seq = tf.data.Dataset.from_tensor_slices((tf.zeros([2, 3, 1]), [[0, 1, 1], [1, 0, 0]]))
    >>> next(iter(seq.batch(2).apply(with_sample_weights([1.0, 2.0]))))[2].numpy()
    array([[1., 2., 2.],
           [2., 1., 1.]], dtype=float32)
    """
    check_label_argument(label)
    table = _weight_table(weights)

    def apply(dataset: tf.data.Dataset) -> tf.data.Dataset:
        check_dataset(dataset)
        _check_label_spec(label_spec(dataset, label), label)
        _check_weight_layout(dataset.element_spec)
        num_classes = tf.shape(table, out_type=tf.int32)[0]

        def fn(element: Any) -> Any:
            ids = _class_ids(get_label(element, label), num_classes)
            return _attach(element, tf.gather(table, ids))

        # Sequential map: the work per element is a few cheap ops, so handing elements to
        # a parallel map's threads costs more than it saves (prefetch downstream instead).
        mapped = map_elements(dataset, fn)
        if isinstance(table, tf.Variable):
            mapped = _refuse_serialization(mapped)
        return named(mapped, name)

    return apply


# ----------------------------------------------------------------------- initial bias


def initial_bias(counts: CountsLike, *, output: str | None = None) -> np.ndarray:
    """The output-layer bias that makes an untrained model predict the class prior.

    Parameters
    ----------
    counts : ClassDistribution, dict or list of int
        Class counts of the training data (class ids 0 .. C - 1, every class present).
    output : {"sigmoid", "softmax"}, optional
        ``"sigmoid"``: one sigmoid unit for two classes; the bias is the log-odds
        ``log(n_1 / n_0)``, shape ``(1,)``. ``"softmax"``: one unit per class; the bias is
        the log-prior ``log(n_c / n)``, shape ``(C,)``. Default: ``"sigmoid"`` for two
        classes, ``"softmax"`` otherwise.

    Returns
    -------
    numpy.ndarray
        float64 bias, e.g. for ``keras.initializers.Constant``.

    Raises
    ------
    ValueError
        A class with count 0 (its log-prior is -inf), ``"sigmoid"`` with other than two
        classes, or an unknown ``output``.

    Examples
    --------
    >>> import keras
    >>> bias = initial_bias([900, 100])
    >>> bias.round(4)
    array([-2.1972])
    >>> keras.utils.set_random_seed(0)
    >>> layer = keras.layers.Dense(1, activation="sigmoid", kernel_initializer="zeros",
    ...                            bias_initializer=keras.initializers.Constant(bias))
    >>> round(float(layer(keras.ops.ones((1, 4)))[0, 0]), 6)
    0.1
    >>> initial_bias([50, 30, 20]).round(4)
    array([-0.6931, -1.204 , -1.6094])
    """
    if output is not None and output not in ("sigmoid", "softmax"):
        raise ValueError(
            "Invalid `output`: expected 'sigmoid', 'softmax' or None. "
            f"Received: output={output!r}"
        )
    dist = as_class_distribution(counts, "counts")
    array = dist.to_array().astype(np.float64)
    if np.any(array == 0):
        raise ValueError(
            "Invalid `counts`: every class from 0 to the largest id needs a positive count "
            f"(a prior of 0 has log -inf). Received: counts={dist.counts}"
        )
    if output is None:
        output = "sigmoid" if array.size == 2 else "softmax"
    if output == "sigmoid":
        if array.size != 2:
            raise ValueError(
                "Invalid `output`: 'sigmoid' needs exactly two classes. "
                f"Received: output='sigmoid' with counts={dist.counts}"
            )
        return np.array([math.log(array[1] / array[0])])
    return np.log(array / array.sum())


# ------------------------------------------------------------------- prior correction


def _prior(dist: Any, arg_name: str) -> np.ndarray:
    """A strictly positive probability vector from counts or probabilities."""
    if isinstance(dist, ClassDistribution):
        vector = dist.to_array().astype(np.float64)
    elif isinstance(dist, Mapping):
        keys = [k for k in dist if isinstance(k, (int, np.integer))]
        size = max(keys) + 1 if keys else 1
        vector = resolve_class_vector(dist, size, arg_name, allow_missing=False)
    elif isinstance(dist, (Sequence, np.ndarray)) and not isinstance(dist, (str, bytes)):
        vector = resolve_class_vector(dist, int(np.asarray(dist, dtype=object).size), arg_name)
    else:
        raise TypeError(
            f"Invalid `{arg_name}`: expected a ClassDistribution, a dict or a list of "
            f"per-class counts or probabilities. Received: {arg_name}={dist!r}"
        )
    if vector.size < 2 or np.any(vector <= 0):
        raise ValueError(
            f"Invalid `{arg_name}`: expected two or more classes, each with a positive count "
            f"or probability. Received: {arg_name}={vector.tolist()}"
        )
    return vector / vector.sum()


def _priors(train_dist: Any, natural_dist: Any) -> tuple[np.ndarray, np.ndarray]:
    train = _prior(train_dist, "train_dist")
    natural = _prior(natural_dist, "natural_dist")
    if train.size != natural.size:
        raise ValueError(
            "Invalid `natural_dist`: expected as many classes as `train_dist` "
            f"({train.size}). Received: natural_dist={natural.tolist()}"
        )
    return train, natural


def _mode(last_dim: int | None, num_classes: int, arg_name: str) -> str:
    if last_dim == num_classes:
        return "softmax"
    if num_classes == 2 and last_dim in (None, 1):
        return "sigmoid"
    raise ValueError(
        f"Invalid `{arg_name}`: expected a last axis of size {num_classes} (softmax)"
        + (" or 1 (one sigmoid unit)" if num_classes == 2 else "")
        + f" for {num_classes} classes. Received: {arg_name} with last axis {last_dim}"
    )


def _shift_logits(logits: Any, train: np.ndarray, natural: np.ndarray, mode: str) -> Any:
    shift = np.log(natural) - np.log(train)
    if mode == "sigmoid":
        return logits + keras.ops.cast(shift[1] - shift[0], logits.dtype)
    return logits + keras.ops.cast(shift, logits.dtype)


def _reweight_probabilities(probs: Any, train: np.ndarray, natural: np.ndarray, mode: str):
    ratio = natural / train
    if mode == "sigmoid":
        positive = probs * float(ratio[1])
        return positive / (positive + (1.0 - probs) * float(ratio[0]))
    scaled = probs * keras.ops.cast(ratio, probs.dtype)
    return scaled / keras.ops.sum(scaled, axis=-1, keepdims=True)


def _last_dim(x: Any) -> int | None:
    shape = keras.ops.shape(x)
    return None if len(shape) == 0 else shape[-1]


def _as_float_tensor(x: Any) -> Any:
    x = keras.ops.convert_to_tensor(x)
    if not keras.backend.is_float_dtype(x.dtype):
        x = keras.ops.cast(x, keras.backend.floatx())
    return x


def adjust_logits(logits: Any, train_dist: PriorLike, natural_dist: PriorLike) -> tf.Tensor:
    """Shift logits from the training prior to the natural prior.

    A model trained on resampled data (say balanced by undersampling) predicts
    ``p(c | x)`` for the training prior. Adding ``log(natural_c / training_c)`` to the
    logits (Bayes' rule) gives the probabilities for the natural prior.

    Parameters
    ----------
    logits : array-like
        Softmax logits with last axis C, or, for two classes, sigmoid logits with last axis
        1 (or scalars): they are shifted by the log-odds difference
        ``log(natural_1 / natural_0) - log(training_1 / training_0)``.
    train_dist, natural_dist : ClassDistribution, dict or list
        Class counts or probabilities of the training data and of the data the model is
        used on (only the proportions matter). Every class must have a positive share.

    Returns
    -------
    tf.Tensor
        Adjusted logits, same shape.

    Raises
    ------
    ValueError
        A zero or negative share, fewer than two classes, distributions of different
        lengths, or logits whose last axis fits neither.

    Examples
    --------
    >>> # Trained on 50/50, deployed where the positive class is 10%: logit 0 -> p = 0.1.
    >>> z = adjust_logits([[0.0]], train_dist=[500, 500], natural_dist=[0.9, 0.1])
    >>> round(float(keras.ops.sigmoid(z)[0, 0]), 6)
    0.1
    """
    train, natural = _priors(train_dist, natural_dist)
    logits = _as_float_tensor(logits)
    return _shift_logits(logits, train, natural, _mode(_last_dim(logits), train.size, "logits"))


def correct_probabilities(
    probabilities: Any, train_dist: PriorLike, natural_dist: PriorLike
) -> tf.Tensor:
    """Re-weight predicted probabilities from the training prior to the natural prior.

    ``p'_c = p_c r_c / sum_k p_k r_k`` with ``r_c = natural_c / training_c``; for one
    sigmoid output ``p' = p r_1 / (p r_1 + (1 - p) r_0)``. The same correction as
    ``adjust_logits``, on probabilities.

    Parameters
    ----------
    probabilities : array-like
        Softmax probabilities (last axis C) or, for two classes, the positive-class
        probability (last axis 1, or scalars).
    train_dist, natural_dist : ClassDistribution, dict or list
        Class counts or probabilities of the training data and of the deployment data.

    Returns
    -------
    tf.Tensor
        Corrected probabilities, same shape.

    Raises
    ------
    ValueError
        As ``adjust_logits``.

    Examples
    --------
    >>> p = correct_probabilities([[0.5, 0.5]], [1, 1], [0.8, 0.2])
    >>> [round(float(v), 6) for v in p[0]]
    [0.8, 0.2]
    """
    train, natural = _priors(train_dist, natural_dist)
    probs = _as_float_tensor(probabilities)
    mode = _mode(_last_dim(probs), train.size, "probabilities")
    return _reweight_probabilities(probs, train, natural, mode)


def _inputs_are_logits(inputs: Any) -> bool | None:
    """Whether symbolic Keras ``inputs`` come from a logit (True) or probability (False)
    output, read from the activation of the layer that made them; None when unknown."""
    history = getattr(inputs, "_keras_history", None)
    operation = getattr(history, "operation", None)
    if isinstance(operation, keras.Model):
        outputs = getattr(operation, "outputs", None) or []
        return _inputs_are_logits(outputs[0]) if len(outputs) == 1 else None
    if isinstance(operation, keras.layers.Softmax):
        return False
    activation = getattr(operation, "activation", None)
    if activation is None:
        return None
    if activation in (keras.activations.sigmoid, keras.activations.softmax):
        return False
    if activation is keras.activations.linear:
        return True
    return None


@keras.saving.register_keras_serializable(package="tfbalance")
class PriorCorrection(keras.layers.Layer):
    """Keras layer that moves predictions from the training prior to the natural prior.

    Append it to a model trained on resampled data for inference: logits in give adjusted
    logits out, probabilities in give corrected probabilities out. See ``adjust_logits`` and
    ``correct_probabilities`` for the formulas.

    Parameters
    ----------
    train_dist, natural_dist : ClassDistribution, dict or list
        Class counts or probabilities of the training data and of the deployment data.
    from_logits : bool, optional
        Whether the inputs are logits or probabilities. When None (default) it is read from
        the layer that produces the inputs the first time the layer is called on a Keras
        model's output: a ``sigmoid`` / ``softmax`` activation (or a ``Softmax`` layer) means
        probabilities, no activation means logits. Anything else (eager tensors, another
        activation) raises ``ValueError``: pass it explicitly then.
    **kwargs
        Passed to ``keras.layers.Layer`` (``name``, ``dtype``).

    Raises
    ------
    ValueError
        As ``adjust_logits``; an input whose last axis fits neither mode when called;
        ``from_logits=None`` with inputs whose kind cannot be read from the model.

    Examples
    --------
    >>> import keras
    >>> layer = PriorCorrection([500, 500], [900, 100], from_logits=False)
    >>> round(float(layer(keras.ops.convert_to_tensor([[0.5]]))[0, 0]), 6)
    0.1
    >>> PriorCorrection.from_config(layer.get_config()).natural_dist
    [0.9, 0.1]
    >>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1, activation="sigmoid")])
    >>> deploy = keras.Sequential([model, PriorCorrection([500, 500], [900, 100])])
    >>> deploy.layers[-1].from_logits  # read from the sigmoid
    False
    """

    def __init__(
        self,
        train_dist: PriorLike,
        natural_dist: PriorLike,
        *,
        from_logits: bool | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if from_logits is not None and not isinstance(from_logits, (bool, np.bool_)):
            raise TypeError(
                "Invalid `from_logits`: expected a bool or None. "
                f"Received: from_logits={from_logits!r}"
            )
        train, natural = _priors(train_dist, natural_dist)
        self._train = train
        self._natural = natural
        self.from_logits = None if from_logits is None else bool(from_logits)

    def __call__(self, inputs: Any, *args: Any, **kwargs: Any) -> Any:
        if self.from_logits is None:
            # Keras hands `call` backend placeholders, so the producing layer is only
            # visible here, on the symbolic inputs.
            inferred = _inputs_are_logits(inputs)
            if inferred is None:
                raise ValueError(
                    "Invalid `from_logits`: PriorCorrection cannot tell whether its inputs "
                    "are logits or probabilities (they do not come from a layer with a "
                    "sigmoid/softmax activation or none); pass from_logits=True for logits "
                    "or from_logits=False for probabilities. Received: from_logits=None"
                )
            self.from_logits = inferred
        return super().__call__(inputs, *args, **kwargs)

    @property
    def train_dist(self) -> list[float]:
        """Training class proportions."""
        return self._train.tolist()

    @property
    def natural_dist(self) -> list[float]:
        """Deployment (natural) class proportions."""
        return self._natural.tolist()

    def call(self, inputs: Any) -> Any:
        mode = _mode(_last_dim(inputs), self._train.size, "inputs")
        if self.from_logits:
            return _shift_logits(inputs, self._train, self._natural, mode)
        return _reweight_probabilities(inputs, self._train, self._natural, mode)

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "train_dist": self.train_dist,
            "natural_dist": self.natural_dist,
            "from_logits": self.from_logits,
        }


# ------------------------------------------------------------------------- callback


def _dense_counts(counts: Any, num_classes: int) -> np.ndarray:
    dist = as_class_distribution(counts, "initial_counts")
    if not isinstance(counts, (ClassDistribution, Mapping)) and len(dist.to_array()) != num_classes:
        raise ValueError(
            f"Invalid `initial_counts`: expected {num_classes} counts, one per class. "
            f"Received: initial_counts={list(dist.counts.values())}"
        )
    if max(dist.classes) >= num_classes:
        raise ValueError(
            f"Invalid `initial_counts`: class {max(dist.classes)} is not one of the known "
            f"classes 0..{num_classes - 1}. Received: initial_counts={dist.counts}"
        )
    return dist.to_array(num_classes)


class ClassWeightCallback(keras.callbacks.Callback):
    """Class weights computed from the training stream itself, refreshed during ``fit``.

    ``train_ds.apply(callback.transform)`` counts the labels as they stream (into the
    callback's variables) and attaches per-sample weights read from its weight vector, so
    no counting pre-pass and no labels in memory are needed. The callback refreshes the
    weights from the counts so far each epoch (and every ``update`` batches when that is an
    int), so after one full epoch they equal the exact weights of that data.

    Parameters
    ----------
    num_classes : int
        Number of classes; labels are ids 0 .. num_classes - 1 (checked in the graph).
    method : {"balanced", "balanced_sqrt", "effective_number"}
        How counts become weights (see ``tfbalance.class_weights``).
    beta : float
        For ``"effective_number"``.
    update : "epoch" or int
        ``"epoch"``: refresh at the end of each epoch. An int N: also refresh after every N
        batches of an epoch (``batch + 1`` a multiple of N).
    momentum : float
        In [0, 1). Each refresh sets ``w = momentum * w_old + (1 - momentum) * w_counts``;
        0 (default) uses the counts' weights as they are.
    initial_counts : ClassDistribution, dict or list, optional
        Known counts to start from (e.g. from a previous run or a sample); they also give
        the weights of the first epoch. Without them the first weights are all 1.
    label : None, str, int or callable
        Where the class ids are read (see ``with_sample_weights``).
    log_prefix : str
        Weights are written into the epoch ``logs`` as ``f"{log_prefix}{class_id}"``.

    Attributes
    ----------
    transform : callable
        ``dataset -> dataset`` for ``train_ds.apply``; ``(x, y)`` -> ``(x, y, w)``.
    class_weights : dict
        Current ``{class_id: weight}``.
    counts : dict
        Labels counted since the start of training (plus ``initial_counts``).

    Raises
    ------
    ValueError, TypeError
        Bad arguments, as ``class_weights``; ``initial_counts`` of the wrong length; in
        ``fit``, after the first batch, training data that did not go through ``transform``
        (the weights would never reach the loss).

    Notes
    -----
    * Counts accumulate from ``on_train_begin`` (which resets them, so one instance can
      serve several ``fit`` calls) over all epochs. A class not seen yet keeps its current
      weight. Sequence labels are counted per time step.
    * Counting happens in the input pipeline, which runs ahead of training by its prefetch
      buffers: a refresh every N batches sees a few batches more than were trained on.
      With a finite dataset Keras makes a new iterator each epoch, so at the end of an
      epoch the counts are exact.
    * Works with graph execution (``run_eagerly=False``) and ``MirroredStrategy``: the
      variables live on the host CPU next to the input pipeline; create the callback
      outside ``strategy.scope()``.
    * tf.data service: not supported. The transform reads and updates variables of this
      process, which cannot travel to tf.data service workers; registering the transformed
      dataset with the service raises ``FailedPreconditionError`` ("Serialization error")
      rather than freezing the counts. The same holds for other serializations of the
      dataset graph (multi-worker auto-sharding) and for saving its iterator in a
      ``tf.train.Checkpoint``. There, count the labels first (``tfbalance.class_counts``)
      and use ``with_sample_weights`` with constant weights.

    Examples
    --------
    >>> import keras, numpy as np, tensorflow as tf
    >>> keras.utils.set_random_seed(0)
    >>> y = np.array([0] * 30 + [1] * 10)
    >>> ds = tf.data.Dataset.from_tensor_slices((np.ones((40, 2), "float32"), y)).batch(8)
    >>> callback = ClassWeightCallback(num_classes=2)
    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2)])
    >>> model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    >>> history = model.fit(ds.apply(callback.transform), epochs=1, verbose=0,
    ...                     callbacks=[callback])
    >>> callback.class_weights
    {0: 0.6666666666666666, 1: 2.0}
    >>> history.history["class_weight_1"]
    [2.0]
    """

    def __init__(
        self,
        num_classes: int,
        method: str = "balanced",
        *,
        beta: float = 0.999,
        update: str | int = "epoch",
        momentum: float = 0.0,
        initial_counts: CountsLike | None = None,
        label: Label = None,
        log_prefix: str = "class_weight_",
    ) -> None:
        super().__init__()
        self.num_classes = check_num_classes(num_classes)
        self.method = check_choice(method, "method", METHODS)
        self.beta = _check_beta(beta)
        self.update = _check_update(update)
        self.momentum = check_real(momentum, "momentum", minimum=0, maximum=1, max_open=True)
        self._initial_counts = (
            None if initial_counts is None else _dense_counts(initial_counts, self.num_classes)
        )
        check_label_argument(label)
        self.label = label
        if not isinstance(log_prefix, str):
            raise TypeError(
                f"Invalid `log_prefix`: expected a str. Received: log_prefix={log_prefix!r}"
            )
        self.log_prefix = log_prefix
        # Host variables: the input pipeline runs on the CPU, also when training on GPUs.
        with tf.init_scope(), tf.device("/CPU:0"):
            self._count_var = tf.Variable(
                tf.zeros([self.num_classes], tf.int64), trainable=False, name="class_counts"
            )
            self._weight_var = tf.Variable(
                tf.ones([self.num_classes], tf.float32), trainable=False, name="class_weights"
            )
            # Elements that went through `transform`: fit without it would train with
            # weights of 1.0 while the callback logs weights that never reach the loss.
            self._elements_var = tf.Variable(
                tf.constant(0, tf.int64), trainable=False, name="elements_weighted"
            )
        self._last_block = 0
        self._checked = False
        self._reset()

    # -- state -------------------------------------------------------------------------

    def _reset(self) -> None:
        self._last_block = 0
        if self._initial_counts is None:
            self._count_var.assign(tf.zeros([self.num_classes], tf.int64))
            self._set_weights(np.ones(self.num_classes))
            return
        self._count_var.assign(self._initial_counts)
        weights = np.ones(self.num_classes)
        if self._initial_counts.sum() > 0:
            present = self._initial_counts > 0
            weights[present] = _weight_vector(self._initial_counts, self.method, self.beta)[
                present
            ]
        self._set_weights(weights)

    def _set_weights(self, weights: np.ndarray) -> None:
        # float64 for reading and logging; the pipeline uses the float32 copy.
        self._weights = np.asarray(weights, dtype=np.float64)
        self._weight_var.assign(self._weights.astype(np.float32))

    def refresh(self) -> None:
        """Recompute the weights from the counts so far (called on the update schedule)."""
        counts = self._count_var.numpy()
        if counts.sum() == 0:
            return
        present = counts > 0
        old = self._weights
        new = old.copy()
        fresh = _weight_vector(counts, self.method, self.beta)[present]
        new[present] = self.momentum * old[present] + (1.0 - self.momentum) * fresh
        self._set_weights(new)

    @property
    def class_weights(self) -> dict[int, float]:
        """Current weights, ``{class_id: weight}``."""
        return {c: float(w) for c, w in enumerate(self._weights)}

    @property
    def counts(self) -> dict[int, int]:
        """Labels counted so far (plus ``initial_counts``), ``{class_id: count}``."""
        return {c: int(n) for c, n in enumerate(self._count_var.numpy())}

    # -- the input transform -----------------------------------------------------------

    def transform(self, dataset: tf.data.Dataset, *, name: str | None = None) -> tf.data.Dataset:
        """Count labels as they stream and attach ``(x, y) -> (x, y, w)`` weights.

        Apply it after ``batch`` (counting is per element, so per batch is cheaper).
        ``name`` names the tf.data op that delivers the output, as tf.data's ``name=`` does.

        Examples
        --------
        >>> import tensorflow as tf
        >>> callback = ClassWeightCallback(2, initial_counts=[3, 1])
        >>> ds = tf.data.Dataset.from_tensor_slices(([[0.0]] * 4, [0, 0, 1, 0])).batch(4)
        >>> next(iter(ds.apply(callback.transform)))[2].numpy()
        array([0.6666667, 0.6666667, 2.       , 0.6666667], dtype=float32)
        >>> callback.counts
        {0: 6, 1: 2}
        """
        check_dataset(dataset)
        _check_label_spec(label_spec(dataset, self.label), self.label)
        _check_weight_layout(dataset.element_spec)
        counts_var, weight_var = self._count_var, self._weight_var
        num_classes = self.num_classes

        elements_var = self._elements_var

        def fn(element: Any) -> Any:
            ids = _class_ids(get_label(element, self.label), tf.constant(num_classes))
            batch_counts = tf.math.bincount(
                tf.reshape(ids, [-1]), minlength=num_classes, maxlength=num_classes,
                dtype=tf.int64,
            )
            updates = [counts_var.assign_add(batch_counts), elements_var.assign_add(1)]
            with tf.control_dependencies(updates):
                weights = tf.gather(weight_var, ids)
            return _attach(element, weights)

        # Sequential map: every element is counted exactly once, in order.
        return named(_refuse_serialization(map_elements(dataset, fn)), name)

    # -- Keras hooks -------------------------------------------------------------------

    def on_train_begin(self, logs: dict | None = None) -> None:
        self._reset()
        self._checked = False

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._last_block = 0

    def _check_transform_used(self) -> None:
        # A trained batch was read from the training iterator, so if the dataset went
        # through `transform` at least one element has been weighted by now.
        if self._checked:
            return
        self._checked = True
        if int(self._elements_var.numpy()) == 0:
            raise ValueError(
                "Invalid dataset: ClassWeightCallback's weights reach the loss only through "
                "its transform, but the training data did not go through it (every sample "
                "would have weight 1.0). Use model.fit(train_ds.apply(callback.transform), "
                "callbacks=[callback]). Received: a dataset without callback.transform"
            )

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self._check_transform_used()
        if isinstance(self.update, str):  # "epoch": refreshed in on_epoch_end only
            return
        block = (batch + 1) // self.update
        if block != self._last_block:
            self._last_block = block
            self.refresh()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.refresh()
        if logs is not None:
            for c, w in self.class_weights.items():
                logs[f"{self.log_prefix}{c}"] = w

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments (a callable ``label`` is reported by name)."""
        label = self.label
        if callable(label):
            label = getattr(label, "__name__", repr(label))
        return {
            "num_classes": self.num_classes,
            "method": self.method,
            "beta": self.beta,
            "update": self.update,
            "momentum": self.momentum,
            "initial_counts": (
                None if self._initial_counts is None else self._initial_counts.tolist()
            ),
            "label": label,
            "log_prefix": self.log_prefix,
        }

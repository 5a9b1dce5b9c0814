import json
import math
import os
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf
from sklearn.metrics import log_loss
from sklearn.utils.class_weight import compute_class_weight

import tfbalance
from tests.stats import K_SIGMA, binomial_tolerance
from tfbalance import (
    ClassDistribution,
    ClassWeightCallback,
    PriorCorrection,
    adjust_logits,
    class_weights,
    correct_probabilities,
    initial_bias,
    with_sample_weights,
)

COUNT_VECTORS = [[900, 100], [5, 3, 1], [1, 1, 1, 1], [319_553, 62_601], [7, 1000, 42, 3, 250]]


def _sklearn_balanced(counts):
    y = np.repeat(np.arange(len(counts)), counts)
    classes = np.unique(y)
    weights = compute_class_weight("balanced", classes=classes, y=y)
    return dict(zip(classes.tolist(), weights, strict=True))


# ------------------------------------------------------------------------- class_weights


@pytest.mark.parametrize("counts", COUNT_VECTORS)
def test_balanced_is_sklearn(counts):
    assert class_weights(counts) == _sklearn_balanced(counts)
    sqrt = class_weights(counts, "balanced_sqrt")
    expected = {c: math.sqrt(w) for c, w in _sklearn_balanced(counts).items()}
    assert sqrt == pytest.approx(expected, rel=1e-15)


@pytest.mark.parametrize("counts", COUNT_VECTORS)
@pytest.mark.parametrize("beta", [0.9, 0.99, 0.999, 0.9999])
def test_effective_number_matches_formula(counts, beta):
    n = np.asarray(counts, dtype=np.float64)
    raw = (1 - beta) / (1 - beta**n)
    expected = raw / raw.sum() * len(n)
    got = np.array(list(class_weights(counts, "effective_number", beta=beta).values()))
    np.testing.assert_allclose(got, expected, rtol=1e-9)
    assert got.sum() == pytest.approx(len(n))


def test_count_forms_agree():
    expected = class_weights([30, 10])
    assert class_weights({1: 10, 0: 30}) == expected
    assert class_weights(ClassDistribution([30, 10])) == expected
    assert class_weights(np.array([30, 10])) == expected


@pytest.mark.parametrize("method", ["balanced", "balanced_sqrt", "effective_number"])
def test_zero_counts_get_weight_zero_and_others_match_seen_labels(method):
    weights = class_weights([40, 0, 10, 0], method)
    assert weights[1] == 0.0 and weights[3] == 0.0
    assert all(math.isfinite(w) for w in weights.values())
    seen = class_weights([40, 10], method)
    assert (weights[0], weights[2]) == (seen[0], seen[1])
    if method == "balanced":
        y = np.repeat([0, 2], [40, 10])
        cw = compute_class_weight("balanced", classes=np.array([0, 2]), y=y)
        assert (weights[0], weights[2]) == tuple(cw)


def test_all_zero_counts_raise():
    with pytest.raises(ValueError, match=r"every class has count 0.*counts=\[0, 0\]"):
        class_weights([0, 0])


@pytest.mark.parametrize(
    "kwargs, exc, pattern",
    [
        ({"method": "inverse"}, ValueError, r"Invalid `method`.*Received: method='inverse'"),
        ({"method": None}, TypeError, r"Invalid `method`.*Received: method=None"),
        (
            {"beta": 0.0}, ValueError,
            r"Invalid `beta`: expected a finite number in \(0, 1\)\. Received: beta=0.0",
        ),
        ({"beta": 1.0}, ValueError, r"Invalid `beta`.*beta=1.0"),
        ({"beta": -0.5}, ValueError, r"Invalid `beta`.*beta=-0.5"),
        ({"beta": "0.9"}, TypeError, r"Invalid `beta`.*beta='0.9'"),
    ],
)
def test_bad_method_and_beta(kwargs, exc, pattern):
    with pytest.raises(exc, match=pattern):
        class_weights([10, 5], **kwargs)


def test_negative_counts_raise():
    with pytest.raises(ValueError, match="non-negative"):
        class_weights([10, -1])


# ------------------------------------------------------------------ with_sample_weights


def _xy(y, features=2):
    y = np.asarray(y)
    x = np.arange(y.shape[0] * features, dtype=np.float32).reshape(y.shape[0], features)
    return tf.data.Dataset.from_tensor_slices((x, y))


@pytest.mark.parametrize("batch", [None, 3])
def test_weights_follow_labels_batched_or_not(batch):
    y = np.array([0, 2, 1, 2, 0, 0, 1])
    ds = _xy(y)
    if batch:
        ds = ds.batch(batch)
    out = ds.apply(with_sample_weights({0: 0.5, 1: 2.0, 2: 3.0}))
    assert len(out.element_spec) == 3
    ws = np.concatenate([np.reshape(w, [-1]) for _, _, w in out.as_numpy_iterator()])
    np.testing.assert_array_equal(ws, np.array([0.5, 2.0, 3.0], np.float32)[y])


def test_existing_weights_are_multiplied():
    y = np.array([0, 1, 1, 0])
    sw = np.array([1.0, 0.5, 2.0, 4.0], np.float32)
    ds = tf.data.Dataset.from_tensor_slices((np.zeros((4, 1), np.float32), y, sw)).batch(4)
    _, _, w = next(iter(ds.apply(with_sample_weights([1.0, 3.0]))))
    np.testing.assert_allclose(w.numpy(), sw * np.array([1.0, 3.0])[y])
    # Per-sample weights (batch,) times per-time-step class weights (batch, T).
    seq = tf.data.Dataset.from_tensor_slices(
        (np.zeros((2, 3)), [[0, 1, 1], [1, 1, 0]], [2.0, 10.0])
    )
    _, _, w = next(iter(seq.batch(2).apply(with_sample_weights([1.0, 3.0]))))
    np.testing.assert_allclose(w.numpy(), [[2, 6, 6], [30, 30, 10]])


def test_label_layouts_column_onehot_float_and_features_key():
    y = np.array([1, 0, 1])
    table = [0.25, 4.0]
    expected = np.array(table, np.float32)[y]
    cases = [
        _xy(y.reshape(-1, 1)).batch(3),  # (batch, 1) -> (batch,)
        _xy(np.eye(2, dtype=np.float32)[y]).batch(3),  # one-hot
        _xy(y.astype(np.float32)).batch(3),  # 0.0/1.0 binary targets
    ]
    for ds in cases:
        _, _, w = next(iter(ds.apply(with_sample_weights(table))))
        assert w.shape == (3,)
        np.testing.assert_array_equal(w.numpy(), expected)
    feats = tf.data.Dataset.from_tensor_slices(({"x": np.ones(3), "cls": y}, np.ones(3))).batch(3)
    _, _, w = next(iter(feats.apply(with_sample_weights(table, label="cls"))))
    np.testing.assert_array_equal(w.numpy(), expected)
    _, _, w = next(iter(feats.apply(with_sample_weights(table, label=lambda e: e[0]["cls"]))))
    np.testing.assert_array_equal(w.numpy(), expected)


def test_variable_weights_change_while_iterating_and_checkpoint(tmp_path):
    weights = tf.Variable([1.0, 1.0])
    it = iter(_xy([0, 1] * 4).batch(2).apply(with_sample_weights(weights)))
    np.testing.assert_array_equal(next(it)[2].numpy(), [1.0, 1.0])
    weights.assign([1.0, 5.0])
    # Read when each batch is made; only batches already prefetched keep the old values.
    later = [w.numpy().tolist() for _, _, w in it]
    assert later[-1] == [1.0, 5.0]
    # Constant weights: the iterator checkpoints and restores mid-epoch.
    it = iter(_xy([0, 1, 1, 0, 1, 1]).batch(2).apply(with_sample_weights([2.0, 3.0])))
    next(it)
    checkpoint = tf.train.Checkpoint(iterator=it)
    saved = checkpoint.write(str(tmp_path / "it"))
    after = [t.numpy() for t in next(it)]
    checkpoint.read(saved).assert_consumed()
    for a, b in zip(next(it), after, strict=False):
        np.testing.assert_array_equal(a.numpy(), b)
    # Variable weights cannot be part of an iterator checkpoint: loud, not silent.
    it = iter(_xy([0, 1]).apply(with_sample_weights(weights)))
    with pytest.raises(tf.errors.FailedPreconditionError):
        tf.train.Checkpoint(iterator=it).write(str(tmp_path / "var"))


@pytest.mark.timeout(60)
def test_tf_data_service_constant_weights_work_variables_refuse():
    service = tf.data.experimental.service
    dispatcher = service.DispatchServer()
    worker = service.WorkerServer(  # noqa: F841  (kept alive for the test)
        service.WorkerConfig(dispatcher_address=dispatcher.target.split("://")[1])
    )
    base = _xy([0, 1, 1]).batch(3)
    remote = base.apply(with_sample_weights([1.0, 4.0])).apply(
        service.distribute("parallel_epochs", dispatcher.target)
    )
    np.testing.assert_array_equal(next(iter(remote))[2].numpy(), [1.0, 4.0, 4.0])
    variable_weights = with_sample_weights(tf.Variable([1.0, 4.0]))
    for transform in (variable_weights, ClassWeightCallback(2).transform):
        with pytest.raises(tf.errors.FailedPreconditionError, match="Serialization error"):
            base.apply(transform).apply(service.distribute("parallel_epochs", dispatcher.target))


def _softmax_model(seed, inputs=(4,), classes=3):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input(inputs), keras.layers.Dense(classes)])
    model.compile(
        keras.optimizers.SGD(0.1), keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    )
    return model


def _sigmoid_model(seed):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(0.1), keras.losses.BinaryCrossentropy(from_logits=True))
    return model


@pytest.mark.parametrize("kind", ["softmax", "sigmoid"])
def test_training_matches_keras_class_weight(kind):
    rng = np.random.default_rng(7)
    x = rng.normal(size=(96, 4)).astype(np.float32)
    if kind == "softmax":
        y = rng.choice(3, size=96, p=[0.7, 0.2, 0.1])
        make = _softmax_model
    else:
        y = rng.choice(2, size=(96, 1), p=[0.8, 0.2]).astype(np.float32)
        make = _sigmoid_model
    cw = class_weights(ClassDistribution.from_labels(y.astype(int).ravel()))
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)
    keras_model, ours = make(3), make(3)
    ours.set_weights(keras_model.get_weights())
    h1 = keras_model.fit(ds, class_weight=cw, epochs=3, verbose=0, shuffle=False)
    h2 = ours.fit(ds.apply(with_sample_weights(cw)), epochs=3, verbose=0, shuffle=False)
    np.testing.assert_allclose(h1.history["loss"], h2.history["loss"], rtol=0, atol=1e-5)
    for a, b in zip(keras_model.get_weights(), ours.get_weights(), strict=False):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-5)


def test_sequence_labels_where_keras_refuses():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(16, 5, 4)).astype(np.float32)
    y = rng.choice(3, size=(16, 5), p=[0.6, 0.3, 0.1])
    cw = class_weights(ClassDistribution.from_labels(y.ravel()))
    model = _softmax_model(1, inputs=(5, 4))
    with pytest.raises(ValueError):
        model.fit(x, y, class_weight=cw, batch_size=16, epochs=1, verbose=0)
    with pytest.raises((ValueError, tf.errors.InvalidArgumentError)):
        model.fit(
            tf.data.Dataset.from_tensor_slices((x, y)).batch(16), class_weight=cw, verbose=0
        )
    model = _softmax_model(1, inputs=(5, 4))
    logits = model.predict(x, verbose=0).astype(np.float64)
    log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    ce = -np.take_along_axis(log_probs, y[..., None], axis=-1)[..., 0]
    w = np.array([cw[c] for c in range(3)])[y]
    expected = float(np.mean(w * ce))  # sum over batch size: mean over batch and time
    weighted = tf.data.Dataset.from_tensor_slices((x, y)).batch(16).apply(
        with_sample_weights(cw)
    )
    assert next(iter(weighted))[2].shape == (16, 5)
    history = model.fit(weighted, epochs=1, verbose=0)  # one batch: loss before the update
    assert history.history["loss"][0] == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("bad", [5, -1, 2**40, 2**32])
def test_label_outside_known_classes_names_it(bad):
    ds = _xy([0, 1, bad, 1]).batch(4).apply(with_sample_weights([1.0, 2.0, 3.0]))
    with pytest.raises(tf.errors.InvalidArgumentError, match=rf"class id\] \[{bad}\]"):
        list(ds)


def test_float_labels_must_be_whole_numbers():
    ds = _xy(np.array([0.0, 0.5], np.float32)).apply(with_sample_weights([1.0, 2.0]))
    with pytest.raises(tf.errors.InvalidArgumentError, match="whole numbers"):
        list(ds)
    # inf would become a huge (or wrapped) id; a float too large for int32 must not wrap.
    for bad, pattern in ((np.inf, "finite whole numbers"), (2.0**32, r"class id\] \[4294967296\]")):
        ds = _xy(np.array([0.0, bad])).apply(with_sample_weights([1.0, 2.0]))
        with pytest.raises(tf.errors.InvalidArgumentError, match=pattern):
            list(ds)


def test_elements_without_label_or_weight_slot():
    single = tf.data.Dataset.from_tensor_slices([0, 1])
    with pytest.raises(ValueError, match="label=None reads the second item"):
        single.apply(with_sample_weights([1.0, 1.0]))
    as_dict = tf.data.Dataset.from_tensor_slices({"x": [1.0, 2.0], "y": [0, 1]})
    with pytest.raises(ValueError, match=r"\(x, y\) or \(x, y, w\) tuples.*dicts with keys"):
        as_dict.apply(with_sample_weights([1.0, 1.0], label="y"))
    strings = tf.data.Dataset.from_tensor_slices(([1.0], ["a"]))
    with pytest.raises(TypeError, match="dtype string"):
        strings.apply(with_sample_weights([1.0]))


@pytest.mark.parametrize(
    "weights, exc, pattern",
    [
        ([1.0, -2.0], ValueError, "non-negative"),
        ([1.0, float("nan")], ValueError, "finite"),
        ({0: 1.0, 2: 1.0}, ValueError, r"no value for classes \[1\]"),
        ([], ValueError, "no classes"),
        ({}, ValueError, "no classes"),
        ("abc", TypeError, "Invalid `weights`"),
        (ClassDistribution([3, 1]), TypeError, "not counts"),
        (tf.Variable([1, 2]), TypeError, "float dtype"),
        (tf.Variable([[1.0, 2.0]]), ValueError, "non-empty vector"),
        (tf.Variable([1.0, -1.0]), ValueError, "non-negative"),
        ({0: 1.0, 2**40: 1.0}, ValueError, r"MAX_CLASS_ID=1048575.*class id 1099511627776"),
    ],
)
def test_bad_weights(weights, exc, pattern):
    with pytest.raises(exc, match=pattern):
        with_sample_weights(weights)


def test_bad_label_argument():
    with pytest.raises(TypeError, match="Invalid `label`"):
        with_sample_weights([1.0], label=1.5)


# ------------------------------------------------------------------------ initial_bias


@pytest.mark.parametrize(
    "counts, output",
    [([900, 100], None), ([900, 100], "softmax"), ([50, 30, 15, 5], None)],
)
def test_initial_bias_predicts_prior(counts, output):
    bias = initial_bias(counts, output=output)
    prior = np.asarray(counts) / np.sum(counts)
    sigmoid = bias.shape == (1,)
    assert sigmoid == (output is None and len(counts) == 2)
    layer = keras.layers.Dense(
        bias.size,
        activation="sigmoid" if sigmoid else "softmax",
        kernel_initializer="zeros",
        bias_initializer=keras.initializers.Constant(bias),
    )
    x = np.random.default_rng(0).normal(size=(8, 3)).astype(np.float32)
    pred = keras.ops.convert_to_numpy(layer(x))
    expected = prior[1:] if sigmoid else prior
    np.testing.assert_allclose(pred, np.broadcast_to(expected, pred.shape), atol=1e-6)


def test_initial_bias_bad_input():
    with pytest.raises(ValueError, match="positive count"):
        initial_bias([10, 0])
    with pytest.raises(ValueError, match="positive count"):
        initial_bias({0: 10, 2: 3})
    with pytest.raises(ValueError, match="'sigmoid' needs exactly two classes"):
        initial_bias([1, 2, 3], output="sigmoid")
    with pytest.raises(ValueError, match="Invalid `output`.*output='tanh'"):
        initial_bias([1, 2], output="tanh")


# -------------------------------------------------------------------- prior correction


def test_adjust_logits_is_bayes_rule():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(6, 3))
    train, natural = np.array([1 / 3] * 3), np.array([0.7, 0.2, 0.1])
    p = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    expected = p * natural / train
    expected /= expected.sum(-1, keepdims=True)
    got = keras.ops.softmax(adjust_logits(logits, [10, 10, 10], natural))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(got), expected, atol=1e-6)
    corrected = correct_probabilities(p, ClassDistribution([5, 5, 5]), {0: 7, 1: 2, 2: 1})
    np.testing.assert_allclose(keras.ops.convert_to_numpy(corrected), expected, atol=1e-6)


def test_sigmoid_correction_equals_two_class_softmax():
    z = np.linspace(-3, 3, 7, dtype=np.float32).reshape(-1, 1)
    train, natural = [300, 700], [0.95, 0.05]
    p_sig = keras.ops.convert_to_numpy(keras.ops.sigmoid(adjust_logits(z, train, natural)))
    two = np.concatenate([np.zeros_like(z), z], axis=1)
    p_soft = keras.ops.convert_to_numpy(keras.ops.softmax(adjust_logits(two, train, natural)))
    np.testing.assert_allclose(p_sig[:, 0], p_soft[:, 1], atol=1e-6)
    p_prob = correct_probabilities(keras.ops.sigmoid(z), train, natural)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(p_prob), p_sig, atol=1e-6)


def test_prior_correction_layer_saves_and_loads(tmp_path):
    inputs = keras.Input((3,))
    outputs = PriorCorrection([1, 1, 2], [5, 3, 2])(keras.layers.Dense(3)(inputs))
    model = keras.Model(inputs, outputs)
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    x = np.ones((2, 3), np.float32)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert loaded.layers[-1].get_config()["natural_dist"] == [0.5, 0.3, 0.2]


@pytest.mark.parametrize(
    "call, pattern",
    [
        (lambda: adjust_logits([[0.0, 0.0]], [1, 0], [1, 1]), "Invalid `train_dist`.*positive"),
        (lambda: adjust_logits([[0.0, 0.0]], [1, 1], [1, 1, 1]), "as many classes"),
        (lambda: adjust_logits([[0.0, 0.0, 0.0]], [1, 1], [1, 2]), "last axis of size 2"),
        (lambda: correct_probabilities([[0.5] * 4], [1, 1, 1], [1, 1, 1]), "size 3"),
        (lambda: PriorCorrection([1], [1]), "two or more classes"),
        (lambda: PriorCorrection([1, -1], [1, 1]), "non-negative"),
    ],
)
def test_prior_correction_bad_input(call, pattern):
    with pytest.raises(ValueError, match=pattern):
        call()
    with pytest.raises(TypeError, match="from_logits"):
        PriorCorrection([1, 1], [1, 1], from_logits="yes")


@pytest.mark.parametrize(
    "output, from_logits",
    [
        (lambda: keras.layers.Dense(1, activation="sigmoid"), False),
        (lambda: keras.layers.Dense(2, activation="softmax"), False),
        (lambda: keras.layers.Dense(2), True),
    ],
    ids=["sigmoid", "softmax", "logits"],
)
def test_prior_correction_reads_the_output_activation(output, from_logits):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), output()])
    train, natural = [500, 500], [900, 100]
    deploy = keras.Sequential([model, PriorCorrection(train, natural)])
    assert deploy.layers[-1].from_logits is from_logits
    x = np.random.default_rng(0).normal(size=(4, 3)).astype(np.float32)
    raw = model(x)
    expected = (adjust_logits(raw, train, natural) if from_logits
                else correct_probabilities(raw, train, natural))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(deploy(x)),
                               keras.ops.convert_to_numpy(expected), atol=1e-6)


def test_prior_correction_refuses_inputs_of_unknown_kind():
    with pytest.raises(ValueError, match=r"cannot tell whether its inputs.*from_logits=None"):
        PriorCorrection([1, 1], [9, 1])(keras.ops.convert_to_tensor([[0.3]]))
    relu = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1, activation="relu")])
    with pytest.raises(ValueError, match="pass from_logits=True"):
        keras.Sequential([relu, PriorCorrection([1, 1], [9, 1])])


def test_correction_of_model_trained_on_undersampled_data():
    rng = np.random.default_rng(2024)
    n = 40_000
    x = rng.normal(size=(n, 2)).astype(np.float32)
    y = (rng.random(n) < 1 / (1 + np.exp(-(-2.5 + 1.5 * x[:, 0] - 0.5 * x[:, 1])))).astype(int)
    x_nat, y_nat, x_test, y_test = x[: n // 2], y[: n // 2], x[n // 2 :], y[n // 2 :]
    # Undersample the negatives of the natural training half to a balanced set.
    pos = np.flatnonzero(y_nat == 1)
    neg = rng.choice(np.flatnonzero(y_nat == 0), size=pos.size, replace=False)
    keep = rng.permutation(np.concatenate([pos, neg]))
    x_tr, y_tr = x_nat[keep], y_nat[keep].astype(np.float32)

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(
        keras.optimizers.Adam(0.05),
        keras.losses.BinaryCrossentropy(from_logits=True),
        steps_per_execution=100,
    )
    # Full-batch steps in one epoch (few Python round trips) until converged.
    train = tf.data.Dataset.from_tensors((x_tr, y_tr)).repeat(300)
    model.fit(train, epochs=1, verbose=0)

    corrected = keras.Sequential(
        [model, PriorCorrection(np.bincount(y_tr.astype(int)), np.bincount(y_nat))]
    )
    p_raw = keras.ops.convert_to_numpy(keras.ops.sigmoid(model(x_test)))[:, 0].astype(np.float64)
    p_cor = keras.ops.convert_to_numpy(keras.ops.sigmoid(corrected(x_test)))[:, 0].astype(
        np.float64
    )
    base_rate = y_test.mean()

    # Tolerance: the test rate's binomial SE, the SE of the natural prior estimated from
    # the natural half, and the fitted model's error on the mean prediction (delta method
    # with the logistic Fisher information of the balanced training set).
    design = np.column_stack([np.ones(len(x_tr)), x_tr])
    p_tr = keras.ops.convert_to_numpy(keras.ops.sigmoid(model(x_tr)))[:, 0].astype(np.float64)
    fisher = design.T @ (design * (p_tr * (1 - p_tr))[:, None])
    grad = np.mean(
        np.column_stack([np.ones(len(x_test)), x_test]) * (p_cor * (1 - p_cor))[:, None], axis=0
    )
    se_model = math.sqrt(grad @ np.linalg.solve(fisher, grad))
    tolerance = math.sqrt(
        binomial_tolerance(base_rate, len(y_test)) ** 2
        + binomial_tolerance(base_rate, len(y_nat)) ** 2
        + (K_SIGMA * se_model) ** 2
    )
    assert abs(p_cor.mean() - base_rate) <= tolerance, (p_cor.mean(), base_rate, tolerance)
    assert abs(p_raw.mean() - base_rate) > 5 * tolerance
    assert log_loss(y_test, p_cor) < log_loss(y_test, p_raw)


# ------------------------------------------------------------------ ClassWeightCallback


def _stream(y, batch=10, features=3, seed=0):
    x = np.random.default_rng(seed).normal(size=(len(y), features)).astype(np.float32)
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(batch)


def _fit(callback, ds, epochs=1, extra=(), **kwargs):
    model = _softmax_model(0, inputs=(3,), classes=callback.num_classes)
    return model.fit(
        ds.apply(callback.transform), epochs=epochs, verbose=0, callbacks=[callback, *extra],
        **kwargs,
    )


def test_callback_weights_after_one_epoch_equal_sklearn_and_are_logged():
    y = np.random.default_rng(1).choice(3, size=95, p=[0.75, 0.2, 0.05])
    callback = ClassWeightCallback(num_classes=3)
    history = _fit(callback, _stream(y), epochs=2)
    expected = _sklearn_balanced(np.bincount(y, minlength=3))
    assert callback.class_weights == pytest.approx(expected, rel=1e-12)
    assert callback.counts == dict(enumerate((2 * np.bincount(y)).tolist()))
    for c, w in expected.items():
        assert history.history[f"class_weight_{c}"] == pytest.approx([w, w], rel=1e-12)
    # A second fit starts from scratch.
    _fit(callback, _stream(y), epochs=1)
    assert callback.counts == dict(enumerate(np.bincount(y).tolist()))


def test_callback_first_epoch_uses_initial_counts_and_momentum():
    y = np.array([0] * 60 + [1] * 20)
    seen = []

    class Record(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            seen.append(dict(callback.class_weights))

    callback = ClassWeightCallback(2, initial_counts=[10, 10], momentum=0.25)
    _fit(callback, _stream(y), extra=[Record()])
    assert seen[0] == {0: 1.0, 1: 1.0}
    balanced = _sklearn_balanced(np.bincount(y) + 10)
    expected = {c: 0.25 * 1.0 + 0.75 * w for c, w in balanced.items()}
    assert callback.class_weights == pytest.approx(expected, rel=1e-12)
    assert callback.get_config()["initial_counts"] == [10, 10]


def test_callback_refreshes_every_n_batches():
    y = np.array([0, 0, 0, 1] * 10)
    steps = []

    class Record(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            steps.append(callback.class_weights[1])

    callback = ClassWeightCallback(2, update=2)
    _fit(callback, _stream(y, batch=4), extra=[Record()])
    assert steps[0] == 1.0  # no refresh after the first batch
    # From the second batch on, weights come from counts (prefetching counts ahead, but
    # every batch holds the same 3:1 mix, so the weights are exact).
    assert steps[1:] == pytest.approx([2.0] * (len(steps) - 1))


def test_callback_counts_sequence_labels_per_time_step():
    y = np.random.default_rng(4).choice(3, size=(24, 6), p=[0.7, 0.2, 0.1])
    x = np.zeros((24, 6, 3), np.float32)
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(8)
    callback = ClassWeightCallback(3, method="effective_number", beta=0.9)
    model = _softmax_model(0, inputs=(6, 3))
    model.fit(ds.apply(callback.transform), epochs=1, verbose=0, callbacks=[callback])
    assert callback.counts == dict(enumerate(np.bincount(y.ravel(), minlength=3).tolist()))
    assert callback.class_weights == pytest.approx(
        class_weights(np.bincount(y.ravel()), "effective_number", beta=0.9), rel=1e-12
    )


def test_callback_transform_on_unbatched_elements_and_repeated_passes():
    y = np.array([2, 0, 0, 1, 0, 2, 0])
    callback = ClassWeightCallback(3, initial_counts={0: 1})
    ds = _xy(y).apply(callback.transform).batch(4)
    for _ in range(2):
        weights = np.concatenate([w for _, _, w in ds.as_numpy_iterator()])
    assert weights.shape == (7,)
    assert callback.counts == dict(enumerate((2 * np.bincount(y) + [1, 0, 0]).tolist()))
    callback.refresh()
    assert callback.class_weights == pytest.approx(
        _sklearn_balanced(2 * np.bincount(y) + [1, 0, 0]), rel=1e-12
    )


def test_callback_rejects_unknown_class_ids():
    callback = ClassWeightCallback(2)
    ds = _stream(np.array([0, 1, 2, 0]), batch=4).apply(callback.transform)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"class id\] \[2\]"):
        list(ds)


def test_callback_without_its_transform_raises_instead_of_training_unweighted():
    x = np.zeros((8, 2), np.float32)
    ds = tf.data.Dataset.from_tensor_slices((x, np.array([0] * 6 + [1] * 2))).batch(4)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2)])
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    callback = ClassWeightCallback(num_classes=2)
    with pytest.raises(ValueError, match=r"did not go through it.*callback\.transform"):
        model.fit(ds, epochs=1, verbose=0, callbacks=[callback])
    # With it, the same fit runs (and the weights are those of the data).
    model.fit(ds.apply(callback.transform), epochs=1, verbose=0, callbacks=[callback])
    assert callback.class_weights == {0: 8 / 12, 1: 2.0}


def test_transforms_given_arrays_say_they_need_a_dataset():
    arrays = (np.zeros((4, 2)), np.array([0, 1, 0, 1]))
    for transform in (with_sample_weights([1.0, 2.0]), ClassWeightCallback(2).transform):
        with pytest.raises(TypeError, match=r"expected a tf.data.Dataset.*from_tensor_slices"
                                            r".*of type tuple"):
            transform(arrays)


@pytest.mark.parametrize(
    "kwargs, exc, pattern",
    [
        ({"num_classes": 0}, ValueError, "num_classes=0"),
        ({"num_classes": "3"}, TypeError, "num_classes='3'"),
        ({"num_classes": 2**40}, ValueError, r"MAX_CLASS_ID=1048575.*num_classes=1099511627776"),
        ({"update": 0}, ValueError, "update=0"),
        ({"update": "batch"}, ValueError, r"expected 'epoch' or a positive int.*update='batch'"),
        # A wrong type is a TypeError (was ValueError), worded by the shared check.
        ({"update": 1.5}, TypeError,
         r"Invalid `update`: expected 'epoch' or a positive int .*Received: update=1.5"),
        ({"update": True}, TypeError, "update=True"),
        ({"momentum": float("nan")}, ValueError, r"expected a finite number in \[0, 1\)"),
        ({"method": 1}, TypeError,
         r"expected one of 'balanced', 'balanced_sqrt', 'effective_number'\. Received: method=1"),
        ({"momentum": 1.0}, ValueError, r"momentum.*\[0, 1\)"),
        ({"momentum": "a"}, TypeError, "momentum='a'"),
        ({"initial_counts": [1, 2]}, ValueError, "expected 3 counts"),
        ({"initial_counts": {5: 1}}, ValueError, "class 5 is not one of"),
        ({"initial_counts": [1, -2, 3]}, ValueError, "non-negative"),
        ({"method": "median"}, ValueError, "Invalid `method`"),
        ({"beta": 2.0}, ValueError, "Invalid `beta`"),
        ({"log_prefix": 1}, TypeError, "log_prefix"),
    ],
)
def test_callback_bad_arguments(kwargs, exc, pattern):
    kwargs = {"num_classes": 3, **kwargs}
    with pytest.raises(exc, match=pattern):
        ClassWeightCallback(**kwargs)


def test_callback_needs_a_label():
    callback = ClassWeightCallback(2)
    with pytest.raises(ValueError, match="label=None reads the second item"):
        tf.data.Dataset.from_tensor_slices([0, 1]).apply(callback.transform)


MIRRORED_SCRIPT = textwrap.dedent(
    """
    import json, os
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    import numpy as np, tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras
    from tfbalance import ClassWeightCallback
    keras.utils.set_random_seed(0)
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    y = np.random.default_rng(5).choice(3, size=90, p=[0.6, 0.3, 0.1])
    x = np.random.default_rng(6).normal(size=(90, 3)).astype("float32")
    callback = ClassWeightCallback(3)
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(16).apply(callback.transform)
    with strategy.scope():
        model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(3)])
        model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = model.fit(ds, epochs=2, verbose=0, callbacks=[callback])
    print(json.dumps({"replicas": strategy.num_replicas_in_sync,
                      "counts": callback.counts, "weights": callback.class_weights,
                      "loss": history.history["loss"], "y": y.tolist()}))
    """
)


def start_in_background(tmp_path_factory, launch):
    """The two-logical-CPU child, started at session start (see tests/conftest.py)."""
    return launch([sys.executable, "-c", MIRRORED_SCRIPT], env=dict(os.environ),
                  cwd=os.getcwd(), timeout=300)


def test_callback_under_mirrored_strategy(background):
    done = background[__name__].result()
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    y = np.array(result["y"])
    assert result["replicas"] == 2
    assert [result["counts"][str(c)] for c in range(3)] == (2 * np.bincount(y)).tolist()
    expected = _sklearn_balanced(np.bincount(y))
    got = {int(c): w for c, w in result["weights"].items()}
    assert got == pytest.approx(expected, rel=1e-12)
    assert all(math.isfinite(v) for v in result["loss"])


def test_public_names_exported():
    for name in [
        "ClassWeightCallback", "PriorCorrection", "adjust_logits", "class_weights",
        "correct_probabilities", "initial_bias", "with_sample_weights",
    ]:
        assert name in tfbalance.__all__

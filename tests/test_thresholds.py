import importlib.util
import json
import os
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf
from sklearn.metrics import fbeta_score

import tfbalance
from tfbalance import DecisionThreshold, ThresholdTuningCallback, tune_threshold


def _identity(x):
    return x


def _data(n=600, labels=None, seed=0):
    rng = np.random.default_rng(seed)
    shape = (n,) if labels is None else (n, labels)
    y = (rng.random(shape) < 0.15).astype(np.int64)
    # Scores that carry signal, on a grid-unfriendly scale, with ties at grid points.
    p = np.clip(0.4 * y + 0.6 * rng.random(shape), 0, 1).astype(np.float32)
    p[:10] = 0.25
    w = rng.uniform(0.2, 3.0, n).astype(np.float32)
    return y, p, w


def _sklearn_search(y, p, grid, beta=1.0, w=None):
    scores = np.array([
        fbeta_score(y, (p > t).astype(int), beta=beta, sample_weight=w, zero_division=0)
        for t in grid
    ])
    return grid[np.argmax(scores)], scores.max(), scores


@pytest.mark.parametrize("metric, beta", [("f1", None), ("fbeta", 2.0), ("fbeta", 0.5)])
@pytest.mark.parametrize("weighted", [False, True])
def test_equals_exhaustive_sklearn_search(metric, beta, weighted):
    y, p, w = _data()
    data = (p, y, w) if weighted else (p, y)
    tuned = tune_threshold(_identity, data, metric=metric, beta=beta, num_thresholds=41,
                           batch_size=64)
    grid = np.linspace(0, 1, 41).astype(np.float32)
    threshold, score, scores = _sklearn_search(y, p, grid, beta or 1.0, w if weighted else None)
    # BestF1 sums weights in float32 (one rounding per batch), sklearn in float64.
    rtol = 1e-6 if weighted else 1e-9
    np.testing.assert_allclose(tuned.scores, scores, rtol=rtol, atol=1e-12)
    assert tuned.threshold == pytest.approx(float(threshold), abs=0)
    assert tuned.score == pytest.approx(score, rel=rtol)
    assert tuned.metric == metric and tuned.beta == (beta or 1.0)


def test_multi_label_thresholds_per_label_equal_sklearn():
    y, p, _ = _data(labels=3)
    ds = tf.data.Dataset.from_tensor_slices((p, y)).batch(50)
    tuned = tune_threshold(_identity, ds, num_thresholds=21)
    grid = np.linspace(0, 1, 21).astype(np.float32)
    assert tuned.threshold.shape == (3,) and tuned.scores.shape == (3, 21)
    for label in range(3):
        threshold, score, scores = _sklearn_search(y[:, label], p[:, label], grid)
        np.testing.assert_allclose(tuned.scores[label], scores, rtol=1e-9, atol=1e-12)
        assert tuned.threshold[label] == pytest.approx(float(threshold), abs=0)
        assert tuned.score[label] == pytest.approx(score, rel=1e-9)


def test_logits_and_metric_instances():
    y, p, _ = _data()
    logits = np.log(np.clip(p, 1e-6, 1 - 1e-6) / np.clip(1 - p, 1e-6, 1)).astype(np.float32)
    ds = tf.data.Dataset.from_tensor_slices((logits, y)).batch(100)
    from_logits = tune_threshold(_identity, ds, from_logits=True, num_thresholds=11)
    grid = np.linspace(0, 1, 11).astype(np.float32)
    probs = tf.sigmoid(logits).numpy()
    np.testing.assert_allclose(from_logits.scores, _sklearn_search(y, probs, grid)[2], rtol=1e-9)
    best = tune_threshold(_identity, (p, y), metric=tfbalance.BestF1(num_thresholds=11))
    np.testing.assert_array_equal(best.thresholds, grid)
    fbeta = tune_threshold(_identity, (p, y), metric=tfbalance.FBetaScore(beta=2.0),
                           num_thresholds=11)
    np.testing.assert_allclose(fbeta.scores, _sklearn_search(y, p, grid, beta=2.0)[2], rtol=1e-9)
    assert fbeta.metric == "fbeta"


def test_f1_curve_matches_best_f1():
    # The F-beta curves are read off BestF1's histogram; at beta=1 they are BestF1's own.
    y, p, _ = _data()
    metric = tfbalance.BestF1(num_thresholds=31)
    metric.update_state(y, p)
    tuned = tune_threshold(_identity, (p, y), num_thresholds=31)
    np.testing.assert_allclose(tuned.scores, metric.f1_curve().numpy(), rtol=1e-6)
    assert tuned.threshold == pytest.approx(float(metric.best_threshold()))


def test_with_a_keras_model_and_infinite_data_with_steps():
    y, p, _ = _data(n=256)
    x = p[:, None]
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1, activation="sigmoid")])
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(64)
    tuned = tune_threshold(model, ds.repeat(), steps=4, num_thresholds=51)
    scores = model.predict(x, verbose=0)[:, 0]
    expected = _sklearn_search(y, scores, np.linspace(0, 1, 51).astype(np.float32))
    assert tuned.threshold == pytest.approx(float(expected[0]), abs=0)
    np.testing.assert_allclose(tuned.scores, expected[2], rtol=1e-6)


def test_bad_arguments():
    y, p, _ = _data(n=20)
    with pytest.raises(ValueError, match="Invalid `metric`: expected 'f1', 'fbeta'"):
        tune_threshold(_identity, (p, y), metric="auc")
    with pytest.raises(ValueError, match="Invalid `beta`: metric='fbeta' needs a beta"):
        tune_threshold(_identity, (p, y), metric="fbeta")
    with pytest.raises(ValueError, match="Invalid `beta`: metric='f1' is beta=1"):
        tune_threshold(_identity, (p, y), beta=2.0)
    with pytest.raises(ValueError, match=r"Invalid `beta`: expected a finite number > 0\. Rec"):
        tune_threshold(_identity, (p, y), metric="fbeta", beta=-1.0)
    with pytest.raises(TypeError, match="Invalid `beta`"):
        tune_threshold(_identity, (p, y), metric="fbeta", beta="2")
    with pytest.raises(ValueError, match="Invalid `num_thresholds`: the BestF1 metric"):
        tune_threshold(_identity, (p, y), metric=tfbalance.BestF1(num_thresholds=11),
                       num_thresholds=21)
    with pytest.raises(ValueError, match="Invalid `num_thresholds`: expected an int >= 2"):
        tune_threshold(_identity, (p, y), num_thresholds=1)
    with pytest.raises(TypeError, match="Invalid `num_thresholds`"):
        tune_threshold(_identity, (p, y), num_thresholds=2.5)
    with pytest.raises(TypeError, match="Invalid `from_logits`: expected True or False"):
        tune_threshold(_identity, (p, y), from_logits="yes")
    with pytest.raises(TypeError, match="Invalid `model`"):
        tune_threshold("model", (p, y))
    with pytest.raises(TypeError, match="Invalid `validation_data`"):
        tune_threshold(_identity, [p, y])
    ds = tf.data.Dataset.from_tensor_slices((p, y))
    with pytest.raises(ValueError, match="Invalid `validation_data`: expected batches"):
        tune_threshold(_identity, ds)
    with pytest.raises(ValueError, match="Invalid `validation_data`: the dataset is infinite"):
        tune_threshold(_identity, ds.batch(4).repeat())
    with pytest.raises(ValueError, match="Invalid `validation_data`: it has no batches"):
        tune_threshold(_identity, ds.batch(4).take(0))
    with pytest.raises(ValueError, match=r"Invalid `validation_data`: expected elements"):
        tune_threshold(_identity, tf.data.Dataset.from_tensor_slices(p).batch(4))
    with pytest.raises(ValueError, match="needs 0/1 labels"):
        tune_threshold(_identity, (p, y + 1))


# --------------------------------------------------------------------------- layer


def test_layer_decisions_equal_the_tuning_rule():
    _, p, _ = _data(n=50, labels=2)
    grid_point = np.float32(0.25)  # exact ties must stay negative: the rule is p > t
    np.testing.assert_array_equal(DecisionThreshold(0.25)(p).numpy(), (p > grid_point))
    per_label = DecisionThreshold([0.1, 0.9])(p).numpy()
    np.testing.assert_array_equal(per_label, p > np.array([0.1, 0.9], np.float32))
    logits = np.array([[-2.0], [0.0], [0.1]], np.float32)
    decided = DecisionThreshold(0.5, from_logits=True)(logits).numpy()
    assert decided.dtype == np.int32 and decided.ravel().tolist() == [0, 0, 1]


def test_layer_threshold_setter_and_config():
    layer = DecisionThreshold([0.2, 0.3], name="decide")
    layer.threshold = [0.4, 0.6]
    assert layer.threshold == pytest.approx([0.4, 0.6])
    clone = DecisionThreshold.from_config(layer.get_config())
    assert clone.threshold == pytest.approx([0.4, 0.6]) and clone.name == "decide"
    with pytest.raises(ValueError, match="Invalid `threshold`: the layer holds 2"):
        layer.threshold = 0.5
    with pytest.raises(ValueError, match=r"Invalid `threshold`: expected a number in \[0, 1\]"):
        DecisionThreshold(1.5)
    with pytest.raises(ValueError, match="Invalid `threshold`"):
        DecisionThreshold([])
    with pytest.raises(TypeError, match="Invalid `threshold`"):
        DecisionThreshold("0.5")
    with pytest.raises(TypeError, match="Invalid `from_logits`"):
        DecisionThreshold(0.5, from_logits=1)
    with pytest.raises(ValueError, match="2 per-label thresholds for inputs with 3 labels"):
        DecisionThreshold([0.2, 0.3])(np.zeros((4, 3), np.float32))
    assert keras.saving.get_registered_name(DecisionThreshold) == "tfbalance>DecisionThreshold"


_SAVE_ON_JAX = """
import json, sys
import numpy as np, keras, tfbalance
path = sys.argv[1]
x = np.linspace(-2, 2, 9, dtype="float32")[:, None]
keras.utils.set_random_seed(0)
model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1, activation="sigmoid"),
                          tfbalance.DecisionThreshold(0.5)])
model.layers[-1].threshold = 0.37
model.save(path)
loaded = keras.saving.load_model(path)
print(json.dumps({
    "backend": keras.backend.backend(), "threshold": loaded.layers[-1].threshold,
    "decisions": np.asarray(loaded.predict(x, verbose=0)).ravel().tolist(),
    "probs": np.asarray(loaded.layers[0](x)).ravel().tolist(),
}))
"""


def start_in_background(tmp_path_factory, launch):
    """The JAX child (Keras picks its backend at import), started at session start.

    Returns ``(run, saved model path)``, or None without jax (see tests/conftest.py).
    """
    if importlib.util.find_spec("jax") is None:
        return None
    path = tmp_path_factory.mktemp("jax_saved_model") / "model.keras"
    env = {**os.environ, "KERAS_BACKEND": "jax", "PYTHONPATH": os.getcwd(),
           "TF_CPP_MIN_LOG_LEVEL": "3"}
    return launch([sys.executable, "-c", _SAVE_ON_JAX, str(path)], env=env, cwd=os.getcwd(),
                  timeout=300), path


def test_layer_ships_inside_a_saved_keras_model(tmp_path):
    path = str(tmp_path / "model.keras")
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1, activation="sigmoid"),
                              DecisionThreshold(0.5)])
    model.layers[-1].threshold = 0.37
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert loaded.layers[-1].threshold == pytest.approx(0.37)
    x = np.linspace(-2, 2, 9, dtype="float32")[:, None]
    probs = loaded.layers[0](x).numpy()
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), (probs > np.float32(0.37)))


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="jax is not installed")
def test_layer_save_load_on_jax_backend(background):
    # Saved on JAX, loaded on JAX and on TensorFlow (this process's backend): the same
    # threshold, the same decisions.
    run, path = background[__name__]
    done = run.result()
    assert done.returncode == 0, done.stderr[-3000:]
    on_jax = json.loads(done.stdout.strip().splitlines()[-1])
    loaded = keras.saving.load_model(str(path))
    x = np.linspace(-2, 2, 9, dtype="float32")[:, None]
    on_tf = {
        "backend": keras.backend.backend(), "threshold": loaded.layers[-1].threshold,
        "decisions": np.asarray(loaded.predict(x, verbose=0)).ravel().tolist(),
        "probs": np.asarray(loaded.layers[0](x)).ravel().tolist(),
    }
    assert (on_jax["backend"], on_tf["backend"]) == ("jax", "tensorflow")
    for result in (on_jax, on_tf):
        assert result["threshold"] == pytest.approx(0.37)
        assert result["decisions"] == [int(p > np.float32(0.37)) for p in result["probs"]]
    np.testing.assert_allclose(on_jax["probs"], on_tf["probs"], rtol=1e-6)
    assert on_jax["decisions"] == on_tf["decisions"]


# --------------------------------------------------------------------------- callback


def test_callback_logs_the_threshold_tuned_on_the_final_weights():
    y, p, _ = _data(n=256)
    x = p[:, None]
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1, activation="sigmoid")])
    model.compile("adam", "binary_crossentropy")
    layer = DecisionThreshold(0.5)
    tuning = ThresholdTuningCallback((x, y), layer=layer, num_thresholds=51)
    history = model.fit(x, y, epochs=2, batch_size=64, verbose=0, callbacks=[tuning])
    logged = history.history
    assert len(logged["val_best_threshold"]) == 2 and len(logged["val_best_f1"]) == 2
    final = tune_threshold(model, (x, y), num_thresholds=51)
    assert logged["val_best_threshold"][-1] == final.threshold
    assert logged["val_best_f1"][-1] == pytest.approx(final.score)
    assert layer.threshold == pytest.approx(final.threshold)
    model.fit(x, y, epochs=1, verbose=0, callbacks=[tuning])
    assert len(tuning.history) == 1  # reset when training begins


def test_callback_multi_label_logs_and_bad_options():
    y, p, _ = _data(n=64, labels=2)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2, activation="sigmoid")])
    model.compile("sgd", "mse")
    tuning = ThresholdTuningCallback((p, y), metric="fbeta", beta=2.0, num_thresholds=11)
    logs = model.fit(p, y.astype("float32"), epochs=1, verbose=0,
                     callbacks=[tuning]).history
    tuned = tune_threshold(model, (p, y), metric="fbeta", beta=2.0, num_thresholds=11)
    for i in range(2):
        assert logs[f"val_best_threshold_{i}"][0] == pytest.approx(tuned.threshold[i])
        assert logs[f"val_best_fbeta_{i}"][0] == pytest.approx(tuned.score[i])
    with pytest.raises(TypeError, match=r"Invalid options \['thresholds'\]"):
        ThresholdTuningCallback((p, y), thresholds=3)
    with pytest.raises(ValueError, match="Invalid `metric`"):
        ThresholdTuningCallback((p, y), metric="auc")
    with pytest.raises(TypeError, match="Invalid `layer`"):
        ThresholdTuningCallback((p, y), layer=keras.layers.Dense(1))


"""Runs tfbalance.metrics (and an interleave schedule fit) on the Keras backend named by
KERAS_BACKEND and prints the results.

Started by tests/test_backends.py in a fresh process per backend (Keras picks its backend at
import). Everything is seeded; the parent recomputes the same data with :func:`cases` and
:func:`fit_data` and compares with scikit-learn, so the oracle lives in the test.

    KERAS_BACKEND=jax python tests/backend_checks/metrics_run.py OUT.json
"""

from __future__ import annotations

import json
import math
import sys
from typing import Any

import numpy as np

N, BATCHES, C = 180, 6, 3


def cases() -> list[dict[str, Any]]:
    """Seeded inputs, one per form: what the metrics are fed and the kwargs they get."""
    rng = np.random.default_rng(0)
    y = (rng.random(N) < 0.25).astype("int64")
    p = np.clip(0.35 * y + 0.65 * rng.random(N), 0, 1).astype("float32")
    ym = rng.choice(C, size=N, p=[0.6, 0.3, 0.1])
    logits = rng.normal(size=(N, C)).astype("float32")
    logits[np.arange(N), ym] += 1.0
    yl = (rng.random((N, C)) < np.array([0.5, 0.2, 0.1])).astype("int64")
    pl = np.clip(0.4 * yl + 0.6 * rng.random((N, C)), 0, 1).astype("float32")
    w = rng.random(N).astype("float32") * 3
    return [
        {"form": "binary", "y_true": y, "y_pred": p, "kwargs": {"threshold": 0.3}},
        {"form": "binary_logits", "y_true": y[:, None],
         "y_pred": (np.log(p) - np.log1p(-p))[:, None], "kwargs": {"from_logits": True}},
        {"form": "multiclass_sparse", "y_true": ym, "y_pred": logits,
         "kwargs": {"average": "macro"}},
        {"form": "multiclass_onehot", "y_true": np.eye(C, dtype="float32")[ym],
         "y_pred": logits, "kwargs": {"average": "weighted"}, "weights": w},
        {"form": "multilabel", "y_true": yl, "y_pred": pl,
         "kwargs": {"multi_label": True, "threshold": [0.3, 0.5, 0.6], "average": None}},
    ]


def fit_data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(256, 4)).astype("float32")
    y = (x[:, 0] + 0.5 * rng.normal(size=256) > 0.7).astype("int64")
    return x, y


def _floats(value: Any) -> Any:
    array = np.asarray(value, dtype=np.float64)
    return [None if math.isnan(v) else v for v in array.reshape(-1).tolist()]


def _feed(metric: Any, case: dict[str, Any]) -> None:
    weights = case.get("weights")
    for part in np.array_split(np.arange(N), BATCHES):
        metric.update_state(case["y_true"][part], case["y_pred"][part],
                            None if weights is None else weights[part])
    # An empty batch (a filter upstream can leave one) is legal and adds nothing.
    metric.update_state(case["y_true"][:0], case["y_pred"][:0],
                        None if weights is None else weights[:0])


def main(out_path: str) -> None:
    import keras

    from tfbalance import metrics as tm

    out: dict[str, Any] = {"backend": keras.backend.backend(), "eager": {}, "best": {}}
    classes = {"F1Score": tm.F1Score, "FBetaScore": tm.FBetaScore, "Precision": tm.Precision,
               "Recall": tm.Recall}
    for case in cases():
        for name, cls in classes.items():
            kwargs = dict(case["kwargs"], **({"beta": 2.0} if name == "FBetaScore" else {}))
            metric = cls(**kwargs)
            _feed(metric, case)
            out["eager"][f"{case['form']}/{name}"] = _floats(metric.result())
        if case["form"] in ("binary", "multilabel"):
            best = tm.BestF1(num_thresholds=21, multi_label=case["form"] == "multilabel",
                             average=None if case["form"] == "multilabel" else "auto")
            _feed(best, case)
            out["best"][case["form"]] = [_floats(best.result()), _floats(best.best_threshold())]

    # Past float32's 2**24: exact where float64 exists, and with compensated float32 sums
    # where it does not (JAX without x64).
    big = tm.Recall(num_classes=2)
    big.update_state([1], [0.1], [2.0**24])  # one false negative of weight 2**24
    for _ in range(10):
        big.update_state([1], [0.9])  # ten true positives: float32 alone would drop them
    out["big"] = [float(v) for v in keras.ops.convert_to_numpy(big.support)]
    out["count_dtype"] = big._count_dtype

    # One model serves every step, so each backend traces as few step functions as it can
    # (a train, a test and a predict step, and the reloaded model's test step): no hidden
    # relu (TensorFlow's relu turns NaN into 0) and mse (torch's binary cross-entropy
    # refuses NaN inputs before any metric sees them), for the NaN check at the end.
    import tensorflow as tf

    import tfbalance

    x, y = fit_data()
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="mse", metrics=[
        tm.F1Score(), tm.FBetaScore(beta=2.0, name="f2"), tm.Precision(), tm.Recall(),
        tm.BestF1(num_thresholds=11)])
    # fit on a tf.data pipeline resampled and weighted by tfbalance (the metrics get the
    # sample weights inside the traced train step) ...
    train = (tf.data.Dataset.from_tensor_slices((x, y)).batch(64)
             .apply(tfbalance.undersample(counts=np.bincount(y), seed=0))
             .apply(tfbalance.with_sample_weights({0: 1.0, 1: 2.0})))
    history = model.fit(train, epochs=1, verbose=0)
    out["resampled_fit_keys"] = sorted(history.history)
    # ... evaluate and predict on arrays, then the same after a .keras save and load.
    out["evaluate"] = model.evaluate(x, y, batch_size=64, verbose=0, return_dict=True)
    out["prob"] = _floats(model.predict(x, batch_size=128, verbose=0)[:, 0])
    path = out_path + ".model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    out["reloaded"] = loaded.evaluate(x, y, batch_size=64, verbose=0, return_dict=True)

    # A diverged model: NaN predictions refuse the score inside evaluate (a traced step).
    x_bad = x.copy()
    x_bad[5, 0] = np.nan
    try:
        loaded.evaluate(x_bad, y, batch_size=64, verbose=0, return_dict=True)
        out["nan_evaluate"] = "no error"
    except ValueError as exc:
        out["nan_evaluate"] = str(exc)
    # ... and eagerly at the batch.
    try:
        tm.F1Score().update_state([0, 1], [0.2, float("nan")])
        out["nan_eager"] = "no error"
    except ValueError as exc:
        out["nan_eager"] = str(exc)

    # An interleave step schedule drives fit on this backend too, and two fits from the
    # same seeds train the same model: each epoch's batch weights are laid out at its start.
    def scheduled_fit():
        keras.utils.set_random_seed(0)
        streams = [tf.data.Dataset.from_tensor_slices((x[y == c], y[y == c])) for c in (0, 1)]
        schedule = tfbalance.LinearSchedule("natural", "balanced", duration=40, unit="step")
        data = tfbalance.interleave_by_class(streams, schedule, seed=3, batch_size=16)
        net = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
        net.compile(optimizer="sgd", loss="mse")
        logged = net.fit(data, epochs=2, verbose=0, shuffle=False,
                         callbacks=[tfbalance.InterleaveScheduleCallback(schedule)])
        weights = [keras.ops.convert_to_numpy(w).tolist() for w in net.weights]
        return weights, logged.history["interleave_weight_1"]

    (first, logged), (second, _) = scheduled_fit(), scheduled_fit()
    out["schedule"] = {"same_model": first == second, "logged_weight_1": logged}

    if keras.backend.backend() == "jax":
        import jax

        # The compensated float32 sums survive XLA (no reassociation of the TwoSum steps).
        jm = tm.Recall(num_classes=2)
        step = jax.jit(jm.stateless_update_state)
        state = [v.value for v in jm.variables]
        state = step(state, np.array([1]), np.array([0.1], "float32"),
                     np.array([2.0**24], "float32"))
        for _ in range(10):
            state = step(state, np.array([1]), np.array([0.9], "float32"),
                         np.array([1.0], "float32"))
        for variable, value in zip(jm.variables, state, strict=True):
            variable.assign(value)
        out["big_jit"] = [float(v) for v in np.asarray(jm.support)]

    with open(out_path, "w") as f:
        json.dump(out, f)


if __name__ == "__main__":
    main(sys.argv[1])

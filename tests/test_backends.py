"""tfbalance.metrics (against scikit-learn) and the interleave schedule callback on every
Keras 3 backend.

Keras picks its backend once, at import, so each backend runs in its own process
(tests/backend_checks/metrics_run.py with KERAS_BACKEND set); this file recomputes the
same seeded data and holds the oracle. A backend whose package is not installed is skipped.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import warnings

import numpy as np
import pytest
from sklearn.metrics import f1_score, fbeta_score, precision_recall_fscore_support

from tests.backend_checks import metrics_run

TOL = 1e-6
SCRIPT = os.path.join(os.path.dirname(__file__), "backend_checks", "metrics_run.py")
SCORE = {"F1Score": 2, "FBetaScore": 2, "Precision": 0, "Recall": 1}


def _prfs(y_true, y_pred, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return precision_recall_fscore_support(y_true, y_pred, zero_division=0, **kwargs)


def _expected(case, name):
    """scikit-learn's number for one case and one metric class."""
    kwargs = case["kwargs"]
    y, p = case["y_true"], case["y_pred"]
    beta = 2.0 if name == "FBetaScore" else 1.0
    form = case["form"]
    if form.startswith("binary"):
        prob = p.reshape(-1)
        if kwargs.get("from_logits"):
            prob = 1 / (1 + np.exp(-prob.astype("float64")))
        pred = prob > kwargs.get("threshold", 0.5)
        out = _prfs(y.reshape(-1), pred, beta=beta, average="binary")
    elif form.startswith("multiclass"):
        truth = y.argmax(-1) if y.ndim == 2 else y
        out = _prfs(truth, p.argmax(-1), beta=beta, average=kwargs["average"],
                    labels=list(range(metrics_run.C)), sample_weight=case.get("weights"))
    else:
        pred = p > np.array(kwargs["threshold"], "float32")
        out = _prfs(y, pred, beta=beta, average=None)
    return np.atleast_1d(out[SCORE[name]])


def _best(y, p, thresholds):
    """Best F1 over `p > t` for each grid point and the smallest threshold reaching it."""
    scores = [f1_score(y, p > t, zero_division=0) for t in thresholds]
    return max(scores), float(thresholds[int(np.argmax(scores))])


BACKENDS = ("jax", "torch", "tensorflow")


def start_in_background(tmp_path_factory, launch):
    """One child per installed backend, started at session start (see tests/conftest.py)."""
    runs = {}
    for backend in BACKENDS:
        if backend != "tensorflow" and importlib.util.find_spec(backend) is None:
            continue
        out = tmp_path_factory.mktemp(f"backend_{backend}") / f"{backend}.json"
        env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3",
                   PYTHONPATH=os.pathsep.join([os.getcwd()] + sys.path))
        runs[backend] = (launch([sys.executable, SCRIPT, str(out)], env=env, cwd=os.getcwd(),
                                timeout=420), out)
    return runs


def _run(backend, background):
    if backend != "tensorflow" and importlib.util.find_spec(backend) is None:
        pytest.skip(f"{backend} is not installed")
    run, out = background[__name__][backend]
    done = run.result()
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(out.read_text())


@pytest.mark.parametrize("backend", BACKENDS)
def test_interleave_schedule_callback_on_backend(backend, background):
    from tfbalance import LinearSchedule

    out = _run(backend, background)["schedule"]
    assert out["same_model"] is True
    # 256 rows in batches of 16: 16 steps an epoch, logged after each epoch's last step.
    _, y = metrics_run.fit_data()
    schedule = LinearSchedule("natural", "balanced", duration=40, unit="step")
    expected = [schedule.weights(t, counts=np.bincount(y))[1] for t in (15, 31)]
    np.testing.assert_allclose(out["logged_weight_1"], expected, rtol=1e-6)


@pytest.mark.parametrize("backend", BACKENDS)
def test_metrics_on_backend_match_sklearn(backend, background):
    out = _run(backend, background)
    assert out["backend"] == backend
    cases = {case["form"]: case for case in metrics_run.cases()}

    # Eager updates over several batches and an empty one, every class and input form.
    assert len(out["eager"]) == len(cases) * len(SCORE)
    for key, got in out["eager"].items():
        form, name = key.split("/")
        np.testing.assert_allclose(got, _expected(cases[form], name), rtol=0, atol=TOL,
                                   err_msg=key)

    grid = np.linspace(0, 1, 21).astype("float32")
    y, p = cases["binary"]["y_true"], cases["binary"]["y_pred"]
    best, at = _best(y, p, grid)
    assert out["best"]["binary"][0][0] == pytest.approx(best, abs=TOL)
    assert out["best"]["binary"][1][0] == pytest.approx(at, abs=TOL)
    y, p = cases["multilabel"]["y_true"], cases["multilabel"]["y_pred"]
    for label in range(metrics_run.C):
        best, at = _best(y[:, label], p[:, label], grid)
        assert out["best"]["multilabel"][0][label] == pytest.approx(best, abs=TOL)
        assert out["best"]["multilabel"][1][label] == pytest.approx(at, abs=TOL)

    # Counts past 2**24 stay exact (float64, or compensated float32 on JAX without x64).
    assert out["big"] == [0.0, 2.0**24 + 10]
    if backend == "jax":
        assert out["count_dtype"] in ("float32", "float64")
        assert out["big_jit"] == [0.0, 2.0**24 + 10]
    else:
        assert out["count_dtype"] == "float64"

    # fit / evaluate agree with scikit-learn on the model's own predictions ...
    _, y = metrics_run.fit_data()
    prob = np.array(out["prob"], dtype="float32")
    pred = prob > 0.5
    scores = out["evaluate"]
    assert scores["f1_score"] == pytest.approx(f1_score(y, pred, zero_division=0), abs=TOL)
    assert scores["f2"] == pytest.approx(fbeta_score(y, pred, beta=2, zero_division=0), abs=TOL)
    precision, recall, _, _ = _prfs(y, pred, average="binary")
    assert scores["precision_score"] == pytest.approx(precision, abs=TOL)
    assert scores["recall_score"] == pytest.approx(recall, abs=TOL)
    assert scores["best_f1"] == pytest.approx(
        _best(y, prob, np.linspace(0, 1, 11).astype("float32"))[0], abs=TOL)
    # ... and the same after a .keras save and load.
    for key, value in scores.items():
        assert out["reloaded"][key] == pytest.approx(value, abs=TOL), key
    # A tfbalance-resampled tf.data pipeline trains the reloaded model with its metrics.
    assert {"f1_score", "best_f1", "loss"} <= set(out["resampled_fit_keys"])

    # NaN predictions never give a score: refused inside evaluate and at an eager update.
    assert "Invalid `y_pred`" in out["nan_evaluate"], out["nan_evaluate"]
    assert "Invalid `y_pred`" in out["nan_eager"] and "y_pred[1]=nan" in out["nan_eager"]

"""tfbalance.metrics against live scikit-learn, for every input form and average."""

from __future__ import annotations

import json
import math
import os
import sys
import textwrap
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf
from sklearn.metrics import f1_score, precision_recall_fscore_support

from tfbalance import metrics
from tfbalance.metrics import BestF1, F1Score, FBetaScore, Precision, Recall

N = 240
BATCHES = 8
C = 4
TOL = 1e-6


def _sklearn_prfs(y_true, y_pred, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return precision_recall_fscore_support(y_true, y_pred, **kwargs)


def _assert_close(ours, expected):
    ours = np.asarray(ours, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    np.testing.assert_allclose(ours, expected, rtol=0, atol=TOL, equal_nan=True)


def _make(form, seed=0, n=N):
    """(y_true, y_pred as fed, sklearn y_true, sklearn y_pred, metric kwargs, labels)."""
    rng = np.random.default_rng(seed)
    if form.startswith("binary"):
        y = (rng.random(n) < 0.2).astype("int64")  # imbalanced: 20 % positives
        p = np.clip(0.35 * y + 0.65 * rng.random(n), 0, 1).astype("float32")
        threshold = 0.3 if form == "binary_threshold" else 0.5
        kwargs = {"threshold": threshold} if threshold != 0.5 else {}
        pred = (p > threshold).astype("int64")
        fed_pred = p
        if form == "binary_logits":
            fed_pred = np.log(p) - np.log1p(-p)
            kwargs["from_logits"] = True
        if form == "binary_col":
            fed_pred, y_fed = p[:, None], y[:, None]
        else:
            y_fed = y
        return y_fed, fed_pred.astype("float32"), y, pred, kwargs, [0, 1]
    if form.startswith("multiclass"):
        y = rng.choice(C, size=n, p=[0.6, 0.25, 0.1, 0.05])
        logits = rng.normal(size=(n, C)).astype("float32")
        logits[np.arange(n), y] += 1.0
        pred = logits.argmax(-1)
        y_fed = {"multiclass_sparse": y, "multiclass_col": y[:, None],
                 "multiclass_onehot": np.eye(C, dtype="float32")[y]}[form]
        return y_fed, logits, y, pred, {}, list(range(C))
    # multi-label
    y = (rng.random((n, C)) < np.array([0.5, 0.2, 0.1, 0.05])).astype("int64")
    p = np.clip(0.4 * y + 0.6 * rng.random((n, C)), 0, 1).astype("float32")
    if form == "multilabel_list":
        thresholds = [0.3, 0.5, 0.6, 0.4]
        kwargs = {"multi_label": True, "threshold": thresholds}
        pred = (p > np.array(thresholds, dtype="float32")).astype("int64")
    else:
        kwargs = {"multi_label": True}
        pred = (p > 0.5).astype("int64")
    return y, p, y, pred, kwargs, list(range(C))


def _weights(kind, n=N, seed=1):
    if kind is None:
        return None
    w = np.random.default_rng(seed).integers(0, 4, n).astype("float32") / 2.0
    return w if kind == "vector" else w[:, None]


def _feed(metric, y_true, y_pred, weights, update=None):
    update = update or metric.update_state
    for idx in np.array_split(np.arange(len(y_pred)), BATCHES):
        w = None if weights is None else weights[idx]
        update(y_true[idx], y_pred[idx], w)


FORMS = [
    "binary", "binary_col", "binary_logits", "binary_threshold",
    "multiclass_sparse", "multiclass_col", "multiclass_onehot",
    "multilabel", "multilabel_list",
]


def _averages(form):
    base = ["micro", "macro", "weighted", None]
    return (["binary"] + base) if form.startswith("binary") else base


CASES = [
    (form, average, weight)
    for form in FORMS
    for average in _averages(form)
    for weight in (None, "vector", "column")
]


@pytest.mark.parametrize("form,average,weight", CASES)
def test_matches_sklearn_for_every_form_and_average(form, average, weight):
    y_fed, p_fed, y, pred, kwargs, labels = _make(form)
    w = _weights(weight)
    metric = FBetaScore(beta=2, average=average, **kwargs)
    _feed(metric, y_fed, p_fed, w)
    sw = None if w is None else w.reshape(-1)
    extra = {"labels": labels} if average != "binary" else {}
    expected = _sklearn_prfs(y, pred, beta=2, average=average, sample_weight=sw, **extra)
    ours = metric.precision_recall_fscore_support()
    for got, want in zip(ours, expected, strict=True):
        if want is None:
            assert got is None
        else:
            _assert_close(got, want)
    _assert_close(metric.result(), expected[2])


@pytest.mark.parametrize(
    "cls,index", [(F1Score, 2), (Precision, 0), (Recall, 1)], ids=["f1", "precision", "recall"]
)
@pytest.mark.parametrize("form", ["binary", "multiclass_onehot", "multilabel_list"])
def test_thin_subclasses_return_their_score(cls, index, form):
    y_fed, p_fed, y, pred, kwargs, labels = _make(form, seed=3)
    metric = cls(average=None, **kwargs)
    _feed(metric, y_fed, p_fed, _weights("vector"))
    expected = _sklearn_prfs(
        y, pred, average=None, labels=labels, sample_weight=_weights("vector")
    )[index]
    _assert_close(metric.result(), expected)


@pytest.mark.parametrize("form", ["binary", "multiclass_sparse", "multiclass_onehot", "multilabel"])
def test_default_average_per_problem_type(form):
    y_fed, p_fed, y, pred, kwargs, labels = _make(form, seed=4)
    metric = F1Score(**kwargs)
    _feed(metric, y_fed, p_fed, None)
    if form == "binary":
        assert metric.resolved_average == "binary"
        expected = f1_score(y, pred)
    else:
        assert metric.resolved_average == "macro"
        expected = f1_score(y, pred, average="macro", labels=labels)
    _assert_close(metric.result(), expected)


def test_default_on_a_sigmoid_output_is_binary_f1_not_keras_all_positive():
    y_fed, p_fed, y, pred, _, _ = _make("binary_col", seed=5)
    ours = F1Score()
    ours.update_state(y_fed, p_fed)
    _assert_close(ours.result(), f1_score(y, pred))
    theirs = keras.metrics.F1Score()
    theirs.update_state(y_fed.astype("float32"), p_fed)
    prevalence = y.mean()
    # Keras' default argmax over one column scores everything positive.
    np.testing.assert_allclose(float(theirs.result()[0]), 2 * prevalence / (1 + prevalence), 1e-5)
    assert abs(float(ours.result()) - float(theirs.result()[0])) > 0.05


def test_two_column_softmax_is_binary_with_pos_label():
    rng = np.random.default_rng(6)
    y = rng.integers(0, 2, 50)
    p = rng.random((50, 2)).astype("float32")
    for pos_label in (0, 1):
        metric = F1Score(pos_label=pos_label)
        _feed(metric, y, p, None)
        _assert_close(metric.result(), f1_score(y, p.argmax(-1), pos_label=pos_label))


# ---------------------------------------------------------------- degenerate batches


DEGENERATE = {
    # class 2 never true and never predicted; class 3 predicted, never true; class 1 true,
    # never predicted.
    "multiclass": (np.array([0, 0, 1, 1, 0]), np.array([0, 3, 0, 0, 0]), 4),
    # no positive predicted at all.
    "binary_no_predicted": (np.array([1, 0, 1, 0]), np.array([0, 0, 0, 0]), 2),
    # no positives at all, none predicted.
    "binary_empty": (np.array([0, 0, 0]), np.array([0, 0, 0]), 2),
}


@pytest.mark.parametrize("zero_division", [0, 1, math.nan], ids=["0", "1", "nan"])
@pytest.mark.parametrize(
    "case,average",
    [(case, average) for case in sorted(DEGENERATE)
     for average in ["binary", "micro", "macro", "weighted", None]
     if not (average == "binary" and DEGENERATE[case][2] != 2)],
)
def test_zero_division_as_sklearn(case, average, zero_division):
    y, pred, num_classes = DEGENERATE[case]
    metric = FBetaScore(beta=0.5, average=average, num_classes=num_classes,
                        zero_division=zero_division)
    metric.update_state(y, np.eye(num_classes, dtype="float32")[pred])
    extra = {"labels": list(range(num_classes))} if average != "binary" else {}
    expected = _sklearn_prfs(y, pred, beta=0.5, average=average,
                             zero_division=zero_division, **extra)
    for got, want in zip(metric.precision_recall_fscore_support(), expected, strict=True):
        if want is not None:
            _assert_close(got, want)


@pytest.mark.parametrize("zero_division", [0, 1, math.nan], ids=["0", "1", "nan"])
def test_weighted_average_without_support_falls_back_as_sklearn(zero_division):
    # No true label at all: every support is 0, sklearn averages the non-NaN scores plainly.
    y = np.zeros((4, 3), "int64")
    pred = np.array([[1, 0, 0], [0, 0, 0], [1, 1, 0], [0, 0, 0]])
    metric = FBetaScore(average="weighted", multi_label=True, zero_division=zero_division)
    metric.update_state(y, pred.astype("float32"))
    expected = _sklearn_prfs(y, pred, average="weighted", zero_division=zero_division)
    for got, want in zip(metric.precision_recall_fscore_support()[:3], expected[:3], strict=True):
        _assert_close(got, want)


# ---------------------------------------------------------------- graph mode, state


def test_inside_tf_function_with_unknown_batch_size_and_reset():
    y_fed, p_fed, y, pred, _, labels = _make("multiclass_sparse", seed=7)
    metric = F1Score(average="weighted", num_classes=C)
    update = tf.function(
        metric.update_state,
        input_signature=[tf.TensorSpec([None], tf.int64), tf.TensorSpec([None, C], tf.float32),
                         tf.TensorSpec([None], tf.float32)],
    )
    w = _weights("vector")
    for _ in range(2):  # the second round checks reset_state
        metric.reset_state()
        _feed(metric, y_fed, p_fed, w, update=update)
        expected = f1_score(y, pred, average="weighted", labels=labels, sample_weight=w)
        _assert_close(metric.result(), expected)


@pytest.mark.parametrize(
    "form,cls", [("multiclass_sparse", F1Score), ("binary_col", F1Score),
                 ("multilabel_list", F1Score), ("binary", BestF1)],
)
def test_update_compiles_with_xla(form, cls):
    # model.fit jit-compiles the step (metrics included) on GPUs.
    y_fed, p_fed, y, pred, kwargs, labels = _make(form, seed=12)
    if cls is BestF1:
        metric, expected = BestF1(num_thresholds=21), None
    else:
        metric = F1Score(average=None, **kwargs)
        expected = _sklearn_prfs(y, pred, average=None, labels=labels)[2]
    _feed(metric, y_fed, p_fed, None, update=tf.function(metric.update_state, jit_compile=True))
    if expected is None:
        expected = _best_f1_oracle(y, p_fed, None, metric.thresholds)[0]
    _assert_close(metric.result(), expected)


def test_lazy_num_classes_and_result_before_any_update():
    metric = F1Score(average=None)
    assert float(metric.result()) == 0.0
    assert metric.num_classes is None and metric.resolved_average is None
    with pytest.raises(ValueError, match="seen no batch"):
        metric.precision_recall_fscore_support()
    metric.update_state([0, 4], np.eye(5, dtype="float32")[[0, 4]])
    assert metric.num_classes == 5
    _assert_close(metric.result(), [1, 0, 0, 0, 1])


def test_counts_stay_exact_past_float32_range():
    metric = F1Score(num_classes=2)
    metric.update_state([1], [0.9], [2.0**25])  # one true positive of weight 2**25
    metric.update_state([1, 1], [0.9, 0.1])  # float32 counts would drop these
    assert metric.true_positives.numpy().tolist() == [0.0, 2.0**25 + 1]
    assert metric.support.numpy().tolist() == [0.0, 2.0**25 + 2]
    assert metric.false_positives.numpy().tolist() == [1.0, 0.0]
    assert metric.false_negatives.numpy().tolist() == [0.0, 1.0]


@pytest.mark.parametrize(
    "cls,kwargs",
    [(F1Score, {"average": "micro", "threshold": 0.4, "zero_division": 1}),
     (FBetaScore, {"beta": 0.5, "average": None, "num_classes": 3}),
     (Precision, {"multi_label": True, "threshold": [0.2, 0.7], "from_logits": True}),
     (Recall, {"pos_label": 0, "zero_division": math.nan}),
     (BestF1, {"num_thresholds": 11, "multi_label": True, "average": "micro"})],
)
def test_config_round_trip(cls, kwargs):
    metric = cls(name="m", **kwargs)
    config = metric.get_config()
    clone = cls.from_config(config)
    assert clone.get_config() == config or (
        math.isnan(config.get("zero_division", 0)) and json.dumps(clone.get_config())
        == json.dumps(config)
    )
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(metric))
    assert type(restored) is cls
    assert restored.get_config().keys() == config.keys()


# ---------------------------------------------------------------- BestF1


def _best_f1_oracle(y, p, w, thresholds):
    scores = []
    for t in thresholds:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            scores.append(f1_score(y, p > t, sample_weight=w, zero_division=0))
    scores = np.array(scores)
    return scores.max(), thresholds[scores.argmax()], scores


@pytest.mark.parametrize("weight", [None, "vector"])
@pytest.mark.parametrize("form", ["binary", "binary_col", "binary_logits"])
def test_best_f1_binary_matches_sklearn_scan(form, weight):
    y_fed, p_fed, y, _, kwargs, _ = _make(form, seed=8)
    w = _weights(weight)
    metric = BestF1(num_thresholds=21, from_logits=kwargs.get("from_logits", False))
    _feed(metric, y_fed, p_fed, w)
    p = _make("binary", seed=8)[1]
    best, threshold, curve = _best_f1_oracle(y, p, w, metric.thresholds)
    _assert_close(metric.f1_curve(), curve)
    _assert_close(metric.result(), best)
    assert float(metric.best_threshold()) == pytest.approx(float(threshold))


@pytest.mark.parametrize("average", ["micro", "macro", None])
def test_best_f1_multi_label(average):
    y, p, *_ = _make("multilabel", seed=9)
    w = _weights("column")
    metric = BestF1(num_thresholds=11, multi_label=True, average=average)
    _feed(metric, y, p, w)
    grid = metric.thresholds
    sw = w.reshape(-1)
    if average == "micro":
        scores = []
        for t in grid:
            scores.append(_sklearn_prfs(y, p > t, average="micro", sample_weight=sw,
                                        zero_division=0)[2])
        expected, threshold = max(scores), grid[int(np.argmax(scores))]
    else:
        per_label = [_best_f1_oracle(y[:, j], p[:, j], sw, grid) for j in range(C)]
        best = np.array([b for b, _, _ in per_label])
        threshold = np.array([t for _, t, _ in per_label])
        expected = best if average is None else best.mean()
    _assert_close(metric.result(), expected)
    _assert_close(metric.best_threshold(), threshold)


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "kwargs,error,match",
    [
        ({"average": "samples"}, ValueError, "Invalid `average`"),
        ({"average": "Macro"}, ValueError, "Invalid `average`"),
        ({"beta": 0}, ValueError, "Invalid `beta`"),
        ({"beta": -1.5}, ValueError, "Invalid `beta`"),
        ({"beta": math.inf}, ValueError, "Invalid `beta`"),
        ({"beta": "2"}, TypeError, "Invalid `beta`"),
        ({"beta": True}, TypeError, "Invalid `beta`"),
        ({"threshold": 1.5}, ValueError, r"Invalid `threshold`.*threshold=1.5"),
        ({"threshold": -0.1, "from_logits": True}, ValueError, "Invalid `threshold`"),
        ({"threshold": "0.5"}, TypeError, "Invalid `threshold`"),
        ({"threshold": [0.2, 0.4]}, ValueError, "needs multi_label=True"),
        ({"threshold": [0.2, 1.4], "multi_label": True}, ValueError,
         r"Invalid `threshold\[1\]`: expected a probability.*Received: threshold\[1\]=1.4"),
        ({"threshold": [0.2, 0.4], "multi_label": True, "num_classes": 3}, ValueError,
         "expected 3 thresholds"),
        ({"zero_division": "warn"}, TypeError, "Invalid `zero_division`"),
        ({"zero_division": 0.5}, ValueError, "Invalid `zero_division`"),
        ({"num_classes": 1}, ValueError, "Invalid `num_classes`"),
        ({"num_classes": 2.0}, TypeError, "Invalid `num_classes`"),
        ({"average": "binary", "num_classes": 3}, ValueError, "'binary' needs a binary"),
        ({"average": "binary", "multi_label": True}, ValueError, "not multi-label"),
        ({"pos_label": 2, "num_classes": 2}, ValueError, "Invalid `pos_label`"),
        ({"pos_label": "1"}, TypeError, "Invalid `pos_label`"),
        ({"multi_label": 1}, TypeError, "Invalid `multi_label`"),
    ],
)
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        FBetaScore(**kwargs)


def test_binary_average_on_multiclass_input_is_rejected_when_classes_are_seen():
    metric = F1Score(average="binary")
    with pytest.raises(ValueError, match="'binary' needs a binary problem.*3 classes"):
        metric.update_state([0, 1], np.eye(3, dtype="float32")[[0, 1]])


@pytest.mark.parametrize(
    "kwargs,y_true,y_pred,match",
    [
        ({}, np.zeros((4, 3)), np.zeros((4, 5)),
         r"y_true.shape=\(4, 3\) and y_pred.shape=\(4, 5\)"),
        ({}, np.zeros(4), np.zeros(5), r"y_true.shape=\(4,\) and y_pred.shape=\(5,\)"),
        ({"multi_label": True}, np.zeros(4), np.zeros((4, 3)),
         r"y_true.shape=\(4,\) and y_pred.shape=\(4, 3\)"),
        ({}, np.zeros((4, 2, 2)), np.zeros((4, 2, 2)), r"y_pred.shape=\(4, 2, 2\)"),
        ({"num_classes": 3}, np.zeros(4), np.zeros((4, 5)), "num_classes=3"),
    ],
)
def test_shape_mismatch_messages_quote_both_shapes(kwargs, y_true, y_pred, match):
    with pytest.raises(ValueError, match=match):
        F1Score(**kwargs).update_state(y_true, y_pred.astype("float32"))


def test_bad_sample_weight_shape():
    with pytest.raises(ValueError, match=r"Invalid `sample_weight`.*\(4, 2\)"):
        F1Score().update_state(np.zeros(4), np.zeros(4), np.ones((4, 2)))
    with pytest.raises(ValueError, match="same batch size"):
        F1Score().update_state(np.zeros(4), np.zeros(4), np.ones(3))


def test_batch_mismatch_in_graph_is_refused_at_run_time():
    # Sizes known only at run time: a kernel op fails, or (where the sizes would broadcast,
    # as one weight for a batch) the batch is recorded and the score refused.
    metric = F1Score(num_classes=3)
    update = tf.function(
        metric.update_state,
        input_signature=[tf.TensorSpec([None], tf.int32), tf.TensorSpec([None, 3], tf.float32)],
    )
    with pytest.raises(tf.errors.InvalidArgumentError):
        update(tf.zeros([4], tf.int32), tf.zeros([5, 3]))
    for labels in (F1Score(multi_label=True), BestF1(multi_label=True)):
        update = tf.function(
            labels.update_state,
            input_signature=[tf.TensorSpec([None, 2], tf.int32),
                             tf.TensorSpec([None, 2], tf.float32), tf.TensorSpec([None])],
        )
        update(tf.constant([[1, 0], [0, 1]]), tf.constant([[0.9, 0.2], [0.1, 0.8]]),
               tf.constant([2.0]))
        with pytest.raises(ValueError, match=r"Invalid `inputs`.*different batch sizes"):
            labels.result()


@pytest.mark.parametrize(
    "y_true,columns,bad",
    [([0, 7, 1], 3, "7"), ([0, -2, 1], 3, "-2"), ([1, 0, 2], 1, "2"), ([1, 0, 0.5], 1, "0.5"),
     ([0.0, 1.5, 1.0], 3, "1.5"), ([0.0, float("nan"), 1.0], 3, "nan"), ([0, 3, 1], 3, "3")],
)
def test_label_ids_outside_classes_name_the_bad_id(y_true, columns, bad):
    metric = F1Score()
    y_pred = np.full((3, columns), 0.2, "float32")
    message = rf"Invalid `y_true`: .*Received: y_true\[\d\]={bad}(?![\d.])"
    with pytest.raises(ValueError, match=message):
        metric.update_state(tf.constant(y_true), tf.constant(y_pred))
    assert not any(np.any(v.numpy()) for v in metric.variables)  # nothing was added


@pytest.mark.parametrize(
    "cls,kwargs,y_true,y_pred,match",
    [(F1Score, {}, [1, 0, 7], [0.9, 0.1, 0.8], "binary labels must be 0 or 1"),
     (F1Score, {"average": "macro"}, [0, 5, 1], np.full((3, 3), 0.3, "float32"),
      r"class ids must be whole numbers in \[0, 3\)"),
     (Recall, {"multi_label": True}, [[0, 2]], [[0.1, 0.9]], "multi-label targets must be 0"),
     (BestF1, {}, [0, 3], [0.2, 0.4], "BestF1 needs 0/1 labels")],
)
def test_bad_labels_inside_a_traced_update_refuse_the_score(cls, kwargs, y_true, y_pred, match):
    metric = cls(**kwargs)
    metric.update_state(np.zeros_like(np.asarray(y_true)), np.asarray(y_pred, "float32"))
    update = tf.function(metric.update_state)
    update(tf.constant(y_true), tf.constant(y_pred, tf.float32))
    # Inside the trace the result is NaN, never a score; read eagerly it raises.
    assert math.isnan(float(tf.function(metric.result)()))
    with pytest.raises(ValueError, match=rf"Invalid `y_true`:.*traced function.*{match}"):
        metric.result()
    metric.reset_state()
    assert not math.isnan(float(metric.result()))


def test_one_hot_rows_must_be_one_hot():
    with pytest.raises(ValueError, match=r"one-hot rows must hold a single 1.*y_true\[1\]"):
        F1Score().update_state([[1, 0, 0], [0.5, 0.5, 0]], np.eye(3, dtype="float32")[:2])
    with pytest.raises(ValueError, match=r"one-hot rows.*y_true\[0\]=\[0, 0, 0\]"):
        F1Score().update_state([[0, 0, 0]], np.eye(3, dtype="float32")[:1])


def test_multi_hot_values_other_than_0_1_rejected():
    metric = F1Score(multi_label=True)
    with pytest.raises(ValueError, match=r"must be 0 or 1. Received: y_true\[0, 1\]=2"):
        metric.update_state([[0, 2]], [[0.1, 0.9]])


@pytest.mark.parametrize(
    "kwargs,error,match",
    [({"num_thresholds": 1}, ValueError, "Invalid `num_thresholds`"),
     ({"num_thresholds": 10.0}, TypeError, "Invalid `num_thresholds`"),
     ({"average": "weighted"}, ValueError, "Invalid `average`"),
     ({"from_logits": "yes"}, TypeError, "Invalid `from_logits`")],
)
def test_best_f1_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        BestF1(**kwargs)


def test_best_f1_bad_inputs():
    with pytest.raises(ValueError, match=r"y_true.shape=\(2,\) and y_pred.shape=\(2, 3\)"):
        BestF1().update_state([0, 1], np.zeros((2, 3), "float32"))
    with pytest.raises(ValueError, match=r"0/1 labels. Received: y_true\[1\]=3"):
        BestF1().update_state([0, 3], [0.2, 0.4])
    with pytest.raises(ValueError, match="seen no batch"):
        BestF1(multi_label=True).best_threshold()


# ---------------------------------------------------------------- Keras integration


def _tiny_binary_model():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((3,))
    outputs = keras.layers.Dense(1, activation="sigmoid")(inputs)
    return keras.Model(inputs, outputs)


def test_fit_evaluate_and_keras_file_round_trip(tmp_path):
    rng = np.random.default_rng(10)
    x = rng.normal(size=(200, 3)).astype("float32")
    y = (x[:, 0] + 0.5 * rng.normal(size=200) > 0.8).astype("float32")
    model = _tiny_binary_model()
    model.compile(
        optimizer="adam",
        loss="binary_crossentropy",
        metrics=[F1Score(), FBetaScore(beta=2, name="f2"), Recall(average=None),
                 BestF1(num_thresholds=11)],
    )
    model.fit(x, y, batch_size=32, epochs=2, verbose=0)
    scores = model.evaluate(x, y, batch_size=32, verbose=0, return_dict=True)
    prob = model.predict(x, batch_size=64, verbose=0)[:, 0]
    pred = (prob > 0.5).astype(int)
    assert scores["f1_score"] == pytest.approx(f1_score(y, pred, zero_division=0), abs=TOL)
    p, r, f2, _ = _sklearn_prfs(y, pred, beta=2, average="binary", zero_division=0)
    assert scores["f2"] == pytest.approx(f2, abs=TOL)
    best = _best_f1_oracle(y, prob, None, np.linspace(0, 1, 11).astype("float32"))[0]
    assert scores["best_f1"] == pytest.approx(best, abs=TOL)

    path = str(tmp_path / "model.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    again = loaded.evaluate(x, y, batch_size=32, verbose=0, return_dict=True)
    for key in ("f1_score", "f2", "best_f1"):
        assert again[key] == pytest.approx(scores[key], abs=TOL)


def test_evaluate_multiclass_sparse_labels():
    rng = np.random.default_rng(11)
    x = rng.normal(size=(150, 4)).astype("float32")
    y = rng.choice(3, size=150, p=[0.7, 0.2, 0.1])
    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    model.compile(loss="sparse_categorical_crossentropy",
                  metrics=[F1Score(average="macro"), Precision(average="weighted")])
    scores = model.evaluate(x, y, batch_size=16, verbose=0, return_dict=True)
    pred = model.predict(x, verbose=0).argmax(-1)
    assert scores["f1_score"] == pytest.approx(
        f1_score(y, pred, average="macro", labels=[0, 1, 2], zero_division=0), abs=TOL)
    expected = _sklearn_prfs(y, pred, average="weighted", labels=[0, 1, 2], zero_division=0)[0]
    assert scores["precision_score"] == pytest.approx(expected, abs=TOL)


DISTRIBUTED = textwrap.dedent(
    """
    import json, os, sys
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras
    import numpy as np
    from tfbalance.metrics import BestF1, F1Score

    rng = np.random.default_rng(0)
    y = rng.choice(3, size=200, p=[0.6, 0.3, 0.1])
    p = rng.random((200, 3)).astype("float32")
    w = rng.random(200).astype("float32")
    out = {}

    single = F1Score(average=None, num_classes=3)
    single.update_state(y, p, w)
    out["single"] = single.result().numpy().tolist()

    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    out["replicas"] = strategy.num_replicas_in_sync
    with strategy.scope():
        dist = F1Score(average=None, num_classes=3)
    ds = tf.data.Dataset.from_tensor_slices((y, p, w)).batch(30)

    @tf.function
    def step(batch):
        strategy.run(dist.update_state, args=batch)

    for batch in strategy.experimental_distribute_dataset(ds):
        step(batch)
    out["distributed"] = dist.result().numpy().tolist()

    x = rng.normal(size=(160, 3)).astype("float32")
    yb = (x[:, 0] > 0.5).astype("float32")
    with strategy.scope():
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1, activation="sigmoid")])
        model.compile(optimizer="adam", loss="binary_crossentropy",
                      metrics=[F1Score(), BestF1(num_thresholds=11)])
    model.fit(x, yb, batch_size=32, epochs=1, verbose=0)
    out["evaluate"] = model.evaluate(x, yb, batch_size=32, verbose=0, return_dict=True)
    out["prob"] = model.predict(x, verbose=0)[:, 0].tolist()
    out["labels"] = yb.tolist()
    print("RESULT" + json.dumps(out))
    """
)


def start_in_background(tmp_path_factory, launch):
    """The two-logical-CPU child, started at session start (see tests/conftest.py)."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.getcwd()] + sys.path))
    return launch([sys.executable, "-c", DISTRIBUTED], env=env, cwd=os.getcwd(), timeout=240)


def test_mirrored_strategy_two_cpus_matches_one_device_and_sklearn(background):
    done = background[__name__].result()
    assert done.returncode == 0, done.stderr[-3000:]
    line = [s for s in done.stdout.splitlines() if s.startswith("RESULT")][-1]
    out = json.loads(line[len("RESULT"):])
    assert out["replicas"] == 2
    _assert_close(out["distributed"], out["single"])
    rng = np.random.default_rng(0)
    y = rng.choice(3, size=200, p=[0.6, 0.3, 0.1])
    p = rng.random((200, 3)).astype("float32")
    w = rng.random(200).astype("float32")
    _assert_close(out["single"], f1_score(y, p.argmax(-1), average=None, sample_weight=w,
                                          labels=[0, 1, 2]))
    prob = np.array(out["prob"], dtype="float32")
    yb = np.array(out["labels"]).astype(int)
    assert out["evaluate"]["f1_score"] == pytest.approx(
        f1_score(yb, prob > 0.5, zero_division=0), abs=TOL)
    best = _best_f1_oracle(yb, prob, None, np.linspace(0, 1, 11).astype("float32"))[0]
    assert out["evaluate"]["best_f1"] == pytest.approx(best, abs=TOL)


def test_module_exports():
    assert set(metrics.__all__) == {"BestF1", "F1Score", "FBetaScore", "Precision", "Recall"}
    import tfbalance

    assert tfbalance.F1Score is F1Score and tfbalance.metrics.BestF1 is BestF1


# ---------------------------------------------------------------- refusals, empty batches


@pytest.mark.parametrize(
    "cls,kwargs,y_true,y_pred,where",
    [(F1Score, {}, [1, 0, 1], [0.9, np.nan, 0.8], r"y_pred\[1\]=nan"),
     (F1Score, {"from_logits": True}, [1, 0, 1], [2.0, -1.0, np.inf], r"y_pred\[2\]=inf"),
     (Precision, {}, [0, 2], [[0.2, 0.3, 0.5], [np.nan, 0.1, 0.2]], r"y_pred\[1, 0\]=nan"),
     (Recall, {"multi_label": True}, [[0, 1]], [[0.2, -np.inf]], r"y_pred\[0, 1\]=-inf"),
     (BestF1, {}, [1, 0], [np.nan, 0.1], r"y_pred\[0\]=nan")],
)
def test_non_finite_predictions_are_refused_eagerly(cls, kwargs, y_true, y_pred, where):
    # scikit-learn raises "Input contains NaN"; a diverged model must not get a score.
    metric = cls(**kwargs)
    with pytest.raises(ValueError, match=rf"Invalid `y_pred`: expected finite.*{where}"):
        metric.update_state(y_true, np.asarray(y_pred, "float32"))
    assert not any(np.any(v.numpy()) for v in metric.variables)  # nothing was added


def test_non_finite_sample_weight_is_refused():
    with pytest.raises(ValueError, match=r"Invalid `sample_weight`.*sample_weight\[1\]=nan"):
        F1Score().update_state([1, 0], [0.9, 0.2], [1.0, np.nan])


@pytest.mark.parametrize("cls", [F1Score, BestF1])
def test_nan_inside_a_traced_update_makes_the_result_nan_then_raises(cls):
    metric = cls()
    update = tf.function(metric.update_state)
    update(tf.constant([1, 0, 1]), tf.constant([0.9, 0.1, 0.7]))
    update(tf.constant([1, 0]), tf.constant([np.nan, 0.1]))
    assert math.isnan(float(tf.function(metric.result)()))
    with pytest.raises(ValueError, match=r"Invalid `y_pred`: .*traced function.*NaN or inf"):
        metric.result()
    if cls is BestF1:
        with pytest.raises(ValueError, match="Invalid `y_pred`"):
            metric.best_threshold()
    metric.reset_state()
    update(tf.constant([1, 0]), tf.constant([0.9, 0.1]))
    assert float(metric.result()) == 1.0


def test_nan_predictions_in_evaluate_raise():
    x = np.random.default_rng(3).normal(size=(64, 3)).astype("float32")
    x[7, 1] = np.nan
    y = (x[:, 0] > 0).astype("float32")
    model = _tiny_binary_model()
    model.compile(loss="mse", metrics=[F1Score(), BestF1(num_thresholds=11)])
    with pytest.raises(ValueError, match="Invalid `y_pred`"):
        model.evaluate(x, y, batch_size=16, verbose=0)


@pytest.mark.parametrize("graph", [False, True], ids=["eager", "tf.function"])
@pytest.mark.parametrize("form", ["binary", "multiclass_sparse", "multiclass_onehot",
                                  "multilabel", "best_binary"])
def test_empty_batch_adds_nothing(graph, form):
    best = form.startswith("best")
    y_fed, p_fed, y, pred, kwargs, labels = _make(form.replace("best_", ""), seed=21, n=40)
    metric = BestF1(num_thresholds=11) if best else F1Score(average=None, **kwargs)
    update = metric.update_state
    if graph:  # batch size unknown until run time
        update = tf.function(update, input_signature=[
            tf.TensorSpec([None, *np.shape(y_fed)[1:]], tf.as_dtype(np.asarray(y_fed).dtype)),
            tf.TensorSpec([None, *np.shape(p_fed)[1:]], tf.float32),
            tf.TensorSpec([None], tf.float32)])
    weights = np.ones(40, "float32")
    update(y_fed[:0], p_fed[:0], weights[:0])  # first: the state is built from the shapes
    update(y_fed, p_fed, weights)
    update(y_fed[:0], p_fed[:0], weights[:0])
    if best:
        expected = _best_f1_oracle(y, p_fed, None, metric.thresholds)[0]
    else:
        expected = _sklearn_prfs(y, pred, average=None, labels=labels, zero_division=0)[2]
    _assert_close(metric.result(), expected)


def test_recall_macro_is_recall_score_not_always_balanced_accuracy():
    from sklearn.metrics import balanced_accuracy_score, recall_score

    # Every class occurs in y_true: macro recall is the balanced accuracy.
    y, pred = np.array([0, 0, 1, 2, 2, 2]), np.array([0, 1, 1, 2, 0, 2])
    metric = Recall(average="macro", num_classes=3)
    metric.update_state(y, np.eye(3, dtype="float32")[pred])
    assert float(metric.result()) == pytest.approx(balanced_accuracy_score(y, pred), abs=TOL)
    # Class 2 is predicted but absent from y_true: recall_score (over the metric's classes)
    # still matches, balanced accuracy does not.
    y, pred = np.array([0, 0, 1, 1]), np.array([0, 2, 1, 1])
    metric = Recall(average="macro", num_classes=3)
    metric.update_state(y, np.eye(3, dtype="float32")[pred])
    expected = recall_score(y, pred, average="macro", labels=[0, 1, 2], zero_division=0)
    assert float(metric.result()) == pytest.approx(expected, abs=TOL)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "y_pred contains classes not in y_true": the point
        balanced = balanced_accuracy_score(y, pred)
    assert abs(float(metric.result()) - balanced) > 0.1


@pytest.mark.parametrize("num_thresholds", [2, 3, 11, 201, 1000, 100_003])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_best_f1_buckets_are_exact_on_and_next_to_the_grid(num_thresholds, dtype):
    # Every grid point, the floats just below and above it, and values outside [0, 1]: the
    # bucket must count exactly the thresholds t with p > t (the comparison sklearn sees).
    grid = np.linspace(0, 1, num_thresholds).astype("float32")
    picks = grid if num_thresholds <= 1000 else grid[::997]
    p = np.concatenate([picks, np.nextafter(picks, -1), np.nextafter(picks, 2),
                        [-0.5, 1.5, 0.0, 1.0]]).astype(dtype)
    p = p[(p == 0) | (np.abs(p) >= np.finfo(dtype).tiny)]  # TF flushes subnormals to zero
    got = ops_numpy(metrics._thresholds_below(keras.ops.convert_to_tensor(p), grid))
    expected = (p[:, None] > grid.astype(dtype)[None, :]).sum(axis=1)
    np.testing.assert_array_equal(got, expected)


def ops_numpy(tensor):
    return keras.ops.convert_to_numpy(tensor)


def test_best_f1_num_thresholds_bound():
    with pytest.raises(ValueError, match=r"Invalid `num_thresholds`: expected an int in \[2, "
                                         r"1000000\]. Received: num_thresholds=1000001"):
        BestF1(num_thresholds=10**6 + 1)


def test_argmax_ties_follow_numpy():
    # A tie goes to the first column and -0.0 equals 0.0, as numpy.argmax (and so
    # scikit-learn on its output) decides; Keras' ops.argmax ranks -0.0 below 0.0.
    y_pred = np.array([[-0.0, 0.0, 0.0], [0.5, 0.5, 0.1], [0.2, 0.7, 0.7], [-1.0, -0.0, 0.0]],
                      "float32")
    y_true = np.array([0, 1, 2, 1])
    expected = _sklearn_prfs(y_true, y_pred.argmax(-1), average=None, labels=[0, 1, 2],
                             zero_division=0)[1]
    for update in (None, tf.function):
        metric = Recall(average=None, num_classes=3)
        (update or (lambda f: f))(metric.update_state)(y_true, y_pred)
        _assert_close(metric.result(), expected)


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_label_badness_is_zero_only_for_0_and_1(dtype):
    info = np.finfo(dtype)
    near = [np.nextafter(np.array(v, dtype), np.array(t, dtype)) for v in (0, 1) for t in (-2, 2)]
    values = np.array([0, 1, -0.0, *near, info.tiny, info.smallest_subnormal, 0.5, 2, -1,
                       info.max, -info.max, np.inf, -np.inf, np.nan], dtype)
    badness = keras.ops.convert_to_numpy(metrics._off_0_1(keras.ops.convert_to_tensor(values)))
    good = (values == 0) | (values == 1)
    assert np.all(badness[good] == 0)
    # TensorFlow flushes subnormals to zero, which then are labels 0 by its arithmetic.
    flushed = np.abs(values) < info.tiny
    assert np.all(badness[~good & ~flushed] != 0)


def test_infinite_logit_is_refused_inside_a_traced_update():
    # sigmoid(inf) is 1, a finite probability: the raw logits are what is checked.
    metric = BestF1(from_logits=True)
    tf.function(metric.update_state)(tf.constant([1, 0]), tf.constant([np.inf, 0.0]))
    with pytest.raises(ValueError, match=r"Invalid `y_pred`: a batch given to update_state"):
        metric.result()


def test_wrong_type_of_average_is_a_type_error():
    with pytest.raises(TypeError, match=r"Invalid `average`: expected one of 'auto', "
                                        r"'binary', .* or None. Received: average=1"):
        F1Score(average=1)

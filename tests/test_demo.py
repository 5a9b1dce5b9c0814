import contextlib
import io
import json
import math
import os

import numpy as np
import pytest

import tfbalance
from tfbalance import _cli
from tfbalance._demo import (
    METRIC_TITLES,
    METRICS,
    TECHNIQUE_TITLES,
    TECHNIQUES,
    DemoResult,
    _BootstrapScores,
    _interval,
    readme_block,
)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


DEMO_ROWS = 100  # every check below holds at any size; each technique's fit costs the same


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    """One `tfbalance demo` run of every technique, checked by the tests below.

    Returns the output folder, what it printed and the metric chart's figure (kept by wrapping
    ``tfbalance.plot_metric_comparison``). At 100 rows some scores are exactly 1.000 or 0.000,
    the case the chart's value labels must survive.
    """
    import tfbalance

    out = tmp_path_factory.mktemp("demo") / "demo"
    figures = []
    plot = tfbalance.plot_metric_comparison

    def keep(*args, **kwargs):
        figures.append(plot(*args, **kwargs))
        return figures[-1]

    printed = io.StringIO()
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stdout(printed):
        patch.setattr(tfbalance, "plot_metric_comparison", keep)
        argv = ["demo", "--rows", str(DEMO_ROWS), "--epochs", "1", "--out", str(out)]
        code = _cli.main(argv + ["--seed", "3"])
    return code, out, printed.getvalue(), figures


def test_demo_end_to_end_small(demo_run):
    code, out, printed, _ = demo_run
    assert code == 0
    for step in ("Step 1", "Step 2", "Step 3", "Verdict", "Total wall time"):
        assert step in printed
    # Training-time scores are labelled as scores of the stream fit() reads.
    assert "measured on the stream each model trains on" in printed
    assert "stream_f1" in printed
    for claim in ("paired 95% bootstrap interval", "PR-AUC, which ignores the threshold",
                  "threshold tuned on the validation split"):
        assert claim in printed
    table = (out / "results.md").read_text()
    for technique in TECHNIQUES:
        assert TECHNIQUE_TITLES[technique] in table
        assert TECHNIQUE_TITLES[technique] in printed
    for metric in METRICS:
        assert METRIC_TITLES[metric] in table
    results = json.loads((out / "results.json").read_text())
    assert results["config"] == {"seed": 3, "rows": DEMO_ROWS, "epochs": 1}
    assert set(results["metrics"]) == set(TECHNIQUES)
    for technique, values in results["metrics"].items():
        assert set(values) == set(METRICS)
        assert all(0.0 <= v <= 1.0 for v in values.values())
        for metric, (low, high) in results["intervals"][technique].items():
            assert low <= values[metric] <= high, (technique, metric)
        assert 0.0 <= results["best_thresholds"][technique] <= 1.0
    # results.md is exactly what README shows, rendered from results.json.
    assert table == readme_block(DemoResult.from_json(results))
    # Exact resampling: the article's "Class 0 / Class 1" before/after figures.
    train = {int(k): v for k, v in results["train_counts"].items()}
    minority, majority = min(train.values()), max(train.values())
    under = results["resampled_counts"]["undersample"]
    over = results["resampled_counts"]["oversample"]
    assert sorted(under.values()) == [minority, minority]
    assert sorted(over.values()) == [majority, majority]
    full = {int(k): v for k, v in results["full_counts"].items()}
    assert sum(full.values()) == DEMO_ROWS
    for name in ("class_histogram.png", "metrics.png"):
        with open(out / name, "rb") as handle:
            assert handle.read(8) == b"\x89PNG\r\n\x1a\n"
    # The interleave technique trained from a split of exactly the training rows.
    assert tfbalance.load_split(out / "train_split").counts.counts == train
    assert "Training rows split by class into" in printed


def test_demo_interleave_is_reproducible_and_reruns_into_its_split(tmp_path):
    # The technique's input, built twice from the same seed into the same folder: the
    # second split replaces the first, and both give the same batches.
    import tensorflow as tf

    from tfbalance._demo import _interleave_schedule

    labels = np.arange(60) % 4 == 0
    train = tf.data.Dataset.from_tensor_slices(
        ({"id": np.arange(60), "x": np.linspace(0, 1, 60)}, labels.astype(np.int64))
    ).batch(16)
    counts = tfbalance.class_counts(train, verbose=False)
    outputs = []
    for _ in range(2):
        source, callback = _interleave_schedule(train, counts, 2, 8, 5, str(tmp_path / "split"))
        callback.set_params({"steps": 8})
        callback.on_train_begin()
        callback.on_epoch_begin(0)
        outputs.append([(f["id"].tolist(), y.tolist()) for f, y in source.as_numpy_iterator()])
    assert outputs[0] == outputs[1]
    assert [len(y) for _, y in outputs[0]] == [8] * 7 + [4]
    # Every delivered row is a training row of its own class.
    for ids, ys in outputs[0]:
        assert [int(i % 4 == 0) for i in ids] == ys
    assert sorted(os.listdir(tmp_path)) == ["split"]


def test_demo_rejects_missing_data(tmp_path, capsys):
    code = _cli.main(["demo", "--data", str(tmp_path / "nope.csv"), "--out", str(tmp_path)])
    assert code == 2
    assert "nope.csv" in capsys.readouterr().err


def _scores(labels, probabilities, threshold=0.5, seed=0, batch=97):
    scorer = _BootstrapScores({"f1": 0.5, "tuned_f1": threshold}, seed, replicates=300)
    for start in range(0, len(labels), batch):
        scorer.update(labels[start:start + batch], probabilities[start:start + batch])
    return scorer.replicates()


def test_bootstrap_point_scores_equal_sklearn():
    from sklearn import metrics

    rng = np.random.default_rng(1)
    labels = (rng.random(2_000) < 0.2).astype(np.int64)
    probabilities = np.clip(0.35 * labels + rng.random(2_000) * 0.7, 0, 1)
    reps = _scores(labels, probabilities, threshold=0.42)
    predicted = probabilities > 0.5
    assert reps["accuracy"][0] == pytest.approx(metrics.accuracy_score(labels, predicted))
    assert reps["precision"][0] == pytest.approx(metrics.precision_score(labels, predicted))
    assert reps["recall"][0] == pytest.approx(metrics.recall_score(labels, predicted))
    assert reps["f1"][0] == pytest.approx(metrics.f1_score(labels, predicted))
    assert reps["tuned_f1"][0] == pytest.approx(metrics.f1_score(labels, probabilities > 0.42))
    # PR-AUC is average precision over 1,000 score bins: sklearn's on the binned scores.
    binned = np.clip(np.floor(probabilities * 1000), 0, 999)
    assert reps["pr_auc"][0] == pytest.approx(metrics.average_precision_score(labels, binned))


def test_bootstrap_intervals_are_seeded_paired_and_cover_the_spread():
    rng = np.random.default_rng(2)
    labels = (rng.random(3_000) < 0.3).astype(np.int64)
    probabilities = np.clip(0.3 * labels + rng.random(3_000) * 0.7, 0, 1)
    first, again = _scores(labels, probabilities), _scores(labels, probabilities)
    np.testing.assert_array_equal(first["f1"], again["f1"])  # same seed, same replicates
    other = _scores(labels, probabilities, seed=1)
    assert not np.array_equal(first["f1"][1:], other["f1"][1:])
    # Paired: the same model scored twice differs by exactly 0 on every replicate.
    assert _interval(first["f1"] - again["f1"]) == (0.0, 0.0)
    # The interval's width is that of resampling rows: compare with the F1 spread of
    # ordinary (multinomial) bootstrap samples drawn with numpy.
    from sklearn.metrics import f1_score

    draws = rng.integers(0, labels.size, size=(300, labels.size))
    classic = [f1_score(labels[i], probabilities[i] > 0.5) for i in draws]
    low, high = _interval(first["f1"])
    assert low < first["f1"][0] < high
    assert (high - low) == pytest.approx(np.subtract(*np.percentile(classic, [97.5, 2.5])), rel=0.3)
    # No tuned threshold (no positive in validation): NaN, never a made-up score.
    nan = _scores(labels, probabilities, threshold=math.nan)
    assert math.isnan(nan["tuned_f1"][0]) and all(map(math.isnan, _interval(nan["tuned_f1"])))


def _fake_result(f1_shift, auc_shift):
    """Two techniques scored on the same 400 replicates; the second shifted by given amounts."""
    from tfbalance import ClassDistribution

    rng = np.random.default_rng(0)
    base = {m: 0.5 + 0.01 * rng.standard_normal(401) for m in METRICS}
    other = {m: v.copy() for m, v in base.items()}
    noise = 0.01 * rng.standard_normal(401)
    other["f1"] = base["f1"] + f1_shift + noise
    other["pr_auc"] = base["pr_auc"] + auc_shift + noise
    replicates = {"baseline": base, "oversample": other}
    result = DemoResult(
        data_path="x.csv", full_counts={0: 80, 1: 20}, train_counts={0: 60, 1: 15},
        resampled_counts={}, best_thresholds={"baseline": 0.3, "oversample": 0.5},
        metrics={t: {m: float(v[m][0]) for m in METRICS} for t, v in replicates.items()},
        intervals={t: {m: _interval(v[m]) for m in METRICS} for t, v in replicates.items()},
    )
    return result, ClassDistribution([80, 20]), replicates


def test_verdict_says_when_differences_are_noise():
    from tfbalance._demo import _verdict

    result, full, replicates = _fake_result(f1_shift=0.001, auc_shift=0.0)
    text = _verdict(result, full, replicates, 100)
    assert "is within noise of it: these data do not pick a winner" in text
    assert "(all within noise of no balancing; gaps under 0.01 count as none)" in text
    result, full, replicates = _fake_result(f1_shift=0.2, auc_shift=0.1)
    text = _verdict(result, full, replicates, 100)
    assert "Random oversampling scores highest" in text
    assert "ahead of every other technique beyond noise" in text
    assert "Random oversampling differ from no balancing beyond noise (by up to 0.0" in text
    assert "below Random oversampling at 0.5" in text


def test_demo_chart_is_readable_at_100_rows(demo_run):
    # At --rows 100 some scores are exactly 1.000 or 0.000; every value label must stay
    # inside the axes, off the title.
    pytest.importorskip("matplotlib")
    _, out, _, figures = demo_run
    results = json.loads((out / "results.json").read_text())
    assert sum(results["full_counts"].values()) == 100
    (axes,) = figures[0].axes
    renderer = figures[0].canvas.get_renderer()
    box, title = axes.get_window_extent(renderer), axes.title.get_window_extent(renderer)
    assert len(axes.texts) == len(TECHNIQUES) * len(METRICS)
    for label in axes.texts:
        extent = label.get_window_extent(renderer)
        assert box.y0 <= extent.y0 and extent.y1 <= box.y1 and not extent.overlaps(title)


def test_splits_follow_the_id_rule_and_partition_the_rows(tmp_path):
    import pandas as pd

    import tfbalance
    from tfbalance._demo import SPLITS, _read
    from tfbalance.datasets import make_insurance_csv

    path = make_insurance_csv(tmp_path / "d.csv", 3_000, seed=5)
    frame = pd.read_csv(path)
    role = frame["id"] % 5
    expected = {"test": role == 0, "validation": role == 1, "train": role >= 2}
    for part in SPLITS:
        counts = tfbalance.class_counts(_read(str(path), 512, part), verbose=False).counts
        oracle = frame.loc[expected[part], "Response"].value_counts().sort_index().to_dict()
        assert counts == oracle, part

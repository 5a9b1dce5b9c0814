"""Figures: class distribution panels and grouped metric bars."""

from __future__ import annotations

import sys

import numpy as np
import pytest

import tfbalance
from tfbalance import ClassDistribution, plot_class_distribution, plot_metric_comparison

matplotlib = pytest.importorskip("matplotlib")

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


def _bar_heights(axes):
    return [patch.get_height() for patch in axes.patches]


def _texts(axes):
    return [text.get_text() for text in axes.texts]


def test_class_distribution_png_has_counts_and_shares(tmp_path):
    dist = ClassDistribution([319_553, 62_601])
    path = tmp_path / "classes.png"
    figure = plot_class_distribution(dist, path, title="Response")
    with open(path, "rb") as f:
        assert f.read(8) == PNG_MAGIC
    counts_ax, share_ax = figure.axes
    assert _bar_heights(counts_ax) == [319_553, 62_601]
    np.testing.assert_allclose(_bar_heights(share_ax), [319_553 / 382_154, 62_601 / 382_154])
    assert _texts(counts_ax) == ["319,553\n(83.6%)", "62,601\n(16.4%)"]
    assert _texts(share_ax) == ["83.6%", "16.4%"]
    assert counts_ax.get_xlabel() == "Class" and counts_ax.get_ylabel() == "Rows"
    assert share_ax.get_ylabel() == "Proportion"
    assert "Response" in figure._suptitle.get_text()
    assert "5.10:1" in figure._suptitle.get_text()
    # The balanced-share reference line sits at 1 / num_classes.
    assert share_ax.lines[0].get_ydata()[0] == pytest.approx(0.5)


def test_class_names_label_the_ticks_and_dicts_are_accepted(tmp_path):
    dist = ClassDistribution([5, 80, 15], names=["cat", "dog", "fox"])
    figure = plot_class_distribution(dist, tmp_path / "named.svg")
    assert [t.get_text() for t in figure.axes[0].get_xticklabels()] == ["cat", "dog", "fox"]
    figure = plot_class_distribution({0: 3, 2: 1}, tmp_path / "dict.png")
    assert _bar_heights(figure.axes[0]) == [3, 1]


def test_existing_axes_and_log_scale():
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2)
    returned = plot_class_distribution([1_000_000, 10], ax=[left, right], log_scale=True)
    assert returned is figure
    assert left.get_yscale() == "log"
    assert len(right.patches) == 2
    figure, single = plt.subplots()
    plot_class_distribution([9, 1], ax=single)
    assert _bar_heights(single) == [9, 1]


def test_without_path_returns_a_pyplot_figure():
    import matplotlib.pyplot as plt

    figure = plot_class_distribution([9, 1])
    assert figure.number in plt.get_fignums()


def test_class_distribution_invalid_arguments(tmp_path):
    with pytest.raises(ValueError, match="Invalid `dist`"):
        plot_class_distribution([0, 0], tmp_path / "x.png")
    with pytest.raises(TypeError, match="Invalid `dist`"):
        plot_class_distribution("abc", tmp_path / "x.png")
    with pytest.raises(TypeError, match="Invalid `path`"):
        plot_class_distribution([1, 2], 5)
    import matplotlib.pyplot as plt

    _, axes = plt.subplots(1, 3)
    with pytest.raises(ValueError, match="Invalid `ax`"):
        plot_class_distribution([1, 2], ax=list(axes))


TABLE = {
    "baseline": {"f1": 0.41, "recall": 0.30, "pr_auc": 0.44},
    "class weights": {"f1": 0.50, "recall": 0.80},
    "oversample": {"f1": 0.52, "recall": 0.71, "pr_auc": float("nan")},
}


def test_metric_comparison_groups_bars_by_metric(tmp_path):
    path = tmp_path / "metrics.png"
    figure = plot_metric_comparison(TABLE, path, title="Validation")
    with open(path, "rb") as f:
        assert f.read(8) == PNG_MAGIC
    (axes,) = figure.axes
    assert [t.get_text() for t in axes.get_xticklabels()] == ["f1", "recall", "pr_auc"]
    assert [t.get_text() for t in axes.get_legend().get_texts()] == list(TABLE)
    # Missing and NaN values get no bar: 3 + 2 + 2 bars.
    heights = _bar_heights(axes)
    assert heights == [0.41, 0.30, 0.44, 0.50, 0.80, 0.52, 0.71]
    assert "0.800" in _texts(axes)
    assert axes.get_title() == "Validation"
    # Bars of one metric sit side by side around the metric's tick.
    centers = [p.get_x() + p.get_width() / 2 for p in axes.patches]
    assert [round(c) for c in centers] == [0, 1, 2, 0, 1, 0, 1]


def test_metric_comparison_metric_subset_and_axes():
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots()
    returned = plot_metric_comparison(TABLE, ax=axes, metrics=["recall"], ylim=None)
    assert returned is figure
    assert _bar_heights(axes) == [0.30, 0.80, 0.71]


@pytest.mark.parametrize(
    "table, error, match",
    [
        ({}, TypeError, "Invalid `table`"),
        ([1, 2], TypeError, "Invalid `table`"),
        ({"a": 0.5}, TypeError, "Invalid `table`"),
        ({"a": {"f1": "high"}}, TypeError, "Invalid `table`"),
        ({"a": {"f1": True}}, TypeError, "Invalid `table`"),
        ({"a": {}}, ValueError, "Invalid `table`"),
    ],
)
def test_metric_comparison_invalid_table(table, error, match):
    with pytest.raises(error, match=match):
        plot_metric_comparison(table)


def test_metric_comparison_unknown_metric():
    with pytest.raises(ValueError, match="Invalid `metrics`"):
        plot_metric_comparison(TABLE, metrics=["auc"])


@pytest.mark.parametrize(
    "call",
    [
        lambda path: plot_class_distribution([9, 1], path),
        lambda path: plot_metric_comparison({"a": {"f1": 0.5}}, path),
    ],
)
def test_missing_matplotlib_names_the_plot_extra(monkeypatch, tmp_path, call):
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(ImportError, match=r'pip install "tfbalance\[plot\]"'):
        call(tmp_path / "x.png")


def test_exported_from_the_package():
    assert tfbalance.plot_class_distribution is plot_class_distribution
    assert tfbalance.plot_metric_comparison is plot_metric_comparison


@pytest.mark.parametrize("value", [1.0, 0.999, 0.5, 0.0])
def test_value_labels_stay_inside_the_axes_and_off_the_title(tmp_path, value):
    # `tfbalance demo --rows 100` scores 1.000 on some metrics: those labels used to be
    # drawn above the axes, over the title. Five techniques and six metrics, as the demo.
    techniques = ["No balancing", "Random undersampling", "Random oversampling",
                  "Class weights (callback)", "Interleave, natural -> balanced"]
    metrics = ["Accuracy", "Precision", "Recall", "F1", "PR-AUC", "F1, tuned threshold"]
    table = {t: {m: value for m in metrics} for t in techniques}
    figure = plot_metric_comparison(table, tmp_path / "m.png", title="Test split")
    (axes,) = figure.axes
    renderer = figure.canvas.get_renderer()
    box = axes.get_window_extent(renderer)
    title = axes.title.get_window_extent(renderer)
    assert len(axes.texts) == len(techniques) * len(metrics)
    for label in axes.texts:
        extent = label.get_window_extent(renderer)
        assert box.y0 <= extent.y0 and extent.y1 <= box.y1, label.get_text()
        assert box.x0 <= extent.x0 and extent.x1 <= box.x1, label.get_text()
        assert not extent.overlaps(title), label.get_text()
    # Neighbouring labels never overlap each other.
    extents = sorted((t.get_window_extent(renderer) for t in axes.texts), key=lambda e: e.x0)
    assert all(a.x1 <= b.x0 + 0.5 for a, b in zip(extents, extents[1:], strict=False))
    # Ticks stay within the value range; the legend is outside the plot area.
    assert max(axes.get_yticks()) <= 1.0
    legend = axes.get_legend().get_window_extent(renderer)
    assert legend.x0 >= box.x1

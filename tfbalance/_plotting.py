"""Matplotlib figures: class distributions and metric comparisons.

matplotlib is an optional dependency (the ``plot`` extra), imported inside each function.
With ``path`` the figure is built on a bare ``Figure`` (Agg canvas), touching no pyplot
state, so it works headless and leaks no open figures; without ``path`` and ``ax`` it goes
through pyplot so it shows in notebooks and with ``plt.show()``.
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Mapping, Sequence
from typing import Any

from tfbalance._distribution import CountsLike, as_class_distribution

__all__ = ["plot_class_distribution", "plot_metric_comparison"]

_PathLike = str | os.PathLike
_MAJORITY_COLOR = "#4C72B0"
_MINORITY_COLOR = "#DD8452"


def _import_matplotlib():
    try:
        import matplotlib
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ImportError(
            'Plotting needs matplotlib, which is not installed. Install it with '
            '`pip install "tfbalance[plot]"` (or `pip install matplotlib`).'
        ) from exc
    return matplotlib, Figure


def _check_path(path: Any) -> str | None:
    if path is not None and not isinstance(path, (str, os.PathLike)):
        raise TypeError(
            f"Invalid `path`: expected a str, os.PathLike or None. Received: path={path!r}"
        )
    return None if path is None else os.fspath(path)


def _new_figure(path: str | None, ncols: int, figsize: tuple[float, float]):
    _, Figure = _import_matplotlib()
    if path is None:
        import matplotlib.pyplot as plt

        figure, axes = plt.subplots(1, ncols, figsize=figsize, squeeze=False)
    else:
        figure = Figure(figsize=figsize)
        axes = figure.subplots(1, ncols, squeeze=False)
    return figure, list(axes[0])


def _save(figure: Any, path: str | None, dpi: int) -> None:
    if path is not None:
        figure.savefig(path, dpi=dpi, bbox_inches="tight")


def plot_class_distribution(
    dist: CountsLike,
    path: _PathLike | None = None,
    ax: Any = None,
    *,
    title: str | None = None,
    log_scale: bool = False,
    dpi: int = 120,
):
    """Bar charts of a class distribution: counts, and shares of the rows.

    The left panel shows each class's row count, the right panel its proportion of all
    rows with a dashed line at the balanced share ``1 / num_classes``. Bars are labelled
    with count and percentage; the minority class is highlighted.

    Parameters
    ----------
    dist : ClassDistribution, dict or list of counts
        For example the result of ``tfbalance.class_counts``.
    path : str or os.PathLike, optional
        Save the figure there (format from the extension, e.g. ``.png``, ``.svg``).
    ax : matplotlib Axes or pair of Axes, optional
        Draw into these: one Axes gets the counts panel only, two get both panels.
        By default a new figure with both panels is created.
    title : str, optional
        Figure title.
    log_scale : bool, default False
        Logarithmic count axis, for extreme imbalance.
    dpi : int, default 120
        Resolution of the saved image.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ImportError
        matplotlib is not installed (install the ``plot`` extra).
    TypeError
        ``dist`` or ``path`` has the wrong type.
    ValueError
        ``dist`` is not a valid distribution or holds no rows.

    Examples
    --------
    >>> import os, tempfile
    >>> from tfbalance import ClassDistribution
    >>> path = os.path.join(tempfile.mkdtemp(), "classes.png")
    >>> figure = plot_class_distribution(ClassDistribution([900, 100]), path)
    >>> [axes.get_title() for axes in figure.axes]
    ['Rows per class', 'Share of rows']
    >>> os.path.getsize(path) > 0
    True
    """
    dist = as_class_distribution(dist, "dist")
    path = _check_path(path)
    if dist.total == 0:
        raise ValueError(f"Invalid `dist`: it holds no rows. Received: dist={dist.counts!r}")
    if ax is None:
        figure, axes = _new_figure(path, 2, (10.0, 4.2))
    else:
        axes = list(ax) if isinstance(ax, (list, tuple)) else [ax]
        if not 1 <= len(axes) <= 2:
            raise ValueError(
                f"Invalid `ax`: expected one Axes or a pair of Axes. Received: ax={ax!r}"
            )
        figure = axes[0].figure

    classes = dist.classes
    names = [dist.name(c) for c in classes]
    counts = [dist.counts[c] for c in classes]
    shares = [n / dist.total for n in counts]
    colors = [_MINORITY_COLOR if c == dist.minority else _MAJORITY_COLOR for c in classes]
    positions = list(range(len(classes)))

    counts_ax = axes[0]
    bars = counts_ax.bar(positions, counts, color=colors)
    counts_ax.bar_label(
        bars,
        labels=[f"{n:,}\n({s:.1%})" for n, s in zip(counts, shares, strict=True)],
        padding=2,
        fontsize=9,
    )
    counts_ax.set_title("Rows per class")
    counts_ax.set_xlabel("Class")
    counts_ax.set_ylabel("Rows")
    if log_scale:
        counts_ax.set_yscale("log")
    else:
        counts_ax.set_ylim(0, max(counts) * 1.18 or 1)
        counts_ax.yaxis.set_major_formatter(_thousands_formatter())
    counts_ax.set_xticks(positions, names)

    if len(axes) == 2:
        share_ax = axes[1]
        bars = share_ax.bar(positions, shares, color=colors)
        share_ax.bar_label(bars, labels=[f"{s:.1%}" for s in shares], padding=2, fontsize=9)
        share_ax.axhline(
            1.0 / dist.num_classes, color="0.3", linestyle="--", linewidth=1,
            label=f"balanced (1/{dist.num_classes})",
        )  # fmt: skip
        share_ax.set_title("Share of rows")
        share_ax.set_xlabel("Class")
        share_ax.set_ylabel("Proportion")
        share_ax.set_ylim(0, min(1.0, max(shares) * 1.18))
        share_ax.set_xticks(positions, names)
        share_ax.legend(loc="upper right", fontsize=8, frameon=False)

    ratio = dist.imbalance_ratio
    ratio_text = "inf" if math.isinf(ratio) else f"{ratio:.2f}"
    subtitle = f"{dist.total:,} rows, imbalance ratio {ratio_text}:1"
    figure.suptitle(f"{title}\n{subtitle}" if title else subtitle, fontsize=11)
    if ax is None:
        figure.tight_layout()
    _save(figure, path, dpi)
    return figure


def _thousands_formatter():
    from matplotlib.ticker import FuncFormatter

    return FuncFormatter(lambda value, _: f"{value:,.0f}")


def _check_table(table: Any) -> tuple[list[str], list[str]]:
    if not isinstance(table, Mapping) or not table:
        raise TypeError(
            "Invalid `table`: expected a non-empty dict {technique: {metric: value}}. "
            f"Received: table={table!r}"
        )
    metrics: list[str] = []
    for technique, scores in table.items():
        if not isinstance(scores, Mapping):
            raise TypeError(
                "Invalid `table`: each technique must map to a dict {metric: value}. "
                f"Received: table[{technique!r}]={scores!r}"
            )
        for metric, value in scores.items():
            if isinstance(value, bool) or not isinstance(value, numbers.Real):
                raise TypeError(
                    "Invalid `table`: metric values must be numbers. "
                    f"Received: table[{technique!r}][{metric!r}]={value!r}"
                )
            if metric not in metrics:
                metrics.append(metric)
    if not metrics:
        raise ValueError(f"Invalid `table`: no metric values. Received: table={table!r}")
    return [str(t) for t in table], metrics


def plot_metric_comparison(
    table: Mapping[str, Mapping[str, float]],
    path: _PathLike | None = None,
    ax: Any = None,
    *,
    title: str | None = None,
    metrics: Sequence[str] | None = None,
    ylim: tuple[float, float] | None = (0.0, 1.0),
    dpi: int = 120,
):
    """Grouped bar chart comparing techniques on several metrics.

    One group of bars per metric, one bar (and legend entry) per technique, each bar
    labelled with its value. A technique missing a metric (or with a NaN value) gets no
    bar there.

    Parameters
    ----------
    table : dict
        ``{technique: {metric: value}}``, e.g. ``{"baseline": {"f1": 0.41, "recall": 0.30},
        "oversample": {"f1": 0.52, "recall": 0.71}}``. Technique order is kept.
    path : str or os.PathLike, optional
        Save the figure there (format from the extension).
    ax : matplotlib Axes, optional
        Draw into this Axes instead of a new figure.
    title : str, optional
        Axes title.
    metrics : sequence of str, optional
        Metrics to show, in this order. Default: every metric, in order of first appearance.
    ylim : (float, float) or None, default (0, 1)
        Value axis limits; ``None`` lets matplotlib choose (for metrics outside [0, 1]).
    dpi : int, default 120
        Resolution of the saved image.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ImportError
        matplotlib is not installed (install the ``plot`` extra).
    TypeError
        ``table`` is not a dict of dicts of numbers.
    ValueError
        ``table`` holds no values, or ``metrics`` names a metric it lacks.

    Examples
    --------
    >>> import os, tempfile
    >>> table = {
    ...     "baseline": {"f1": 0.41, "recall": 0.30, "pr_auc": 0.44},
    ...     "oversample": {"f1": 0.52, "recall": 0.71, "pr_auc": 0.47},
    ... }
    >>> path = os.path.join(tempfile.mkdtemp(), "metrics.png")
    >>> figure = plot_metric_comparison(table, path, title="Validation metrics")
    >>> [text.get_text() for text in figure.axes[0].get_legend().get_texts()]
    ['baseline', 'oversample']
    """
    techniques, all_metrics = _check_table(table)
    path = _check_path(path)
    if metrics is None:
        metrics = all_metrics
    else:
        metrics = [str(m) for m in metrics]
        unknown = [m for m in metrics if m not in all_metrics]
        if unknown or not metrics:
            raise ValueError(
                f"Invalid `metrics`: expected names among {all_metrics}. Received: "
                f"metrics={list(metrics)!r}"
            )
    if ax is None:
        size = (min(14.0, max(6.0, 1.0 + 0.9 * len(metrics) * len(techniques))), 4.2)
        figure, (axes,) = _new_figure(path, 1, size)
    else:
        axes = ax
        figure = ax.figure

    width = 0.8 / len(techniques)
    centers = list(range(len(metrics)))
    # Many bars: value labels stand upright so that neighbours never overlap.
    upright = len(techniques) * len(metrics) > 8
    labels = []
    for i, technique in enumerate(table):
        scores = table[technique]
        shown = [
            (j, float(scores[m]))
            for j, m in enumerate(metrics)
            if m in scores and not math.isnan(float(scores[m]))
        ]
        offsets = [j - 0.4 + width * (i + 0.5) for j, _ in shown]
        bars = axes.bar(offsets, [v for _, v in shown], width=width, label=str(technique))
        labels += axes.bar_label(
            bars, labels=[f"{v:.3f}" for _, v in shown], padding=2,
            fontsize=7 if upright else 8, rotation=90 if upright else 0,
        )  # fmt: skip
    axes.set_xticks(centers, metrics)
    axes.set_xlabel("Metric")
    axes.set_ylabel("Value")
    axes.set_title(title or "Metrics by technique")
    # Outside the plot, so it covers no bar whatever the values.
    axes.legend(
        title="Technique", fontsize=8, frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0)
    )
    if ax is None:
        figure.tight_layout()
    if ylim is not None:
        axes.set_ylim(*ylim)
        _make_room_for_labels(figure, axes, labels, ylim)
    _save(figure, path, dpi)
    return figure


def _make_room_for_labels(figure: Any, axes: Any, labels: list, ylim: tuple[float, float]) -> None:
    """Raise the top of the value axis until every value label lies inside the axes.

    A bar at the top of ``ylim`` (a perfect 1.000 on a tiny data set) would otherwise put
    its label above the axes, over the title. Ticks stay within ``ylim``.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    low, high = ylim
    ticks = [t for t in axes.get_yticks() if low <= t <= high]
    canvas = figure.canvas if hasattr(figure.canvas, "get_renderer") else FigureCanvasAgg(figure)
    for _ in range(10):
        renderer = canvas.get_renderer()
        box = axes.get_window_extent(renderer)
        top = max((label.get_window_extent(renderer).y1 for label in labels), default=box.y1)
        if top <= box.y1:
            break
        # Grow by the overflow, in data units, plus a small margin.
        bottom, current = axes.get_ylim()
        per_pixel = (current - bottom) / max(box.height, 1.0)
        axes.set_ylim(bottom, current + (top - box.y1 + 4) * per_pixel * 1.1)
    axes.set_yticks(ticks)

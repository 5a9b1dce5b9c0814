import json

from tfbalance import _cli
from tfbalance._demo import METRIC_TITLES, METRICS, TECHNIQUE_TITLES, TECHNIQUES



def test_demo_end_to_end_small(tmp_path, capsys):
    out = tmp_path / "demo"
    code = _cli.main(
        ["demo", "--rows", "20000", "--epochs", "1", "--out", str(out), "--seed", "3"]
    )
    assert code == 0
    printed = capsys.readouterr().out
    for step in ("Step 1", "Step 2", "Step 3", "Verdict", "Total wall time"):
        assert step in printed
    # The comparison table names every technique and every metric.
    table = (out / "results.md").read_text()
    for technique in TECHNIQUES:
        assert TECHNIQUE_TITLES[technique] in table
        assert TECHNIQUE_TITLES[technique] in printed
    for metric in METRICS:
        assert METRIC_TITLES[metric] in table
    results = json.loads((out / "results.json").read_text())
    assert set(results["metrics"]) == set(TECHNIQUES)
    for values in results["metrics"].values():
        assert set(values) == set(METRICS)
        assert all(0.0 <= v <= 1.0 for v in values.values())
    # Exact resampling: the article's "Class 0 / Class 1" before/after figures.
    train = {int(k): v for k, v in results["train_counts"].items()}
    minority, majority = min(train.values()), max(train.values())
    under = results["resampled_counts"]["undersample"]
    over = results["resampled_counts"]["oversample"]
    assert sorted(under.values()) == [minority, minority]
    assert sorted(over.values()) == [majority, majority]
    full = {int(k): v for k, v in results["full_counts"].items()}
    assert sum(full.values()) == 20000
    for name in ("class_histogram.png", "metrics.png"):
        with open(out / name, "rb") as handle:
            assert handle.read(8) == b"\x89PNG\r\n\x1a\n"


def test_demo_rejects_missing_data(tmp_path, capsys):
    code = _cli.main(["demo", "--data", str(tmp_path / "nope.csv"), "--out", str(tmp_path)])
    assert code == 2
    assert "nope.csv" in capsys.readouterr().err

import importlib.util
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _load(name):
    path = os.path.join(ROOT, "examples", f"{name}.py")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def start_in_background(tmp_path_factory, launch):
    """The example run as users run it, started at session start (see tests/conftest.py):
    its four models' fits are seconds of CPU that overlap the in-process tests."""
    out = tmp_path_factory.mktemp("insurance_example")
    script = os.path.join(ROOT, "examples", "insurance_cross_sell.py")
    env = {**os.environ, "PYTHONPATH": ROOT, "TF_CPP_MIN_LOG_LEVEL": "3"}
    # Any size shows the four techniques: the time goes into each model's fit, not the rows.
    return launch([sys.executable, script, "--rows", "3000", "--epochs", "1", "--out", str(out)],
                  env=env, cwd=ROOT, timeout=400)


def test_insurance_example_smoke(background):
    done = background[__name__].result()
    assert done.returncode == 0, done.stderr[-3000:]
    printed = done.stdout
    for technique in ("baseline", "undersample", "oversample", "class weights"):
        assert technique in printed
    assert "pr_auc" in printed


def _results(**config):
    metrics = {"f1": 0.5, "accuracy": 0.8, "precision": 0.4, "recall": 0.7, "pr_auc": 0.45,
               "tuned_f1": 0.55}
    return {
        "config": {"seed": 0, "rows": 10, "epochs": 3, **config},
        "data": "/somewhere/local/insurance.csv",
        "full_counts": {"0": 9, "1": 1}, "train_counts": {"0": 7, "1": 1},
        "resampled_counts": {}, "differences": {},
        "metrics": {"baseline": metrics},
        "intervals": {"baseline": {m: [v - 0.01, v + 0.01] for m, v in metrics.items()}},
        "best_thresholds": {"baseline": 0.3}, "wall_seconds": 12.3,
    }


def test_update_readme_results_renders_the_run(tmp_path):
    import json

    updater = _load("update_readme_results")
    out = tmp_path / "run"
    out.mkdir()
    (out / "results.json").write_text(json.dumps(_results()))
    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- demo-results:start -->\nold\n<!-- demo-results:end -->\nend\n")
    fixture = tmp_path / "fixture.json"
    argv = ["--out", str(out), "--readme", str(readme), "--fixture", str(fixture)]
    assert updater.main(argv) == 0
    text = readme.read_text()
    assert "\nold\n" not in text
    assert "| No balancing | 0.800 | 0.400 | 0.700 | 0.500 [0.490, 0.510] |" in text
    assert "10 rows (9, 1); seed 0, rows 10, epochs 3; demo wall time 12 s." in text
    assert text.startswith("intro\n") and text.endswith("end\n")
    kept = json.loads(fixture.read_text())
    assert kept["data"] == "insurance.csv"  # no local path in the repository
    assert updater.readme_section(text) == updater.render(kept)


def test_readme_demo_table_is_the_recorded_default_run():
    # README's demo block must be exactly what the recorded run measured (regenerate both
    # with examples/update_readme_results.py after `tfbalance demo`), and that run must be
    # a default one, as README says.
    import json

    from tfbalance._demo import DEFAULT_ROWS

    updater = _load("update_readme_results")
    with open(updater.FIXTURE) as handle:
        results = json.load(handle)
    assert results["config"] == {"seed": 0, "rows": DEFAULT_ROWS, "epochs": 3}
    with open(os.path.join(ROOT, "README.md")) as handle:
        readme = handle.read()
    assert updater.readme_section(readme) == updater.render(results)

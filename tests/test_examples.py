import importlib.util
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _load(name):
    spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, "examples", f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_insurance_example_smoke(tmp_path, capsys):
    example = _load("insurance_cross_sell")
    example.main(["--rows", "12000", "--epochs", "1", "--out", str(tmp_path)])
    printed = capsys.readouterr().out
    for technique in ("baseline", "undersample", "oversample", "class weights"):
        assert technique in printed
    assert "pr_auc" in printed


def test_readme_results_are_copied_from_a_run(tmp_path):
    import json

    updater = _load("update_readme_results")
    out = tmp_path / "run"
    out.mkdir()
    (out / "results.md").write_text("| Technique | F1 |\n|---|---:|\n| No balancing | 0.123 |\n")
    (out / "results.json").write_text(
        json.dumps({"full_counts": {"0": 9, "1": 1}, "wall_seconds": 12.3})
    )
    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- demo-results:start -->\nold\n<!-- demo-results:end -->\nend\n")
    assert updater.main(["--out", str(out), "--readme", str(readme)]) == 0
    text = readme.read_text()
    assert "old" not in text and "| No balancing | 0.123 |" in text
    assert "10 rows (9 / 1); demo wall time 12 s." in text
    assert text.startswith("intro\n") and text.endswith("end\n")

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

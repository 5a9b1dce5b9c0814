"""Smoke run of examples/tfds_any_dataset.py on mocked TFDS data (offline, seconds)."""

import importlib.util
import pathlib
import re
import sys

import pandas as pd
import pytest

# The tfds extra is optional: without it these tests skip (the test extra installs it).
tfds = pytest.importorskip("tensorflow_datasets")

import tfbalance  # noqa: E402
from tfbalance.datasets import insurance_split, make_insurance_csv  # noqa: E402

EXAMPLE = pathlib.Path(__file__).resolve().parents[1] / "examples" / "tfds_any_dataset.py"
TECHNIQUE_NEEDS = {
    "undersample": ("undersample",),
    "weights": ("class_weights", "with_sample_weights"),
}


def _load_example():
    spec = importlib.util.spec_from_file_location("tfds_any_dataset", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    # Registered like an imported module, so AutoGraph can read its functions' source.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.timeout(120)
@pytest.mark.parametrize("technique", sorted(TECHNIQUE_NEEDS))
def test_example_balances_a_mocked_tfds_dataset(technique, capsys):
    missing = [name for name in TECHNIQUE_NEEDS[technique] if not hasattr(tfbalance, name)]
    if missing:
        pytest.skip(f"tfbalance.{', tfbalance.'.join(missing)} not in this build of tfbalance")
    example = _load_example()
    # mock_data replaces the records of any registered data set with random ones of the
    # right structure (here 28x28x1 uint8 images, labels 0-9): nothing is downloaded.
    with tfds.testing.mock_data(num_examples=300):
        rc = example.main(
            ["--dataset", "mnist", "--technique", technique, "--take", "300", "--epochs", "1"]
        )
    assert rc == 0
    out = capsys.readouterr().out
    assert "Training data (mnist):" in out
    assert "ClassDistribution(total=300, num_classes=10)" in out
    assert re.search(r"Test loss \d+\.\d+, accuracy \d\.\d+", out)
    step = {"undersample": "After undersampling (one epoch):", "weights": "Class weights: {0: "}
    assert step[technique] in out


@pytest.mark.timeout(120)
def test_example_on_insurance_cross_sell_from_a_manual_dir(tmp_path, capsys):
    if not hasattr(tfbalance, "undersample"):
        pytest.skip("tfbalance.undersample not in this build of tfbalance")
    manual_dir = tmp_path / "manual"
    manual_dir.mkdir()
    make_insurance_csv(manual_dir / "train.csv", 500, seed=0)
    argv = ["--dataset", "insurance_cross_sell", "--epochs", "1", "--batch-size", "64"]
    argv += ["--manual-dir", str(manual_dir), "--data-dir", str(tmp_path / "tfds")]
    assert _load_example().main(argv) == 0
    out = capsys.readouterr().out
    train = pd.read_csv(manual_dir / "train.csv")
    train = train[[insurance_split(int(i)) == "train" for i in train["id"]]]
    assert f"ClassDistribution(total={len(train)}, num_classes=2)" in out
    assert re.search(r"Test loss \d+\.\d+, accuracy \d\.\d+", out)

"""Smoke run of examples/tfds_any_dataset.py on mocked TFDS data (offline, seconds)."""

import importlib.util
import pathlib
import re
import sys

import pytest
import tensorflow_datasets as tfds

import tfbalance

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

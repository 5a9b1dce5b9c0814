import numpy as np
import pytest

from tfbalance._validation import check_seed, resolve_class_vector, resolve_target_distribution


def test_list_and_dict_forms_agree():
    assert resolve_class_vector([1, 2, 0], 3, "w").tolist() == [1.0, 2.0, 0.0]
    assert resolve_class_vector({1: 2, 0: 1}, 3, "w").tolist() == [1.0, 2.0, 0.0]


@pytest.mark.parametrize(
    "value, exc, pattern",
    [
        ([1, 2], ValueError, r"expected 3 values.*Received: w=\[1, 2\]"),
        ({3: 1.0}, ValueError, r"class 3 is not one of the known classes 0\.\.2"),
        # A key of the wrong type is a TypeError (it was a ValueError).
        ({"1": 1.0}, TypeError, r"class '1' is not one of the known classes 0\.\.2"),
        ({True: 1.0}, TypeError, r"class True is not one of the known classes"),
        ([1, -1, 0], ValueError, "non-negative"),
        ([1, float("nan"), 0], ValueError, "finite"),
        ([1, "a", 0], TypeError, "numbers"),
        ("abc", TypeError, "Invalid `w`"),
    ],
)
def test_bad_vectors(value, exc, pattern):
    with pytest.raises(exc, match=pattern):
        resolve_class_vector(value, 3, "w")


def test_missing_dict_classes_when_required():
    with pytest.raises(ValueError, match=r"no value for classes \[2\]"):
        resolve_class_vector({0: 1, 1: 1}, 3, "w", allow_missing=False)


def test_target_must_sum_to_one():
    assert np.allclose(resolve_target_distribution([0.25, 0.75], 2), [0.25, 0.75])
    with pytest.raises(ValueError, match=r"sum to 1, but they sum to 1\.2.*target_dist="):
        resolve_target_distribution([0.5, 0.7], 2)


def test_seed():
    assert check_seed(None) is None and check_seed(np.int64(3)) == 3
    with pytest.raises(TypeError, match="Received: seed=1.5"):
        check_seed(1.5)

"""The typed argument checks every public function uses: one wording, TypeError vs ValueError."""

import math

import numpy as np
import pytest

from tfbalance._validation import (
    check_bool,
    check_choice,
    check_column,
    check_int,
    check_positive_int,
    check_real,
    check_seed,
)


@pytest.mark.parametrize("value", [0, 7, np.int64(3), np.int8(-2)])
def test_check_int_accepts_python_and_numpy_integers(value):
    result = check_int(value, "n")
    assert result == int(value) and type(result) is int


@pytest.mark.parametrize("value", [True, np.bool_(False), 1.0, "3", None, [1]])
def test_check_int_refuses_non_integers_with_type_error(value):
    with pytest.raises(TypeError, match=r"Invalid `n`: expected an int\. Received: n="):
        check_int(value, "n")


def test_check_int_bounds_and_none():
    assert check_int(None, "n", allow_none=True) is None
    assert check_int(5, "n", minimum=5, maximum=5) == 5
    with pytest.raises(ValueError, match=r"expected an int in \[1, 4\]\. Received: n=5"):
        check_int(5, "n", minimum=1, maximum=4)
    with pytest.raises(ValueError, match=r"expected an int >= 2\. Received: n=1"):
        check_int(1, "n", minimum=2)
    with pytest.raises(TypeError, match=r"expected a positive int or None"):
        check_positive_int("x", "n", allow_none=True)
    with pytest.raises(ValueError, match=r"expected a positive int\. Received: n=0"):
        check_positive_int(0, "n")


def test_check_seed_keeps_its_contract():
    assert check_seed(None) is None and check_seed(np.int32(4)) == 4
    with pytest.raises(TypeError, match=r"Invalid `seed`: expected an int or None"):
        check_seed(1.5)


@pytest.mark.parametrize("value", [0, 0.5, np.float32(0.25), np.int16(1)])
def test_check_real_accepts_finite_numbers(value):
    result = check_real(value, "beta", minimum=0, maximum=1)
    assert result == float(value) and type(result) is float


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_check_real_refuses_non_finite_values(value):
    with pytest.raises(ValueError, match=r"Invalid `beta`: expected a finite number"):
        check_real(value, "beta")


def test_check_real_open_and_closed_bounds():
    with pytest.raises(ValueError, match=r"expected a finite number > 0\. Received: beta=0"):
        check_real(0, "beta", minimum=0, min_open=True)
    with pytest.raises(ValueError, match=r"in \[0, 1\)\. Received: p=1\.0"):
        check_real(1.0, "p", minimum=0, maximum=1, max_open=True)
    with pytest.raises(TypeError, match=r"expected a finite number or None"):
        check_real(True, "p", allow_none=True)
    assert check_real(None, "p", allow_none=True) is None


def test_check_bool_refuses_truthy_values():
    assert check_bool(np.bool_(True), "shuffle") is True
    for value in (0, 1, "True", None):
        with pytest.raises(TypeError, match=r"Invalid `shuffle`: expected True or False"):
            check_bool(value, "shuffle")


def test_check_choice_lists_the_choices():
    assert check_choice("gzip", "compression", ("auto", "gzip")) == "gzip"
    assert check_choice(None, "compression", ("gzip",), allow_none=True) is None
    with pytest.raises(ValueError, match=r"expected one of 'auto', 'gzip'\. Received: c='GZ'"):
        check_choice("GZ", "c", ("auto", "gzip"))
    with pytest.raises(TypeError, match=r"expected one of 'auto', 'gzip' or None"):
        check_choice(3, "c", ("auto", "gzip"), allow_none=True)


def test_check_column_names_the_header():
    assert check_column("y", "label", ["x", "y"]) == "y"
    with pytest.raises(ValueError, match=r"columns \['x', 'y'\]\. Received: label='z'"):
        check_column("z", "label", ["x", "y"])
    with pytest.raises(TypeError, match=r"expected a column name"):
        check_column(1, "label", ["x"])


def test_is_integer_is_the_one_integer_rule():
    from tfbalance._validation import is_integer

    assert all(is_integer(v) for v in (0, -3, np.int8(1), np.uint64(2)))
    assert not any(is_integer(v) for v in (True, np.bool_(True), 1.0, np.float32(1), "1", None))


def test_check_num_classes_bounds():
    from tfbalance._validation import check_num_classes

    assert check_num_classes(np.int64(3)) == 3 and check_num_classes(None, allow_none=True) is None
    with pytest.raises(TypeError, match=r"Invalid `num_classes`: expected a positive int"):
        check_num_classes(2.0)
    with pytest.raises(ValueError, match=r"at most 1048576 classes\. Received: num_classes="):
        check_num_classes(2**20 + 1)

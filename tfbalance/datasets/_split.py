"""The insurance data's test split, defined once: rows whose ``id`` is a multiple of 5.

``tfbalance demo``, ``examples/insurance_cross_sell.py`` and the TFDS builder
(``insurance_split``) all hold out the rows this rule picks, so their test scores are on
the same rows. Numpy only (it works on TensorFlow tensors without importing TensorFlow).
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["INSURANCE_TEST_MODULUS", "is_insurance_test_row"]

#: A row is in the test split when its id is a multiple of this (1 row in 5, 20%).
INSURANCE_TEST_MODULUS = 5


def is_insurance_test_row(row_id: Any) -> Any:
    """Whether rows of the insurance data belong to its test split: ``id % 5 == 0``.

    The rule depends on the id alone, so a row lands in the same split whatever the file's
    order, size or release, and it is easy to reproduce anywhere (``df[df.id % 5 == 0]``).

    Parameters
    ----------
    row_id : int, or array, pandas Series or tf.Tensor of integers
        Values of the ``id`` column.

    Returns
    -------
    bool, or a boolean array / Series / tf.Tensor of the same shape
        ``True`` for test rows.

    Raises
    ------
    TypeError
        ``row_id`` is not an integer or integers (a bool, a float, a string).

    Examples
    --------
    >>> import numpy as np
    >>> is_insurance_test_row(10), is_insurance_test_row(11)
    (True, False)
    >>> is_insurance_test_row(np.array([4, 5, 10]))
    array([False,  True,  True])
    >>> import tensorflow as tf
    >>> is_insurance_test_row(tf.constant([5, 6], tf.int64)).numpy()
    array([ True, False])
    """
    dtype = getattr(row_id, "dtype", None)
    if dtype is None:
        if isinstance(row_id, (bool, np.bool_)) or not isinstance(row_id, (int, np.integer)):
            raise TypeError(f"Invalid `row_id`: expected an integer. Received: row_id={row_id!r}")
        return int(row_id) % INSURANCE_TEST_MODULUS == 0
    # tf.DType says is_integer itself; NumPy and pandas dtypes go through np.issubdtype.
    is_integer = getattr(dtype, "is_integer", None)
    if is_integer is None:
        is_integer = np.issubdtype(np.dtype(dtype), np.integer)
    if not is_integer:
        raise TypeError(
            f"Invalid `row_id`: expected integer ids. Received: row_id of dtype {dtype}"
        )
    result = row_id % INSURANCE_TEST_MODULUS == 0
    return bool(result) if isinstance(row_id, np.integer) else result

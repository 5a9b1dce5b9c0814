"""How a class id is read from a dataset element: tuple position, dict key or callable.

Every transform, weight and counting function reads labels through this module, so the
``label`` argument means the same thing everywhere:

* ``None``: the second item of ``(x, y)`` / ``(x, y, w)`` tuples;
* a ``str``: a key of dict elements (or of the dict inside ``(features, ...)`` tuples);
* an ``int``: a position in tuple elements;
* a callable: ``element -> class ids``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tfbalance._tf import tf

Label = None | str | int | Callable[[Any], Any]

__all__ = [
    "Label",
    "check_dataset",
    "check_label_argument",
    "get_label",
    "label_spec",
    "map_elements",
    "check_integer_labels",
    "batched_label_rank",
    "check_batch_rows",
]


def check_dataset(dataset: Any, arg_name: str = "dataset") -> None:
    """Raise ``TypeError`` unless ``dataset`` is a ``tf.data.Dataset`` (with a hint for arrays)."""
    if isinstance(dataset, tf.data.Dataset):
        return
    shown = " ".join(repr(dataset).split())  # arrays print on several lines
    shown = shown if len(shown) <= 120 else shown[:117] + "..."
    raise TypeError(
        f"Invalid `{arg_name}`: expected a tf.data.Dataset (for arrays in memory, e.g. "
        "tf.data.Dataset.from_tensor_slices((x, y)); then use it with dataset.apply). "
        f"Received: {arg_name}={shown} of type {type(dataset).__name__}"
    )


def check_label_argument(label: Label) -> None:
    """Raise ``TypeError`` for a ``label`` that is none of the accepted kinds."""
    if label is None or callable(label) or isinstance(label, (str, int)):
        if isinstance(label, bool):
            raise TypeError(
                "Invalid `label`: expected None, a dict key (str), a tuple position (int) "
                f"or a callable. Received: label={label!r}"
            )
        return
    raise TypeError(
        "Invalid `label`: expected None, a dict key (str), a tuple position (int) "
        f"or a callable. Received: label={label!r} of type {type(label).__name__}"
    )


def _describe(element: Any) -> str:
    if isinstance(element, dict):
        return f"a dict with keys {sorted(element)}"
    if isinstance(element, (tuple, list)):
        return f"a tuple of {len(element)} items"
    return "a single tensor"


def get_label(element: Any, label: Label) -> Any:
    """Return the class ids held by ``element`` (a tensor, or a spec when given specs)."""
    check_label_argument(label)
    if callable(label):
        return label(element)
    if label is None:
        if isinstance(element, (tuple, list)) and len(element) >= 2:
            return element[1]
        raise ValueError(
            "Invalid `label`: label=None reads the second item of (x, y) or (x, y, w) "
            f"elements, but the dataset's elements are {_describe(element)}. Pass a dict "
            "key, a tuple position or a callable element -> class id. Received: label=None"
        )
    if isinstance(label, int):
        if isinstance(element, (tuple, list)) and -len(element) <= label < len(element):
            return element[label]
        raise ValueError(
            f"Invalid `label`: position {label} does not exist in the dataset's elements, "
            f"which are {_describe(element)}. Received: label={label!r}"
        )
    # A string key: dict elements, or the features dict of (features, ...) tuples.
    if isinstance(element, dict):
        if label in element:
            return element[label]
        raise ValueError(
            f"Invalid `label`: the dataset's elements have no key {label!r}; the keys are "
            f"{sorted(element)}. Received: label={label!r}"
        )
    if isinstance(element, (tuple, list)) and element and isinstance(element[0], dict):
        if label in element[0]:
            return element[0][label]
        raise ValueError(
            f"Invalid `label`: the features dict of the dataset's elements has no key "
            f"{label!r}; the keys are {sorted(element[0])}. Received: label={label!r}"
        )
    raise ValueError(
        f"Invalid `label`: a key needs dict elements, but the dataset's elements are "
        f"{_describe(element)}. Received: label={label!r}"
    )


def map_elements(dataset: tf.data.Dataset, fn: Callable[[Any], Any], **map_kwargs: Any):
    """``dataset.map`` with ``fn`` called on the whole element, whatever its structure.

    ``Dataset.map`` unpacks tuple elements into positional arguments; this repacks them so
    ``fn`` always sees the element as the dataset's ``element_spec`` describes it.
    """
    is_tuple = isinstance(dataset.element_spec, tuple)

    def _call(*args: Any) -> Any:
        return fn(args if is_tuple else args[0])

    return dataset.map(_call, **map_kwargs)


def label_spec(dataset: tf.data.Dataset, label: Label) -> tf.TensorSpec:
    """The ``tf.TensorSpec`` of the class ids that ``label`` reads from ``dataset``."""
    spec = dataset.element_spec
    if callable(label):
        # Trace the callable once (no data is read) to learn what it returns.
        spec = map_elements(dataset, lambda element: get_label(element, label)).element_spec
    else:
        spec = get_label(spec, label)
    if not isinstance(spec, tf.TensorSpec):
        raise TypeError(
            "Invalid `label`: it must select one dense tensor of class ids, but it selects "
            f"{spec!r}. Received: label={label!r}"
        )
    return spec


def check_integer_labels(spec: tf.TensorSpec, label: Label) -> None:
    """Raise ``TypeError`` unless the class ids are integers."""
    if spec.dtype.is_integer:
        return
    if spec.dtype == tf.string:
        hint = (
            "map string labels to ids first, e.g. with tfbalance.read_csv (which builds a "
            "vocabulary) or keras.layers.StringLookup"
        )
    elif spec.dtype.is_floating:
        hint = "cast them with dataset.map(...) if they hold whole numbers"
    else:
        hint = "convert them to int32/int64 class ids"
    raise TypeError(
        f"Invalid `label`: class ids must be integers, but the selected labels have dtype "
        f"{spec.dtype.name}; {hint}. Received: label={label!r}"
    )


def batched_label_rank(dataset: tf.data.Dataset, label: Label) -> int:
    """0 when each element is one row (one class id), 1 when it is a batch of rows.

    The one rule every function that reads rows uses. It looks at the whole element, not the
    label alone, because a label of shape ``(1,)`` may be a single row's ``y[1]`` (from
    ``from_tensor_slices((X, y.reshape(-1, 1)))``), not a batch of one row:

    * labels holding exactly one class id (shape ``()``, ``(1,)`` or ``(1, 1)``) make the
      element one row. That reading is right even when the element is a batch of one row
      (``batch(1, drop_remainder=True)``): it holds one row either way, so it is kept,
      dropped or repeated whole;
    * labels of shape ``(B,)`` or ``(B, 1)`` with ``B`` other than 1 (or unknown) make the
      element a batch, provided every component can be one: it has a leading axis and the
      leading dimensions agree (an unknown one agrees with any), as ``Dataset.batch`` makes
      them. Callers check at run time that every component has as many rows as there are
      labels (``check_batch_rows``), where the static shapes leave it open;
    * anything else (labels of unknown or higher rank; several labels beside a scalar or
      a component with another number of rows) is refused with ``ValueError``.

    Labels of shape ``(batch, 1)`` / ``(1,)`` are flattened by callers.
    """
    spec = label_spec(dataset, label)
    check_integer_labels(spec, label)
    shape = spec.shape
    if shape.rank is not None and shape.num_elements() == 1:
        return 0
    if shape.rank not in (1, 2) or (shape.rank == 2 and shape[-1] != 1):
        raise ValueError(
            "Invalid `label`: expected one class id per element (a scalar) or per row of a "
            f"batch (shape (batch,) or (batch, 1)), but the labels have shape {shape}. "
            f"Received: label={label!r}"
        )
    can_batch, leads = _can_be_batch(dataset.element_spec, shape[0])
    if can_batch:
        return 1
    raise ValueError(
        "Invalid dataset: its elements are neither single rows nor batches: the labels have "
        f"shape {shape} (a single row needs one class id) but the components' leading "
        f"dimensions {leads} differ (a batch has the same number of rows in every "
        f"component). Received: element_spec={dataset.element_spec!r}"
    )


def check_batch_rows(element: Any, num_labels: tf.Tensor) -> list:
    """Assertions that every dense component of a batch has ``num_labels`` rows.

    Static shapes cannot always tell (e.g. ``from_generator`` with a loose signature); a
    component with another number of rows would otherwise be cut or repeated silently.
    """
    checks = []
    for index, tensor in enumerate(tf.nest.flatten(element)):
        if not isinstance(tensor, tf.Tensor) or tensor.shape.rank == 0:
            continue
        rows = tf.shape(tensor, out_type=num_labels.dtype)[0]
        checks.append(
            tf.debugging.assert_equal(
                rows, num_labels,
                message=(
                    f"Invalid dataset: component {index} of a batch has another number of "
                    "rows than there are labels (elements must be single rows with one "
                    "class id, or batches with one class id per row)"
                ),
            )
        )
    return checks


def _can_be_batch(element_spec: Any, label_rows: Any) -> tuple[bool, list]:
    """Whether every component has a leading axis and the leading dimensions agree."""
    rows = label_rows  # None: not known yet
    leads: list = []
    ok = True
    for spec in tf.nest.flatten(element_spec):
        shape = getattr(spec, "shape", None)
        if shape is None or shape.rank is None:
            continue  # unknown rank: compatible with either reading
        if shape.rank == 0:
            leads.append("scalar")
            ok = False
            continue
        lead = shape[0]
        leads.append(lead)
        if rows is None:
            rows = lead
        elif lead is not None and lead != rows:
            ok = False
    return ok, leads

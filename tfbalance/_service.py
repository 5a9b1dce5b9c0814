"""What can travel to tf.data service workers, checked before the data set is sent.

``tf.data.experimental.service.distribute`` serialises the data set's graph and rebuilds it in
each worker's process. Two kinds of state do not survive the trip, and TensorFlow reports
neither when the data set is registered:

* ``tf.Variable`` objects the pipeline reads (e.g. ``ClassWeightCallback.transform``'s
  weights, a ``tf.Variable`` of interleave weights driven by a schedule): each worker gets a
  *copy* of the value the variable held at registration. Assignments made later in the
  trainer never reach the workers, and the workers' own updates never come back, so weights
  silently stop changing.
* Python callables (``tf.py_function``, ``tf.numpy_function``, ``Dataset.from_generator``):
  they live in the trainer's interpreter; a worker in another process fails at the first
  element with "Could not find callback with key=pyfunc_N in the registry".
"""

from __future__ import annotations

import re
from typing import Any

from tfbalance._tf import tf

__all__ = ["check_data_service_compatible"]

_PYTHON_OPS = frozenset({"PyFunc", "PyFuncStateless", "EagerPyFunc"})
_VARIABLE_OPS = frozenset({"VarHandleOp", "VariableV2", "Variable"})


_STATEFUL = re.compile(r"(\w+) is stateful")


def _serialized_graph(dataset: tf.data.Dataset) -> tuple[Any, str | None]:
    """The pipeline's GraphDef, or ``(None, op)`` when serialisation refuses a stateful op."""
    from tensorflow.core.framework import graph_pb2

    graph = graph_pb2.GraphDef()
    try:
        # WARN (not FAIL) so every stateful op is serialised and can be reported by name;
        # a pipeline that set ExternalStatePolicy.FAIL in its options still refuses.
        serialized = dataset._as_serialized_graph(  # noqa: SLF001 (no public equivalent)
            external_state_policy=tf.data.experimental.ExternalStatePolicy.WARN,
            strip_device_assignment=True,
        )
    except tf.errors.FailedPreconditionError as error:
        match = _STATEFUL.search(str(error))
        return None, match.group(1) if match else "a stateful op"
    graph.ParseFromString(serialized.numpy())
    return graph, None


def _describe_variable(node: Any) -> str:
    dtype = tf.dtypes.as_dtype(node.attr["dtype"].type).name
    dims = [d.size for d in node.attr["shape"].shape.dim]
    shape = "(" + ", ".join(str(d) for d in dims) + ("," if len(dims) == 1 else "") + ")"
    return f"{dtype} {shape}"


def check_data_service_compatible(dataset: tf.data.Dataset) -> None:
    """Raise if ``dataset`` holds state that cannot travel to tf.data service workers.

    Call it on the data set you pass to ``tf.data.experimental.service.distribute`` (or
    ``register_dataset``). Every tfbalance transform is graph-only and stateless, so
    pipelines built from ``read_csv``, the resampling transforms, ``with_sample_weights``
    with fixed weights and ``interleave_by_class`` with fixed weights pass. Two things are
    rejected, because TensorFlow accepts them without a word and then misbehaves:

    * ``tf.Variable`` reads or writes (``ClassWeightCallback.transform``, interleave weights
      held in a ``tf.Variable`` and moved by a schedule): each worker would use a frozen
      copy of the value at registration time, so the weights would silently never change.
      Use fixed weights on the service (e.g. ``tfbalance.class_weights(counts)`` with
      ``with_sample_weights``), or apply the variable-driven step after ``distribute``, in
      the trainer's process, where the variables live.
    * Python code (``tf.py_function``, ``tf.numpy_function``, ``Dataset.from_generator``):
      a worker in another process cannot call back into the trainer's interpreter.

    Parameters
    ----------
    dataset : tf.data.Dataset
        The pipeline that would be sent to the workers.

    Returns
    -------
    None
        When every part of the pipeline can be rebuilt in a worker's process.

    Raises
    ------
    TypeError
        If ``dataset`` is not a ``tf.data.Dataset``.
    ValueError
        If the pipeline reads or writes ``tf.Variable`` objects or calls Python code; the
        message names what was found and what to do instead.

    Examples
    --------
    >>> import tensorflow as tf
    >>> import tfbalance
    >>> ds = tf.data.Dataset.from_tensor_slices(([0.1, 0.2, 0.3, 0.4], [0, 1, 0, 0]))
    >>> weights = tf.constant([0.5, 2.0])
    >>> fixed = ds.map(lambda x, y: (x, y, tf.gather(weights, y)))
    >>> tfbalance.check_data_service_compatible(fixed)  # constants travel
    >>> scale = tf.Variable(2.0)
    >>> moving = ds.map(lambda x, y: (x, y, scale * tf.cast(y, tf.float32)))
    >>> tfbalance.check_data_service_compatible(moving)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: Invalid `dataset`: it reads or writes ... tf.data service copies ...
    """
    if not isinstance(dataset, tf.data.Dataset):
        raise TypeError(
            "Invalid `dataset`: expected a tf.data.Dataset. "
            f"Received: dataset={dataset!r} of type {type(dataset).__name__}"
        )
    graph, refused_op = _serialized_graph(dataset)
    if graph is None:
        python_ops = [refused_op] if refused_op in _PYTHON_OPS else []
        variables_text = "" if python_ops else f"tf.Variable state (op {refused_op})"
    else:
        nodes = list(graph.node)
        for function in graph.library.function:
            nodes.extend(function.node_def)
        variables = [_describe_variable(n) for n in graph.node if n.op in _VARIABLE_OPS]
        python_ops = sorted({n.op for n in nodes if n.op in _PYTHON_OPS})
        plural = "s" if len(variables) > 1 else ""
        variables_text = (
            f"{len(variables)} tf.Variable{plural} ({', '.join(variables)})" if variables else ""
        )
    problems = []
    if variables_text:
        problems.append(
            f"it reads or writes {variables_text}, which tf.data service copies into each "
            "worker at "
            "registration: later assignments (e.g. ClassWeightCallback or a weight schedule) "
            "would never reach the workers and their updates would never come back. Use "
            "fixed weights in the distributed part of the pipeline, or apply the "
            "variable-driven step after `distribute`, in the trainer"
        )
    if python_ops:
        problems.append(
            f"it calls Python code ({', '.join(python_ops)}: tf.py_function, "
            "tf.numpy_function or Dataset.from_generator), which a worker in another process "
            "cannot run. Express the step with TensorFlow ops"
        )
    if problems:
        raise ValueError(
            "Invalid `dataset`: " + "; and ".join(problems)
            + f". Received: dataset={dataset!r}"
        )

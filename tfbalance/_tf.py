"""Import TensorFlow once, with an error that says what to install when it is missing."""

from __future__ import annotations

_MIN_TF = (2, 16)

try:
    import tensorflow as tf
except ImportError as exc:  # pragma: no cover - exercised only without TF installed
    raise ImportError(
        "tfbalance needs TensorFlow >= 2.16 (Keras 3), which is not installed. Install one "
        "TensorFlow distribution, e.g. `pip install 'tfbalance[tensorflow]'` (CPU/GPU wheel), "
        "`pip install 'tfbalance[tensorflow-cpu]'` or `pip install 'tfbalance[gpu]'` "
        "(tensorflow[and-cuda])."
    ) from exc


def _parse_version(version: str) -> tuple[int, int]:
    major, minor = version.split(".")[:2]
    return int(major), int("".join(ch for ch in minor if ch.isdigit()) or 0)


if _parse_version(tf.__version__) < _MIN_TF:  # pragma: no cover - depends on the installed TF
    raise ImportError(
        f"tfbalance needs TensorFlow >= {_MIN_TF[0]}.{_MIN_TF[1]} (Keras 3). "
        f"Received: tensorflow=={tf.__version__}. Upgrade with `pip install -U tensorflow` "
        "(or tensorflow-cpu, whichever distribution you use)."
    )

__all__ = ["tf"]


def named(dataset: tf.data.Dataset, name: str | None) -> tf.data.Dataset:
    """``dataset`` with its last op named ``name`` (as tf.data's own ``name=`` arguments do).

    A function that builds a pipeline of several ops names the one that delivers its output:
    an options op with no options set, which adds no work per element.
    """
    if name is None:
        return dataset
    if not isinstance(name, str) or not name:
        raise TypeError(
            f"Invalid `name`: expected a non-empty str or None. Received: name={name!r}"
        )
    return dataset.with_options(tf.data.Options(), name=name)

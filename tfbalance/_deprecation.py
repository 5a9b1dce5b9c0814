"""Deprecated spellings of the public vocabulary, kept for one release (0.2.x; gone in 0.3.0).

Every old name and value is accepted with a ``DeprecationWarning`` that names the new
spelling, pointing at the user's line (the first frame outside tfbalance), and means exactly
what it meant in 0.1.0. The renames, in one place:

- ``file_pattern=`` (``read_csv``, ``infer_csv_schema``) is ``source=`` (``renamed_keywords``).
- ``compression_type=`` (``read_csv``, ``infer_csv_schema``, ``class_counts``) is
  ``compression=``, and the compression values of every reader and writer are ``'auto'``
  (gzip when the file name ends in ``.gz``), ``'gzip'`` or ``None`` (``check_compression``).
- ``expected_steps(counts, method=...)`` is ``expected_steps(transform, counts)`` (its shim
  lives beside it in ``_sampling``; it warns through ``warn_deprecated``).

A leaf module (standard library only), so any module may import it.
"""

from __future__ import annotations

import functools
import inspect
import os
import sys
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = [
    "GZIP_BY_CONTENT",
    "REMOVED_IN",
    "check_compression",
    "compression_type_of",
    "renamed_keywords",
    "warn_deprecated",
]

REMOVED_IN = "0.3.0"

F = TypeVar("F", bound=Callable[..., Any])

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


def _user_stacklevel() -> int:
    """The ``stacklevel`` of the first caller outside tfbalance (as pandas' find_stack_level),
    so a warning points at the user's line however deep inside the package it is raised."""
    frame: Any = sys._getframe(1)
    level = 1
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(
        _PACKAGE_DIR + os.sep
    ):
        frame = frame.f_back
        level += 1
    return level


def warn_deprecated(old: str, new: str) -> None:
    """Warn that ``old`` is deprecated in favour of ``new`` (both as the user writes them)."""
    warnings.warn(
        f"{old} is deprecated and will be removed in tfbalance {REMOVED_IN}; use {new}.",
        DeprecationWarning,
        stacklevel=_user_stacklevel(),
    )


class _GzipByContent:
    """The value 0.1.0's ``compression_type='auto'`` stands for: gzip when a file starts with
    the gzip magic bytes, whatever its name. ``compression=`` has no spelling for it (its
    ``'auto'`` goes by the name), so only the deprecated keyword can ask for it."""

    def __repr__(self) -> str:
        return "compression_type='auto'"


GZIP_BY_CONTENT: Any = _GzipByContent()

# 0.1.0's compression_type values -> the compression value that means the same.
_COMPRESSION_TYPES: dict[Any, Any] = {None: "auto", "GZIP": "gzip", "": None}
# Old spellings of compression values (of the writers and make_insurance_csv) -> new ones.
_OLD_COMPRESSIONS = {"GZIP": "gzip", "infer": "auto", "": None}
_COMPRESSIONS = ("auto", "gzip", None)


def _compression_from_type(value: Any) -> Any:
    if value == "auto" and isinstance(value, str):
        warn_deprecated(
            "compression_type='auto' (gzip by the file's first bytes)",
            "compression='gzip' for gzip files whatever their name, compression=None for "
            "plain files, or compression='auto' (gzip when the name ends in '.gz')",
        )
        return GZIP_BY_CONTENT
    if not (value is None or isinstance(value, str)) or value not in _COMPRESSION_TYPES:
        raise ValueError(
            "Invalid `compression_type`: expected None, 'auto', '' or 'GZIP' (a deprecated "
            "keyword: use compression='auto', 'gzip' or None). "
            f"Received: compression_type={value!r}"
        )
    new = _COMPRESSION_TYPES[value]
    warn_deprecated(f"compression_type={value!r}", f"compression={new!r}")
    return new


# Deprecated keyword -> (new keyword, how an old value becomes a new one).
_RENAMES: dict[str, tuple[str, Callable[[Any], Any] | None]] = {
    "file_pattern": ("source", None),
    "compression_type": ("compression", _compression_from_type),
}


def renamed_keywords(*old_names: str) -> Callable[[F], F]:
    """Decorator: accept the deprecated keywords ``old_names`` for their new names.

    The old keyword is warned about and passed as the new one (its value converted where
    the values were renamed too). Giving both is a ``TypeError``. Works for keywords the
    function collects in ``**kwargs`` too (``class_counts(**csv_options)``).
    """
    renames = {old: _RENAMES[old] for old in old_names}

    def decorate(func: F) -> F:
        signature = inspect.signature(func)

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            for old, (new, convert) in renames.items():
                if old not in kwargs:
                    continue
                value = kwargs.pop(old)
                try:
                    given = new in kwargs or new in signature.bind_partial(*args).arguments
                except TypeError:  # too many positional arguments: the call itself says so
                    given = False
                if given:
                    raise TypeError(
                        f"Invalid arguments: pass `{new}` or its deprecated alias `{old}`, "
                        f"not both. Received: {old}={value!r}"
                    )
                if convert is None:
                    warn_deprecated(f"The `{old}` argument", f"`{new}`")
                    kwargs[new] = value
                else:
                    kwargs[new] = convert(value)
            return func(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


def check_compression(value: Any, arg_name: str = "compression") -> Any:
    """``'auto'``, ``'gzip'`` or ``None`` (or ``GZIP_BY_CONTENT`` from the old keyword).

    The 0.1.0 spellings ``'GZIP'``, ``'infer'`` and ``''`` are accepted with a warning.
    """
    if value is GZIP_BY_CONTENT or value is None:
        return value
    if not isinstance(value, str):
        raise TypeError(
            f"Invalid `{arg_name}`: expected 'auto', 'gzip' or None. "
            f"Received: {arg_name}={value!r}"
        )
    if value in _COMPRESSIONS:
        return value
    if value in _OLD_COMPRESSIONS:
        new = _OLD_COMPRESSIONS[value]
        warn_deprecated(f"{arg_name}={value!r}", f"{arg_name}={new!r}")
        return new
    raise ValueError(
        f"Invalid `{arg_name}`: expected 'auto', 'gzip' or None. "
        f"Received: {arg_name}={value!r}"
    )


def compression_type_of(compression: Any) -> str | None:
    """A ``compression`` value in the CSV stack's own terms (``_csv._files.compression_of``):
    ``None`` (by the ``.gz`` suffix), ``'GZIP'``, ``''`` or ``'auto'`` (by the magic bytes)."""
    compression = check_compression(compression)
    if compression is GZIP_BY_CONTENT:
        return "auto"
    return {"auto": None, "gzip": "GZIP", None: ""}[compression]

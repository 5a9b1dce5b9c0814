"""One progress-bar rule for every long pass (counting, splitting)."""

from __future__ import annotations

import sys

__all__ = ["show_progress"]


def show_progress(verbose: bool | None) -> bool:
    """``verbose``, or, when it is None, whether stdout (where ``Progbar`` draws) is a terminal."""
    if verbose is None:
        return sys.stdout.isatty()
    return bool(verbose)

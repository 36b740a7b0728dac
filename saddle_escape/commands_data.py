"""Command-line commands of the data side (conventions §5): ``gamma`` and ``predict``."""

from __future__ import annotations

from collections.abc import Callable


def register(add: Callable) -> None:
    """Add this module's commands to the parser through ``add(name, handler, help)``."""

"""How numbers and durations read to people, the same in the CLI, the UI and reports."""

from __future__ import annotations

import math
from typing import Any


def duration(seconds: float | None) -> str:
    """``12.3s``, ``4m 05s``, ``2h 07m``; empty for an unfinished run."""
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m" if hours else f"{minutes}m {secs:02d}s"


def number(value: Any) -> str:
    """Six significant digits for floats; NaN and None read as empty cells."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)

"""One rule for every JSON writer: a number that is not finite is written as ``null``.

A margin ratio is ``inf`` once the margin balance is gone (:func:`desk.domain.position_math.margin_ratio`)
and a price may be ``nan`` ("none"); JSON has no spelling for either (Python would write
``Infinity``, which no JSON parser accepts). ``desk watch --json-lines``, the alert channels and the
history export pass their documents through here. The risk report (desk/formats/report.py) is written
by msgspec's JSON encoder, which writes every non-finite float as ``null`` itself; it checks a figure
here only where a missing figure is left out of the document rather than written as ``null``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any


def finite_or_none(x: float | None) -> float | None:
    """``x`` when it is a finite number, else ``None``."""
    return x if x is not None and math.isfinite(x) else None


def json_ready(value: Any) -> Any:
    """``value`` with every non-finite float, at any depth of dicts, lists and tuples, made ``None``."""
    if isinstance(value, float):
        return finite_or_none(value)
    if isinstance(value, Mapping):
        return {k: json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_ready(v) for v in value]
    return value

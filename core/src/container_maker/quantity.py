"""Kubernetes quantities ("100m", "256Mi", "2e3") as exact decimals.

A leaf module (standard library only), so that both the settings, which check their resource
bounds, and request validation, which reads those settings, can use it.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

_QUANTITY = re.compile(
    r"^(?P<number>[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][-+]?[0-9]+)?$"
)
_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
}


def parse_quantity(value: str) -> Decimal:
    """The value of a non-negative Kubernetes quantity ("100m", "1Gi", "1.5", "2e3").

    Raises ValueError when ``value`` is not a quantity.
    """
    match = _QUANTITY.match(value)
    if match is None:
        raise ValueError(f"{value!r} is not a Kubernetes quantity (like 100m, 1, 256Mi, 1Gi)")
    try:
        number = Decimal(match["number"])
    except InvalidOperation as e:  # pragma: no cover - the regex only admits decimals
        raise ValueError(f"{value!r} is not a number") from e
    suffix = match["suffix"] or ""
    if suffix in _BINARY:
        return number * _BINARY[suffix]
    if suffix in _DECIMAL:
        return number * _DECIMAL[suffix]
    if suffix:
        return number * Decimal(10) ** int(suffix[1:])
    return number

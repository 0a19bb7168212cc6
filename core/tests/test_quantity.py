"""Kubernetes quantities: every suffix kind, and what is not a quantity."""

from __future__ import annotations

from decimal import Decimal

import pytest

from container_maker.quantity import parse_quantity


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1", Decimal(1)),
        ("100m", Decimal("0.1")),
        ("1.5", Decimal("1.5")),
        (".5", Decimal("0.5")),
        ("256Mi", Decimal(256 * 2**20)),
        ("1Gi", Decimal(2**30)),
        ("1k", Decimal(1000)),
        ("2M", Decimal(2_000_000)),
        ("2e3", Decimal(2000)),
        ("1E-3", Decimal("0.001")),
        ("10n", Decimal("1e-8")),
    ],
)
def test_parse_quantity(text: str, value: Decimal) -> None:
    assert parse_quantity(text) == value


@pytest.mark.parametrize("text", ["", "-1", "1GB", "1 Gi", "Gi", "1.2.3", "0x10", "1ki", "m"])
def test_parse_quantity_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="quantity"):
        parse_quantity(text)

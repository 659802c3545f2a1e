"""The one reading of comma-separated options (seeds, metrics, DiffAugment policies, attribute values, devices)."""
from __future__ import annotations


def comma_items(text: str) -> list[str]:
    """``"a, b,,c "`` -> ``["a", "b", "c"]``: the items in order, stripped, empty ones dropped."""
    return [item.strip() for item in text.split(",") if item.strip()]

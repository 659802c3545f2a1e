"""The one validation style of the config dataclasses: ``validate()`` (called by ``__post_init__``) raises a
one-line :class:`~stylegan_t.errors.RecipeError` naming the dotted recipe key, using these small checks."""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping
from typing import Any

from ..errors import RecipeError


def require(ok: bool, key: str, message: str) -> None:
    """Raise ``RecipeError("<key> <message>")`` unless ``ok``."""
    if not ok:
        raise RecipeError(f"{key} {message}")


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def positive(value: Any, key: str) -> None:
    require(_number(value) and value > 0, key, f"must be > 0, got {value!r}")


def non_negative(value: Any, key: str) -> None:
    require(_number(value) and value >= 0, key, f"must be >= 0, got {value!r}")


def in_range(value: Any, key: str, low: float, high: float, *, high_open: bool = False) -> None:
    """``low <= value <= high`` (``< high`` when ``high_open``)."""
    ok = _number(value) and low <= value and (value < high if high_open else value <= high)
    require(ok, key, f"must be in [{low}, {high}{')' if high_open else ']'}, got {value!r}")


def one_of(value: Any, key: str, valid: Iterable[Any]) -> None:
    valid = list(valid)
    require(value in valid, key, f"must be one of {valid}, got {value!r}")


def power_of_two(value: Any, key: str, low: int, high: int) -> None:
    ok = isinstance(value, int) and low <= value <= high and value & (value - 1) == 0
    require(ok, key, f"must be a power of two in [{low}, {high}], got {value!r}")


def unknown_fields(cls: type, data: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """(keys of ``data`` that are not fields of dataclass ``cls``, the valid field names), both sorted."""
    valid = sorted(f.name for f in dataclasses.fields(cls))
    return sorted(set(data) - set(valid)), valid


def known_fields(cls: type, data: Mapping[str, Any], where: str) -> dict[str, Any]:
    """``data`` as a dict when every key is a field of ``cls``; else ``RecipeError`` naming the unknown and valid keys."""
    unknown, valid = unknown_fields(cls, data)
    require(not unknown, where, f"has unknown keys {unknown}; valid keys: {valid}")
    return dict(data)

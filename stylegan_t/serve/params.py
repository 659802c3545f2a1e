"""Playground request parameters: one validated dataclass per endpoint, parsed from JSON or a query string.

Every problem raises :class:`RequestError` with the HTTP status to answer (400 malformed, 413 too large,
422 a well-formed but invalid value) and a one-line message the page shows as is.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from ..errors import UserError
from ..latents import MAX_SEED, parse_seeds
from ..utils.validation import unknown_fields

NOISE_MODES = ("const", "random", "none")  # the synthesis noise modes (arXiv 2301.09515 builds on StyleGAN2's)
MAX_PROMPT_CHARS = 1000
MAX_STYLE_CHARS = 200
MAX_BODY_BYTES = 64 * 1024
MAX_PSI = 10.0
MAX_GRID_SEEDS = 64
MAX_GIF_FRAMES = 64


class RequestError(UserError, ValueError):
    """A bad request: ``status`` is the HTTP code, ``field`` the offending parameter (or None)."""

    def __init__(self, message: str, *, status: int = 422, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.field = field


@dataclass(frozen=True)
class _PairParams:
    """(prompt, seed) and the optional second end (prompt2, seed2) of an interpolation, as rendered."""

    prompt: str
    seed: int = 0
    psi: float = 1.0
    style: str = ""
    noise_mode: str = "const"
    prompt2: str | None = None
    seed2: int | None = None


@dataclass(frozen=True)
class GenerateParams(_PairParams):
    """One image: ``prompt`` (+ ``", style"``) at ``seed``; with ``prompt2``/``seed2`` the point ``alpha`` of the way to them."""

    alpha: float = 0.0


@dataclass(frozen=True)
class GridParams:
    """A grid of seeds for one prompt, ``cols`` images per row."""

    prompt: str
    seeds: tuple[int, ...] = tuple(range(8))
    psi: float = 1.0
    style: str = ""
    noise_mode: str = "const"
    cols: int = 4


@dataclass(frozen=True)
class GifParams(_PairParams):
    """``frames`` images from ``alpha`` 0 to 1 (both ends included) between (prompt, seed) and (prompt2, seed2)."""

    frames: int = 16
    fps: float = 12.0


def styled(prompt: str, style: str) -> str:
    """The prompt with the style suffix appended as ``"prompt, style"`` (as ``stylegan-t generate --style``)."""
    return f"{prompt}, {style}" if style else prompt


# --- raw input -> dict ---------------------------------------------------------------------------


def parse_json_body(body: bytes) -> dict[str, Any]:
    """A JSON object from a request body (400 when it is not one)."""
    try:
        data = json.loads(body.decode("utf-8")) if body.strip() else None
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise RequestError(f"request body is not valid JSON: {err}", status=400) from None
    if not isinstance(data, dict):
        raise RequestError("request body must be a JSON object, e.g. {\"prompt\": \"a red fox\", \"seed\": 0}", status=400)
    return data


def parse_query(query: str) -> dict[str, Any]:
    """``?prompt=a+fox&seed=3`` -> ``{"prompt": "a fox", "seed": "3"}`` (each key once)."""
    out: dict[str, Any] = {}
    for key, values in parse_qs(query, keep_blank_values=True).items():
        if len(values) != 1:
            raise RequestError(f"query parameter {key!r} given {len(values)} times", status=400, field=key)
        out[key] = values[0]
    return out


# --- field validators ----------------------------------------------------------------------------


def _text(data: dict, key: str, *, limit: int, required: bool) -> str | None:
    value = data.get(key)
    if value is None or (not required and isinstance(value, str) and not value.strip()):
        if required:
            raise RequestError(f"{key} is required: type a prompt", field=key)
        return None
    if not isinstance(value, str):
        raise RequestError(f"{key} must be a string, got {type(value).__name__}", field=key)
    value = value.strip()
    if required and not value:
        raise RequestError(f"{key} must not be empty: type a prompt", field=key)
    if len(value) > limit:
        raise RequestError(f"{key} is too long: {len(value)} characters, at most {limit}", status=413, field=key)
    return value


def _int(value: Any, key: str, *, lo: int, hi: int) -> int:
    if isinstance(value, str) and value.strip().lstrip("+-").isdigit():
        value = int(value.strip())
    elif isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        got = "nothing" if isinstance(value, str) and not value.strip() else repr(value)
        raise RequestError(f"{key} must be an integer, got {got}", field=key)
    if not lo <= value <= hi:
        raise RequestError(f"{key} must be in [{lo}, {hi}], got {value}", field=key)
    return value


def _float(value: Any, key: str, *, lo: float, hi: float) -> float:
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise RequestError(f"{key} must be a number, got {value!r}", field=key) from None
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise RequestError(f"{key} must be a number, got {value!r}", field=key)
    value = float(value)
    if not math.isfinite(value):
        raise RequestError(f"{key} must be a finite number, got {value}", field=key)
    if not lo <= value <= hi:
        raise RequestError(f"{key} must be in [{lo:g}, {hi:g}], got {value:g}", field=key)
    return value


def _seeds(value: Any) -> tuple[int, ...]:
    """A list of integers or a string like ``"0-7,10"`` (the ``stylegan-t generate --seeds`` syntax)."""

    if isinstance(value, str):
        try:
            seeds = parse_seeds(value)
        except ValueError as err:
            raise RequestError(f"seeds: {err}", field="seeds") from None
    elif isinstance(value, list) and value:
        seeds = [_int(v, "seeds", lo=0, hi=MAX_SEED) for v in value]
    else:
        raise RequestError(f"seeds must be a non-empty list of integers or a string like '0-7', got {value!r}", field="seeds")
    if len(seeds) > MAX_GRID_SEEDS:
        raise RequestError(f"too many seeds: {len(seeds)}, at most {MAX_GRID_SEEDS}", status=413, field="seeds")
    return tuple(_int(s, "seeds", lo=0, hi=MAX_SEED) for s in seeds)


def _check_known(data: dict, cls: type) -> None:
    unknown, known = unknown_fields(cls, data)
    if unknown:
        raise RequestError(f"unknown parameter(s) {', '.join(map(repr, unknown))}; expected some of {known}",
                           status=400, field=unknown[0])


def _common(data: dict) -> dict[str, Any]:
    """prompt, psi, style, noise_mode: the parameters every endpoint shares."""
    noise_mode = data.get("noise_mode", "const")
    if noise_mode not in NOISE_MODES:
        raise RequestError(f"noise_mode must be one of {', '.join(NOISE_MODES)}, got {noise_mode!r}", field="noise_mode")
    return {
        "prompt": _text(data, "prompt", limit=MAX_PROMPT_CHARS, required=True),
        "psi": _float(data.get("psi", 1.0), "psi", lo=-MAX_PSI, hi=MAX_PSI),
        "style": _text(data, "style", limit=MAX_STYLE_CHARS, required=False) or "",
        "noise_mode": noise_mode,
    }


def _pair(data: dict) -> dict[str, Any]:
    """seed and the optional second end (prompt2, seed2) of an interpolation."""
    seed2 = data.get("seed2")
    return {
        "seed": _int(data.get("seed", 0), "seed", lo=0, hi=MAX_SEED),
        "prompt2": _text(data, "prompt2", limit=MAX_PROMPT_CHARS, required=False),
        "seed2": None if seed2 in (None, "") else _int(seed2, "seed2", lo=0, hi=MAX_SEED),
    }


# --- endpoint parsers ----------------------------------------------------------------------------


def generate_params(data: dict[str, Any]) -> GenerateParams:
    _check_known(data, GenerateParams)
    return GenerateParams(**_common(data), **_pair(data), alpha=_float(data.get("alpha", 0.0), "alpha", lo=0.0, hi=1.0))


def grid_params(data: dict[str, Any]) -> GridParams:
    _check_known(data, GridParams)
    return GridParams(**_common(data), seeds=_seeds(data.get("seeds", "0-7")),
                      cols=_int(data.get("cols", 4), "cols", lo=1, hi=MAX_GRID_SEEDS))


def gif_params(data: dict[str, Any]) -> GifParams:
    _check_known(data, GifParams)
    params = GifParams(**_common(data), **_pair(data), frames=_int(data.get("frames", 16), "frames", lo=2, hi=MAX_GIF_FRAMES),
                       fps=_float(data.get("fps", 12.0), "fps", lo=0.5, hi=50.0))
    if params.prompt2 is None and params.seed2 is None:
        raise RequestError("a GIF interpolates to a second prompt or a second seed: give prompt2 or seed2", field="prompt2")
    return params

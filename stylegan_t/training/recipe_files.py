"""Recipe files: a recipe argument resolved to exactly one file, and ``base:`` inheritance between files.

A recipe argument is the name of a built-in recipe (``lite-64``) or a YAML file. A value that looks like a path
(it has a ``/`` or ends in ``.yaml`` / ``.yml``) must exist; an unknown name gets the nearest built-in
suggested. Nothing ever falls back to another recipe than the one typed.

A file may start with ``base: NAME_OR_PATH`` (a built-in, or a path relative to the file): its keys then
override the base's, to any depth, and bases chain. A cycle is one error line naming the chain.
"""
from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

import yaml
from omegaconf import DictConfig, OmegaConf

from ..errors import RecipeError

RECIPES_DIR = Path(__file__).resolve().parents[1] / "recipes"
#: the top-level key naming the recipe a file derives from
BASE_KEY = "base"


def builtin_recipes() -> list[str]:
    """Names of the recipes shipped with the package."""
    return sorted(p.stem for p in RECIPES_DIR.glob("*.yaml"))


def looks_like_path(value: str) -> bool:
    """A recipe argument meant as a file: it has a path separator or a YAML suffix."""
    return "/" in value or "\\" in value or value.endswith((".yaml", ".yml"))


def find_recipe(name_or_path: str | Path, *, relative_to: Path | None = None) -> Path:
    """The file a recipe argument names: an existing file, or a built-in recipe by its exact name.

    ``relative_to``: the folder a relative path is read from (a ``base:`` inside a file); default the working
    directory. A path that does not exist, or a name that is no built-in, is a :class:`RecipeError`.
    """
    text = str(name_or_path)
    path = Path(text).expanduser()
    if relative_to is not None and not path.is_absolute():
        path = relative_to / path
    if looks_like_path(text) or isinstance(name_or_path, Path):
        if path.is_file():
            return path
        reason = "is a folder, not a file" if path.is_dir() else "does not exist"
        raise RecipeError(f"recipe file '{path}' {reason}")
    builtin = RECIPES_DIR / f"{text}.yaml"
    if builtin.is_file():
        return builtin
    if path.is_file():
        return path
    known = builtin_recipes()
    near = difflib.get_close_matches(text, known, n=1, cutoff=0.5)
    hint = f"did you mean '{near[0]}'? " if near else ""
    raise RecipeError(f"recipe '{text}' is neither a built-in recipe nor a file; {hint}built-ins: {', '.join(known)}")


def read_yaml(path: Path) -> DictConfig:
    """One recipe file as a mapping (not yet merged with its base); malformed YAML is one line with its position."""
    try:
        loaded = OmegaConf.load(path)
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        mark = getattr(err, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        problem = getattr(err, "problem", None) or type(err).__name__
        raise RecipeError(f"recipe file '{path}' is not valid YAML{where}: {problem}") from None
    if loaded is None:
        return OmegaConf.create({})
    if not isinstance(loaded, DictConfig):
        raise RecipeError(f"recipe file '{path}' must be a mapping of sections (model, data, optim, ...)")
    return loaded


def recipe_layers(name_or_path: str | Path) -> list[tuple[Path, DictConfig]]:
    """The chain of files a recipe argument stands for, base first: ``[(file, its own keys without base), ...]``."""
    chain: list[tuple[Path, DictConfig]] = []
    seen: list[Path] = []
    path = find_recipe(name_or_path)
    while True:
        resolved = path.resolve()
        if resolved in seen:
            names = " -> ".join(f"'{p}'" for p in [*seen, resolved])
            raise RecipeError(f"recipe bases form a cycle: {names}")
        seen.append(resolved)
        own = read_yaml(path)
        base = own.pop(BASE_KEY, None)
        chain.append((path, own))
        if base is None:
            break
        if not isinstance(base, str) or not base:
            raise RecipeError(f"recipe file '{path}': '{BASE_KEY}' must name a built-in recipe or a YAML file, got {base!r}")
        path = find_recipe(base, relative_to=path.parent)
    return chain[::-1]


def merged_recipe_file(name_or_path: str | Path) -> DictConfig:
    """A recipe argument's files merged, base first (not yet checked against the schema)."""
    return OmegaConf.merge(*[own for _, own in recipe_layers(name_or_path)])


def base_of(name_or_path: str | Path) -> tuple[str, Path] | None:
    """``(base as written, its file)`` of a recipe file that names one, else None."""
    path = find_recipe(name_or_path)
    written = read_yaml(path).get(BASE_KEY)
    if written is None:
        return None
    return str(written), find_recipe(written, relative_to=path.parent)


def flat_differences(a: dict[str, Any], b: dict[str, Any], prefix: str = "") -> list[tuple[str, Any, Any]]:
    """``(dotted key, value in a, value in b)`` for every leaf that differs between two nested dicts."""
    out: list[tuple[str, Any, Any]] = []
    for key in sorted(set(a) | set(b), key=lambda k: (list(a).index(k) if k in a else len(a), str(k))):
        left, right = a.get(key), b.get(key)
        if isinstance(left, dict) and isinstance(right, dict):
            out += flat_differences(left, right, f"{prefix}{key}.")
        elif left != right:
            out.append((f"{prefix}{key}", left, right))
    return out

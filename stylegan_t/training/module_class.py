"""Which LightningModule trains: ``model.module`` names a :class:`StyleGANT` subclass as ``package.module:Class``.

The class is imported only when the user names it (a recipe's ``model.module``, ``fit(module=...)``, a
``--module`` / ``module=`` argument), from the environment or from folders the user puts on the import path
(``--code DIR``). A checkpoint records the class that trained it, but reading a checkpoint never imports code:
a recorded class other than the one the user named is refused with one line.
"""
from __future__ import annotations

import importlib
import re
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import RecipeError
from ..persistence.discriminator_files import class_name
from ..persistence.training_layout import STOCK_MODULE

if TYPE_CHECKING:
    from .module import StyleGANT

_CLASS_PATH = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")


def is_class_path(text: object) -> bool:
    """``package.module:Class`` (the class may be nested: ``module:Outer.Inner``)."""
    return isinstance(text, str) and bool(_CLASS_PATH.match(text))


def class_path(cls: type) -> str:
    """The ``package.module:Class`` a class is recorded as; the stock class under its public name."""
    from .module import StyleGANT

    return STOCK_MODULE if cls is StyleGANT else class_name(cls)


def add_code_dirs(code: Iterable[str | Path] | None) -> None:
    """Put the user's ``--code`` folders first on the import path (each must be a folder)."""
    for folder in reversed([Path(c).expanduser() for c in code or ()]):
        if not folder.is_dir():
            raise RecipeError(f"--code '{folder}' is not a folder (it should hold the module named by model.module)")
        text = str(folder.resolve())
        if text not in sys.path:
            sys.path.insert(0, text)


def import_module_class(path: str | type, *, code: Iterable[str | Path] | None = None,
                        key: str = "model.module") -> type[StyleGANT]:
    """The StyleGANT subclass ``path`` names (a class is returned as is, once checked); one line otherwise."""
    from .module import StyleGANT

    if isinstance(path, type):
        cls = path
        path = class_path(cls)
    else:
        if not is_class_path(path):
            raise RecipeError(f"{key}: must be 'package.module:ClassName' (a StyleGANT subclass), got {path!r}")
        if path == STOCK_MODULE:
            return StyleGANT
        add_code_dirs(code)
        module_name, qualname = path.split(":")
        try:
            obj: object = importlib.import_module(module_name)
        except ImportError as err:
            hint = " (put its folder on the import path with --code DIR)" if err.name == module_name.split(".")[0] else ""
            raise RecipeError(f"{key}: cannot import '{module_name}': {err}{hint}") from None
        try:
            for part in qualname.split("."):
                obj = getattr(obj, part)
        except AttributeError:
            raise RecipeError(f"{key}: module '{module_name}' has no '{qualname}'") from None
        cls = obj  # type: ignore[assignment]
    if not (isinstance(cls, type) and issubclass(cls, StyleGANT)):
        raise RecipeError(f"{key}: '{path}' is not a subclass of stylegan_t.training.StyleGANT")
    return cls


def check_recorded_module(recorded: str | None, chosen: str, *, source: str) -> None:
    """A checkpoint written by another class than the one named now is refused (never imported from the file)."""
    recorded = recorded or STOCK_MODULE  # checkpoints from before the class was recorded: the stock module
    if recorded != chosen:
        raise RecipeError(
            f"{source} was trained by '{recorded}', not '{chosen}'; name that class to load it "
            "(model.module in the recipe, or --module / module=; a checkpoint never imports code on its own)"
        )

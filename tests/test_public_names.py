"""Every public name (``stylegan_t``'s top level and the ``__all__`` of each package and module) resolves, says what
it is in one line of its own (a docstring for classes and functions, a ``#:`` comment above a constant), and has one
spelling: no object is public under two names, and a class or function is public under its own name."""
import ast
import importlib
import inspect
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import stylegan_t

ROOT = Path(stylegan_t.__file__).resolve().parent


def module_path(module: str) -> Path:
    path = ROOT.joinpath(*module.split(".")[1:])
    return path / "__init__.py" if path.is_dir() else path.with_suffix(".py")


def modules_with_all() -> list[str]:
    """The package's modules and packages that declare ``__all__`` (read from the source: nothing else is imported)."""
    found = []
    for path in sorted(ROOT.rglob("*.py")):
        tree = ast.parse(path.read_text())
        targets = {t.id for node in tree.body if isinstance(node, (ast.Assign, ast.AugAssign))
                   for t in (node.targets if isinstance(node, ast.Assign) else [node.target]) if isinstance(t, ast.Name)}
        if "__all__" in targets:
            parts = ["stylegan_t", *path.relative_to(ROOT).with_suffix("").parts]
            found.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return found


def public_names() -> dict[str, object]:
    found = {f"stylegan_t.{name}": getattr(stylegan_t, name) for name in stylegan_t._LAZY}
    for module_name in modules_with_all():
        module = importlib.import_module(module_name)
        for name in module.__all__:
            found[f"{module_name}.{name}"] = getattr(module, name)  # AttributeError: a listed name that is gone
    return found


def own_summary(obj: object) -> str | None:
    """The first line of the docstring a class or function was written with (not inherited, not the signature
    that ``dataclass`` / ``NamedTuple`` generate for an undocumented class)."""
    doc = obj.__dict__.get("__doc__") if inspect.isclass(obj) else obj.__doc__
    first = (doc or "").strip().splitlines()[:1]
    if not first or first[0].startswith(f"{obj.__name__}("):
        return None
    return first[0]


def _assigned(node: ast.stmt) -> set[str]:
    targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
    names = set()
    for target in targets:
        elements = target.elts if isinstance(target, ast.Tuple) else [target]
        names |= {e.id for e in elements if isinstance(e, ast.Name)}
    return names


def doc_comment(module: str, name: str) -> str | None:
    """The ``#:`` lines right above the top-level assignment of ``name`` in ``module``, following re-exports."""
    path = module_path(module)
    lines = path.read_text().splitlines()
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    for node in ast.parse("\n".join(lines)).body:
        if name in _assigned(node):
            above = node.lineno - 2
            comment = []
            while above >= 0 and lines[above].lstrip().startswith("#:"):
                comment.insert(0, lines[above].strip()[2:].strip())
                above -= 1
            return " ".join(comment) or None
        if isinstance(node, ast.ImportFrom):
            for alias in node.names:
                if (alias.asname or alias.name) == name:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
                    source = ".".join(base + ([node.module] if node.module else [])) if node.level else node.module
                    return doc_comment(source, alias.name)
    return None


def test_the_checks_see_what_they_look_for():
    @dataclass
    class Undocumented:
        x: int

    class Pair(NamedTuple):
        a: int

    class Documented(Undocumented):
        """Says what it is."""

    class Child(Documented):
        pass

    assert own_summary(Undocumented) is None and own_summary(Pair) is None and own_summary(Child) is None
    assert own_summary(Documented) == "Says what it is."
    assert doc_comment("stylegan_t.utils.local_files", "RANDOM")  # defined here, with its comment
    assert doc_comment("stylegan_t.persistence", "FORMAT") == doc_comment("stylegan_t.persistence.formats", "FORMAT")
    assert doc_comment("stylegan_t.images", "to_uint8") is None  # a function: no assignment to read
    assert {"stylegan_t.models.discriminator", "stylegan_t.pipeline"} <= set(modules_with_all())


def test_public_classes_and_functions_say_what_they_are():
    names = public_names()
    assert len(names) > 150
    undocumented = [n for n, obj in names.items() if (inspect.isclass(obj) or inspect.isfunction(obj)) and not own_summary(obj)]
    assert not undocumented, undocumented


def test_public_constants_say_what_they_are():
    constants = {n: obj for n, obj in public_names().items() if not (inspect.isclass(obj) or callable(obj) or inspect.ismodule(obj))}
    assert len(constants) > 20
    undocumented = [n for n in constants if not doc_comment(*n.rsplit(".", 1))]
    assert not undocumented, "public constants without a '#:' comment above their assignment: " + ", ".join(undocumented)


def test_one_spelling_per_object():
    spellings: dict[int, set[str]] = {}
    renamed = []
    for name, obj in public_names().items():
        if inspect.isclass(obj) or inspect.isfunction(obj):
            short = name.rsplit(".", 1)[1]
            spellings.setdefault(id(obj), set()).add(short)
            if obj.__name__ != short:
                renamed.append(f"{name} is {obj.__module__}.{obj.__name__}")
    assert not [s for s in spellings.values() if len(s) > 1]
    assert not renamed, renamed

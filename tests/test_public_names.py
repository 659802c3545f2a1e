"""Every public name (``stylegan_t``'s top level and each package's ``__all__``) resolves, says what it is in its
first docstring line, and has one spelling: no object is public under two names."""
import importlib
import inspect
import pkgutil

import stylegan_t


def public_names() -> dict[str, object]:
    found = {f"stylegan_t.{name}": getattr(stylegan_t, name) for name in stylegan_t._LAZY}
    for info in pkgutil.iter_modules(stylegan_t.__path__):
        if not info.ispkg:
            continue
        module = importlib.import_module(f"stylegan_t.{info.name}")
        for name in getattr(module, "__all__", ()):
            found[f"{module.__name__}.{name}"] = getattr(module, name)  # AttributeError: a listed name that is gone
    return found


def test_public_classes_and_functions_say_what_they_are():
    names = public_names()
    assert len(names) > 60
    undocumented = [n for n, obj in names.items()
                    if (inspect.isclass(obj) or inspect.isfunction(obj)) and not (obj.__doc__ or "").strip().splitlines()]
    assert not undocumented, undocumented


def test_one_spelling_per_object():
    spellings: dict[int, set[str]] = {}
    for name, obj in public_names().items():
        if inspect.isclass(obj) or inspect.isfunction(obj):
            spellings.setdefault(id(obj), set()).add(name.rsplit(".", 1)[1])
    assert not [s for s in spellings.values() if len(s) > 1]

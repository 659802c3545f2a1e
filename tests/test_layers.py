"""The package's layers look down only, and no two packages import each other.

Every import in ``stylegan_t`` (module level and inside functions alike) is read from the source. A package may
import packages of a lower layer, and packages of its own layer only where no import runs back. The one
exception, listed with its reason, is the pair of ``save_pretrained`` / ``from_pretrained`` methods that give the
networks the file API users expect: each is a one-line hand-over to the file formats.
"""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "stylegan_t"
#: package -> layer (0 = the bottom); a new package must be placed here
LAYERS = {
    "": 0, "errors": 0, "constants": 0, "utils": 0, "images": 0, "latents": 0, "augment": 0, "precision": 0, "weights": 0,
    "nn": 1,
    "models": 2,
    "losses": 3, "data": 3, "persistence": 3, "metrics": 3, "convert": 3,
    "training": 4, "clip_pretraining": 4, "pipeline": 4, "export": 4,
    "cli": 5, "serve": 5, "demo": 5,
}
#: (importing module, imported module): why the import may run up
ALLOWED_UP = {
    ("stylegan_t.models.generator", "stylegan_t.persistence"):
        "Generator.save_pretrained / from_pretrained hand over to the file formats (a lazy import in each method)",
    ("stylegan_t.models.discriminator.projected", "stylegan_t.persistence.discriminator_files"):
        "ProjectedDiscriminator.save_pretrained / from_pretrained hand over to the file formats (lazy, in each method)",
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports() -> set[tuple[str, str]]:
    """(importing module, imported stylegan_t module) for every import statement in the package."""
    found = set()
    for path in ROOT.rglob("*.py"):
        name = _module_name(path)
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                if target.startswith("stylegan_t"):
                    found.add((name, target))
            elif isinstance(node, ast.Import):
                found |= {(name, a.name) for a in node.names if a.name.startswith("stylegan_t")}
    return found


def package_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_every_package_has_a_layer():
    packages = {p.stem if p.is_file() else p.name for p in ROOT.iterdir() if (p.suffix == ".py" or (p / "__init__.py").exists())}
    packages = {"" if p == "__init__" else p for p in packages}
    assert packages <= set(LAYERS), sorted(packages - set(LAYERS))


def test_imports_look_down_only():
    edges = imports()
    assert len(edges) > 200  # the reader works
    between = {(package_of(a), package_of(b)) for a, b in edges if package_of(a) != package_of(b)}
    up = []
    for a, b in sorted(edges):
        pa, pb = package_of(a), package_of(b)
        if pa == pb or (a, b) in ALLOWED_UP:
            continue
        if LAYERS[pb] > LAYERS[pa] or (LAYERS[pb] == LAYERS[pa] and (pb, pa) in between):
            up.append(f"{a} -> {b}")
    assert not up, "imports that run up the layers or in a circle:\n" + "\n".join(up)


def test_the_allowed_exceptions_are_still_needed():
    edges = imports()
    assert all(pair in edges for pair in ALLOWED_UP), [pair for pair in ALLOWED_UP if pair not in edges]


def test_modules_stay_small():
    """Every module of the package stays under 400 lines: one job each, readable top to bottom."""
    sizes = {path.relative_to(ROOT).as_posix(): len(path.read_text().splitlines()) for path in ROOT.rglob("*.py")}
    assert len(sizes) > 100 and max(sizes.values()) > 200  # the count works
    assert not {name: n for name, n in sizes.items() if n >= 400}

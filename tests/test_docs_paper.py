"""docs/paper.md names only files that exist, and only functions and classes those files define."""
import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAPER = ROOT / "docs" / "paper.md"
NAMED = re.compile(r"`(stylegan_t/[\w/]+\.py)(?:::([\w.]+))?`")


def defined_names(path: Path) -> set[str]:
    """Top-level functions / classes / assignments, and ``Class.method`` for methods of top-level classes."""
    names: set[str] = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        if isinstance(node, ast.ClassDef):
            names |= {f"{node.name}.{m.name}" for m in node.body if isinstance(m, (ast.FunctionDef, ast.AsyncFunctionDef))}
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names |= {t.id for t in targets if isinstance(t, ast.Name)}
    return names


def test_every_named_file_and_definition_exists():
    refs = NAMED.findall(PAPER.read_text(encoding="utf-8"))
    assert len(refs) > 40  # the page really is a map
    missing_files = sorted({path for path, _ in refs if not (ROOT / path).is_file()})
    assert missing_files == []
    missing = sorted({f"{path}::{name}" for path, name in refs if name and name not in defined_names(ROOT / path)})
    assert missing == []


def test_the_papers_parts_are_all_covered():
    text = PAPER.read_text(encoding="utf-8")
    for heading in ("Generator", "Text conditioning", "Discriminator", "CLIP guidance", "Training schedule",
                    "Progressive growing", "Evaluation"):
        assert re.search(rf"^## {heading}", text, re.M), heading

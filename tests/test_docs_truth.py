"""What a user reads is true and speaks of the library only (the paper's map has its own test: test_docs_paper.py).

- No internal references in README.md, docs/, recipes/ or any ``--help`` text: no "SPEC" citations (cite the
  paper), no issue numbers, no "this round", no absolute paths of a development machine.
- Everything README.md and docs/ name exists: files and links, ``stylegan_t.*`` modules and their attributes,
  ``from stylegan_t... import`` lines, ``stylegan-t`` commands and the options written after them, the options
  of ``python -m stylegan_t...`` and ``python benchmarks/...`` lines.
"""
from __future__ import annotations

import argparse
import importlib
import re
from pathlib import Path

import pytest

from stylegan_t.cli.main import COMMANDS, OneLineParser

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
RECIPES = [*sorted((ROOT / "recipes").glob("*.yaml")), *sorted((ROOT / "stylegan_t" / "recipes").glob("*.yaml"))]
MODULE_MAINS = ["stylegan_t.demo.glyph_run"]

INTERNAL = [
    (re.compile(r"\bSPEC\b"), "a 'SPEC' citation (cite the paper: section, equation, table)"),
    (re.compile(r"\bissues? #?\d+", re.I), "an issue number"),
    (re.compile(r"\bthis round\b", re.I), "'this round'"),
    (re.compile(r"(?<![\w.~])/(?:work|home|root|Users|mnt)/"), "an absolute path of the development machine"),
]


def command_parser(name: str) -> argparse.ArgumentParser:
    module = importlib.import_module(COMMANDS[name][0])
    parser = OneLineParser(prog=f"stylegan-t {name}", description=COMMANDS[name][1])
    parser.add_argument("--debug", action="store_true")
    module.add_arguments(parser)
    return parser


def help_texts(capsys) -> dict[str, str]:
    texts = {f"stylegan-t {name}": command_parser(name).format_help() for name in COMMANDS}
    for module in MODULE_MAINS:
        with pytest.raises(SystemExit):
            importlib.import_module(module).main(["--help"])
        texts[f"python -m {module}"] = capsys.readouterr().out
    return texts


def internal_references(text: str) -> list[str]:
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        if "Lightning issues" in line:  # an upstream bug tracker, cited as such
            continue
        found += [f"line {number}: {why}: {line.strip()[:100]}" for pattern, why in INTERNAL if pattern.search(line)]
    return found


def test_no_internal_references_in_pages_and_recipes():
    problems = {str(p.relative_to(ROOT)): internal_references(p.read_text(encoding="utf-8")) for p in PAGES + RECIPES}
    assert {k: v for k, v in problems.items() if v} == {}


def test_no_internal_references_in_help(capsys):
    texts = help_texts(capsys)
    assert len(texts) == len(COMMANDS) + len(MODULE_MAINS) and all(texts.values())
    problems = {name: internal_references(text) for name, text in texts.items()}
    assert {k: v for k, v in problems.items() if v} == {}


def test_the_internal_reference_check_can_fail():
    for bad in ("as SPEC says", "since issue 15", "Issue #3", "this round's code", "cd /work/main && x", "/home/me/x"):
        assert internal_references(bad), bad
    for fine in ("the stored spec", "~/.cache/stylegan_t", "runs/own/clip", "paper Sec. 3.3"):
        assert not internal_references(fine), fine


# --- everything named exists -----------------------------------------------------------------------------

def page_texts() -> dict[Path, str]:
    return {p: p.read_text(encoding="utf-8") for p in PAGES}


def code_spans(text: str) -> list[str]:
    """Inline code and fenced blocks (continuation lines joined)."""
    blocks = re.findall(r"^```[^\n]*\n(.*?)^```", text, re.S | re.M)
    inline = re.findall(r"`([^`\n]+)`", re.sub(r"^```[^\n]*\n.*?^```", "", text, flags=re.S | re.M))
    return [b.replace("\\\n", " ") for b in blocks] + inline


PATH_LIKE = re.compile(r"(?<![\w./-])((?:stylegan_t|docs|recipes|benchmarks|tests)/[\w./-]*\w)")


def test_named_files_and_links_exist():
    missing = []
    for page, text in page_texts().items():
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
            if not re.match(r"https?://", target) and not (page.parent / target).exists():
                missing.append(f"{page.name}: link {target}")
        for span in code_spans(text):
            for path in PATH_LIKE.findall(span):
                path = path.split("::")[0]
                if "*" in path or "{" in path or "NNN" in path:
                    continue
                if not (ROOT / path).exists():
                    missing.append(f"{page.name}: {path}")
    assert sorted(set(missing)) == []


def resolve(dotted: str) -> bool:
    """Whether ``a.b.c`` is an importable module or an attribute chain of one."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for name in parts[cut:]:
            if not hasattr(obj, name):
                return False
            obj = getattr(obj, name)
        return True
    return False


def file_format_names() -> set[str]:
    """File format identifiers that look like module paths (``stylegan_t.generator`` in an export's metadata)."""
    from stylegan_t.persistence import discriminator_files, formats

    return {formats.FORMAT, formats.CHECKPOINT_KIND, discriminator_files.DISCRIMINATOR_FORMAT}


def test_named_modules_classes_and_functions_exist():
    missing, checked = [], 0
    formats = file_format_names()
    for page, text in page_texts().items():
        spans = code_spans(text)
        for span in spans:
            for line in span.splitlines():
                imported = re.match(r"\s*from (stylegan_t[\w.]*) import \(?([\w, ]+)", line)
                if imported:
                    names = [n.strip().split(" as ")[0] for n in imported.group(2).split(",") if n.strip()]
                    missing += [f"{page.name}: {imported.group(1)}.{n}" for n in names
                                if not resolve(f"{imported.group(1)}.{n}")]
            for dotted in re.findall(r"(?<![\w/.])(stylegan_t(?:\.\w+)+)", span):
                checked += 1
                if dotted not in formats and not resolve(dotted):
                    missing.append(f"{page.name}: {dotted}")
    assert checked > 50  # the pages really are read
    assert sorted(set(missing)) == []


def options_of_source(path: Path) -> set[str]:
    return set(re.findall(r"[\"'](--[\w-]+)[\"']", path.read_text(encoding="utf-8"))) | {"--help"}


def test_named_commands_and_options_exist():
    parsers = {name: command_parser(name) for name in COMMANDS}
    options = {name: {s for a in p._actions for s in a.option_strings} for name, p in parsers.items()}
    wrong, checked = [], 0
    for page, text in page_texts().items():
        for span in code_spans(text):
            for line in span.splitlines():
                line = line.split(" # ")[0].split(" | ")[0]
                for cmd, rest in re.findall(r"(?<![\w-])stylegan-t ([a-z][\w-]*)((?: [^;&]*)?)", line):
                    checked += 1
                    if cmd not in COMMANDS:
                        wrong.append(f"{page.name}: unknown command 'stylegan-t {cmd}'")
                        continue
                    wrong += [f"{page.name}: stylegan-t {cmd} {flag}" for flag in re.findall(r"(?<!\S)(--[\w-]+)", rest)
                              if flag not in options[cmd]]
                for module, rest in re.findall(r"python3? -m (stylegan_t[\w.]*)((?: [^;&]*)?)", line):
                    source = ROOT / (module.replace(".", "/") + ".py")
                    if not source.is_file():
                        wrong.append(f"{page.name}: python -m {module}")
                        continue
                    wrong += [f"{page.name}: python -m {module} {flag}" for flag in re.findall(r"(?<!\S)(--[\w-]+)", rest)
                              if flag not in options_of_source(source)]
                for script, rest in re.findall(r"python3? (benchmarks/[\w/]+\.py)((?: [^;&]*)?)", line):
                    if not (ROOT / script).is_file():
                        wrong.append(f"{page.name}: {script}")
                        continue
                    wrong += [f"{page.name}: {script} {flag}" for flag in re.findall(r"(?<!\S)(--[\w-]+)", rest)
                              if flag not in options_of_source(ROOT / script)]
    assert checked > 50  # the pages really are read
    assert sorted(set(wrong)) == []


def test_the_name_checks_can_fail():
    assert not resolve("stylegan_t.models.NoSuchGenerator") and resolve("stylegan_t.models.Generator")
    assert "--no-such-flag" not in {s for a in command_parser("generate")._actions for s in a.option_strings}


# --- what a newcomer reads first -------------------------------------------------------------------------

def test_readme_first_screen_says_what_exists_and_what_to_bring():
    first_screen = "\n".join((ROOT / "README.md").read_text(encoding="utf-8").splitlines()[:30])
    for needed in ("No paper-scale weights exist", "released no", "stylegan-t demo", "minutes", "own-data-cpu",
                   "ViT-L/14", "DINO", "GPUs", "clean-room", "NVIDIA licence", "LICENSE"):
        assert needed in first_screen, needed


def test_license_file_matches_setup_cfg():
    import configparser

    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    assert cfg["metadata"]["license"] == "MIT"
    assert (ROOT / "LICENSE").read_text(encoding="utf-8").startswith("MIT License")


def test_api_sketches_are_marked():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    use_it = readme.split("## Use it", 1)[1].split("```", 1)[0]
    assert "sketch" in use_it and "noise" in use_it

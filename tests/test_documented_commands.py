"""Every ``stylegan-t ...`` and ``python -m stylegan_t...`` command shown in README.md and docs/*.md runs in a cheap
form: ``fit`` as ``config`` with the same recipe and overrides (every check fit runs before it builds anything),
``config`` as itself, any other command parsed by its own parser; or it is listed below with the reason."""
import re
import shlex
from pathlib import Path

import pytest

from stylegan_t.cli.main import COMMANDS, main, parse_command

ROOT = Path(__file__).resolve().parents[1]
#: commands whose recipe is a file the page itself writes: the test named runs them as written
PAGE_FILES = {
    "my-recipe.yaml": "tests/test_experiment_loop.py::test_docs_extending_loop_runs_as_written",
    "my-lite.yaml": "tests/test_experiment_loop.py::test_docs_recipes_page_is_literally_true",
    "official-32.recipe.yaml": "written by `stylegan-t convert-official` from the original snapshot (tests/test_convert_snapshot.py)",
}
#: python -m programs: their own parser takes the arguments shown (their runs are tested where named)
PROGRAMS = {
    "stylegan_t.demo.emoji_data": "builds the emoji shards (tests/test_emoji.py runs it on a few emoji)",
    "stylegan_t.demo.emoji_run": "the emoji training run, about 90 minutes on 2 cores",
    "stylegan_t.demo.emoji_judge": "trains the emoji judge (tests/test_emoji.py checks the shipped one)",
    "stylegan_t.demo.emoji_eval": "scores a generator with the emoji judge (tests/test_emoji.py, small sample)",
    "stylegan_t.demo.shapes_run": "the rotated-shapes steps (tests/test_rotated_shapes.py runs their parts)",
    "stylegan_t.demo.shape_probes": "the shape probes on a trained run (tests/test_rotated_shapes.py)",
    "stylegan_t.demo.glyph_run": "the glyph learning run (tests/test_second_dataset.py)",
}


def documented_commands() -> list[tuple[str, str]]:
    """(page, command line) of every command in a shell code block of README.md and docs/."""
    found = []
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for lang, body in re.findall(r"```(\w*)\n(.*?)```", page.read_text(), re.S):
            if lang not in ("bash", "sh", ""):
                continue
            for line in body.replace("\\\n", " ").splitlines():
                match = re.search(r"(stylegan-t\s.*|python3? -m stylegan_t\S*.*)", line)
                if match and not re.match(r"stylegan-t [\w-]+:", match.group(1)):  # a command's output, not a command
                    found.append((page.name, match.group(1)))
    return found


COMMAND_LINES = documented_commands()


def test_the_pages_show_commands():
    assert len(COMMAND_LINES) >= 30
    assert {c.split()[1] for _, c in COMMAND_LINES if c.startswith("stylegan-t")} >= {"fit", "config", "generate", "export", "demo"}


@pytest.mark.parametrize("page,line", COMMAND_LINES, ids=[f"{p}:{c[:60]}" for p, c in COMMAND_LINES])
def test_documented_command_runs_in_a_cheap_form(page, line, capsys, monkeypatch, tmp_path):
    argv = shlex.split(line, comments=True)
    ends = [i for i, a in enumerate(argv) if a in ("&", "&&", "|", ";", ">")]
    argv = argv[: ends[0]] if ends else argv  # the command itself, without the shell around it
    if "..." in argv or any(a.startswith("[") for a in argv):
        pytest.skip("a usage line with elided or optional arguments, not a command")
    if argv[0].startswith("python"):
        program = argv[2]
        assert program in PROGRAMS, f"{page}: no entry for `{line}`"
        import importlib

        module = importlib.import_module(program)
        with pytest.raises(SystemExit) as done:
            module.main([*argv[3:], "--help"])  # the arguments shown parse (help then exits 0)
        assert done.value.code == 0
        return
    command, rest = argv[1], argv[2:]
    assert command in COMMANDS, f"{page}: `{line}` names no command"
    if command in ("fit", "config"):
        recipe = rest[0]
        if recipe in PAGE_FILES:
            return  # run as written by the test PAGE_FILES names
        rest = [a for i, a in enumerate(rest) if a != "--resume" and (i == 0 or rest[i - 1] != "--resume")]
        monkeypatch.chdir(tmp_path)  # run.dir and friends stay out of the checkout
        status = main(["config", *rest])
        assert status == 0, f"{page}: `{line}` -> {capsys.readouterr().err}"
        return
    parse_command(command, rest)  # argparse exits 2 on an unknown flag or a missing argument

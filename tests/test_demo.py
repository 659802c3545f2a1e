"""The built-in demo end to end: recipe prompts held out of the report, and the CI-sized run."""
import json

import pytest

from stylegan_t.demo import parse_caption
from stylegan_t.demo.alignment import heldout_prompts
from stylegan_t.demo.run import QUICK_CLIP


def test_report_prompts_never_include_the_recipe_grid_prompts():
    from stylegan_t.training.recipe import load_recipe

    grid = load_recipe("demo").run.sample_prompts
    prompts = heldout_prompts(240, exclude=grid)
    assert not set(grid) & {p for p, _ in prompts}
    assert all(parse_caption(p) == a for p, a in prompts)


@pytest.mark.slow
def test_quick_demo_end_to_end(tmp_path, capsys):
    from stylegan_t.cli.main import main

    assert main(["demo", "--quick", "--out", str(tmp_path / "demo"), "trainer.enable_progress_bar=false"]) == 0
    out = tmp_path / "demo"
    assert (out / "checkpoints" / "last.ckpt").is_file()
    assert len(list((out / "samples").glob("*.png"))) >= 2
    assert (out / "tiny_clip" / "open_clip_config.json").is_file()
    clip_record = json.loads((out / "tiny_clip" / "pretrain_clip.json").read_text())  # the general pretrain-clip
    assert clip_record["settings"] == QUICK_CLIP.as_dict() and clip_record["retrieval"]["samples"] > 0
    report = json.loads((out / "alignment.json").read_text())
    assert set(report["accuracy"]) == {"color", "shape", "position"} and report["num_prompts"] == 24
    assert all(0.0 <= v <= 1.0 for v in report["accuracy"].values())
    assert (out / "alignment.png").is_file()
    printed = capsys.readouterr().out
    assert "Text alignment" in printed and "chance" in printed

"""The built-in demo end to end: recipe prompts held out of the report, and the CI-sized run."""
import json

import pytest

from stylegan_t.demo import parse_caption
from stylegan_t.demo.alignment import heldout_prompts


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
    report = json.loads((out / "alignment.json").read_text())
    assert set(report["accuracy"]) == {"color", "shape", "position"} and report["num_prompts"] == 24
    assert all(0.0 <= v <= 1.0 for v in report["accuracy"].values())
    assert (out / "alignment.png").is_file()
    printed = capsys.readouterr().out
    assert "Text alignment" in printed and "chance" in printed


def test_tiny_clip_is_trained_once_per_setting_and_loads_offline(tmp_path):
    from stylegan_t.demo.pretrain_clip import ensure_demo_clip
    from stylegan_t.models.open_clip_loader import load_open_clip

    spec = ensure_demo_clip(tmp_path / "clip", steps=2, batch_size=8, layout="centered")
    marker = tmp_path / "clip" / "demo_clip.json"
    assert spec == f"local-dir:{tmp_path / 'clip'}" and json.loads(marker.read_text())["params"]["layout"] == "centered"
    stamp = marker.stat().st_mtime_ns
    assert ensure_demo_clip(tmp_path / "clip", steps=2, batch_size=8, layout="centered") == spec
    assert marker.stat().st_mtime_ns == stamp  # reused, not retrained
    ensure_demo_clip(tmp_path / "clip", steps=2, batch_size=8, layout="positions")
    assert json.loads(marker.read_text())["params"]["layout"] == "positions"  # other data: retrained
    model, tokenizer = load_open_clip(spec, None)
    assert model.encode_text(tokenizer(["a red circle"])).shape == (1, 64)

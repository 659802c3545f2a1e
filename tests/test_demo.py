"""The built-in demo: deterministic scenes and shards, a reliable detector, the alignment report, the quick run."""
import json

import pytest
import torch
import webdataset as wds

from stylegan_t.data.decode import pil_to_tensor
from stylegan_t.demo import ATTRIBUTES, alignment_report, detect, ensure_demo_shards, parse_caption, render, sample
from stylegan_t.demo.alignment import format_report, heldout_prompts
from stylegan_t.demo.scenes import random_scene


def test_samples_are_deterministic_and_captions_match():
    a, b = sample(7, seed=3), sample(7, seed=3)
    assert a[0].tobytes() == b[0].tobytes() and a[1] == b[1]
    assert sample(8, seed=3)[0].tobytes() != a[0].tobytes()
    for i in range(50):
        _, caption, scene = sample(i)
        assert parse_caption(caption) == scene.attributes


def test_shards_written_once_and_readable(tmp_path):
    shards = ensure_demo_shards(tmp_path, num_samples=300, samples_per_shard=128, resolution=16)
    assert len(shards) == 3 and all((tmp_path / f"{i:05d}_stats.json").is_file() for i in range(3))
    mtimes = [p.stat().st_mtime_ns for p in tmp_path.glob("*.tar")]
    assert ensure_demo_shards(tmp_path, num_samples=300, samples_per_shard=128, resolution=16) == shards
    assert [p.stat().st_mtime_ns for p in tmp_path.glob("*.tar")] == mtimes  # cached, not rewritten
    samples = list(wds.WebDataset(shards, shardshuffle=False, nodesplitter=lambda x: x).decode("pil"))
    assert len(samples) == 300 and samples[0]["png"].size == (16, 16) and samples[0]["txt"]
    assert json.loads((tmp_path / "00002_stats.json").read_text())["count"] == 300 - 256


def test_detector_on_clean_and_degraded_renders():
    gen = torch.Generator().manual_seed(0)
    clean = degraded = 0
    n = 300
    for i in range(n):
        img, _, scene = sample(i, seed=5)
        clean += detect(img) == scene.attributes
        t = pil_to_tensor(img) + 0.15 * torch.randn(3, 32, 32, generator=gen)
        t = torch.nn.functional.avg_pool2d(torch.nn.functional.pad(t[None], (1, 1, 1, 1), mode="replicate"), 3, 1)[0]
        degraded += detect(t) == scene.attributes
    assert clean / n >= 0.99 and degraded / n >= 0.95
    assert detect(torch.ones(3, 32, 32)) == {"color": "none", "shape": "none"}


def render_prompts(prompts, seeds):
    """A perfect generator: draws exactly what each prompt asks."""
    import random

    out = []
    for prompt, seed in zip(prompts, seeds):
        scene = random_scene(random.Random(seed), **parse_caption(prompt))
        out.append(pil_to_tensor(render(scene)))
    return torch.stack(out)


def test_alignment_report_perfect_and_random(tmp_path):
    report = alignment_report(render_prompts, num_prompts=48, out_dir=tmp_path)
    assert report["accuracy"]["color"] >= 0.98 and report["accuracy"]["shape"] >= 0.98
    assert report["chance"] == {"color": 0.25, "shape": pytest.approx(1 / 3)}
    assert (tmp_path / "alignment.json").is_file() and (tmp_path / "alignment.png").is_file()
    assert "color" in format_report(report)

    def ignore_prompt(prompts, seeds):  # draws a random scene whatever the prompt says
        import random

        return torch.stack([pil_to_tensor(render(random_scene(random.Random(s + 777)))) for s in seeds])

    chance = alignment_report(ignore_prompt, num_prompts=96)["accuracy"]
    assert chance["color"] < 0.5 and chance["shape"] < 0.55


def test_heldout_prompts_are_balanced_and_not_grid_prompts():
    from stylegan_t.training.recipe import load_recipe

    grid = load_recipe("demo").run.sample_prompts
    prompts = heldout_prompts(240, exclude=grid)
    combos = {(a["color"], a["shape"]) for _, a in prompts}
    assert len(combos) == len(ATTRIBUTES["color"]) * len(ATTRIBUTES["shape"])
    assert not set(grid) & {p for p, _ in prompts}
    assert all(parse_caption(p) == a for p, a in prompts)


@pytest.mark.slow
def test_quick_demo_end_to_end(tmp_path, capsys):
    from stylegan_t.cli.main import main

    assert main(["demo", "--quick", "--out", str(tmp_path / "demo"), "trainer.enable_progress_bar=false"]) == 0
    out = tmp_path / "demo"
    assert (out / "checkpoints" / "last.ckpt").is_file()
    assert len(list((out / "samples").glob("*.png"))) >= 2
    report = json.loads((out / "alignment.json").read_text())
    assert set(report["accuracy"]) == {"color", "shape"} and report["num_prompts"] == 24
    assert (out / "alignment.png").is_file()
    printed = capsys.readouterr().out
    assert "Text alignment" in printed and "chance" in printed

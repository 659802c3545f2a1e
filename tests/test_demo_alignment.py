"""Demo alignment report (issue 6): ~100% for a generator that draws the prompt, ~chance for one that ignores it."""
from __future__ import annotations

import json
import random
from collections import Counter

import pytest
import torch
from PIL import Image

from stylegan_t.data.decode import pil_to_tensor
from stylegan_t.demo import ATTRIBUTES, alignment_report, format_report, grid_prompts, heldout_prompts, parse_caption, random_scene, render
from stylegan_t.demo.alignment import HELDOUT_SEED_BASE, heldout_seeds


def perfect(prompts: list[str], seeds: list[int]) -> torch.Tensor:
    """Draws exactly what each prompt asks for; the seed picks everything the prompt leaves open."""
    return torch.stack([pil_to_tensor(render(random_scene(random.Random(s), **parse_caption(p)))) for p, s in zip(prompts, seeds)])


def ignores_prompt(prompts: list[str], seeds: list[int]) -> torch.Tensor:
    """A fine image generator without text conditioning: a random scene whatever the prompt says."""
    return torch.stack([pil_to_tensor(render(random_scene(random.Random(s + 1)))) for s in seeds])


def noise(prompts: list[str], seeds: list[int]) -> torch.Tensor:
    return torch.stack([torch.randn(3, 32, 32, generator=torch.Generator().manual_seed(s)).clamp(-1, 1) for s in seeds])


def test_perfect_generator_scores_everything_and_files_are_written(tmp_path):
    calls = []

    def generate(prompts, seeds):
        calls.append(len(prompts))
        return perfect(prompts, seeds)

    report = alignment_report(generate, num_prompts=40, seed=3, out_dir=tmp_path, batch_size=16)
    assert calls == [16, 16, 8]
    assert report["accuracy"] == {"color": 1.0, "shape": 1.0, "position": 1.0}
    assert report["chance"] == {"color": 0.25, "shape": pytest.approx(1 / 3), "position": 0.2}
    assert report["prompts"] == {"color": 40, "shape": 40, "position": 20}
    assert report["all_correct"] == 1.0 and report["none_detected"] == 0.0
    assert report["confusion"]["shape"]["circle"] == {"circle": sum(p.attributes["shape"] == "circle" for p in heldout_prompts(40, seed=3))}

    saved = json.loads((tmp_path / "alignment.json").read_text())
    assert saved["accuracy"] == report["accuracy"] and len(saved["samples"]) == 40
    assert saved["samples"][0].keys() == {"prompt", "seed", "wanted", "detected", "correct"}
    grid = Image.open(tmp_path / "alignment.png")
    assert grid.size[0] >= 12 * 128 and grid.mode == "RGB"

    table = format_report(report)
    for name in ("color", "shape", "position", "100.0%", "25.0%", "33.3%", "20.0%"):
        assert name in table


def test_generator_ignoring_the_prompt_scores_about_chance():
    report = alignment_report(ignores_prompt, num_prompts=120, seed=5)
    for attribute, accuracy in report["accuracy"].items():
        chance = report["chance"][attribute]
        assert abs(accuracy - chance) < 0.15, (attribute, accuracy, chance)
    assert report["all_correct"] < 0.15

    blank = alignment_report(noise, num_prompts=24)
    assert blank["none_detected"] == 1.0 and max(blank["accuracy"].values()) == 0.0
    assert "no shape detected" in format_report(blank)


def test_heldout_prompts_are_balanced_deterministic_and_not_the_grid():
    prompts = heldout_prompts(120, seed=11)
    assert prompts == heldout_prompts(120, seed=11) and prompts != heldout_prompts(120, seed=12)
    combos = Counter((p.attributes["color"], p.attributes["shape"]) for p in prompts)
    assert len(combos) == 12 and set(combos.values()) == {10}
    positions = Counter(p.attributes.get("position") for p in prompts)
    assert positions[None] == 60 and all(positions[v] == 12 for v in ATTRIBUTES["position"])
    assert all(parse_caption(p.text) == p.attributes for p in prompts)
    assert not {p.text for p in prompts} & set(grid_prompts())

    grid = ["a red circle", "a blue square on the left", "there is a green triangle"]
    assert not {p.text for p in heldout_prompts(120, seed=11, exclude=grid)} & set(grid)
    assert all("position" not in p.attributes for p in heldout_prompts(30, with_position=False))

    seeds = heldout_seeds(120, seed=11)
    assert len(set(seeds)) == 120 and min(seeds) >= HELDOUT_SEED_BASE


def test_grid_prompts_cover_every_colour_and_shape():
    asked = [parse_caption(p) for p in grid_prompts()]
    assert {a["color"] for a in asked} == set(ATTRIBUTES["color"])
    assert {a["shape"] for a in asked} == set(ATTRIBUTES["shape"])
    assert any("position" in a for a in asked)


def test_report_without_positions():
    report = alignment_report(perfect, num_prompts=12, with_position=False)
    assert set(report["accuracy"]) == {"color", "shape"} and report["all_correct"] == 1.0


def test_generate_must_return_one_image_per_prompt():
    with pytest.raises(ValueError, match="must return"):
        alignment_report(lambda prompts, seeds: torch.zeros(1, 3, 32, 32), num_prompts=4)

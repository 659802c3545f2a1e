"""The glyphs world (issue 15's generality check), short form: data unlike the demo's, a held-out wording,
and a detector that reads ground-truth renders exactly and a prompt-ignoring generator at chance."""
from __future__ import annotations

import random
import re

import numpy as np
import pytest
import torch

from stylegan_t.data.decode import pil_to_tensor
from stylegan_t.demo import scenes as demo
from stylegan_t.demo.alignment import heldout_seeds, prompt_alignment
from stylegan_t.demo.glyph_detector import NONE, detect_glyphs
from stylegan_t.demo.glyphs import ATTRIBUTES, heldout_prompts, random_glyph_scene, render, sample, write_image_folder


def draw(prompts, seeds, *, obey: bool = True) -> torch.Tensor:
    """A generator that draws exactly what each prompt asks (or, with ``obey=False``, ignores the prompt)."""
    wanted = {p.text: p.attributes for p in heldout_prompts(60)}
    scenes = [random_glyph_scene(random.Random(s), **(wanted[p] if obey else {})) for p, s in zip(prompts, seeds)]
    return torch.stack([pil_to_tensor(render(scene)) for scene in scenes])


def test_nothing_in_common_with_the_demo():
    assert not set(ATTRIBUTES["color"]) & set(demo.COLORS) and not set(ATTRIBUTES["shape"]) & set(demo.SHAPES)
    assert "count" in ATTRIBUTES and "position" not in ATTRIBUTES
    image = np.asarray(sample(0)[0], dtype=np.float32)
    assert image.mean() < 110  # dark background, where the demo's is light


def test_heldout_wording_never_appears_in_training_captions():
    captions = [sample(i, seed=1)[1] for i in range(300)]
    training_words = {w for c in captions for w in re.findall(r"[a-z]+", c)}
    prompts = heldout_prompts(60)
    held_words = {w for p in prompts for w in re.findall(r"[a-z]+", p.text)}
    assert {"exactly", "in", "here"} <= held_words - training_words
    assert not {p.text for p in prompts} & set(captions)
    combos = {tuple(p.attributes.values()) for p in prompts}
    assert len(combos) == 5 * 3 * 2  # balanced: every colour x shape x count, twice


def test_detector_reads_ground_truth_renders_exactly():
    wrong = []
    for i in range(40):
        image, _, scene = sample(i, seed=5)
        found = detect_glyphs(image)
        if found != scene.attributes:
            wrong.append((scene.attributes, found))
    assert not wrong
    assert detect_glyphs(torch.zeros(3, 32, 32)) == {"color": NONE, "shape": NONE, "count": NONE}


def test_alignment_is_perfect_for_an_obedient_generator_and_chance_for_one_that_ignores_the_prompt():
    prompts = heldout_prompts(60)
    seeds = heldout_seeds(60)
    good = prompt_alignment(draw, prompts, seeds, detect=detect_glyphs, attributes=ATTRIBUTES, detector="glyphs")
    assert good["accuracy"] == {"color": 1.0, "shape": 1.0, "count": 1.0}
    assert good["chance"] == {"color": 0.2, "shape": pytest.approx(1 / 3), "count": 0.5}
    def ignore(texts, seeds_):
        return draw(texts, seeds_, obey=False)

    bad = prompt_alignment(ignore, prompts, seeds, detect=detect_glyphs, attributes=ATTRIBUTES, detector="glyphs")
    for attribute, accuracy in bad["accuracy"].items():
        assert abs(accuracy - bad["chance"][attribute]) < 0.2, (attribute, accuracy)


def test_image_folder_has_sidecar_captions(tmp_path):
    folder = write_image_folder(tmp_path / "images", 3)
    assert sorted(p.name for p in folder.iterdir()) == ["000000.png", "000000.txt", "000001.png", "000001.txt", "000002.png", "000002.txt"]
    assert (folder / "000001.txt").read_text() == sample(1)[1]


def test_quick_run_end_to_end_and_its_learning_curve(tmp_path, single_thread):
    """The whole own-data path on glyphs in CI size (folder -> shards -> pretrain-clip -> fit -> held-out
    scoring), then the learning curve over the run's epoch checkpoints (docs/own-data.md)."""
    from stylegan_t.demo.glyph_run import format_curve, learning_curve, run_glyphs

    report = run_glyphs(out_dir=tmp_path, quick=True, overrides=["run.total_kimg=0.064", "run.checkpoint_every_epochs=1"])
    assert set(report["accuracy"]) == {"color", "shape", "count"}
    assert report["num_prompts"] == 30 and report["kimg"] == pytest.approx(0.064)
    assert (tmp_path / "alignment.json").is_file() and (tmp_path / "clip" / "open_clip_model.safetensors").is_file()
    rows = learning_curve(tmp_path, num_prompts=15)
    assert [row["kimg"] for row in rows] == [pytest.approx(0.032), pytest.approx(0.064)]
    assert all(0.0 <= row[a] <= 1.0 for row in rows for a in ("color", "shape", "count", "all"))
    assert rows[0]["minutes"] >= 0 and rows[1]["minutes"] >= rows[0]["minutes"]
    table = format_curve(rows)
    assert table.count("\n") == 3 and "| 0.1 |" in table

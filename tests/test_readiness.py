"""The readiness report of ``pretrain-clip --attribute``: whether the small CLIP's image and text features separate
the user's attribute words, with a warning when they do not, saved for ``fit`` to repeat."""
from __future__ import annotations

import json
import random

import pytest
from test_pretrain_clip import FILLER, TINTS, write_folder

from stylegan_t.cli.fit import clip_readiness
from stylegan_t.cli.main import main
from stylegan_t.clip_pretraining.readiness import MAX_PARAPHRASE_SHARE, AttributeReadiness, format_readiness, load_readiness, swap_word
from stylegan_t.training.recipe import load_recipe


def test_swap_word_replaces_whole_words_only():
    assert swap_word("A red circle, reddish", "red", "blue") == "A blue circle, reddish"
    assert swap_word("the square is cyan", "square", "triangle") == "the triangle is cyan"


@pytest.mark.parametrize("accuracy,share,warned", [
    (0.95, 0.0, []),                       # both towers separate the values
    (0.60, 0.0, ["image features"]),       # 3 values: chance 33%, wanted 67%
    (0.95, 0.53, ["paraphrases"]),         # one-word swaps look like paraphrases to the matching-aware term
    (0.30, 0.53, ["image features", "paraphrases"]),
])
def test_warnings_name_what_is_not_separated(accuracy, share, warned):
    row = AttributeReadiness("shape", ("circle", "square", "triangle"), accuracy, 1 / 3, 0.8, share, 40)
    warnings = row.warnings()
    assert len(warnings) == len(warned) and all(w in text for w, text in zip(warned, warnings))
    text = format_readiness([row])
    assert ("WARNING: shape" in text) == bool(warned) and ("train the CLIP longer" in text) == bool(warned)
    assert MAX_PARAPHRASE_SHARE < 0.53


@pytest.fixture(scope="module")
def uninformative(tmp_path_factory):
    """Tinted noise whose captions name a tint word at random: nothing in an image tells its caption's word."""
    root = tmp_path_factory.mktemp("noise")
    write_folder(root / "images", 160, informative=False)
    rng = random.Random(1)
    for txt in sorted((root / "images").glob("*.txt")):
        txt.write_text(f"a {rng.choice(list(TINTS))} {txt.read_text()}")
    assert main(["make-shards", str(root / "images"), str(root / "shards"), "--shard-size", "64"]) == 0
    return root


def test_pretrain_clip_reports_and_saves_readiness(uninformative, capsys, single_thread):
    out = uninformative / "clip"
    code = main(["pretrain-clip", str(uninformative / "shards"), str(out), "--steps", "10", "--batch-size", "32",
                 "--holdout-fraction", "0.5", "--no-progress", "--attribute", f"tint={','.join(TINTS)}"])
    captured = capsys.readouterr()
    printed = captured.out
    assert code == 0 and "Readiness" in printed, captured.err
    assert "WARNING: tint: the image features read it" in printed  # captions at random: nothing to read
    saved = json.loads((out / "readiness.json").read_text())
    assert saved[0]["attribute"] == "tint" and saved[0]["captions"] > 20 and saved[0]["chance"] == 0.25
    report = load_readiness(out)
    assert report[0].warnings() and report[0].values == tuple(TINTS)
    recipe = load_recipe("tiny-cpu", [f"model.generator.text_encoder.model=local-dir:{out}"])
    assert clip_readiness(recipe)[0].image_accuracy == saved[0]["image_accuracy"]  # what fit repeats
    assert clip_readiness(load_recipe("tiny-cpu", [])) is None


def test_an_attribute_the_captions_never_name_is_one_line(uninformative, capsys, single_thread):
    code = main(["pretrain-clip", str(uninformative / "shards"), str(uninformative / "clip"), "--steps", "10",
                 "--batch-size", "32", "--holdout-fraction", "0.5", "--no-progress",
                 "--attribute", f"mood={FILLER[0]},zorbix"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "too few held-out captions name mood" in err[0]

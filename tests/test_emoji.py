"""The emoji data set, its judge and the generator that ships with the package (docs/emoji.md).

The builder and the judge need Debian's fonts-noto-color-emoji and unicode-data (``.ci/run`` installs them; the
tests that render skip with a reason where they are absent). The shipped generator needs nothing but the package.
"""
from __future__ import annotations

import hashlib
import json
import tarfile

import numpy as np
import pytest
import torch

from stylegan_t.cli.main import main
from stylegan_t.demo import emoji as E
from stylegan_t.weights import shipped_model

#: docs/emoji.md: the judge on the fixed, evenly spaced sample of 300 training names that this test scores
#: (group accuracy balanced over groups, retrieval top-5); on all 3474 names the same weights read 45.4% / 15.5%.
#: The sample's balanced group accuracy is lower than the full set's: its smaller groups hold only a few names.
DOC_SAMPLE_GROUP, DOC_SAMPLE_TOP5 = 0.366, 0.123
#: deterministic on one machine; the margins cover float differences between CPUs (a few images read otherwise)
GROUP_MARGIN, TOP5_MARGIN = 0.06, 0.03
#: sha256 of the uint8 grid of GRID_PROMPTS x seeds 0-1 from the shipped weights (CPU, float32)
GRID_SHA256 = "ead894feb6fd6d9928c78e3977defbac842a0fea0a9a8bb8186bc25916bda702"
GRID_PROMPTS = ["a red apple", "a dog face", "a pizza"]


def have_font() -> bool:
    try:
        E.font_path()
        E.emoji_test_path()
        return True
    except Exception:  # noqa: BLE001 - UserError naming the Debian package
        return False


needs_font = pytest.mark.skipif(not have_font(), reason="needs fonts-noto-color-emoji and unicode-data "
                                                          "(apt-get install fonts-noto-color-emoji unicode-data)")


# --- the data set -----------------------------------------------------------------------------------------


def test_catalogue_parsing_split_and_captions():
    text = ("# group: Food & Drink\n# subgroup: food-fruit\n"
            "1F34E                                                  ; fully-qualified     # 🍎 E0.6 red apple\n"
            "2764                                                   ; unqualified         # ❤ E0.6 red heart\n"
            "# group: Component\n# subgroup: skin-tone\n"
            "1F3FB                                                  ; component           # 🏻 E1.0 light skin tone\n")
    emojis = E.parse_emoji_test(text)
    assert [(e.name, e.group, e.subgroup, e.text) for e in emojis] == [("red apple", "Food & Drink", "food-fruit", "\U0001F34E")]
    assert E.captions(emojis[0]) == ["red apple", "a red apple", "an emoji of a red apple", "red apple emoji"]
    assert E.prompt("owl") == "an owl" and E.spoken("flag: France") == "flag, France"
    # the documented held-out set: fixed names, skin-tone variants with their base emoji
    assert E.is_heldout("grinning face") and E.is_heldout("owl") and E.is_heldout("green apple")
    assert not E.is_heldout("red apple") and not E.is_heldout("dog face") and not E.is_heldout("pizza")
    assert E.base_name("woman: light skin tone, red hair") == "woman: red hair"
    assert E.is_heldout("folded hands: dark skin tone") == E.is_heldout("folded hands")


def test_missing_font_is_one_line(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(E, "FONT_PATHS", (str(tmp_path / "none.ttf"),))
    monkeypatch.delenv(E.FONT_ENV, raising=False)
    from stylegan_t.demo.emoji_data import main as build

    assert build(["--out", str(tmp_path / "data"), "--limit", "3"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "apt-get install fonts-noto-color-emoji" in err


@needs_font
def test_builder_writes_shards_of_training_names_only(tmp_path):
    from stylegan_t.demo.emoji_data import build_emoji_data

    dirs = build_emoji_data(tmp_path, resolutions=(32,), shard_size=16, limit=40, quiet=True)
    names = json.loads((tmp_path / "names.json").read_text())
    train, heldout = {r["name"] for r in names["train"]}, {r["name"] for r in names["heldout"]}
    assert len(train) + len(heldout) == 40 and heldout and not train & heldout  # grinning face is held out
    seen = []
    for path in sorted(dirs[32].glob("*.tar")):
        with tarfile.open(path) as tar:
            members = {m.name: tar.extractfile(m).read() for m in tar.getmembers()}
        for key in {n.rsplit(".", 1)[0] for n in members}:
            meta = json.loads(members[key + ".json"])
            caption = members[key + ".txt"].decode()
            assert caption in E.captions(meta["name"]) and meta["name"] in train
            import io

            from PIL import Image

            assert Image.open(io.BytesIO(members[key + ".png"])).size == (32, 32)
            seen.append(meta["name"])
    assert set(seen) == train
    assert build_emoji_data(tmp_path, resolutions=(32,), shard_size=16, limit=40, quiet=True) == dirs  # reused


@needs_font
def test_renders_are_the_fonts_colour_bitmaps():
    apple = np.asarray(E.render("\U0001F34E", 32), dtype=np.float32)
    assert apple.shape == (32, 32, 3)
    assert (apple[0, 0] == 255).all()  # white background
    centre = apple[10:22, 10:22].reshape(-1, 3).mean(0)
    assert centre[0] > 150 and centre[1] < 100  # a red apple is red


# --- the shipped generator ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pipe():
    import stylegan_t

    return stylegan_t.load("emoji", device="cpu")


def test_shipped_folder_is_small_and_self_contained():
    folder = shipped_model("emoji")
    size = sum(p.stat().st_size for p in folder.iterdir())
    assert size <= 20 * 2**20
    record = json.loads((folder / "config.json").read_text())
    assert record["frozen"] == {}  # the text tower is stored by value
    assert "local-dir" not in json.dumps(record)


def test_shipped_weights_generate_deterministically(pipe):
    first = pipe(GRID_PROMPTS, seeds=[0, 1], output_type="tensor")
    again = pipe(GRID_PROMPTS, seeds=[0, 1], output_type="tensor", batch_size=1)
    assert first.shape == (6, 3, 32, 32)
    assert torch.allclose(first, again, atol=1e-4)
    grid = ((first.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).numpy().tobytes()
    assert hashlib.sha256(grid).hexdigest() == GRID_SHA256


def test_generate_cli_with_the_shipped_model(tmp_path, capsys):
    assert main(["generate", "--model", "emoji", "--prompt", "a red apple", "--seeds", "0-1", "--outdir",
                 str(tmp_path), "--device", "cpu"]) == 0
    capsys.readouterr()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["00-a_red_apple-seed0000.png", "00-a_red_apple-seed0001.png"]
    assert main(["generate", "--model", "nope", "--prompt", "x", "--outdir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no shipped model named 'nope'" in err[0]
    assert main(["generate", "--model", str(tmp_path), "--prompt", "x", "--outdir", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()  # a folder given to --model: say where it goes instead
    assert len(err) == 1 and f"give the model '{tmp_path}' without --model, as PATH" in err[0]


def test_interpolate_cli_with_the_shipped_model(tmp_path):
    out = tmp_path / "frames"
    assert main(["interpolate", "--model", "emoji", "--prompt", "a red apple", "--prompt-b", "a green apple",
                 "--seeds", "0", "--steps", "3", "--out", f"{out}/", "--device", "cpu"]) == 0
    assert len(list(out.glob("*.png"))) == 3


def test_serve_loads_the_shipped_model_by_name():
    from stylegan_t.serve import PlaygroundEngine, load_pipeline

    engine = PlaygroundEngine(load_pipeline("emoji", device="cpu"))
    assert engine.resolution == 32


# --- the judge ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def report(pipe):
    if not have_font():
        pytest.skip("needs fonts-noto-color-emoji and unicode-data")
    from stylegan_t.demo.emoji_eval import JUDGE_DIR, evaluate
    from stylegan_t.demo.emoji_judge import EmojiJudge

    return evaluate(pipe, EmojiJudge.load(JUDGE_DIR), limit=300)


def test_judge_scores_the_shipped_model_as_documented(report):
    train = report["train"]
    assert train["generated"]["group"] >= DOC_SAMPLE_GROUP - GROUP_MARGIN
    assert train["generated"]["top5"] >= DOC_SAMPLE_TOP5 - TOP5_MARGIN


def test_caption_shuffled_control_scores_near_chance(report):
    for part in ("train", "heldout"):
        r = report[part]
        assert r["shuffled"]["group"] <= r["chance"]["group"] + 0.12
        assert r["shuffled"]["top5"] <= r["chance"]["top5"] + 0.04
    train = report["train"]
    assert train["generated"]["group"] > train["shuffled"]["group"] + 0.1  # the prompt, not the seed, decides


@needs_font
def test_judge_reads_real_renders_it_never_saw():
    from stylegan_t.demo.emoji_eval import JUDGE_DIR
    from stylegan_t.demo.emoji_judge import EmojiJudge, real_accuracy

    _, heldout = E.split(E.catalogue())
    scores = real_accuracy(EmojiJudge.load(JUDGE_DIR), heldout)
    assert scores["group"] >= 0.6  # docs/emoji.md reports the exact figure; chance is ~11%
